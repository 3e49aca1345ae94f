// The response cache on the request path (CachePolicy): lookup before the
// upstream, capture of a storable answer, concurrent misses collapsed into one
// upstream request, stale-while-revalidate with one background refresh, and
// stale-if-error when the upstream fails. Answers say `x-cache: HIT | MISS |
// STALE | BYPASS`.
import type { IncomingHttpHeaders } from 'node:http'
import { fetchBuffered } from '../../mesh-bridge/upstreams.js'
import type { Endable, Exchange } from './exchange.js'
import { complete } from './forward.js'
import { SERVER_HEADER } from './local-reply.js'
import { cacheKey, currentAgeMs, isUnsafeMethod, freshness, requestDecision, responseDecision, WithCredentials, type HeaderMap, type RequestHeaders } from '../../plugins/cache/semantics.js'
import { replayHeaders, type CacheEntry } from '../../plugins/cache/entry.js'

type Proceed = (ex: Exchange) => void

export interface CacheCapture {
  status: number
  headers: string[]
  chunks: Buffer[]
  bytes: number
  decision: Extract<ReturnType<typeof responseDecision>, { store: true }>
  storedAt: number
}

/**
 * The request headers the cache decides and keys on: as the client sent them.
 * A JWT that RequestAuthentication took off `authorization` still keys the
 * entry (a policy that varies on `authorization` keeps one entry per
 * credential; without it the request would carry a principal and no key).
 */
function cacheHeaders (ex: Exchange): RequestHeaders {
  const f = ex.facts
  if (f.sentName === '') return f.headers as HeaderMap
  return (ex.cacheView ??= new WithCredentials(f.headers as HeaderMap, f.sentMore === null ? [f.sentName, f.sentValue] : [f.sentName, f.sentValue, ...f.sentMore]))
}

/** The client's connection for HTTP/1.x (its requests come one after another), else null. */
function connectionOf (ex: Exchange): object | null {
  return ex.req.httpVersion === '2.0' ? null : ex.req.socket
}

// The last primary key per client connection, with what it was made of: a
// connection asking for the same resource again gets the same key string,
// whose hash the maps of both levels already know (a new string would be
// built, flattened and hashed again).
interface LastKey { readonly policyId: string, readonly method: string, readonly host: string, readonly path: string, readonly query: string, readonly key: string }
const lastKeys = new WeakMap<object, LastKey>()

function primaryKeyOf (ex: Exchange, policyId: string): string {
  const f = ex.facts
  const connection = connectionOf(ex)
  if (connection !== null) {
    const last = lastKeys.get(connection)
    if (last !== undefined && last.policyId === policyId && last.path === f.path && last.query === f.query && last.host === f.host && last.method === f.method) return last.key
  }
  const key = cacheKey(policyId, f.host, f.query === '' ? f.path : `${f.path}?${f.query}`, f.method)
  if (connection !== null) lastKeys.set(connection, { policyId, method: f.method, host: f.host, path: f.path, query: f.query, key })
  return key
}

/**
 * Before forwarding: true when the cache took the request (answered it, or it
 * waits for a miss in flight, or for the shared store); false to forward now.
 */
export function cacheLookup (ex: Exchange, proceed: Proceed): boolean {
  const p = ex.cachePolicy!
  const f = ex.facts
  const d = requestDecision(f.method, cacheHeaders(ex), p.rules, f.requestPrincipal !== '')
  if (d.kind === 'bypass') { ex.cacheStatus = 'BYPASS'; return false }
  ex.cacheKey = primaryKeyOf(ex, p.id)
  ex.cacheStatus = 'MISS'
  // HEAD is answered from a GET entry but never stored (it has no body).
  const storable = f.method !== 'HEAD'
  if (d.kind === 'refresh') { ex.cacheCapture = storable; return false }
  const store = ex.plane.cache.storeFor(p)
  const local = store.getLocal(ex.cacheKey, cacheHeaders(ex), connectionOf(ex))
  if (local !== undefined) return afterLookup(ex, local, storable, proceed)
  void store.get(ex.cacheKey, cacheHeaders(ex), connectionOf(ex)).then(e => {
    if (ex.done) return
    if (!afterLookup(ex, e, storable, proceed)) proceed(ex)
  })
  return true
}

