// Per-request state, one object with a fixed shape. The data plane's module-level
// functions take it as their argument instead of allocating closures.
import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import type { CachePolicyRule, CompiledRule, Route, RouteDestination, Snapshot } from '../snapshot.js'
import type { CacheEntry } from '../../plugins/cache/entry.js'
import type { WithCredentials } from '../../plugins/cache/semantics.js'
import type { CacheCapture } from './cache-flow.js'
import type { ClusterRuntime } from '../../mesh-bridge/upstreams.js'
import type { EndpointState } from '../../mesh-bridge/endpoint-state.js'
import type { RequestFacts } from './request-facts.js'
import type { DownstreamResponse } from './local-reply.js'
import type { DataPlane } from './data-plane.js'
import type { Readable } from 'node:stream'
import { H1Request } from './h1-server.js'
import type { TraceContext } from '../../plugins/tracing.js'
import type { AuthzDecision } from '../../plugins/authz.js'

export type DownstreamRequest = IncomingMessage | Http2ServerRequest | H1Request

/** The request's body as a stream: node:http's requests are their own body. */
export function requestBody (req: DownstreamRequest): Readable {
  return req instanceof H1Request ? req.body() : req
}

/** end() of any downstream answer (their overloads differ). */
export interface Endable { end (chunk?: string | Buffer): unknown }

export interface AttemptControl { abort (reason?: Error): void, pause (): void, resume (): void }

export class Exchange {
  readonly plane: DataPlane
  readonly req: DownstreamRequest
  readonly res: DownstreamResponse
  readonly facts: RequestFacts
  readonly snapshot: Snapshot
  readonly startMs: number
  readonly startTime: number
  route: Route | null
  rule: CompiledRule | null
  dest: RouteDestination | null
  cluster: ClusterRuntime | null
  endpoint: EndpointState | null
  /** 1-based number of the current upstream attempt. */
  attempt: number
  /** Request body held for retries and mirrors; null when there is none or it is streamed. */
  body: Buffer | null
  streamBody: boolean
  upstreamPath: string
  upstreamHeaders: string[]
  attemptCountIndex: number
  requestId: string
  routeTimer: NodeJS.Timeout | null
  tryTimer: NodeJS.Timeout | null
  control: AttemptControl | null
  /** Generation of the live attempt; callbacks from older attempts are ignored. */
  gen: number
  done: boolean
  responseStarted: boolean
  status: number
  flags: string
  upstreamHost: string
  bytesSent: number
  lastReason: string
  upstreamStart: number
  corsOrigin: string
  /** Set-Cookie for a consistent-hash cookie minted by this request (`httpCookie.ttl`). */
  setCookie: string
  mintedCookie: string
  /** A streamed body passed through a size limit (chunked uploads), else null: the request itself streams. */
  bodyStream: Readable | null
  /** The virtual host demands TLS and the request came in plain text (answered 301 after the gates). */
  requireTls: boolean
  /** Response headers the gates add to every answer (rate-limit headers), flat [name, value, ...], or null. */
  extraHeaders: string[] | null
  /** The CachePolicy covering this request, or null. */
  cachePolicy: CachePolicyRule | null
  cacheKey: string
  /** `x-cache` for the answer: HIT, MISS, STALE, BYPASS, or '' when no policy covers the request. */
  cacheStatus: string
  /** Capture the upstream's answer for the cache. */
  cacheCapture: boolean
  /** This request fetches a miss others wait for. */
  cacheLeader: boolean
  /** A stale entry usable if the upstream fails (stale-if-error). */
  staleEntry: CacheEntry | null
  /** The request headers the cache keys on, once built (see cache-flow's cacheHeaders). */
  cacheView: WithCredentials | null
  /** The upstream answer being captured for the cache, or null. */
  cacheCaptured: CacheCapture | null
  /** The gateway's span when tracing is on, else null. */
  trace: TraceContext | null
  /** The AuthorizationPolicy decision, once made. */
  authz: AuthzDecision | null

  constructor (plane: DataPlane, req: DownstreamRequest, res: DownstreamResponse, facts: RequestFacts, snapshot: Snapshot, requestId: string) {
    this.plane = plane
    this.req = req
    this.res = res
    this.facts = facts
    this.snapshot = snapshot
    this.startMs = performance.now()
    this.startTime = Date.now()
    this.route = null
    this.rule = null
    this.dest = null
    this.cluster = null
    this.endpoint = null
    this.attempt = 0
    this.body = null
    this.streamBody = false
    this.upstreamPath = ''
    this.upstreamHeaders = []
    this.attemptCountIndex = -1
    this.requestId = requestId
    this.routeTimer = null
    this.tryTimer = null
    this.control = null
    this.gen = 0
    this.done = false
    this.responseStarted = false
    this.status = 0
    this.flags = ''
    this.upstreamHost = ''
    this.bytesSent = 0
    this.lastReason = ''
    this.upstreamStart = 0
    this.corsOrigin = ''
    this.setCookie = ''
    this.mintedCookie = ''
    this.authz = null
    this.bodyStream = null
    this.trace = null
    this.requireTls = false
    this.extraHeaders = null
    this.cachePolicy = null
    this.cacheKey = ''
    this.cacheStatus = ''
    this.cacheCapture = false
    this.cacheLeader = false
    this.staleEntry = null
    this.cacheView = null
    this.cacheCaptured = null
  }
}
