// What routing, policies and logs know about one request. One object per request,
// every field set in the constructor so all instances share one shape.
import type { IncomingHttpHeaders } from 'node:http'
import { NO_GEO, type GeoFacts } from '../../plugins/edge-facts/geo.js'
import type { DeviceFacts } from '../../plugins/edge-facts/device.js'

const NO_AUDIENCES: readonly string[] = Object.freeze([])
const NO_DEVICE: DeviceFacts = Object.freeze({ os: '', device: '', browser: '' })

export class RequestFacts {
  method: string
  scheme: string
  /** Raw `:authority` / Host as sent, with any port. */
  authority: string
  /** Lowercased Host without port: what selects the virtual host. */
  host: string
  /** RFC 3986-normalised path without the query string. */
  path: string
  /** Query string without `?`; '' when absent. */
  query: string
  /** The request target as sent (`:path`, with query). */
  rawPath: string
  headers: IncomingHttpHeaders
  /** Listener port. */
  port: number
  /** TCP peer address. */
  peerIp: string
  /** Client address after trusted-proxy processing (same as peerIp without trusted proxies). */
  clientIp: string
  /** Claims of a validated JWT, or null. */
  claims: Record<string, unknown> | null
  /** Request principal: `<iss>/<sub>` of a validated JWT, `apikey/<consumer>` for an API key, '' for none. */
  requestPrincipal: string
  /**
   * A credential header as the client sent it that the gateway took off the
   * request (a JWT not forwarded, an API key): its name ('' for none) and
   * value, and any further ones as name, value, ... (rare: null). The cache
   * keys on the credential, not on what is forwarded.
   */
  sentName: string
  sentValue: string
  sentMore: string[] | null
  /** `aud` of the validated JWT (always a list), empty for none. */
  authAudiences: readonly string[]
  /** `azp` of the validated JWT, '' for none. */
  authPresenter: string
  /**
   * Source principal from a verified client certificate: its SPIFFE URI SAN as
   * Istio compares it (`spiffe://cluster.local/ns/x/sa/y`), else its subject; '' without one.
   */
  peerPrincipal: string
  /** ApiKeyPolicy consumer of a valid key, '' for none. */
  consumer: string
  /** TLS SNI the client sent, '' for plain text. */
  sni: string
  /** `x-forwarded-client-cert` value for a verified client certificate, else ''. */
  clientCert: string
  /** Geo facts of clientIp (EdgeFacts), empty when unknown. */
  geo: GeoFacts
  /** Device facts from `user-agent` (EdgeFacts), empty when absent. */
  device: DeviceFacts

  constructor (method: string, scheme: string, authority: string, rawPath: string, headers: IncomingHttpHeaders, port: number, peerIp: string, sni: string) {
    this.method = method
    this.scheme = scheme
    this.authority = authority
    this.host = hostWithoutPort(authority)
    const q = rawPath.indexOf('?')
    this.path = normalizePath(q === -1 ? rawPath : rawPath.slice(0, q))
    this.query = q === -1 ? '' : rawPath.slice(q + 1)
    this.rawPath = rawPath
    this.headers = headers
    this.port = port
    this.peerIp = peerIp
    this.clientIp = peerIp
    this.claims = null
    this.requestPrincipal = ''
    this.sentName = ''
    this.sentValue = ''
    this.sentMore = null
    this.authAudiences = NO_AUDIENCES
    this.authPresenter = ''
    this.peerPrincipal = ''
    this.consumer = ''
    this.sni = sni
    this.clientCert = ''
    this.geo = NO_GEO
    this.device = NO_DEVICE
  }

  /**
   * First value of a query parameter (decoded), or undefined when absent.
   * Scans the query in place: a request tests a parameter or two, so building
   * a map of all of them would cost more than it saves.
   */
  queryParam (name: string): string | undefined {
    const q = this.query
    let start = 0
    while (start < q.length) {
      let end = q.indexOf('&', start)
      if (end === -1) end = q.length
      if (end > start) {
        let eq = q.indexOf('=', start)
        if (eq === -1 || eq > end) eq = end
        if (keyIs(q, start, eq, name)) return eq === end ? '' : safeDecode(q.slice(eq + 1, end))
      }
      start = end + 1
    }
    return undefined
  }

