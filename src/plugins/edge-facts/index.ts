// Edge facts: derived for every request before routing and exposed as request
// headers, so a plain Istio `headers` match routes on them ("only in Andalusia,
// only on iPhones"). Order: drop client-sent copies (no spoofing) → client
// address through trusted proxies → geo (trusted CDN headers, else --geoip) →
// device from `user-agent`.
import type { EdgeFactsConfig } from '../../gateway/snapshot.js'
import type { RequestFacts } from '../../gateway/dataplane/request-facts.js'
import { clientAddress } from './client-address.js'
import { DeviceClassifier, type DeviceFacts } from './device.js'
import { NO_GEO, type GeoDatabase, type GeoFacts } from './geo.js'
import { prepareRegions, regionCode } from './regions.js'

export { CidrSet, clientAddress } from './client-address.js'
export { DeviceClassifier, classifyUserAgent, type DeviceFacts } from './device.js'
export { GeoDatabase, NO_GEO, geoFactsOf, type GeoFacts } from './geo.js'

// What the last request of a client connection derived, and from what. A
// connection's requests come from one peer and mostly carry the same
// `x-forwarded-for` and `user-agent`: the same strings again (a memcmp) reuse
// the client address, geo and device facts instead of parsing the address,
// walking the trusted hops and looking up both LRUs. Kept only while the
// connection lives; geo from CDN headers is not remembered (other inputs).
interface ConnectionFacts {
  readonly cfg: EdgeFactsConfig
  readonly geoGeneration: number
  readonly xff: string | string[] | undefined
  readonly ua: string | string[] | undefined
  readonly clientIp: string
  readonly geo: GeoFacts
  readonly device: DeviceFacts | null
}

export class EdgeFactsEngine {
  readonly geo: GeoDatabase | null
  readonly devices: DeviceClassifier
  readonly #lastOnConnection = new WeakMap<object, ConnectionFacts>()

  constructor (geo: GeoDatabase | null, devices = new DeviceClassifier()) {
    this.geo = geo
    this.devices = devices
  }

  /** Readies what a configuration's facts will need, off the request path (the region table for a region header). */
  prepare (cfg: EdgeFactsConfig): void {
    if (cfg.geoHeaders.region !== '') prepareRegions()
  }

  /** Derives the facts of `f` and sets their headers; `connection` (the client's, when known) may reuse its last request's. */
  apply (f: RequestFacts, cfg: EdgeFactsConfig, connection: object | null = null): void {
    const headers = f.headers
    // Removed by assignment, not `delete`: deleting turns the headers object into a
    // slow dictionary for the rest of the request; forwarding skips undefined values.
    for (const name of cfg.headerNames) if (headers[name] !== undefined) headers[name] = undefined
    if (connection === null || cfg.geoHeaders.country !== '') { this.#derive(f, cfg); return }
    const xff = headers['x-forwarded-for']
    const ua = headers['user-agent']
    const generation = this.geo?.generation ?? 0
    const last = this.#lastOnConnection.get(connection)
    if (last !== undefined && last.cfg === cfg && last.geoGeneration === generation && last.xff === xff && last.ua === ua) {
      f.clientIp = last.clientIp
      this.#expose(f, cfg, last.geo, last.device)
      return
    }
    const device = this.#derive(f, cfg)
    this.#lastOnConnection.set(connection, { cfg, geoGeneration: generation, xff, ua, clientIp: f.clientIp, geo: f.geo, device })
  }

  /** Derives and exposes the facts; returns the device facts (null without a user agent). */
  #derive (f: RequestFacts, cfg: EdgeFactsConfig): DeviceFacts | null {
    const headers = f.headers
    const trusted = cfg.trustedProxies
    let peerTrusted = false
    if (trusted !== null) {
      peerTrusted = trusted.has(f.peerIp)
      if (peerTrusted) f.clientIp = clientAddress(f.peerIp, headers['x-forwarded-for'], trusted)
    }
    let geo: GeoFacts = NO_GEO
    if (peerTrusted && cfg.geoHeaders.country !== '') geo = geoFromHeaders(f, cfg)
    if (geo === NO_GEO && this.geo !== null) geo = this.geo.lookup(f.clientIp)
    const ua = headers['user-agent']
    const device = typeof ua === 'string' && ua !== '' ? this.devices.classify(ua) : null
    this.#expose(f, cfg, geo, device)
    return device
  }

  #expose (f: RequestFacts, cfg: EdgeFactsConfig, geo: GeoFacts, d: DeviceFacts | null): void {
    const headers = f.headers
    const names = cfg.headers
    f.geo = geo
    if (geo.country !== '') headers[names.country] = geo.country
    if (geo.region !== '') headers[names.region] = geo.region
    if (geo.city !== '') headers[names.city] = geo.city
    if (d !== null) {
      f.device = d
      if (d.os !== '') headers[names.os] = d.os
      headers[names.device] = d.device
      if (d.browser !== '') headers[names.browser] = d.browser
    }
  }
}

/** Geo facts a trusted CDN put in headers (`cf-ipcountry`, `cloudfront-viewer-country-region`, ...). */
function geoFromHeaders (f: RequestFacts, cfg: EdgeFactsConfig): GeoFacts {
  const g = cfg.geoHeaders
  const country = headerText(f, g.country).toUpperCase()
  // Cloudflare's XX (unknown) and T1 (Tor) are not countries.
  if (country.length !== 2 || country === 'XX' || country === 'T1') return NO_GEO
  let region = g.region === '' ? '' : headerText(f, g.region)
  if (region !== '') {
    // A code (`AN`, `ES-AN`) or a name, as the CDN sends it; a code ISO's list
    // lacks (newer than the package) is kept as sent.
    const code = regionCode(country, region)
    if (code !== undefined) region = code
    else if (region.length === 5 && region.charCodeAt(2) === 45 /* - */ && region.slice(0, 2).toUpperCase() === country) region = region.slice(3).toUpperCase()
    else region = region.length <= 3 ? region.toUpperCase() : ''
  }
  // Kept as sent: CloudFront already percent-encodes non-ASCII city names.
  const city = g.city === '' ? '' : headerText(f, g.city)
  return Object.freeze({ country, region, city })
}

function headerText (f: RequestFacts, name: string): string {
  const v = f.headers[name]
  return typeof v === 'string' ? v.trim() : Array.isArray(v) ? (v[0] ?? '').trim() : ''
}
