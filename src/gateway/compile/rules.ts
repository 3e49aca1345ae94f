// One VirtualService `http[]` rule → CompiledRule, with Istio's defaults applied.
import RE2 from 're2'
import type { HTTPRoute, HTTPRetry, HTTPFaultInjection, CorsPolicy, Destination, HTTPRedirect } from '../config-types.js'
import type {
  CompiledRule, CorsPolicyCompiled, FaultPolicy, MirrorPolicy, RedirectPolicy, ResourceRef, RetryPolicy,
  RewritePolicy, RouteDestination, StickyKey, StringMatcher
} from '../snapshot.js'
import { parseDurationMs } from '../durations.js'
import { buildHeaderOps } from './header-ops.js'
import { buildStringMatcher } from './string-matcher.js'
import { frozenList } from './route-matcher.js'
import { clusterKey, resolveHost } from './names.js'

/** Resolves a destination's port when the route does not name one (service with one port). */
export type PortResolver = (host: string, port: number) => number

export function compileRule (vs: ResourceRef, index: number, rule: HTTPRoute, sticky: StickyKey | null, resolvePort: PortResolver): CompiledRule {
  const ns = vs.namespace
  const action = rule.redirect !== undefined && rule.redirect !== null
    ? 'redirect'
    : rule.directResponse !== undefined && rule.directResponse !== null ? 'direct' : 'route'
  const destinations = action === 'route' ? buildDestinations(rule, ns, resolvePort) : []
  let totalWeight = 0
  for (const d of destinations) totalWeight += d.weight
  const direct = rule.directResponse
  return Object.freeze({
    virtualService: vs,
    index,
    name: typeof rule.name === 'string' ? rule.name : '',
    action,
    destinations: frozenList(destinations),
    totalWeight,
    stickyKey: destinations.length > 1 ? sticky : null,
    redirect: action === 'redirect' ? buildRedirect(rule.redirect!) : null,
    directStatus: action === 'direct' && typeof direct?.status === 'number' ? direct.status : 0,
    directBody: action === 'direct' ? directBody(direct?.body) : null,
    rewrite: buildRewrite(rule),
    timeoutMs: durationOrZero(rule.timeout),
    retry: buildRetry(rule.retries),
    fault: buildFault(rule.fault),
    mirrors: frozenList(buildMirrors(rule, ns, resolvePort)),
    cors: buildCors(rule.corsPolicy),
    requestHeaders: buildHeaderOps(rule.headers?.request),
    responseHeaders: buildHeaderOps(rule.headers?.response)
  })
}

function buildDestinations (rule: HTTPRoute, ns: string, resolvePort: PortResolver): RouteDestination[] {
  const list = Array.isArray(rule.route) ? rule.route : []
  const out: RouteDestination[] = []
  for (const rd of list) {
    if (rd === null || typeof rd !== 'object') continue
    const d = destinationOf(rd.destination, ns, resolvePort)
    if (d === null) continue
    // One destination: its weight is ignored (even 0). Several: weight 0 entries are dropped.
    const weight = list.length === 1 ? 1 : typeof rd.weight === 'number' ? rd.weight : 0
    if (list.length > 1 && weight <= 0) continue
    // Spelled out rather than spread: a spread copy gets a hidden class of its
    // own, so 10,000 routes made 10,000 of them (3 MB) and every read of a
    // destination on the request path a megamorphic one.
    out.push(Object.freeze({
      host: d.host,
      subset: d.subset,
      port: d.port,
      clusterKey: d.clusterKey,
      weight,
      requestHeaders: buildHeaderOps(rd.headers?.request),
      responseHeaders: buildHeaderOps(rd.headers?.response),
      statName: intern(`${d.host}|${d.subset}`)
    }))
  }
  // A single listed destination keeps weight semantics when several were given but only one survived.
  return out
}

function destinationOf (d: Destination | undefined, ns: string, resolvePort: PortResolver): { host: string, subset: string, port: number, clusterKey: string } | null {
  if (d === undefined || d === null || typeof d.host !== 'string') return null
  const host = intern(resolveHost(d.host, ns))
  const port = resolvePort(host, typeof d.port?.number === 'number' ? d.port.number : 0)
  const subset = typeof d.subset === 'string' ? d.subset : ''
  return { host, subset, port, clusterKey: intern(clusterKey(host, port, subset)) }
}

/**
 * One copy of each host and cluster name, however many routes name it (a large
 * config repeats a few of them thousands of times). Bounded: a table that grows
 * past its cap, across many reloads, starts over.
 */
let interned = new Map<string, string>()

function intern (s: string): string {
  const known = interned.get(s)
  if (known !== undefined) return known
  if (interned.size >= 50_000) interned = new Map()
  interned.set(s, s)
  return s
}