function afterLookup (ex: Exchange, e: CacheEntry | null, storable: boolean, proceed: Proceed): boolean {
  const now = Date.now()
  if (e !== null) {
    const state = freshness(e, now)
    if (state === 'fresh') { serveEntry(ex, e, 'HIT', now); return true }
    if (state === 'stale-revalidate') {
      serveEntry(ex, e, 'STALE', now)
      refreshInBackground(ex)
      return true
    }
    // Kept for the upstream failing (stale-if-error).
    if (state === 'stale-if-error-only') ex.staleEntry = e
  }
  if (!storable) return false
  const cache = ex.plane.cache
  const waiting = cache.inflight.get(ex.cacheKey)
  if (waiting !== undefined) {
    // Another request fetches this key: answer from what it stores, or forward after it.
    waiting.push(() => {
      if (ex.done) return
      const got = ex.plane.cache.storeFor(ex.cachePolicy!).getLocal(ex.cacheKey, cacheHeaders(ex), connectionOf(ex))
      if (got !== null && got !== undefined && freshness(got, Date.now()) === 'fresh') serveEntry(ex, got, 'MISS', Date.now())
      else proceed(ex)
    })
    return true
  }
  cache.inflight.set(ex.cacheKey, [])
  ex.cacheLeader = true
  ex.cacheCapture = true
  return false
}

/** Writes a cached answer: its status and headers, `age`, `x-cache`, and the body unless HEAD. */
export function serveEntry (ex: Exchange, e: CacheEntry, label: string, now: number): void {
  if (ex.done) return
  const res = ex.res
  if (res.headersSent) { res.destroy(); complete(ex); return }
  const out: Record<string, string | string[]> = {}
  const h = e.headers
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!
    const v = h[i + 1]!
    const prev = out[k]
    if (prev === undefined) out[k] = v
    else if (Array.isArray(prev)) prev.push(v)
    else out[k] = [prev, v]
  }
  out.age = String(Math.floor(currentAgeMs(e, now) / 1000))
  out['x-cache'] = label
  out.server = SERVER_HEADER
  const extra = ex.extraHeaders
  if (extra !== null) for (let i = 0; i < extra.length; i += 2) out[extra[i]!] = extra[i + 1]!
  ex.cacheStatus = label
  ex.status = e.status
  try {
    res.writeHead(e.status, out)
  } catch {
    res.destroy()
    complete(ex)
    return
  }
  if (ex.facts.method === 'HEAD') (res as Endable).end()
  else { (res as Endable).end(e.body); ex.bytesSent = e.body.length }
  complete(ex)
}

/**
 * The upstream's answer starts. Returns true when a stale entry was served
 * instead (an upstream 5xx within stale-if-error): the caller drops the answer.
 */
export function onUpstreamResponse (ex: Exchange, status: number, headers: IncomingHttpHeaders, out: Record<string, unknown>): boolean {
  if (status >= 500 && ex.staleEntry !== null && freshness(ex.staleEntry, Date.now()) !== 'expired') {
    serveEntry(ex, ex.staleEntry, 'STALE', Date.now())
    return true
  }
  if (ex.cacheStatus !== '') out['x-cache'] = ex.cacheStatus
  if (status < 400 && isUnsafeMethod(ex.facts.method)) invalidateTarget(ex)
  if (!ex.cacheCapture) return false
  if (ex.plane.cache.storeFor(ex.cachePolicy!).storedThisRound(ex.cacheKey, cacheHeaders(ex), connectionOf(ex))) {
    ex.cacheCapture = false
    return false
  }
  const now = Date.now()
  const d = responseDecision(status, headers as HeaderMap, cacheHeaders(ex), ex.cachePolicy!.rules, now)
  if (d.store) ex.cacheCaptured = { status, headers: replayHeaders(headers), chunks: [], bytes: 0, decision: d, storedAt: now }
  return false
}

/**
 * A successful POST, PUT, PATCH or DELETE changed the resource: what this
 * cache holds for its GET (every variant) is dropped here and in Redis, and
 * other gateways on the Redis drop their memory's copy, so the next GET goes
 * upstream.
 */
