// The request path. Reads the current snapshot once per request and uses that
// object for the whole exchange, so a reload never mixes two versions.
// Order follows Envoy's filter chain at an Istio gateway: header sanitising →
// (authn/authz plugins) → fault → CORS → router.
import { requestId } from './request-id.js'
import { Transform, type TransformCallback } from 'node:stream'
import type { Logger } from 'pino'
import type { CachePolicyRule, RouteDestination, Snapshot } from '../snapshot.js'
import { UpstreamManager } from '../../mesh-bridge/upstreams.js'
import { RequestFacts } from './request-facts.js'
import { Exchange, requestBody, type DownstreamRequest } from './exchange.js'
import { BODY_FAULT_ABORT, Flags, type DownstreamResponse } from './local-reply.js'
import { newSelection, pickDestination, selectRoute, stickyValue, type RouteSelection } from './route-request.js'
import { applyRequestOps, applyResponseOps, buildUpstreamHeaders, dropEdgeInternal, type ResponseHeaders } from './headers.js'
import { abortUpstream, complete, finishLocal, forward } from './forward.js'
import { matchString } from '../compile/string-matcher.js'
import { mirrorRequest } from './mirror.js'
import { forwardedClientCert, peerPrincipal } from './client-cert.js'
import { JwtAuthenticator, MSG } from '../../plugins/authn-jwt/index.js'
import type { JwksStoreOptions } from '../../plugins/authn-jwt/jwks-store.js'
import { DEFAULT_LIMITS, type ListenerLimits } from './listener.js'
import { authorize, describeDecision, RBAC_DENIED, type AuthzDecision } from '../../plugins/authz.js'
import { checkApiKeys } from '../../plugins/api-keys.js'
import { Tracer, type SpanEnd } from '../../plugins/tracing.js'
import { RateLimiter, RATE_LIMITED, RATE_PENDING, STORE_FAILED, type RateOutcome } from '../../plugins/rate-limit/index.js'
import type { RedisClient } from '../../plugins/redis.js'
import { HttpCache } from '../../plugins/cache/index.js'
import { cacheLookup } from './cache-flow.js'
import { covers } from '../../plugins/targets.js'
import { isWorkingRedirect, redirectLocation } from './redirect.js'
import type { GatewayMetrics } from '../../plugins/metrics.js'
import { EdgeFactsEngine } from '../../plugins/edge-facts/index.js'

/** Bodies up to this size are held in memory so that retries and mirrors can resend them. */
const MAX_BUFFERED_BODY = 1024 * 1024

const kExchange = Symbol('meshgate.exchange')

export interface DataPlaneOptions {
  readonly log: Logger
  readonly accessLog: Logger | null
  readonly metrics: GatewayMetrics | null
  /** Derives geo/device facts; the default one knows no geo database. */
  readonly edge?: EdgeFactsEngine
  /** JWKS refresh and refetch timing. */
  readonly jwks?: JwksStoreOptions
  /** Request size limits (the listener enforces the timeouts and header bytes). */
  readonly limits?: ListenerLimits
  /** Spans and traceparent (`--otlp-endpoint`); null = pass trace headers through. */
  readonly tracer?: Tracer | null
  /** Shared store for rate limits and the cache's second level (`--redis`); null = in-process. */
  readonly redis?: RedisClient | null
  /** L1 cache bytes per CachePolicy (`--cache-max-bytes`). */
  readonly cacheMaxBytes?: number
}

export class DataPlane {
  current: Snapshot
  readonly upstreams: UpstreamManager
  readonly log: Logger
  readonly accessLog: Logger | null
  readonly metrics: GatewayMetrics | null
  readonly edge: EdgeFactsEngine
  readonly jwt: JwtAuthenticator
  readonly limits: ListenerLimits
  readonly tracer: Tracer | null
  readonly rateLimiter: RateLimiter
  readonly cache: HttpCache
  /** Reused per call: selection happens synchronously. */
  readonly #sel: RouteSelection

  constructor (snapshot: Snapshot, opts: DataPlaneOptions) {
    this.current = snapshot
    this.upstreams = new UpstreamManager()
    this.upstreams.sync(snapshot)
    this.log = opts.log
    this.accessLog = opts.accessLog
    this.metrics = opts.metrics
    this.edge = opts.edge ?? new EdgeFactsEngine(null)
    this.edge.prepare(snapshot.edgeFacts)
    this.jwt = new JwtAuthenticator(opts.log, opts.jwks)
    this.limits = opts.limits ?? DEFAULT_LIMITS
    this.tracer = opts.tracer ?? null
    this.rateLimiter = new RateLimiter(opts.redis ?? null, opts.metrics, opts.log)
    this.cache = new HttpCache({ maxBytes: opts.cacheMaxBytes, redis: opts.redis ?? null, log: opts.log })
    this.cache.retain(snapshot.cache.policies)
    this.jwt.sync(snapshot.authn)
    this.#sel = newSelection()
  }

