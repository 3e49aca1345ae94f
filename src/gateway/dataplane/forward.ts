// Sends a routed request upstream through the undici pools: endpoint choice,
// circuit breaking, retries with Istio's retryOn semantics, route and per-try
// timeouts, streaming the answer back, outlier bookkeeping.
import { randomBytes } from 'node:crypto'
import { applyResponseOps, filterResponseHeaders, type ResponseHeaders } from './headers.js'
import { BODY_NO_HEALTHY_UPSTREAM, BODY_OVERFLOW, BODY_TIMEOUT, Flags, SERVER_HEADER, connectErrorBody, sendLocalReply } from './local-reply.js'
import { requestBody, type Exchange, type AttemptControl, type Endable } from './exchange.js'
import type { RetryPolicy } from '../snapshot.js'
import { cookieValue } from './route-request.js'
import { UPSTREAM_CODES } from '../errors.js'
import type { IncomingHttpHeaders } from 'node:http'
import { onUpstreamData, onUpstreamEnd, onUpstreamResponse, releaseWaiters, staleOnFailure } from './cache-flow.js'

const OVERLOADED = ['x-envoy-overloaded', 'true'] as const

type FailureKind = 'connect' | 'reset' | 'timeout'

/** Starts the first attempt. The cluster, rule and destination are set on the exchange. */
export function forward (ex: Exchange): void {
  const rule = ex.rule!
  if (rule.timeoutMs > 0) ex.routeTimer = setTimeout(onRouteTimeout, rule.timeoutMs, ex)
  ex.upstreamStart = performance.now()
  startAttempt(ex)
}

function hashKeyOf (ex: Exchange): string | null {
  const h = ex.cluster!.cluster.hash
  if (h === null) return null
  switch (h.kind) {
    case 'header': return ex.facts.header(h.name) ?? null
    case 'cookie': {
      const v = cookieValue(ex.facts.header('cookie'), h.name)
      if (v !== undefined) return v
      if (h.cookieTtlS < 0) return null
      // Envoy mints the cookie when a ttl is configured, so the next request sticks.
      if (ex.setCookie === '') {
        const value = randomBytes(8).toString('hex')
        ex.setCookie = `${h.name}=${value}${h.cookieTtlS > 0 ? `; Max-Age=${h.cookieTtlS}` : ''}${h.cookiePath !== '' ? `; Path=${h.cookiePath}` : ''}; HttpOnly`
        ex.mintedCookie = value
      }
      return ex.mintedCookie
    }
    case 'query': return ex.facts.queryParam(h.name) ?? null
    default: return ex.facts.clientIp
  }
}

function startAttempt (ex: Exchange): void {
  const rt = ex.cluster!
  const previous = ex.endpoint
  const ep = rt.balancer.pick(hashKeyOf(ex), previous)
  if (ep === null) {
    if (ex.attempt === 0) { finishLocal(ex, 503, BODY_NO_HEALTHY_UPSTREAM, Flags.NoHealthyUpstream, null); return }
    failAfterRetries(ex)
    return
  }
  if (rt.isOverflowing()) {
    if (ex.attempt === 0) { finishLocal(ex, 503, BODY_OVERFLOW, Flags.UpstreamOverflow, OVERLOADED); return }
    failAfterRetries(ex)
    return
  }
  ex.attempt++
  ex.endpoint = ep
  ex.upstreamHost = ep.endpoint.key
  ex.gen++
  if (ex.attemptCountIndex >= 0) ex.upstreamHeaders[ex.attemptCountIndex] = String(ex.attempt)
  rt.active++
  ep.active++
  const retry = ex.rule!.retry
  if (retry.perTryTimeoutMs > 0 && (ex.rule!.timeoutMs === 0 || retry.perTryTimeoutMs < ex.rule!.timeoutMs)) {
    ex.tryTimer = setTimeout(onTryTimeout, retry.perTryTimeoutMs, ex, ex.gen)
  }
  const handler = new AttemptHandler(ex, ex.gen)
  const body = ex.streamBody ? (ex.bodyStream ?? requestBody(ex.req)) : ex.body
  try {
    rt.poolOf(ep).dispatch({
      path: ex.upstreamPath,
      method: ex.facts.method,
      headers: ex.upstreamHeaders,
      body,
      idempotent: false,
      blocking: true,
      headersTimeout: 0,
      bodyTimeout: 0,
      // SNI comes from the Host header unless told: a DestinationRule `sni` (or ISTIO_MUTUAL's) wins.
      servername: rt.cluster.tls?.forcedSni ?? undefined
    }, handler)
  } catch (err) {
    handler.onResponseError(null, err as Error)
  }
}

