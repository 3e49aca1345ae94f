// Resources → Snapshot. A pure function: no I/O and no clock (the sources stage
// has already read every referenced file). Same input, same output.
import { createHash } from 'node:crypto'
import type { SourceResource } from '../sources/yaml-documents.js'
import type { GatewaySpec, HTTPMatchRequest, HTTPRoute, Server, VirtualServiceSpec, ServiceEntrySpec, DestinationRuleSpec } from '../config-types.js'
import type { Cluster, CompiledRule, Listener, ResourceRef, ResourceSummary, Route, RouteTable, Snapshot, StickyKey, TlsMaterial, TlsServer, VirtualHost } from '../snapshot.js'
import { makeIssue, type Issue } from '../validate/issues.js'
import { CODES } from '../errors.js'
import { buildRouteTable } from './host-index.js'
import { buildRouteIndex } from './route-index.js'
import { buildMatch, isCatchAll } from './route-matcher.js'
import { compileRule } from './rules.js'
import { parseStickyKey, STICKY_ANNOTATION } from './sticky-key.js'
import { compileEdgeFacts } from './edge-facts.js'
import { compileAuthn } from './authn.js'
import { compileAuthz } from './authz.js'
import { compileApiKeys, valueFromPath } from './api-keys.js'
import { compileRateLimits } from './rate-limits.js'
import { compileCache } from './cache.js'
import { policyApplies, type PolicyScope } from './policy-scope.js'
import { credentialPaths, readCredential } from './credentials.js'
import { ServiceRegistry, ruleInfoOf, serviceInfoOf, type FileLookup, type RuleInfo, type ServiceInfo } from './clusters.js'
import { intersectHosts, resolveGatewayName, resolveHost, splitServerHost } from './names.js'

export interface CompileInput {
  readonly resources: readonly SourceResource[]
  /** Contents of referenced cert/key/CA files, read by the sources stage. */
  readonly files: FileLookup
  readonly gatewayLabels: Readonly<Record<string, string>>
  readonly credentialsDir: string | null
  /** Gateway port → the port to bind (Kubernetes: the gateway Service's targetPort). */
  readonly portMap?: ReadonlyMap<number, number>
  /** `--namespace` / `--root-namespace`: Istio's namespace rule for selector-less policies. */
  readonly namespace?: string | null
  readonly rootNamespace?: string
  /** Findings from validation to carry into the snapshot (analyzer errors and warnings). */
  readonly issues: readonly Issue[]
  readonly version: string
}


/** Kinds the validator accepts whose request-time behaviour is not built yet: said loudly, never silently ignored. */
const NOT_ENFORCED_YET = new Set<string>()

interface GatewayInfo { readonly ref: ResourceRef, readonly key: string, readonly spec: GatewaySpec }
interface VsInfo { readonly ref: ResourceRef, readonly key: string, readonly spec: VirtualServiceSpec, readonly hosts: readonly string[], readonly gateways: readonly string[], readonly sticky: StickyKey | null }
interface PortServer { readonly gw: GatewayInfo, readonly server: Server, readonly index: number }