  /** Publishes a new snapshot: upstream state first, then one reference swap. */
  publish (next: Snapshot): void {
    this.upstreams.sync(next)
    if (next.authn !== this.current.authn) this.jwt.sync(next.authn)
    if (next.edgeFacts !== this.current.edgeFacts) this.edge.prepare(next.edgeFacts)
    if (next.cache !== this.current.cache) this.cache.retain(next.cache.policies)
    this.current = next
  }

  handle (req: DownstreamRequest, res: DownstreamResponse, port: number, scheme: string, sni: string): void {
    const snapshot = this.current
    const headers = req.headers
    if (req.httpVersion === '2.0') dropEdgeInternal(headers as Record<string, unknown>)
    const authority = (headers[':authority'] as string | undefined) ?? headers.host ?? ''
    const facts = new RequestFacts(req.method ?? 'GET', scheme, authority, req.url ?? '/', headers, port, peerAddress(req), sni)
    if (sni !== '' || scheme === 'https') {
      facts.clientCert = forwardedClientCert(req.socket)
      if (facts.clientCert !== '') facts.peerPrincipal = peerPrincipal(req.socket)
    }
    this.edge.apply(facts, snapshot.edgeFacts, req.httpVersion === '2.0' ? null : req.socket)
    const ex = new Exchange(this, req, res, facts, snapshot, requestId())
    ;(res as unknown as Record<symbol, Exchange>)[kExchange] = ex
    res.on('close', onDownstreamClose)
    if (this.tracer !== null) {
      const trace = this.tracer.start(headers.traceparent)
      ex.trace = trace
      headers.traceparent = Tracer.header(trace)
    }
    // Codec-level limits, before any filter (the header bytes are the parser's).
    const limits = this.limits
    if (req.rawHeaders.length > limits.maxHeadersCount * 2) { finishLocal(ex, 431, null, '', null); return }
    if ((req.url?.length ?? 0) > limits.maxUrlBytes) { finishLocal(ex, 414, null, '', null); return }
    // Node enforces requestTimeout for plain HTTP/1.1 only; HTTP/2 and HTTP/1.1 over TLS get it here.
    if (limits.requestTimeoutMs > 0 && !req.complete && (req.httpVersion === '2.0' || scheme === 'https')) watchRequestTime(ex, limits.requestTimeoutMs)
    // HTTP/1.1 body pauses are checked by its server's sweep; an HTTP/2 stream gets a timer while its body arrives.
    if (limits.bodyIdleTimeoutMs > 0 && req.httpVersion === '2.0' && !req.complete) watchBodyIdle(ex, limits.bodyIdleTimeoutMs)
    // Envoy's filter order: jwt_authn (CORS preflights skip it) → RBAC → router.
    if (snapshot.authn.rules.length > 0 && !isPreflight(facts)) {
      const outcome = this.jwt.authenticate(facts, snapshot.authn, req.httpVersion === '2.0' ? null : req.socket)
      if (outcome !== null) {
        if (typeof outcome === 'string') { rejectToken(ex, outcome); return }
        outcome.then(o => {
          if (ex.done) return
          if (o !== null) rejectToken(ex, o)
          else this.#afterAuthn(ex)
        }, (err: unknown) => {
          this.log.error({ err }, 'jwt authentication failed unexpectedly')
          rejectToken(ex, MSG.signature)
        })
        return
      }
    }
    this.#afterAuthn(ex)
  }