/** Per-attempt dispatch handler (undici's controller API). */
class AttemptHandler {
  readonly ex: Exchange
  readonly gen: number
  discard: boolean
  released: boolean
  status: number

  constructor (ex: Exchange, gen: number) {
    this.ex = ex
    this.gen = gen
    this.discard = false
    this.released = false
    this.status = 0
  }

  onRequestStart (controller: AttemptControl): void {
    if (this.gen !== this.ex.gen || this.ex.done) { controller.abort(new Error('superseded')); return }
    this.ex.control = controller
  }

  onRequestUpgrade (): void {}

  onResponseStart (controller: AttemptControl, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    const ex = this.ex
    if (statusCode < 200) return
    this.status = statusCode
    if (this.gen !== ex.gen || ex.done) { this.discard = true; return }
    clearTryTimer(ex)
    const retry = ex.rule!.retry
    if (ex.attempt <= retry.attempts && !ex.streamBody && isRetriableStatus(retry, statusCode, headers) && canRetry(ex)) {
      // Drain this answer (keeps the connection reusable) and try again.
      this.discard = true
      return
    }
    ex.responseStarted = true
    ex.status = statusCode
    const out: ResponseHeaders = filterResponseHeaders(headers)
    const rule = ex.rule!
    const dest = ex.dest!
    if (rule.destinations.length > 1) {
      if (dest.responseHeaders !== null) applyResponseOps(dest.responseHeaders, out, ex.facts)
      if (rule.responseHeaders !== null) applyResponseOps(rule.responseHeaders, out, ex.facts)
    } else {
      if (rule.responseHeaders !== null) applyResponseOps(rule.responseHeaders, out, ex.facts)
      if (dest.responseHeaders !== null) applyResponseOps(dest.responseHeaders, out, ex.facts)
    }
    if (ex.corsOrigin !== '') ex.plane.addCorsHeaders(ex, out)
    if (ex.setCookie !== '') appendHeader(out, 'set-cookie', ex.setCookie)
    if (ex.cachePolicy !== null && onUpstreamResponse(ex, statusCode, headers as IncomingHttpHeaders, out)) {
      // A stale entry answered instead (stale-if-error): drop this attempt.
      ex.gen++
      controller.abort(new Error('served stale'))
      return
    }
    const extra = ex.extraHeaders
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) out[extra[i]!] = extra[i + 1]!
    out.server = SERVER_HEADER
    out['x-envoy-upstream-service-time'] = String(Math.round(performance.now() - ex.upstreamStart))
    const res = ex.res
    try {
      res.writeHead(statusCode, out as Record<string, string | string[]>)
    } catch {
      // Header values the downstream protocol refuses: answer 502 rather than crash.
      controller.abort(new Error('invalid upstream response headers'))
    }
  }

  onResponseData (controller: AttemptControl, chunk: Buffer): void {
    if (this.discard) return
    const ex = this.ex
    if (ex.done) return
    ex.bytesSent += chunk.length
    if (ex.cacheCapture) onUpstreamData(ex, chunk)
    if (!(ex.res as { write(c: Buffer): boolean }).write(chunk)) {
      controller.pause()
      ex.res.once('drain', resumeAttempt.bind(null, controller))
    }
  }

  onResponseEnd (controller: AttemptControl, trailers: Record<string, string | string[]> | null): void {
    const ex = this.ex
    this.release()
    if (this.discard) {
      if (this.gen === ex.gen && !ex.done) {
        recordOutcome(ex, this.status)
        ex.lastReason = `${this.status}`
        scheduleRetry(ex)
      }
      return
    }
    recordOutcome(ex, this.status)
    if (ex.done) return
    // gRPC status and other trailers travel after the body.
    const t = upstreamTrailers(controller, trailers)
    if (t !== null) (ex.res as { addTrailers (h: Record<string, string | string[]>): void }).addTrailers(t)
    if (ex.cacheCapture) onUpstreamEnd(ex)
    ;(ex.res as Endable).end()
    complete(ex)
  }

  onResponseError (_controller: AttemptControl | null, err: Error): void {
    const ex = this.ex
    this.release()
    if (this.gen !== ex.gen || ex.done) return
    clearTryTimer(ex)
    if (ex.responseStarted) {
      // Too late for a local reply: cut the downstream stream, as Envoy resets it.
      ex.flags = Flags.UpstreamConnectionTermination
      recordOutcome(ex, 'local-failure', 'reset')
      ex.res.destroy()
      complete(ex)
      return
    }
    const kind = classify(err)
    recordOutcome(ex, 'local-failure', kind)
    logFailure(ex, err, kind)
    ex.lastReason = kind === 'connect' ? 'connection failure' : kind === 'timeout' ? 'timeout' : 'connection termination'
    const retry = ex.rule!.retry
    if (ex.attempt <= retry.attempts && !ex.streamBody && isRetriableFailure(retry, kind) && canRetry(ex)) {
      scheduleRetry(ex)
      return
    }
    if (kind === 'timeout') { finishLocal(ex, 504, BODY_TIMEOUT, Flags.UpstreamRequestTimeout, null); return }
    finishLocal(ex, 503, connectErrorBody(ex.lastReason, ex.attempt > 1), kind === 'connect' ? Flags.UpstreamConnectFailure : Flags.UpstreamConnectionTermination, null)
  }

  release (): void {
    if (this.released) return
    this.released = true
    const ex = this.ex
    ex.cluster!.active--
    if (ex.endpoint !== null) ex.endpoint.active--
  }
}