export function compile (input: CompileInput): Snapshot {
  const issues: Issue[] = [...input.issues]
  const ordered = orderResources(input.resources)
  const gateways = new Map<string, GatewayInfo>()
  const services: ServiceInfo[] = []
  const rules: RuleInfo[] = []
  const virtualServices: VsInfo[] = []
  const summaries: ResourceSummary[] = []
  for (const r of ordered) {
    const ref = refOf(r)
    const spec = (r.value.spec ?? {}) as Record<string, unknown>
    summaries.push(Object.freeze({ kind: ref.kind, namespace: ref.namespace, name: ref.name, file: ref.file, line: ref.line, apiVersion: r.apiVersion, spec }))
    if (typeof spec !== 'object' || spec === null) continue
    switch (r.kind) {
      case 'Gateway':
        if (selectorMatches((spec as GatewaySpec).selector, input.gatewayLabels)) {
          gateways.set(`${ref.namespace}/${ref.name}`, { ref, key: `${ref.namespace}/${ref.name}`, spec: spec as GatewaySpec })
        }
        break
      case 'ServiceEntry': services.push(serviceInfoOf(ref, spec as ServiceEntrySpec)); break
      case 'DestinationRule': { const ri = ruleInfoOf(ref, spec as DestinationRuleSpec); if (ri !== null) rules.push(ri); break }
      case 'VirtualService': {
        const vs = spec as VirtualServiceSpec
        const hosts = (Array.isArray(vs.hosts) ? vs.hosts : []).filter(h => typeof h === 'string').map(h => resolveHost(h, ref.namespace))
        const gws = (Array.isArray(vs.gateways) ? vs.gateways : []).filter(g => typeof g === 'string').map(g => resolveGatewayName(g, ref.namespace))
        virtualServices.push({ ref, key: `${ref.namespace}/${ref.name}`, spec: vs, hosts, gateways: gws, sticky: stickyOf(r) })
        break
      }
      default:
        if (NOT_ENFORCED_YET.has(r.kind)) {
          issues.push(makeIssue({ severity: 'warning', admission: false, code: CODES.NOT_ENFORCED, file: r.file, line: r.line, kind: r.kind, namespace: r.namespace, name: r.name, field: 'kind', message: `${r.kind} is validated but not enforced by this version of meshgate yet; requests pass as if it were absent` }))
        }
    }
  }
  const registry = new ServiceRegistry(services, rules)
  const ruleCache = new Map<string, CompiledRule>()
  const compiledRule = (vs: VsInfo, i: number, rule: HTTPRoute): CompiledRule => {
    const k = `${vs.key}#${i}`
    let c = ruleCache.get(k)
    if (c === undefined) {
      c = compileRule(vs.ref, i, rule, vs.sticky, (h, p) => registry.resolvePort(h, p))
      ruleCache.set(k, c)
    }
    return c
  }

  // Group servers by port, in Gateway order.
  const byPort = new Map<number, PortServer[]>()
  for (const gw of gateways.values()) {
    const servers = Array.isArray(gw.spec.servers) ? gw.spec.servers : []
    servers.forEach((server, index) => {
      const port = server?.port?.number
      if (typeof port !== 'number') return
      const list = byPort.get(port) ?? []
      list.push({ gw, server, index })
      byPort.set(port, list)
    })
  }

  const routesFor = (vs: VsInfo, gatewayKey: string): Route[] => buildVsRoutes(vs, gatewayKey, compiledRule)
  const listeners = new Map<number, Listener>()
  for (const [port, servers] of [...byPort.entries()].sort((a, b) => a[0] - b[0])) {
    const first = servers[0]!
    const wantTls = isTlsServer(first.server)
    const kept: PortServer[] = []
    for (const s of servers) {
      const proto = String(s.server.port?.protocol ?? '').toUpperCase()
      if (!['HTTP', 'HTTPS', 'HTTP2', 'GRPC'].includes(proto)) {
        issues.push(warn(s, `servers[${s.index}].port.protocol`, `protocol ${proto} is not served by meshgate (HTTP, HTTPS and HTTP2 are)`))
        continue
      }
      if (isTlsServer(s.server) !== wantTls) {
        issues.push(warn(s, `servers[${s.index}].port`, `port ${port} already serves ${wantTls ? 'TLS' : 'plain text'}; this server is skipped`))
        continue
      }
      kept.push(s)
    }
    if (kept.length === 0) continue
    const listener = wantTls
      ? buildTlsListener(port, kept, virtualServices, routesFor, input, issues)
      : buildPlainListener(port, kept, virtualServices, routesFor, input.portMap?.get(port) ?? port)
    if (listener !== null) listeners.set(port, listener)
  }

  const clusters = new Map<string, Cluster>()
  for (const rule of ruleCache.values()) {
    const targets = [...rule.destinations.map(d => [d.host, d.port, d.subset, d.clusterKey] as const), ...rule.mirrors.map(m => [m.host, m.port, m.subset, m.clusterKey] as const)]
    for (const [host, port, subset, key] of targets) {
      if (clusters.has(key)) continue
      const c = registry.buildCluster(host, port, subset, input.files, input.credentialsDir)
      if (c !== null) clusters.set(key, c)
    }
  }

  const scope: PolicyScope = {
    gatewayLabels: input.gatewayLabels,
    servedGateways: new Set(gateways.keys()),
    namespace: input.namespace ?? null,
    rootNamespace: input.rootNamespace ?? 'istio-system'
  }
  return Object.freeze({
    version: input.version,
    listeners,
    clusters,
    resources: Object.freeze(summaries),
    edgeFacts: compileEdgeFacts(ordered, issues),
    authn: compileAuthn(ordered.filter(r => r.kind === 'RequestAuthentication' && policyApplies(r, scope)), issues),
    authz: compileAuthz(ordered.filter(r => r.kind === 'AuthorizationPolicy' && policyApplies(r, scope)), issues),
    apiKeys: compileApiKeys(ordered, input.files),
    rateLimits: compileRateLimits(ordered),
    cache: compileCache(ordered),
    issues: Object.freeze(issues)
  })
}