  #afterAuthn (ex: Exchange): void {
    const snapshot = ex.snapshot
    const facts = ex.facts
    // Selection is pure: done first so that ApiKeyPolicy targets can name a
    // VirtualService; its result is acted on only after authorization.
    const sel = selectRoute(snapshot, facts, this.#sel)
    if (snapshot.apiKeys.policies.length > 0) {
      const refused = checkApiKeys(snapshot.apiKeys, facts, sel)
      if (refused !== null) {
        finishLocal(ex, 401, refused, '', ['www-authenticate', `APIKey realm="${facts.scheme}://${facts.authority}${facts.path}"`])
        return
      }
    }
    const decision = authorize(snapshot.authz, facts)
    ex.authz = decision
    if (!decision.allowed) {
      finishLocal(ex, 403, RBAC_DENIED, '', null)
      return
    }
    // The shared selection object is reused by the next request: keep what is needed.
    ex.route = sel.route
    if (snapshot.cache.policies.length > 0) ex.cachePolicy = coveringCachePolicy(snapshot, facts, sel)
    ex.requireTls = sel.vhost !== null && sel.vhost.requireTls && facts.scheme === 'http'
    if (snapshot.rateLimits.policies.length > 0) {
      const limited = this.rateLimiter.check(snapshot.rateLimits, facts, sel, rateDecided, ex)
      if (limited === RATE_PENDING) return
      if (limited !== null && !admitRate(ex, limited)) return
    }
    routeRequest(ex)
  }

  addCorsHeaders (ex: Exchange, out: ResponseHeaders): void {
    const cors = ex.rule!.cors!
    out['access-control-allow-origin'] = ex.corsOrigin
    if (cors.allowCredentials) out['access-control-allow-credentials'] = 'true'
    if (cors.exposeHeaders !== '') out['access-control-expose-headers'] = cors.exposeHeaders
  }

  onComplete (ex: Exchange): void {
    this.metrics?.observe(ex)
    if (ex.trace !== null && ex.trace.sampled) this.tracer!.end(ex.trace, spanOf(ex))
    const log = this.accessLog
    if (log === null) return
    const f = ex.facts
    log.info({
      start_time: new Date(ex.startTime).toISOString(),
      method: f.method,
      authority: f.authority,
      path: f.rawPath,
      protocol: ex.req.httpVersion === '2.0' ? 'HTTP/2' : 'HTTP/1.1',
      response_code: ex.status,
      response_flags: ex.flags === '' ? '-' : ex.flags,
      upstream_host: ex.upstreamHost === '' ? null : ex.upstreamHost,
      upstream_cluster: ex.dest?.clusterKey ?? null,
      route_name: ex.route?.routeLabel ?? null,
      virtual_service: ex.route?.vsLabel ?? null,
      duration_ms: Math.round((performance.now() - ex.startMs) * 1000) / 1000,
      attempts: ex.attempt,
      bytes_sent: ex.bytesSent,
      request_id: ex.requestId,
      downstream_remote_address: f.clientIp,
      downstream_direct_remote_address: f.peerIp,
      request_principal: f.requestPrincipal === '' ? null : f.requestPrincipal,
      consumer: f.consumer === '' ? null : f.consumer,
      source_principal: f.peerPrincipal === '' ? null : f.peerPrincipal,
      authz: authzLog(ex.authz),
      user_agent: f.headers['user-agent'] ?? null
    }, 'access')
  }

  async close (): Promise<void> {
    this.jwt.close()
    this.cache.close()
    await this.tracer?.close()
    await this.upstreams.close()
  }
}

function onDownstreamClose (this: DownstreamResponse): void {
  const ex = (this as unknown as Record<symbol, Exchange | undefined>)[kExchange]
  if (ex !== undefined && !ex.done && !this.writableFinished) abortUpstream(ex)
}

/** The span's name and attributes, after OpenTelemetry's HTTP server conventions. */
function spanOf (ex: Exchange): SpanEnd {
  const f = ex.facts
  const route = ex.route
  const attributes: Array<readonly [string, string | number]> = [
    ['http.request.method', f.method],
    ['url.path', f.path],
    ['url.scheme', f.scheme],
    ['server.address', f.host],
    ['server.port', f.port],
    ['client.address', f.clientIp],
    ['guid:x-request-id', ex.requestId]
  ]
  if (route !== null) attributes.push(['meshgate.virtual_service', route.vsLabel], ['meshgate.route', route.routeLabel])
  if (ex.dest !== null) attributes.push(['meshgate.upstream_cluster', ex.dest.clusterKey])
  if (ex.upstreamHost !== '') attributes.push(['network.peer.address', ex.upstreamHost])
  if (ex.flags !== '') attributes.push(['meshgate.response_flags', ex.flags])
  if (f.requestPrincipal !== '') attributes.push(['enduser.id', f.requestPrincipal])
  return { name: route === null ? f.method : `${f.method} ${route.vsLabel}/${route.routeLabel}`, status: ex.status, attributes }
}