function appendHeader (out: ResponseHeaders, name: string, value: string): void {
  const prev = out[name]
  if (prev === undefined) out[name] = value
  else if (Array.isArray(prev)) prev.push(value)
  else out[name] = [String(prev), value]
}

/** TLS verification failures name both identities at warn level; other failures are debug noise. */
function logFailure (ex: Exchange, err: Error, kind: FailureKind): void {
  const log = ex.plane.log
  const code = (err as { code?: string }).code ?? ''
  const tls = /identity mismatch/.test(err.message) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)
  if (tls) log.warn({ upstream: ex.upstreamHost, cluster: ex.cluster?.cluster.key, code, err: err.message }, 'upstream TLS verification failed')
  else if (log.isLevelEnabled('debug')) log.debug({ upstream: ex.upstreamHost, cluster: ex.cluster?.cluster.key, kind, code, err: err.message }, 'upstream attempt failed')
}

function resumeAttempt (controller: AttemptControl): void {
  controller.resume()
}

const STATUS_CLASS = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx']

function recordOutcome (ex: Exchange, outcome: number | 'local-failure', failure: FailureKind | null = null): void {
  const m = ex.plane.metrics
  if (m !== null && ex.cluster !== null) {
    m.attempt(ex.cluster.cluster, typeof outcome === 'number' ? (STATUS_CLASS[Math.floor(outcome / 100)] ?? 'other') : failure ?? 'reset')
  }
  const od = ex.cluster?.outlier
  if (od === null || od === undefined || ex.endpoint === null) return
  od.record(ex.endpoint, typeof outcome === 'number' && outcome < 500 ? 'success' : outcome)
}

function classify (err: Error): FailureKind {
  const code = (err as { code?: string }).code ?? ''
  if (code === UPSTREAM_CODES.TRY_TIMEOUT) return 'timeout'
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' ||
      code === 'ENETUNREACH' || code === 'EAI_AGAIN' || code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
      code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || code === 'SELF_SIGNED_CERT_IN_CHAIN' || code === 'CERT_HAS_EXPIRED' || code.startsWith('ERR_SSL') ||
      /identity mismatch/.test(err.message)) return 'connect'
  return 'reset'
}

function isRetriableStatus (r: RetryPolicy, status: number, headers: Record<string, string | string[] | undefined>): boolean {
  // Circuit-breaker overflow answers are never retried (x-envoy-overloaded).
  if (headers['x-envoy-overloaded'] !== undefined) return false
  if (r.statusCodes.has(status)) return true
  if (r.on5xx && status >= 500) return true
  if (r.onGatewayError && (status === 502 || status === 503 || status === 504)) return true
  if (r.onRetriable4xx && status === 409) return true
  if (r.grpcStatuses.size > 0) {
    const g = headers['grpc-status']
    if (typeof g === 'string' && r.grpcStatuses.has(Number(g))) return true
  }
  return false
}

function isRetriableFailure (r: RetryPolicy, kind: FailureKind): boolean {
  if (kind === 'timeout') return r.on5xx || r.onGatewayError || r.onReset
  if (kind === 'connect') return r.onConnectFailure || r.on5xx || r.onGatewayError || r.onReset || r.onResetBeforeRequest
  return r.on5xx || r.onGatewayError || r.onReset
}