function refOf (r: SourceResource): ResourceRef {
  return Object.freeze({ kind: r.kind, namespace: r.namespace, name: r.name, file: r.file, line: r.line })
}

/** Istio orders by creationTimestamp (oldest first), then name, then namespace. Files have no creation time unless given. */
export function orderResources (resources: readonly SourceResource[]): SourceResource[] {
  const ts = (r: SourceResource): string => {
    const m = r.value.metadata as Record<string, unknown> | undefined
    const t = m?.creationTimestamp
    return typeof t === 'string' ? t : t instanceof Date ? t.toISOString() : ''
  }
  return [...resources].sort((a, b) => {
    const ta = ts(a)
    const tb = ts(b)
    if (ta !== tb) return ta === '' ? 1 : tb === '' ? -1 : ta < tb ? -1 : 1
    if (a.name !== b.name) return a.name < b.name ? -1 : 1
    if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1
    return 0
  })
}

function selectorMatches (selector: Record<string, string> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (selector === undefined || selector === null || typeof selector !== 'object') return true
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== String(v)) return false
  return true
}

function stickyOf (r: SourceResource): StickyKey | null {
  const ann = (r.value.metadata as Record<string, unknown> | undefined)?.annotations as Record<string, unknown> | undefined
  const v = ann?.[STICKY_ANNOTATION]
  if (typeof v !== 'string') return null
  // Validation refuses a value that is not a key; compile never sees one.
  const k = parseStickyKey(v)
  return typeof k === 'string' ? null : k
}

function isTlsServer (s: Server): boolean {
  const proto = String(s.port?.protocol ?? '').toUpperCase()
  return proto === 'HTTPS' || proto === 'TLS'
}

function warn (s: PortServer, field: string, message: string): Issue {
  return makeIssue({ severity: 'warning', admission: false, code: CODES.SERVER_SKIPPED, file: s.gw.ref.file, line: s.gw.ref.line, kind: 'Gateway', namespace: s.gw.ref.namespace, name: s.gw.ref.name, field, message })
}

/**
 * Routes a VirtualService contributes at one gateway: match blocks whose
 * `gateways` (or the VS's) include it; rules after the VS's first catch-all are
 * discarded, as Istio does.
 */