/** The access-log view of an authorization decision: which policy decided, and shadow matches. */
function authzLog (d: AuthzDecision | null): string | null {
  if (d === null || d.reason === 'no-policy') return null
  return describeDecision(d)
}

/** The whole request must have arrived within `ms`: else 408 (or a reset once answering). */
function watchRequestTime (ex: Exchange, ms: number): void {
  const req = ex.req
  const timer = setTimeout(() => { timedOut(ex, 'request timeout') }, ms)
  timer.unref()
  req.once('end', () => clearTimeout(timer))
  req.once('close', () => clearTimeout(timer))
}

/** The request did not arrive in time: 408 unless the answer has started, and the request is ended. */
function timedOut (ex: Exchange, why: string): void {
  const req = ex.req
  if (req.complete) return
  if (!ex.done && !ex.res.headersSent) {
    const control = ex.control
    ex.gen++
    finishLocal(ex, 408, why, '', null)
    control?.abort(new Error(why))
  }
  req.destroy()
}

/** An HTTP/2 request body that pauses longer than `ms` (no frame either way on the stream): 408, or a reset once answering. */
function watchBodyIdle (ex: Exchange, ms: number): void {
  const req = ex.req
  const stream = (req as unknown as { stream?: { setTimeout(ms: number, cb?: () => void): void } }).stream
  if (stream === undefined) return
  stream.setTimeout(ms, () => { timedOut(ex, 'request body timeout') })
  const off = (): void => { stream.setTimeout(0) }
  req.once('end', off)
  req.once('close', off)
}

/** The first CachePolicy covering the request (policies are in creation order). */
function coveringCachePolicy (snapshot: Snapshot, f: RequestFacts, sel: RouteSelection): CachePolicyRule | null {
  for (const p of snapshot.cache.policies) if (covers(p.targets, f, sel)) return p
  return null
}

/** Applies a rate-limit outcome: true to go on (its headers then go on the answer). */
function admitRate (ex: Exchange, o: RateOutcome): boolean {
  if (o.status === 0) {
    if (o.headers.length > 0) ex.extraHeaders = o.headers
    return true
  }
  if (o.status === 429) finishLocal(ex, 429, RATE_LIMITED, Flags.RateLimited, o.headers)
  else finishLocal(ex, 500, STORE_FAILED, Flags.RateLimitServiceError, null)
  return false
}

/** A rate-limit outcome that waited for Redis: the request goes on unless it was refused, or ended meanwhile. */
function rateDecided (ex: Exchange, o: RateOutcome): void {
  if (!ex.done && admitRate(ex, o)) routeRequest(ex)
}

/** After the gates (authn, authz, rate limits): the vhost's TLS redirect, no route, or the route's actions. */
function routeRequest (ex: Exchange): void {
  const facts = ex.facts
  if (ex.requireTls) {
    finishLocal(ex, 301, null, '', ['location', `https://${facts.authority}${facts.rawPath}`])
    return
  }
  const route = ex.route
  if (route === null) {
    finishLocal(ex, 404, null, Flags.NoRoute, null)
    return
  }
  const rule = route.rule
  ex.rule = rule
  const fault = rule.fault
  if (fault !== null && fault.delayMs > 0 && fault.delayPercent > 0 && roll(fault.delayPercent)) {
    ex.flags = Flags.DelayInjected
    setTimeout(afterDelay, fault.delayMs, ex)
    return
  }
  afterDelay(ex)
}

/** A CORS preflight: Envoy's JWT filter lets these through (RBAC still applies). */
function isPreflight (f: RequestFacts): boolean {
  return f.method === 'OPTIONS' && f.headers.origin !== undefined && f.headers['access-control-request-method'] !== undefined
}

/** 401 with the jwt_verify text and a Bearer challenge naming the request URL as realm. */
function rejectToken (ex: Exchange, message: string): void {
  const f = ex.facts
  finishLocal(ex, 401, message, '', ['www-authenticate', `Bearer realm="${f.scheme}://${f.authority}${f.path}", error="invalid_token"`])
}

function peerAddress (req: DownstreamRequest): string {
  const a = req.socket?.remoteAddress ?? ''
  return a.startsWith('::ffff:') ? a.slice(7) : a
}

function roll (percent: number): boolean {
  return percent >= 100 || Math.random() * 100 < percent
}