/** Envoy's `maxRetries` circuit breaker: beyond it the retry is skipped and the failure returned. */
function canRetry (ex: Exchange): boolean {
  const rt = ex.cluster!
  return rt.retriesActive < rt.cluster.pool.maxRetries
}

/** Exponential backoff with full jitter: 25 ms base, 250 ms cap (Envoy's defaults). */
function scheduleRetry (ex: Exchange): void {
  const n = ex.attempt
  const ceiling = Math.min(250, 25 * 2 ** (n - 1))
  const delay = Math.floor(Math.random() * ceiling)
  ex.cluster!.retriesActive++
  ex.gen++ // the failed attempt is finished; nothing from it may act any more
  setTimeout(runRetry, delay, ex)
}

function runRetry (ex: Exchange): void {
  ex.cluster!.retriesActive--
  if (ex.done) return
  startAttempt(ex)
}

function failAfterRetries (ex: Exchange): void {
  if (ex.lastReason !== '' && /^\d+$/.test(ex.lastReason)) {
    // The last attempt got an answer we would have retried; Envoy then returns that answer.
    // We drained it, so answer with the same status and Envoy's wording.
    finishLocal(ex, Number(ex.lastReason), null, Flags.UpstreamRetryLimitExceeded, null)
    return
  }
  finishLocal(ex, 503, connectErrorBody(ex.lastReason || 'connection failure', true), Flags.UpstreamConnectFailure, null)
}

function onTryTimeout (ex: Exchange, gen: number): void {
  ex.tryTimer = null
  if (gen !== ex.gen || ex.done || ex.responseStarted) return
  const err = Object.assign(new Error('per-try timeout'), { code: UPSTREAM_CODES.TRY_TIMEOUT })
  const c = ex.control
  if (c !== null) c.abort(err)
}

function onRouteTimeout (ex: Exchange): void {
  ex.routeTimer = null
  if (ex.done) return
  ex.gen++
  const c = ex.control
  if (ex.responseStarted) {
    ex.flags = Flags.UpstreamRequestTimeout
    ex.res.destroy()
    complete(ex)
  } else {
    finishLocal(ex, 504, BODY_TIMEOUT, Flags.UpstreamRequestTimeout, null)
  }
  if (c !== null) c.abort(new Error('route timeout'))
}

function clearTryTimer (ex: Exchange): void {
  if (ex.tryTimer !== null) { clearTimeout(ex.tryTimer); ex.tryTimer = null }
}

export function finishLocal (ex: Exchange, status: number, body: string | Buffer | null, flag: string, extra: readonly string[] | null): void {
  if (ex.done) return
  if (ex.staleEntry !== null && staleOnFailure(ex, status)) return
  ex.status = status
  ex.flags = flag
  const gates = ex.extraHeaders
  ex.bytesSent = sendLocalReply(ex.res, status, body, gates === null ? extra : extra === null ? gates : [...gates, ...extra])
  complete(ex)
}

/** Ends the exchange once: timers, upstream attempt, log and metrics. */
export function complete (ex: Exchange): void {
  if (ex.done) return
  ex.done = true
  if (ex.cacheLeader) releaseWaiters(ex)
  if (ex.routeTimer !== null) { clearTimeout(ex.routeTimer); ex.routeTimer = null }
  clearTryTimer(ex)
  ex.plane.onComplete(ex)
}

/** Downstream went away before the answer was complete: stop the upstream attempt. */
export function abortUpstream (ex: Exchange): void {
  if (ex.done) return
  ex.flags = Flags.DownstreamConnectionTermination
  if (ex.status === 0) ex.status = 0
  const c = ex.control
  ex.gen++
  complete(ex)
  if (c !== null) c.abort(new Error('downstream closed'))
}

/**
 * The upstream's trailers, or null when it sent none. undici's HTTP/2 client hands
 * over Node's trailer object where the handler adapter expects HTTP/1.1's flat
 * list, which parses to nothing; the object itself stays on the controller as
 * `rawTrailers`, so it is taken from there.
 */
function upstreamTrailers (controller: AttemptControl, parsed: Record<string, string | string[]> | null): Record<string, string | string[]> | null {
  if (parsed !== null && parsed !== undefined) {
    for (const _ in parsed) return parsed
  }
  const raw = (controller as { rawTrailers?: unknown }).rawTrailers
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null
  let out: Record<string, string | string[]> | null = null
  for (const name of Object.keys(raw)) {
    const v = (raw as Record<string, unknown>)[name]
    if (typeof v !== 'string' && !Array.isArray(v)) continue
    if (out === null) out = {}
    out[name] = v as string | string[]
  }
  return out
}
