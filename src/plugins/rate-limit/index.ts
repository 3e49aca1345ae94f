// RateLimitPolicy at the edge: every limit of every policy that covers the
// request must pass (GCRA per key: client address, a header, a JWT claim, the
// API consumer, or one global bucket). In-process by default; with --redis one
// atomic script per limit makes the count exact across workers and replicas.
// Answers carry `ratelimit-limit/-remaining/-reset` for the tightest limit;
// refusals are 429 with `retry-after`. When Redis fails, a policy lets the
// request through (failOpen, the default) or refuses it (500), never waits.
import { hash } from 'node:crypto'
import type { Logger } from 'pino'
import type { RateLimit, RateLimitConfig, RateLimitPolicyRule } from '../../gateway/snapshot.js'
import type { RequestFacts } from '../../gateway/dataplane/request-facts.js'
import type { RouteSelection } from '../../gateway/dataplane/route-request.js'
import type { GatewayMetrics } from '../metrics.js'
import type { RedisClient } from '../redis.js'
import { claimAt } from '../authn-jwt/index.js'
import { covers } from '../targets.js'
import type { GcraResult } from './gcra.js'
import { MemoryStore } from './memory-store.js'
import { RedisStore, type GcraWaiter } from './redis-store.js'

export { MemoryStore } from './memory-store.js'
export { gcra } from './gcra.js'

export interface RateOutcome {
  /** 0 = let through; 429 = over a limit; 500 = the store failed and the policy fails closed. */
  readonly status: number
  /** Flat [name, value, ...] response headers. */
  readonly headers: string[]
}

export const RATE_LIMITED = 'rate limited'
export const STORE_FAILED = 'rate limit store unavailable'

/** Told a request's outcome once Redis has answered (see `RateLimiter.check`). */
export type RateDone<C> = (ctx: C, outcome: RateOutcome) => void

/** `check`'s answer when the outcome comes later, through its `done` callback. */
export const RATE_PENDING = 1

interface Checked { policy: RateLimitPolicyRule, limit: RateLimit, result: GcraResult | null }

export class RateLimiter {
  readonly memory = new MemoryStore()
  readonly redis: RedisStore | null
  readonly #metrics: GatewayMetrics | null
  readonly #log: Logger | null
  #lastErrorLog = 0

  constructor (redis: RedisClient | null, metrics: GatewayMetrics | null, log: Logger | null) {
    this.redis = redis === null ? null : new RedisStore(redis)
    this.#metrics = metrics
    this.#log = log
  }