function buildVsRoutes (vs: VsInfo, gatewayKey: string, compiled: (vs: VsInfo, i: number, r: HTTPRoute) => CompiledRule): Route[] {
  const out: Route[] = []
  const http = Array.isArray(vs.spec.http) ? vs.spec.http : []
  for (let i = 0; i < http.length; i++) {
    const rule = http[i]
    if (rule === null || typeof rule !== 'object') continue
    const blocks: Array<HTTPMatchRequest | null> = Array.isArray(rule.match) && rule.match.length > 0 ? rule.match : [null]
    let ruleIsCatchAll = false
    for (let j = 0; j < blocks.length; j++) {
      const block = blocks[j] ?? null
      const gws = block !== null && Array.isArray(block.gateways) && block.gateways.length > 0
        ? block.gateways.map(g => resolveGatewayName(String(g), vs.ref.namespace))
        : vs.gateways
      if (!gws.includes(gatewayKey)) continue
      const c = compiled(vs, i, rule)
      const catchAll = isCatchAll(block)
      ruleIsCatchAll ||= catchAll
      const matchName = block !== null && typeof block.name === 'string' ? block.name : ''
      const name = c.name !== '' && matchName !== '' ? `${c.name}.${matchName}` : c.name !== '' ? c.name : matchName
      out.push(Object.freeze({
        name,
        rule: c,
        matchIndex: j,
        match: block === null ? null : buildMatch(block),
        catchAll,
        vsLabel: vs.key,
        routeLabel: name !== '' ? name : `http[${i}]`
      }))
    }
    if (ruleIsCatchAll) break
  }
  return out
}

/** Concatenates the VirtualServices' routes in order, then moves catch-all routes to the end (keeping their order). */
function mergeRoutes (lists: readonly Route[][]): Route[] {
  const specific: Route[] = []
  const catchAll: Route[] = []
  for (const l of lists) for (const r of l) (r.catchAll ? catchAll : specific).push(r)
  return specific.concat(catchAll)
}

interface DomainEntry { vs: VsInfo[], routes: Route[][], requireTls: boolean }

function addDomains (domains: Map<string, DomainEntry>, server: PortServer, vss: readonly VsInfo[], routesFor: (vs: VsInfo, gw: string) => Route[]): void {
  const gwKey = server.gw.key
  const hosts = (Array.isArray(server.server.hosts) ? server.server.hosts : []).filter(h => typeof h === 'string').map(h => splitServerHost(h, server.gw.ref.namespace))
  const requireTls = server.server.tls?.httpsRedirect === true && !isTlsServer(server.server)
  if (requireTls) {
    for (const h of hosts) {
      const d = domains.get(h.host) ?? { vs: [], routes: [], requireTls: true }
      d.requireTls = true
      domains.set(h.host, d)
    }
  }
  for (const vs of vss) {
    const routes = routesFor(vs, gwKey)
    if (routes.length === 0) continue
    for (const sh of hosts) {
      if (sh.namespace !== '*' && sh.namespace !== vs.ref.namespace) continue
      for (const vh of vs.hosts) {
        const domain = intersectHosts(sh.host, vh)
        if (domain === null) continue
        const d = domains.get(domain) ?? { vs: [], routes: [], requireTls }
        if (!d.vs.includes(vs)) { d.vs.push(vs); d.routes.push(routes) }
        d.requireTls ||= requireTls
        domains.set(domain, d)
      }
    }
  }
}

function vhostsOf (domains: Map<string, DomainEntry>, port: number): VirtualHost[] {
  const out: VirtualHost[] = []
  for (const [domain, d] of [...domains.entries()].sort((a, b) => a[0] < b[0] ? -1 : 1)) {
    const routes = Object.freeze(mergeRoutes(d.routes))
    out.push(Object.freeze({ name: `${domain}:${port}`, domains: Object.freeze([domain]), routes, requireTls: d.requireTls, index: buildRouteIndex(routes) }))
  }
  return out
}

function buildPlainListener (port: number, servers: readonly PortServer[], vss: readonly VsInfo[], routesFor: (vs: VsInfo, gw: string) => Route[], listenPort: number): Listener {
  // Plain-text servers on one port share one route table, whichever Gateway they come from.
  const domains = new Map<string, DomainEntry>()
  for (const s of servers) addDomains(domains, s, vss, routesFor)
  const table = buildRouteTable(`http.${port}`, vhostsOf(domains, port))
  const bind = typeof servers[0]!.server.bind === 'string' ? servers[0]!.server.bind : ''
  return Object.freeze({
    port,
    listenPort,
    bind,
    tls: false,
    plain: table,
    sniExact: new Map(),
    sniSuffixes: Object.freeze([]),
    sniStar: null,
    tlsServers: Object.freeze([]),
    requestCert: false,
    rejectUnauthorized: false,
    fingerprint: hash({ port, listenPort, bind, tls: false }),
    gatewayNames: Object.freeze([...new Set(servers.map(s => s.gw.key))]),
    h2c: servers.some(s => ['HTTP2', 'GRPC'].includes(String(s.server.port?.protocol ?? '').toUpperCase()))
  })
}