function afterDelay (ex: Exchange): void {
  if (ex.done) return
  const rule = ex.rule!
  const fault = rule.fault
  if (fault !== null && fault.abortStatus > 0 && fault.abortPercent > 0 && roll(fault.abortPercent)) {
    if (fault.abortGrpcStatus >= 0) {
      finishLocal(ex, 200, null, Flags.FaultInjected, ['content-type', 'application/grpc', 'grpc-status', String(fault.abortGrpcStatus), 'grpc-message', BODY_FAULT_ABORT])
    } else {
      finishLocal(ex, fault.abortStatus, BODY_FAULT_ABORT, Flags.FaultInjected, null)
    }
    return
  }
  if (rule.cors !== null && handleCors(ex)) return
  switch (rule.action) {
    case 'redirect': sendRedirect(ex); return
    case 'direct': sendDirect(ex); return
    default: route(ex)
  }
}

/** Returns true when the request was answered (preflight). */
function handleCors (ex: Exchange): boolean {
  const cors = ex.rule!.cors!
  const origin = ex.facts.header('origin')
  if (origin === undefined || origin === '') return false
  let allowed = cors.allowAll
  if (!allowed) {
    for (const m of cors.origins) if (matchString(m, origin)) { allowed = true; break }
  }
  const reqMethod = ex.facts.header('access-control-request-method')
  const preflight = ex.facts.method === 'OPTIONS' && reqMethod !== undefined && reqMethod !== ''
  if (!preflight) {
    if (allowed) ex.corsOrigin = origin
    return false
  }
  if (!allowed) {
    if (!cors.ignoreUnmatchedPreflights) return false
    finishLocal(ex, 200, null, '', null)
    return true
  }
  const extra: string[] = ['access-control-allow-origin', origin]
  const methods = cors.allowMethodsAny ? reqMethod : cors.allowMethods
  if (methods !== '') extra.push('access-control-allow-methods', methods)
  const reqHeaders = ex.facts.header('access-control-request-headers')
  const hdrs = cors.allowHeadersAny ? (reqHeaders ?? '') : cors.allowHeaders
  if (hdrs !== '') extra.push('access-control-allow-headers', hdrs)
  if (cors.allowCredentials) extra.push('access-control-allow-credentials', 'true')
  if (cors.maxAge !== '') extra.push('access-control-max-age', cors.maxAge)
  finishLocal(ex, 200, null, '', extra)
  return true
}

function sendRedirect (ex: Exchange): void {
  const r = ex.rule!.redirect!
  if (!isWorkingRedirect(r)) {
    finishLocal(ex, 404, null, Flags.NoRoute, null)
    return
  }
  const extra = ['location', redirectLocation(r, ex.facts, matchedPrefix(ex.route!))]
  const rh = ex.rule!.responseHeaders
  if (rh !== null) appendOps(rh, ex, extra)
  finishLocal(ex, r.code, null, '', extra)
}

function matchedPrefix (route: import('../snapshot.js').Route): string | null {
  const uri = route.match?.uri
  return uri !== undefined && uri !== null && uri.kind === 'prefix' ? uri.value : null
}

function sendDirect (ex: Exchange): void {
  const rule = ex.rule!
  const extra: string[] = []
  // Route response headers apply to direct responses (use them for content-type).
  if (rule.responseHeaders !== null) appendOps(rule.responseHeaders, ex, extra)
  finishLocal(ex, rule.directStatus, rule.directBody, '', extra)
}

function appendOps (ops: import('../snapshot.js').HeaderOps, ex: Exchange, extra: string[]): void {
  const h: ResponseHeaders = {}
  applyResponseOps(ops, h, ex.facts)
  for (const k in h) {
    const v = h[k]!
    if (Array.isArray(v)) for (const one of v) extra.push(k, one)
    else extra.push(k, String(v))
  }
}

