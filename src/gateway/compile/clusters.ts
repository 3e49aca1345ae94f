// ServiceEntries + DestinationRules → Envoy-style clusters
// (`outbound|port|subset|host`) with endpoints and traffic policy resolved.
import { createHash } from 'node:crypto'
import type { ServiceEntrySpec, DestinationRuleSpec, TrafficPolicy, Subset, LoadBalancerSettings, ConnectionPoolSettings, OutlierDetection, ClientTLSSettings } from '../config-types.js'
import type { Cluster, ConnectionPoolPolicy, Endpoint, HashPolicy, LbPolicy, OutlierPolicy, ResourceRef, UpstreamTls } from '../snapshot.js'
import { parseDurationMs } from '../durations.js'
import { clusterKey, hostCovers, resolveHost } from './names.js'
import { readCredential } from './credentials.js'

export interface ServiceInfo {
  readonly ref: ResourceRef
  readonly hosts: readonly string[]
  readonly ports: ReadonlyArray<{ number: number, name: string, targetPort: number, protocol: string }>
  readonly resolution: string
  readonly endpoints: ReadonlyArray<{ address: string, ports: Record<string, number>, labels: Record<string, string>, weight: number }>
  /** The identities its workloads present (ServiceEntry `subjectAltNames`): ISTIO_MUTUAL checks them when the DestinationRule names none. */
  readonly subjectAltNames: readonly string[]
}

export interface RuleInfo { readonly ref: ResourceRef, readonly host: string, readonly spec: DestinationRuleSpec }

/** Reads a cert/key/CA file that the sources stage loaded; null when unreadable. */
export type FileLookup = (path: string) => string | null

const UNLIMITED = 2 ** 32 - 1

export class ServiceRegistry {
  readonly #exact = new Map<string, ServiceInfo>()
  readonly #wildcards: Array<{ host: string, svc: ServiceInfo }> = []
  readonly #rules = new Map<string, RuleInfo[]>()
  readonly #wildRules: RuleInfo[] = []