function buildTlsListener (port: number, servers: readonly PortServer[], vss: readonly VsInfo[], routesFor: (vs: VsInfo, gw: string) => Route[], input: CompileInput, issues: Issue[]): Listener | null {
  const claimed = new Set<string>()
  const tlsServers: TlsServer[] = []
  for (const s of servers) {
    const tls = s.server.tls
    const mode = tls?.mode
    if (mode !== 'SIMPLE' && mode !== 'MUTUAL' && mode !== 'OPTIONAL_MUTUAL') {
      issues.push(warn(s, `servers[${s.index}].tls.mode`, `TLS mode ${String(mode)} is not terminated by meshgate; server skipped`))
      continue
    }
    const hosts = (Array.isArray(s.server.hosts) ? s.server.hosts : []).filter(h => typeof h === 'string').map(h => splitServerHost(h, s.gw.ref.namespace).host)
    const dup = hosts.find(h => claimed.has(h))
    if (dup !== undefined) {
      issues.push(warn(s, `servers[${s.index}].hosts`, `host ${dup} is already served by an earlier TLS server on port ${port}; this server is skipped, as Istio does`))
      continue
    }
    const material = tlsMaterial(s, input)
    if (material === null) continue // validation reports the missing secret or file
    for (const h of hosts) claimed.add(h)
    const domains = new Map<string, DomainEntry>()
    addDomains(domains, s, vss, routesFor)
    const name = `https.${port}.${String(s.server.port?.name ?? '')}.${s.gw.ref.name}.${s.gw.ref.namespace}`
    tlsServers.push(Object.freeze({
      gateway: s.gw.ref,
      serverIndex: s.index,
      portName: String(s.server.port?.name ?? ''),
      hosts: Object.freeze(hosts),
      mode,
      material,
      subjectAltNames: Object.freeze(Array.isArray(tls?.subjectAltNames) ? tls!.subjectAltNames.map(String) : []),
      routes: buildRouteTable(name, vhostsOf(domains, port)) as RouteTable
    }))
  }
  if (tlsServers.length === 0) return null
  const sniExact = new Map<string, TlsServer>()
  const sniSuffixes: Array<{ suffix: string, server: TlsServer }> = []
  let sniStar: TlsServer | null = null
  for (const t of tlsServers) {
    for (const h of t.hosts) {
      if (h === '*') sniStar ??= t
      else if (h.startsWith('*.')) sniSuffixes.push({ suffix: h.slice(1), server: t })
      else if (!sniExact.has(h)) sniExact.set(h, t)
    }
  }
  sniSuffixes.sort((a, b) => b.suffix.length - a.suffix.length)
  const requestCert = tlsServers.some(t => t.mode !== 'SIMPLE')
  const rejectUnauthorized = tlsServers.every(t => t.mode === 'MUTUAL')
  const bind = typeof servers[0]!.server.bind === 'string' ? servers[0]!.server.bind : ''
  const listenPort = input.portMap?.get(port) ?? port
  return Object.freeze({
    port,
    listenPort,
    bind,
    tls: true,
    plain: null,
    sniExact,
    sniSuffixes: Object.freeze(sniSuffixes),
    sniStar,
    tlsServers: Object.freeze(tlsServers),
    requestCert,
    rejectUnauthorized,
    fingerprint: hash({ port, listenPort, bind, tls: true, requestCert, rejectUnauthorized }),
    gatewayNames: Object.freeze([...new Set(servers.map(s => s.gw.key))]),
    h2c: false
  })
}