  /** Remembers a credential header the gateway takes off the request (see `sentName`). */
  tookCredential (name: string, value: string): void {
    if (this.sentName === '') { this.sentName = name; this.sentValue = value } else (this.sentMore ??= []).push(name, value)
  }

  /**
   * Drops every occurrence of a query parameter from the request as it is
   * forwarded and logged (a credential that must not leave the edge).
   */
  removeQueryParam (name: string): void {
    if (this.query === '') return
    const parts = this.query.split('&')
    const keep = parts.filter(part => {
      const eq = part.indexOf('=')
      return safeDecode(eq === -1 ? part : part.slice(0, eq)) !== name
    })
    if (keep.length === parts.length) return
    this.query = keep.join('&')
    const q = this.rawPath.indexOf('?')
    const base = q === -1 ? this.rawPath : this.rawPath.slice(0, q)
    this.rawPath = this.query === '' ? base : `${base}?${this.query}`
  }

  /** Header value for matching: repeated headers joined with `,`; pseudo headers resolved. */
  header (name: string): string | undefined {
    if (name.charCodeAt(0) === 58 /* : */) {
      switch (name) {
        case ':authority': return this.authority
        case ':method': return this.method
        case ':scheme': return this.scheme
        case ':path': return this.rawPath
        default: return undefined
      }
    }
    const v = this.headers[name]
    if (v === undefined) return undefined
    return typeof v === 'string' ? v : v.join(',')
  }
}

export function hostWithoutPort (authority: string): string {
  if (authority === '') return ''
  let end = authority.length
  if (authority.charCodeAt(0) === 91 /* [ */) {
    const close = authority.indexOf(']')
    end = close === -1 ? end : close + 1
  } else {
    const colon = authority.lastIndexOf(':')
    if (colon !== -1) end = colon
  }
  const h = authority.slice(0, end)
  // Hosts are usually lowercase already; avoid the copy when they are.
  return /[A-Z]/.test(h) ? h.toLowerCase() : h
}

/** Whether the raw key `q[start, eq)` decodes to `name`; compared in place unless it is escaped. */
function keyIs (q: string, start: number, eq: number, name: string): boolean {
  for (let i = start; i < eq; i++) {
    const c = q.charCodeAt(i)
    if (c === 37 /* % */ || c === 43 /* + */) return safeDecode(q.slice(start, eq)) === name
  }
  return eq - start === name.length && q.startsWith(name, start)
}

function safeDecode (s: string): string {
  if (s.indexOf('%') === -1 && s.indexOf('+') === -1) return s
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

const NEEDS_NORMALIZING = /[\\.%]|\/\//

/**
 * Envoy's path normalisation as Istio configures it: backslashes become slashes,
 * percent-encoded unreserved characters are decoded, dot segments are removed.
 * `//` is kept (merge_slashes is off by default).
 */
export function normalizePath (path: string): string {
  if (path === '' || path === '*') return path === '' ? '/' : path
  if (!NEEDS_NORMALIZING.test(path)) return path
  let p = path.replace(/\\/g, '/')
  if (p.indexOf('%') !== -1) p = p.replace(/%([0-9a-fA-F]{2})/g, decodeUnreserved)
  if (p.indexOf('.') === -1) return p
  const segments = p.split('/')
  const out: string[] = []
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!
    if (s === '.') {
      if (i === segments.length - 1) out.push('')
      continue
    }
    if (s === '..') {
      if (out.length > 1) out.pop()
      if (i === segments.length - 1) out.push('')
      continue
    }
    out.push(s)
  }
  const joined = out.join('/')
  return joined.startsWith('/') ? joined : `/${joined}`
}

function decodeUnreserved (match: string, hex: string): string {
  const c = parseInt(hex, 16)
  // ALPHA / DIGIT / "-" / "." / "_" / "~"
  if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e) {
    return String.fromCharCode(c)
  }
  return match.toUpperCase()
}