  constructor (services: readonly ServiceInfo[], rules: readonly RuleInfo[]) {
    for (const s of services) {
      for (const h of s.hosts) {
        if (h.startsWith('*')) this.#wildcards.push({ host: h, svc: s })
        else if (!this.#exact.has(h)) this.#exact.set(h, s)
      }
    }
    this.#wildcards.sort((a, b) => b.host.length - a.host.length)
    for (const r of rules) {
      if (r.host.startsWith('*')) this.#wildRules.push(r)
      else {
        const list = this.#rules.get(r.host) ?? []
        list.push(r)
        this.#rules.set(r.host, list)
      }
    }
    this.#wildRules.sort((a, b) => b.host.length - a.host.length)
  }

  findService (host: string): ServiceInfo | null {
    const s = this.#exact.get(host)
    if (s !== undefined) return s
    for (const w of this.#wildcards) if (hostCovers(w.host, host)) return w.svc
    return null
  }

  /** DestinationRules for a host: the exact host's, else the longest wildcard's (all DRs with that host). */
  findRules (host: string): readonly RuleInfo[] {
    const exact = this.#rules.get(host)
    if (exact !== undefined) return exact
    const best = this.#wildRules.find(r => hostCovers(r.host, host))
    if (best === undefined) return []
    return this.#wildRules.filter(r => r.host === best.host)
  }

  /** Port a destination uses when the route names none: the service's only (or first) port. */
  resolvePort (host: string, port: number): number {
    if (port !== 0) return port
    const svc = this.findService(host)
    return svc?.ports[0]?.number ?? 0
  }

  findSubset (host: string, name: string): { subset: Subset, rule: RuleInfo } | null {
    for (const r of this.findRules(host)) {
      for (const s of Array.isArray(r.spec.subsets) ? r.spec.subsets : []) {
        if (s?.name === name) return { subset: s, rule: r }
      }
    }
    return null
  }

  /** null when the host resolves to no service or the subset is defined nowhere (Envoy: cluster not found, 503 NC). */
  buildCluster (host: string, port: number, subsetName: string, files: FileLookup, credentialsDir: string | null = null): Cluster | null {
    const svc = this.findService(host)
    if (svc === null) return null
    const rules = this.findRules(host)
    let subset: Subset | null = null
    let subsetRule: RuleInfo | null = null
    if (subsetName !== '') {
      const found = this.findSubset(host, subsetName)
      if (found === null) return null
      subset = found.subset
      subsetRule = found.rule
    }
    const svcPort = svc.ports.find(p => p.number === port) ?? svc.ports[0] ?? null
    const endpoints: Endpoint[] = []
    const labelsWanted = subset?.labels !== undefined && subset.labels !== null && typeof subset.labels === 'object' ? subset.labels : {}
    const isDnsWithoutEndpoints = svc.endpoints.length === 0 && (svc.resolution === 'DNS' || svc.resolution === 'DNS_ROUND_ROBIN')
    if (isDnsWithoutEndpoints && svcPort !== null) {
      const p = svcPort.targetPort || svcPort.number
      endpoints.push(makeEndpoint(host, p, {}, 1))
    }
    for (const ep of svc.endpoints) {
      if (!labelsMatch(labelsWanted, ep.labels)) continue
      let p = port
      if (svcPort !== null) p = ep.ports[svcPort.name] ?? (svcPort.targetPort || svcPort.number)
      if (!(p > 0)) continue
      endpoints.push(makeEndpoint(ep.address, p, ep.labels, ep.weight))
    }
    const topRule = rules.find(r => r.spec.trafficPolicy !== undefined && r.spec.trafficPolicy !== null) ?? null
    const policy = effectivePolicy(topRule?.spec.trafficPolicy ?? null, subset?.trafficPolicy ?? null, port)
    const lb = buildLb(policy.loadBalancer)
    const cluster = {
      key: clusterKey(host, port, subsetName),
      host,
      port,
      subset: subsetName,
      endpoints: Object.freeze(endpoints),
      lb: lb.lb,
      hash: lb.hash,
      pool: buildPool(policy.connectionPool, svcPort?.protocol ?? ''),
      outlier: buildOutlier(policy.outlierDetection),
      tls: buildTls(policy.tls, host, port, subsetName, { files, credentialsDir }, wantsH2(policy.connectionPool, svcPort?.protocol ?? ''), svc.subjectAltNames),
      destinationRule: subsetRule?.ref ?? topRule?.ref ?? rules[0]?.ref ?? null,
      fingerprint: ''
    }
    cluster.fingerprint = createHash('sha1').update(JSON.stringify({ e: endpoints, lb, p: cluster.pool, o: cluster.outlier, t: cluster.tls })).digest('hex')
    return Object.freeze(cluster)
  }
}

function makeEndpoint (address: string, port: number, labels: Record<string, string>, weight: number): Endpoint {
  const key = address.includes(':') && !address.startsWith('[') ? `[${address}]:${port}` : `${address}:${port}`
  return Object.freeze({ address, port, labels: Object.freeze({ ...labels }), weight: weight > 0 ? weight : 1, key })
}

function labelsMatch (wanted: Record<string, string>, have: Record<string, string>): boolean {
  for (const k of Object.keys(wanted)) if (have[k] !== wanted[k]) return false
  return true
}

interface Sections {
  loadBalancer: LoadBalancerSettings | null
  connectionPool: ConnectionPoolSettings | null
  outlierDetection: OutlierDetection | null
  tls: ClientTLSSettings | null
}

/**
 * Istio's layering: port-level settings replace all four sections (a section
 * missing there falls back to the default, not to the top level); a subset's
 * sections each replace the inherited one whole.
 */
export function effectivePolicy (top: TrafficPolicy | null, subset: TrafficPolicy | null, port: number): Sections {
  const out = applyLevel({ loadBalancer: null, connectionPool: null, outlierDetection: null, tls: null }, top, port)
  return applyLevel(out, subset, port)
}

function applyLevel (base: Sections, tp: TrafficPolicy | null, port: number): Sections {
  if (tp === null || typeof tp !== 'object') return base
  const out: Sections = { ...base }
  if (tp.loadBalancer != null) out.loadBalancer = tp.loadBalancer
  if (tp.connectionPool != null) out.connectionPool = tp.connectionPool
  if (tp.outlierDetection != null) out.outlierDetection = tp.outlierDetection
  if (tp.tls != null) out.tls = tp.tls
  const pl = Array.isArray(tp.portLevelSettings) ? tp.portLevelSettings.find(p => p?.port?.number === port) : undefined
  if (pl !== undefined) {
    out.loadBalancer = pl.loadBalancer ?? null
    out.connectionPool = pl.connectionPool ?? null
    out.outlierDetection = pl.outlierDetection ?? null
    out.tls = pl.tls ?? null
  }
  return out
}

function buildLb (lb: LoadBalancerSettings | null): { lb: LbPolicy, hash: HashPolicy | null } {
  let policy: LbPolicy = 'LEAST_REQUEST'
  if (lb?.simple === 'ROUND_ROBIN') policy = 'ROUND_ROBIN'
  else if (lb?.simple === 'RANDOM') policy = 'RANDOM'
  const ch = lb?.consistentHash
  if (ch === undefined || ch === null || typeof ch !== 'object') return { lb: policy, hash: null }
  const maglev = ch.maglev !== undefined && ch.maglev !== null
  const tableSize = maglev ? (ch.maglev?.tableSize ?? 65537) : (ch.ringHash?.minimumRingSize ?? ch.minimumRingSize ?? 1024)
  let kind: HashPolicy['kind'] = 'sourceIp'
  let name = ''
  let cookiePath = ''
  let cookieTtlS = -1
  if (typeof ch.httpHeaderName === 'string') { kind = 'header'; name = ch.httpHeaderName.toLowerCase() } else if (ch.httpCookie != null) {
    kind = 'cookie'
    name = String(ch.httpCookie.name ?? '')
    cookiePath = String(ch.httpCookie.path ?? '')
    const ttl = parseDurationMs(ch.httpCookie.ttl)
    cookieTtlS = Number.isNaN(ttl) ? -1 : Math.floor(ttl / 1000)
  } else if (typeof ch.httpQueryParameterName === 'string') { kind = 'query'; name = ch.httpQueryParameterName }
  return { lb: policy, hash: Object.freeze({ kind, name, cookiePath, cookieTtlS, maglev, tableSize: Number(tableSize) || 1024 }) }
}

function num (v: unknown, dflt: number): number {
  return typeof v === 'number' && v > 0 ? v : dflt
}

function durMs (v: unknown, dflt: number): number {
  const ms = parseDurationMs(v)
  return Number.isNaN(ms) ? dflt : Math.round(ms)
}

/**
 * HTTP/2 to the upstream: asked for by `h2UpgradePolicy: UPGRADE`, or implied by
 * an HTTP2/gRPC service port (unless `DO_NOT_UPGRADE`). Offered through TLS
 * ALPN: undici's pools have no cleartext HTTP/2 (h2c).
 */
function wantsH2 (cp: ConnectionPoolSettings | null, protocol: string): boolean {
  const policy = cp?.http?.h2UpgradePolicy
  if (policy === 'UPGRADE') return true
  if (policy === 'DO_NOT_UPGRADE') return false
  return protocol === 'HTTP2' || protocol === 'GRPC' || protocol === 'GRPC-WEB'
}

/** Istio leaves every circuit-breaker threshold unlimited unless set; 0 means unset. */
function buildPool (cp: ConnectionPoolSettings | null, protocol: string): ConnectionPoolPolicy {
  return Object.freeze({
    maxConnections: num(cp?.tcp?.maxConnections, UNLIMITED),
    maxPendingRequests: num(cp?.http?.http1MaxPendingRequests, UNLIMITED),
    maxRequests: num(cp?.http?.http2MaxRequests, UNLIMITED),
    maxRequestsPerConnection: num(cp?.http?.maxRequestsPerConnection, 0),
    maxRetries: num(cp?.http?.maxRetries, UNLIMITED),
    connectTimeoutMs: durMs(cp?.tcp?.connectTimeout, 10_000),
    idleTimeoutMs: durMs(cp?.http?.idleTimeout ?? cp?.tcp?.idleTimeout, 3_600_000),
    h2: wantsH2(cp, protocol)
  })
}

function wrapped (v: unknown): number | undefined {
  if (typeof v === 'number') return v
  if (v !== null && typeof v === 'object' && typeof (v as { value?: unknown }).value === 'number') return (v as { value: number }).value
  return undefined
}

function buildOutlier (od: OutlierDetection | null): OutlierPolicy | null {
  if (od === null || typeof od !== 'object') return null
  const c5 = wrapped(od.consecutive5xxErrors) ?? (typeof od.consecutiveErrors === 'number' ? od.consecutiveErrors : 5)
  return Object.freeze({
    consecutive5xx: c5,
    consecutiveGatewayErrors: wrapped(od.consecutiveGatewayErrors) ?? 0,
    intervalMs: durMs(od.interval, 10_000),
    baseEjectionMs: durMs(od.baseEjectionTime, 30_000),
    maxEjectionPercent: typeof od.maxEjectionPercent === 'number' ? od.maxEjectionPercent : 10,
    minHealthPercent: typeof od.minHealthPercent === 'number' ? od.minHealthPercent : 0
  })
}

function buildTls (t: ClientTLSSettings | null, host: string, port: number, subset: string, src: { files: FileLookup, credentialsDir: string | null }, h2: boolean, serviceSans: readonly string[]): UpstreamTls | null {
  if (t === null || typeof t !== 'object' || t.mode === undefined || t.mode === 'DISABLE') return null
  const read = (p: unknown): string | null => typeof p === 'string' && p !== '' ? src.files(p) : null
  // credentialName replaces the three file paths (validation refuses both at once).
  const credential = typeof t.credentialName === 'string' && t.credentialName !== '' && src.credentialsDir !== null
    ? readCredential(src.files, src.credentialsDir, t.credentialName)
    : null
  if (t.mode === 'ISTIO_MUTUAL') {
    return Object.freeze({
      mode: 'ISTIO_MUTUAL',
      cert: null,
      key: null,
      ca: null,
      sni: `outbound_.${port}_.${subset}_.${host}`,
      forcedSni: `outbound_.${port}_.${subset}_.${host}`,
      // As istiod does: the DestinationRule's names, else the service's own.
      subjectAltNames: Object.freeze(Array.isArray(t.subjectAltNames) && t.subjectAltNames.length > 0 ? t.subjectAltNames.map(String) : [...serviceSans]),
      insecureSkipVerify: false,
      // Istio's protocols first; http/1.1 last so that a plain TLS server (nginx, strict about ALPN) can still answer.
      alpn: Object.freeze(h2 ? ['istio-peer-exchange', 'istio', 'h2', 'http/1.1'] : ['istio-peer-exchange', 'istio', 'http/1.1'])
    })
  }
  return Object.freeze({
    mode: t.mode === 'MUTUAL' ? 'MUTUAL' : 'SIMPLE',
    cert: t.mode !== 'MUTUAL' ? null : credential !== null ? credential.cert : read(t.clientCertificate),
    key: t.mode !== 'MUTUAL' ? null : credential !== null ? credential.key : read(t.privateKey),
    ca: credential !== null ? credential.ca : read(t.caCertificates),
    sni: typeof t.sni === 'string' && t.sni !== '' ? t.sni : host,
    forcedSni: typeof t.sni === 'string' && t.sni !== '' ? t.sni : null,
    subjectAltNames: Object.freeze(Array.isArray(t.subjectAltNames) ? t.subjectAltNames.map(String) : []),
    insecureSkipVerify: t.insecureSkipVerify === true,
    alpn: Object.freeze([])
  })
}

/** ServiceEntry → ServiceInfo (hosts as written: Istio does not expand short ServiceEntry hosts). */
export function serviceInfoOf (ref: ResourceRef, spec: ServiceEntrySpec): ServiceInfo {
  const ports = (Array.isArray(spec.ports) ? spec.ports : []).filter(p => p !== null && typeof p === 'object' && typeof p.number === 'number')
    .map(p => ({ number: p.number!, name: typeof p.name === 'string' ? p.name : '', targetPort: typeof p.targetPort === 'number' ? p.targetPort : 0, protocol: typeof p.protocol === 'string' ? p.protocol.toUpperCase() : '' }))
  const endpoints = (Array.isArray(spec.endpoints) ? spec.endpoints : []).filter(e => e !== null && typeof e === 'object' && typeof e.address === 'string')
    .map(e => ({
      address: e.address!.startsWith('unix://') ? e.address! : e.address!,
      ports: e.ports !== null && typeof e.ports === 'object' ? e.ports : {},
      labels: e.labels !== null && typeof e.labels === 'object' ? e.labels : {},
      weight: typeof e.weight === 'number' ? e.weight : 1
    }))
  return {
    ref,
    hosts: (Array.isArray(spec.hosts) ? spec.hosts : []).filter(h => typeof h === 'string').map(h => h.toLowerCase()),
    ports,
    resolution: typeof spec.resolution === 'string' ? spec.resolution : 'NONE',
    endpoints,
    subjectAltNames: Object.freeze((Array.isArray(spec.subjectAltNames) ? spec.subjectAltNames : []).filter(s => typeof s === 'string'))
  }
}

export function ruleInfoOf (ref: ResourceRef, spec: DestinationRuleSpec): RuleInfo | null {
  if (typeof spec.host !== 'string') return null
  return { ref, host: resolveHost(spec.host, ref.namespace), spec }
}