function directBody (body: { string?: string, bytes?: string } | undefined): Buffer | null {
  if (body === undefined || body === null) return null
  if (typeof body.string === 'string') return Buffer.from(body.string)
  if (typeof body.bytes === 'string') return Buffer.from(body.bytes, 'base64')
  return null
}

function buildRedirect (r: HTTPRedirect): RedirectPolicy {
  let port = -1
  if (typeof r.port === 'number') port = r.port
  else if (r.derivePort === 'FROM_PROTOCOL_DEFAULT') port = 0
  else if (r.derivePort === 'FROM_REQUEST_PORT') port = -2
  return Object.freeze({
    code: typeof r.redirectCode === 'number' && r.redirectCode !== 0 ? r.redirectCode : 301,
    uri: typeof r.uri === 'string' ? r.uri : null,
    authority: typeof r.authority === 'string' ? r.authority : null,
    scheme: typeof r.scheme === 'string' && r.scheme !== '' ? r.scheme : null,
    prefixRewrite: typeof r.prefixRewrite === 'string' ? r.prefixRewrite : null,
    port
  })
}

function buildRewrite (rule: HTTPRoute): RewritePolicy | null {
  const rw = rule.rewrite
  let authority: string | null = typeof rw?.authority === 'string' && rw.authority !== '' ? rw.authority : null
  // `headers.request.set|add` of :authority/host rewrite Host too; rewrite.authority wins, set over add.
  const req = rule.headers?.request
  if (authority === null && req !== undefined && req !== null) {
    authority = pickAuthority(req.set) ?? pickAuthority(req.add)
  }
  const uri = typeof rw?.uri === 'string' ? rw.uri : null
  let regex: RE2 | null = null
  let regexReplacement = ''
  const rr = rw?.uriRegexRewrite
  if (rr !== undefined && rr !== null && typeof rr.match === 'string' && typeof rr.rewrite === 'string') {
    try {
      regex = new RE2(rr.match, 'g')
      regexReplacement = rr.rewrite.replace(/\\(\d)/g, '$$$1')
    } catch {
      regex = null
    }
  }
  if (uri === null && authority === null && regex === null) return null
  return Object.freeze({ uri, authority, regex, regexReplacement })
}

function pickAuthority (rec: Record<string, string> | undefined): string | null {
  if (rec === undefined || rec === null || typeof rec !== 'object') return null
  for (const [k, v] of Object.entries(rec)) {
    const n = k.toLowerCase()
    if ((n === ':authority' || n === 'host') && typeof v === 'string') return v
  }
  return null
}

function durationOrZero (d: string | undefined): number {
  const ms = parseDurationMs(d)
  return Number.isNaN(ms) ? 0 : Math.round(ms)
}

const GRPC_CODES: Readonly<Record<string, number>> = {
  ok: 0, cancelled: 1, unknown: 2, 'invalid-argument': 3, 'deadline-exceeded': 4, 'not-found': 5, 'already-exists': 6,
  'permission-denied': 7, 'resource-exhausted': 8, 'failed-precondition': 9, aborted: 10, 'out-of-range': 11,
  unimplemented: 12, internal: 13, unavailable: 14, 'data-loss': 15, unauthenticated: 16
}

export const GRPC_STATUS_BY_NAME: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(GRPC_CODES).map(([k, v]) => [k.toUpperCase().replace(/-/g, '_'), v]))

/** Istio's default list (no `retries`, or no `retryOn`): 503s are not retried. */
const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes'

let defaultRetry: RetryPolicy | null = null

export function buildRetry (r: HTTPRetry | undefined): RetryPolicy {
  // Most rules set no retries: they share one policy object.
  if (r === undefined || r === null) return (defaultRetry ??= buildRetryPolicy(undefined))
  return buildRetryPolicy(r)
}

function buildRetryPolicy (r: HTTPRetry | undefined): RetryPolicy {
  const attempts = r === undefined || r === null ? 2 : typeof r.attempts === 'number' ? r.attempts : 2
  const raw = typeof r?.retryOn === 'string' && r.retryOn !== '' ? r.retryOn : DEFAULT_RETRY_ON
  const codes = new Set<number>()
  const grpc = new Set<number>()
  const flags = { on5xx: false, onGatewayError: false, onReset: false, onResetBeforeRequest: false, onConnectFailure: false, onRetriable4xx: false, onRefusedStream: false }
  for (const tok of raw.split(',').map(s => s.trim()).filter(Boolean)) {
    if (/^\d+$/.test(tok)) { codes.add(Number(tok)); continue }
    switch (tok) {
      case '5xx': flags.on5xx = true; break
      case 'gateway-error': flags.onGatewayError = true; break
      case 'reset': flags.onReset = true; break
      case 'reset-before-request': flags.onResetBeforeRequest = true; break
      case 'connect-failure': flags.onConnectFailure = true; break
      case 'retriable-4xx': flags.onRetriable4xx = true; break
      case 'refused-stream': flags.onRefusedStream = true; break
      default:
        if (GRPC_CODES[tok] !== undefined) grpc.add(GRPC_CODES[tok]!)
    }
  }
  const perTry = parseDurationMs(r?.perTryTimeout)
  return Object.freeze({
    attempts: Math.max(0, attempts),
    perTryTimeoutMs: Number.isNaN(perTry) ? 0 : Math.round(perTry),
    ...flags,
    statusCodes: codes,
    grpcStatuses: grpc,
    raw
  })
}