  /**
   * The outcome for the request now (in-process store), null when no limit
   * covers it, or RATE_PENDING when it waits for Redis: `done(ctx, outcome)`
   * is then called once the batch's reply (or failure) is in. A plain
   * callback and its context rather than a promise: no promise, closure or
   * microtask per request on the path every limited request takes.
   */
  check<C> (cfg: RateLimitConfig, f: RequestFacts, sel: RouteSelection, done: RateDone<C>, ctx: C): RateOutcome | typeof RATE_PENDING | null {
    const redis = this.redis
    if (redis === null) return this.#checkMemory(cfg, f, sel)
    // The usual case is one limit: the batch's reply settles it directly.
    let first: RateLimit | null = null
    let firstPolicy: RateLimitPolicyRule | null = null
    let more = false
    for (const p of cfg.policies) {
      if (p.limits.length === 0 || !covers(p.targets, f, sel)) continue
      if (first !== null || p.limits.length > 1) { more = true; break }
      first = p.limits[0]!
      firstPolicy = p
    }
    if (first === null) return null
    if (!more) {
      const limit = first
      redis.takeOn(limit.keyPrefix, storeValue(limit, f), limit.requests, limit.periodMs, new SingleCheck(this, firstPolicy!, limit, done, ctx))
      return RATE_PENDING
    }
    const checks: Array<Promise<Checked>> = []
    for (const p of cfg.policies) {
      if (!covers(p.targets, f, sel)) continue
      for (const l of p.limits) {
        checks.push(new Promise<Checked>(resolve => {
          redis.takeOn(l.keyPrefix, storeValue(l, f), l.requests, l.periodMs, {
            settle: result => { resolve({ policy: p, limit: l, result }) },
            fail: err => { this.storeFailed(p, err); resolve({ policy: p, limit: l, result: null }) }
          })
        }))
      }
    }
    void Promise.all(checks).then(checked => { done(ctx, this.#decide(checked)) })
    return RATE_PENDING
  }

  /** The in-process path, allocation-light: no intermediate lists. */
  #checkMemory (cfg: RateLimitConfig, f: RequestFacts, sel: RouteSelection): RateOutcome | null {
    let shown: RateLimit | null = null
    let shownResult: GcraResult | null = null
    let denied = false
    const policies = cfg.policies
    for (let i = 0; i < policies.length; i++) {
      const p = policies[i]!
      if (!covers(p.targets, f, sel)) continue
      for (let j = 0; j < p.limits.length; j++) {
        const l = p.limits[j]!
        const r = this.memory.take(storeKey(l, f), l.requests, l.periodMs)
        this.#metrics?.rateLimitDecision(l.id, r.allowed)
        if (!r.allowed) {
          if (!denied || r.retryAfterMs > shownResult!.retryAfterMs) { shown = l; shownResult = r; denied = true }
        } else if (!denied && (shownResult === null || r.remaining < shownResult.remaining)) {
          shown = l
          shownResult = r
        }
      }
    }
    if (shown === null) return null
    return outcomeOf(shown, shownResult!, denied)
  }

  /** The answer for a request checked against one limit. */
  decideOne (policy: RateLimitPolicyRule, limit: RateLimit, r: GcraResult | null): RateOutcome {
    if (r === null) return policy.failOpen ? PASS : FAIL_CLOSED
    this.#metrics?.rateLimitDecision(limit.id, r.allowed)
    return outcomeOf(limit, r, !r.allowed)
  }

  #decide (checked: Checked[]): RateOutcome {
    let tightest: Checked | null = null
    let denied: Checked | null = null
    let failedClosed = false
    for (const c of checked) {
      const r = c.result
      if (r === null) { if (!c.policy.failOpen) failedClosed = true; continue }
      this.#metrics?.rateLimitDecision(c.limit.id, r.allowed)
      if (!r.allowed) {
        if (denied === null || r.retryAfterMs > denied.result!.retryAfterMs) denied = c
      } else if (tightest === null || r.remaining < tightest.result!.remaining) {
        tightest = c
      }
    }
    if (failedClosed) return FAIL_CLOSED
    const shown = denied ?? tightest
    if (shown === null) return PASS
    return outcomeOf(shown.limit, shown.result!, denied !== null)
  }

  /** A Redis check failed: a metric, and a log line at most every 10 s. */
  storeFailed (policy: RateLimitPolicyRule, err: Error): void {
    this.#metrics?.rateLimitStoreError(policy.id)
    const now = Date.now()
    if (now - this.#lastErrorLog > 10_000) {
      this.#lastErrorLog = now
      this.#log?.warn({ policy: policy.id, err: err.message, failOpen: policy.failOpen }, policy.failOpen ? 'rate limit store failed: letting requests through' : 'rate limit store failed: refusing requests')
    }
  }
}

// Shared answers without headers (never modified): let through (the store
// failed on a failOpen policy, or no limit answered), refused (failClosed).
const PASS: RateOutcome = { status: 0, headers: [] }
const FAIL_CLOSED: RateOutcome = { status: 500, headers: [] }

/** One request's check on one limit in Redis: hands the request's answer to `done` when the batch comes back. */
class SingleCheck<C> implements GcraWaiter {
  readonly #limiter: RateLimiter
  readonly #policy: RateLimitPolicyRule
  readonly #limit: RateLimit
  readonly #done: RateDone<C>
  readonly #ctx: C

  constructor (limiter: RateLimiter, policy: RateLimitPolicyRule, limit: RateLimit, done: RateDone<C>, ctx: C) {
    this.#limiter = limiter
    this.#policy = policy
    this.#limit = limit
    this.#done = done
    this.#ctx = ctx
  }

  settle (result: GcraResult): void { this.#done(this.#ctx, this.#limiter.decideOne(this.#policy, this.#limit, result)) }

  fail (err: Error): void {
    this.#limiter.storeFailed(this.#policy, err)
    this.#done(this.#ctx, this.#limiter.decideOne(this.#policy, this.#limit, null))
  }
}

function outcomeOf (limit: RateLimit, r: GcraResult, denied: boolean): RateOutcome {
  const headers = ['ratelimit-limit', limit.requestsText, 'ratelimit-remaining', String(r.remaining), 'ratelimit-reset', String(Math.ceil(r.resetMs / 1000))]
  if (!denied) return { status: 0, headers }
  headers.push('retry-after', String(Math.max(1, Math.ceil(r.retryAfterMs / 1000))))
  return { status: 429, headers }
}

/** The counter's key: the limit and the request's value for its key (long values hashed). */
function storeKey (l: RateLimit, f: RequestFacts): string {
  return l.keyPrefix + storeValue(l, f)
}

/** The request's value for a limit's key (long values hashed). */
function storeValue (l: RateLimit, f: RequestFacts): string {
  let v: string
  switch (l.key.kind) {
    case 'ip': v = f.clientIp; break
    case 'header': v = f.header(l.key.name) ?? ''; break
    case 'apiKey': v = f.consumer; break
    case 'claim': {
      const c = f.claims === null ? undefined : claimAt(f.claims, l.key.name)
      v = typeof c === 'string' || typeof c === 'number' || typeof c === 'boolean' ? String(c) : ''
      break
    }
    default: v = ''
  }
  if (v.length > 128) v = hash('sha256', v, 'base64url')
  return v
}