function route (ex: Exchange): void {
  const rule = ex.rule!
  const f = ex.facts
  let dest: RouteDestination | null
  if (rule.stickyKey === null) {
    dest = pickDestination(rule, undefined)
  } else {
    const key = stickyValue(rule.stickyKey, f)
    if (key === undefined) ex.plane.metrics?.stickyFallback(ex.route!.vsLabel)
    dest = pickDestination(rule, key)
  }
  if (dest === null) {
    finishLocal(ex, 503, null, Flags.NoCluster, null)
    return
  }
  ex.dest = dest
  const rt = ex.plane.upstreams.get(dest.clusterKey)
  if (rt === undefined) {
    // Unknown host or a subset no DestinationRule defines: Envoy answers 503 with an empty body (NC).
    finishLocal(ex, 503, null, Flags.NoCluster, null)
    return
  }
  ex.cluster = rt
  ex.upstreamPath = rewritePath(ex)
  const authority = rule.rewrite?.authority ?? f.authority
  const list: string[] = []
  buildUpstreamHeaders(f, f.headers, authority, ex.requestId, rule.timeoutMs, list, ex.snapshot.edgeFacts.forwardHeaders ? null : ex.snapshot.edgeFacts.headerNames)
  if (rule.destinations.length > 1) {
    if (dest.requestHeaders !== null) applyRequestOps(dest.requestHeaders, list, f)
    if (rule.requestHeaders !== null) applyRequestOps(rule.requestHeaders, list, f)
  } else {
    if (rule.requestHeaders !== null) applyRequestOps(rule.requestHeaders, list, f)
    if (dest.requestHeaders !== null) applyRequestOps(dest.requestHeaders, list, f)
  }
  // Header operations may have moved it: look the attempt counter up once they are done.
  ex.attemptCountIndex = list.indexOf('x-envoy-attempt-count') + 1
  ex.upstreamHeaders = list
  if (ex.cachePolicy !== null && cacheLookup(ex, readBodyThenForward)) return
  readBodyThenForward(ex)
}

/** Istio `rewrite.uri` replaces the matched part: the prefix for prefix matches, else the whole path. */
function rewritePath (ex: Exchange): string {
  const rw = ex.rule!.rewrite
  const f = ex.facts
  let path = f.path
  if (rw !== null) {
    if (rw.regex !== null) {
      path = path.replace(rw.regex as unknown as RegExp, rw.regexReplacement)
    } else if (rw.uri !== null) {
      const uri = ex.route!.match?.uri ?? null
      if (uri === null) path = rw.uri + path.slice(1)
      else if (uri.kind === 'prefix') path = rw.uri + path.slice(uri.value.length)
      else path = rw.uri
    }
  }
  return f.query === '' ? path : `${path}?${f.query}`
}

/**
 * Bodies with a known length up to MAX_BUFFERED_BODY are read first, so that
 * retries and mirrors can resend them. Larger or chunked bodies stream straight
 * through, which rules out retries, as Envoy's buffer limit does.
 */
function readBodyThenForward (ex: Exchange): void {
  const req = ex.req
  const h = req.headers
  const cl = h['content-length']
  const h2 = req.httpVersion === '2.0'
  if (h2 ? (req as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders === true : h['transfer-encoding'] === undefined && (cl === undefined || cl === '0')) {
    startForward(ex)
    return
  }
  const length = cl === undefined ? NaN : Number(cl)
  const limit = ex.plane.limits.maxBodyBytes
  if (limit > 0 && length > limit) {
    finishLocal(ex, 413, PAYLOAD_TOO_LARGE, '', null)
    return
  }
  if (Number.isNaN(length) || length > MAX_BUFFERED_BODY) {
    ex.streamBody = true
    // A body of unknown length is counted on its way through.
    if (limit > 0 && Number.isNaN(length)) ex.bodyStream = requestBody(req).pipe(new BodyLimit(limit, ex))
    startForward(ex)
    return
  }
  const chunks: Buffer[] = []
  const stream = requestBody(req)
  stream.on('data', (c: Buffer) => { chunks.push(c) })
  stream.once('end', () => {
    if (ex.done) return
    ex.body = chunks.length === 0 ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
    startForward(ex)
  })
  stream.once('error', () => abortUpstream(ex))
}

const PAYLOAD_TOO_LARGE = 'Payload Too Large'

/** Passes a streamed request body through, and stops it at the size limit: 413, or a reset once the answer has started. */
class BodyLimit extends Transform {
  #left: number
  readonly #ex: Exchange

  constructor (limit: number, ex: Exchange) {
    super()
    this.#left = limit
    this.#ex = ex
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#left -= chunk.length
    if (this.#left >= 0) { cb(null, chunk); return }
    const ex = this.#ex
    if (!ex.done) {
      const control = ex.control
      ex.gen++
      if (ex.res.headersSent) abortUpstream(ex)
      else finishLocal(ex, 413, PAYLOAD_TOO_LARGE, '', null)
      control?.abort(new Error('request body too large'))
    }
    cb(new Error('request body too large'))
  }
}

function startForward (ex: Exchange): void {
  const mirrors = ex.rule!.mirrors
  if (mirrors.length > 0 && !ex.streamBody) {
    for (const m of mirrors) if (roll(m.percent)) mirrorRequest(ex, m)
  }
  forward(ex)
}