/** Certificate, key and CA from file paths or from `--credentials-dir/<credentialName>/`. */
function tlsMaterial (s: PortServer, input: CompileInput): TlsMaterial | null {
  const tls = s.server.tls!
  if (typeof tls.credentialName === 'string' && tls.credentialName !== '') {
    if (input.credentialsDir === null) return null
    const { cert, key, ca } = readCredential(input.files, input.credentialsDir, tls.credentialName)
    if (cert === null || key === null) return null
    if (tls.mode !== 'SIMPLE' && ca === null) return null
    return Object.freeze({ cert, key, ca, ...protocolOf(tls) })
  }
  const cert = typeof tls.serverCertificate === 'string' ? input.files(tls.serverCertificate) : null
  const key = typeof tls.privateKey === 'string' ? input.files(tls.privateKey) : null
  const ca = typeof tls.caCertificates === 'string' ? input.files(tls.caCertificates) : null
  if (cert === null || key === null) return null
  if (tls.mode !== 'SIMPLE' && ca === null) return null
  return Object.freeze({ cert, key, ca, ...protocolOf(tls) })
}

const TLS_VERSIONS: Readonly<Record<string, TlsMaterial['minVersion']>> = { TLSV1_0: 'TLSv1', TLSV1_1: 'TLSv1.1', TLSV1_2: 'TLSv1.2', TLSV1_3: 'TLSv1.3' }

/** Istio's defaults: TLS 1.2 minimum, 1.3 maximum; `cipherSuites` are OpenSSL names, as Envoy's. */
function protocolOf (tls: Server['tls'] & object): Pick<TlsMaterial, 'minVersion' | 'maxVersion' | 'ciphers'> {
  return {
    minVersion: TLS_VERSIONS[String(tls.minProtocolVersion)] ?? 'TLSv1.2',
    maxVersion: TLS_VERSIONS[String(tls.maxProtocolVersion)] ?? 'TLSv1.3',
    ciphers: Array.isArray(tls.cipherSuites) && tls.cipherSuites.length > 0 ? tls.cipherSuites.map(String).join(':') : null
  }
}

/** Paths of every file a TLS server or DestinationRule names, for the sources stage to read (and watch). */
export function referencedFiles (resources: readonly SourceResource[], credentialsDir: string | null): string[] {
  const out = new Set<string>()
  const add = (p: unknown): void => { if (typeof p === 'string' && p !== '') out.add(p) }
  for (const r of resources) {
    const spec = r.value.spec as Record<string, unknown> | undefined
    if (spec === null || typeof spec !== 'object') continue
    if (r.kind === 'Gateway') {
      for (const s of Array.isArray(spec.servers) ? spec.servers as Server[] : []) {
        const t = s?.tls
        if (t === undefined || t === null) continue
        add(t.serverCertificate); add(t.privateKey); add(t.caCertificates)
        if (typeof t.credentialName === 'string' && credentialsDir !== null) credentialPaths(credentialsDir, t.credentialName).forEach(add)
      }
    } else if (r.kind === 'DestinationRule') {
      const collect = (tp: unknown): void => {
        if (tp === null || typeof tp !== 'object') return
        const t = (tp as Record<string, unknown>).tls as Record<string, unknown> | undefined
        if (t !== undefined && t !== null) {
          add(t.clientCertificate); add(t.privateKey); add(t.caCertificates)
          if (typeof t.credentialName === 'string' && t.credentialName !== '' && credentialsDir !== null) credentialPaths(credentialsDir, t.credentialName).forEach(add)
        }
        const pls = (tp as Record<string, unknown>).portLevelSettings
        if (Array.isArray(pls)) for (const pl of pls) collect(pl)
      }
      collect(spec.trafficPolicy)
      for (const s of Array.isArray(spec.subsets) ? spec.subsets : []) collect((s as Record<string, unknown>)?.trafficPolicy)
    } else if (r.kind === 'ApiKeyPolicy') {
      for (const k of Array.isArray(spec.keys) ? spec.keys : []) add(valueFromPath((k as Record<string, unknown>)?.valueFrom))
    }
  }
  return [...out].sort()
}

function hash (v: unknown): string {
  return createHash('sha1').update(JSON.stringify(v)).digest('hex').slice(0, 16)
}