/** A missing percentage means 0 %: the fault never fires (Istio). */
function buildFault (f: HTTPFaultInjection | undefined): FaultPolicy | null {
  if (f === undefined || f === null || typeof f !== 'object') return null
  const d = f.delay
  const a = f.abort
  let delayMs = 0
  let delayPercent = 0
  if (d !== undefined && d !== null) {
    const ms = parseDurationMs(d.fixedDelay)
    delayMs = Number.isNaN(ms) ? 0 : Math.round(ms)
    delayPercent = typeof d.percentage?.value === 'number' ? d.percentage.value : typeof d.percent === 'number' ? d.percent : 0
  }
  let abortStatus = 0
  let abortGrpcStatus = -1
  let abortPercent = 0
  if (a !== undefined && a !== null) {
    if (typeof a.httpStatus === 'number') abortStatus = a.httpStatus
    if (typeof a.grpcStatus === 'string' && GRPC_STATUS_BY_NAME[a.grpcStatus] !== undefined) {
      abortGrpcStatus = GRPC_STATUS_BY_NAME[a.grpcStatus]!
      abortStatus ||= 200
    }
    abortPercent = typeof a.percentage?.value === 'number' ? a.percentage.value : 0
  }
  if (delayMs === 0 && abortStatus === 0) return null
  return Object.freeze({ delayMs, delayPercent, abortStatus, abortGrpcStatus, abortPercent })
}

function buildMirrors (rule: HTTPRoute, ns: string, resolvePort: PortResolver): MirrorPolicy[] {
  const out: MirrorPolicy[] = []
  if (rule.mirror !== undefined && rule.mirror !== null) {
    const d = destinationOf(rule.mirror, ns, resolvePort)
    // mirrorPercentage absent → 100 %; explicit 0 → off. Deprecated integer forms still read.
    let percent = 100
    if (typeof rule.mirrorPercentage?.value === 'number') percent = rule.mirrorPercentage.value
    else if (typeof rule.mirrorPercent === 'number') percent = rule.mirrorPercent
    else if (typeof rule.mirror_percent === 'number') percent = rule.mirror_percent
    if (d !== null && percent > 0) out.push(mirrorOf(d, percent))
  }
  if (Array.isArray(rule.mirrors)) {
    for (const m of rule.mirrors) {
      const d = destinationOf(m?.destination, ns, resolvePort)
      const percent = typeof m?.percentage?.value === 'number' ? m.percentage.value : 100
      if (d !== null && percent > 0) out.push(mirrorOf(d, percent))
    }
  }
  return out
}

function mirrorOf (d: { host: string, subset: string, port: number, clusterKey: string }, percent: number): MirrorPolicy {
  return Object.freeze({ host: d.host, subset: d.subset, port: d.port, clusterKey: d.clusterKey, percent })
}

function buildCors (c: CorsPolicy | undefined): CorsPolicyCompiled | null {
  if (c === undefined || c === null || typeof c !== 'object') return null
  const origins: StringMatcher[] = []
  let allowAll = false
  for (const o of Array.isArray(c.allowOrigins) ? c.allowOrigins : []) {
    if (o?.exact === '*') allowAll = true
    const m = buildStringMatcher(o)
    if (m !== null && m.kind !== 'present') origins.push(m)
  }
  for (const o of Array.isArray(c.allowOrigin) ? c.allowOrigin : []) {
    if (o === '*') allowAll = true
    if (typeof o === 'string') origins.push(buildStringMatcher({ exact: o })!)
  }
  const methods = Array.isArray(c.allowMethods) ? c.allowMethods.filter(s => typeof s === 'string') : []
  const headers = Array.isArray(c.allowHeaders) ? c.allowHeaders.filter(s => typeof s === 'string') : []
  const maxAgeMs = parseDurationMs(c.maxAge)
  return Object.freeze({
    origins: Object.freeze(origins),
    allowAll,
    allowMethods: methods.join(','),
    allowMethodsAny: methods.includes('*'),
    allowHeaders: headers.join(','),
    allowHeadersAny: headers.includes('*'),
    exposeHeaders: Array.isArray(c.exposeHeaders) ? c.exposeHeaders.filter(s => typeof s === 'string').join(',') : '',
    maxAge: Number.isNaN(maxAgeMs) ? '' : String(Math.floor(maxAgeMs / 1000)),
    allowCredentials: c.allowCredentials === true,
    ignoreUnmatchedPreflights: c.unmatchedPreflights === 'IGNORE'
  })
}