function invalidateTarget (ex: Exchange): void {
  const f = ex.facts
  void ex.plane.cache.invalidate(ex.cachePolicy!, cacheKey(ex.cachePolicy!.id, f.host, f.query === '' ? f.path : `${f.path}?${f.query}`))
}

export function onUpstreamData (ex: Exchange, chunk: Buffer): void {
  const c = ex.cacheCaptured
  if (c === null) return
  c.bytes += chunk.length
  // Larger than the policy allows: stream it through, do not store.
  if (c.bytes > ex.cachePolicy!.rules.maxBodyBytes) { ex.cacheCaptured = null; return }
  c.chunks.push(chunk)
}

export function onUpstreamEnd (ex: Exchange): void {
  const c = ex.cacheCaptured
  if (c === null) return
  ex.cacheCaptured = null
  const d = c.decision
  const entry: CacheEntry = {
    status: c.status,
    headers: c.headers,
    // A view into a shared slab is fine until the store keeps it (it copies then, once per key and round).
    body: c.chunks.length === 1 ? c.chunks[0]! : Buffer.concat(c.chunks, c.bytes),
    storedAt: c.storedAt,
    initialAgeMs: d.initialAgeMs,
    freshMs: d.freshMs,
    staleWhileRevalidateMs: d.staleWhileRevalidateMs,
    staleIfErrorMs: d.staleIfErrorMs,
    vary: d.vary
  }
  ex.plane.cache.storeFor(ex.cachePolicy!).set(ex.cacheKey, cacheHeaders(ex), entry, connectionOf(ex))
}

/** Local failure answers (503/504 from the upstream path): a stale entry within stale-if-error instead. */
export function staleOnFailure (ex: Exchange, status: number): boolean {
  if (status < 500 || ex.staleEntry === null || ex.res.headersSent) return false
  if (freshness(ex.staleEntry, Date.now()) === 'expired') return false
  serveEntry(ex, ex.staleEntry, 'STALE', Date.now())
  return true
}

/** The exchange is over: a miss leader lets its waiters go (they read the store, or forward). */
export function releaseWaiters (ex: Exchange): void {
  if (!ex.cacheLeader) return
  ex.cacheLeader = false
  ex.cacheCaptured = null
  const cache = ex.plane.cache
  const waiting = cache.inflight.get(ex.cacheKey)
  cache.inflight.delete(ex.cacheKey)
  if (waiting !== undefined) for (const w of waiting) w()
}

/** stale-while-revalidate: one GET to the upstream per key, its answer stored when storable. */
function refreshInBackground (ex: Exchange): void {
  const cache = ex.plane.cache
  const key = ex.cacheKey
  const rt = ex.cluster
  if (cache.refreshing.has(key) || rt === null) return
  const ep = rt.balancer.pick(null, null)
  if (ep === null) return
  cache.refreshing.add(key)
  const policy = ex.cachePolicy!
  const reqHeaders = cacheHeaders(ex)
  const maxBody = policy.rules.maxBodyBytes
  void (async () => {
    try {
      const res = await fetchBuffered(rt.poolOf(ep), { path: ex.upstreamPath, method: 'GET', headers: ex.upstreamHeaders, body: null, headersTimeout: 30_000, bodyTimeout: 30_000, timeoutMs: 60_000, servername: rt.cluster.tls?.forcedSni ?? undefined }, maxBody)
      if (res === null) return
      const now = Date.now()
      const d = responseDecision(res.statusCode, res.headers as HeaderMap, reqHeaders, policy.rules, now)
      if (!d.store) return
      cache.storeFor(policy).set(key, reqHeaders, {
        status: res.statusCode,
        headers: replayHeaders(res.headers),
        body: res.body,
        storedAt: now,
        initialAgeMs: d.initialAgeMs,
        freshMs: d.freshMs,
        staleWhileRevalidateMs: d.staleWhileRevalidateMs,
        staleIfErrorMs: d.staleIfErrorMs,
        vary: d.vary
      })
    } catch (err) {
      ex.plane.log.debug({ err: (err as Error).message, key }, 'cache refresh failed; the stale entry stays')
    } finally {
      cache.refreshing.delete(key)
    }
  })()
}
