// The response cache's runtime: one store per CachePolicy (L1 bounded by
// --cache-max-bytes and the policy's maxEntries, L2 in Redis with --redis),
// the table of misses in flight (concurrent misses for one key wait for one
// upstream answer) and the keys being refreshed in the background.
import type { Logger } from 'pino'
import type { CachePolicyRule } from '../../gateway/snapshot.js'
import type { RedisClient } from '../redis.js'
import { CacheStore, type PurgeResult } from './store.js'

export { CacheStore } from './store.js'
export type { CacheEntry } from './entry.js'

export interface HttpCacheOptions {
  /** L1 bytes per CachePolicy (default 64 MiB). */
  readonly maxBytes?: number
  readonly redis: RedisClient | null
  readonly log: Logger | null
}

export const DEFAULT_CACHE_MAX_BYTES = 64 * 1024 * 1024

export class HttpCache {
  readonly maxBytes: number
  readonly #redis: RedisClient | null
  readonly #log: Logger | null
  readonly #stores = new Map<string, { maxEntries: number, store: CacheStore }>()
  /** Primary key → callbacks of the requests waiting for the miss being fetched. */
  readonly inflight = new Map<string, Array<() => void>>()
  /** Keys with a stale-while-revalidate refresh under way. */
  readonly refreshing = new Set<string>()

  constructor (opts: HttpCacheOptions) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_CACHE_MAX_BYTES
    this.#redis = opts.redis
    this.#log = opts.log
  }

  storeFor (p: CachePolicyRule): CacheStore {
    const known = this.#stores.get(p.id)
    if (known !== undefined && known.maxEntries === p.maxEntries) return known.store
    if (known !== undefined) this.#retire(known.store)
    const store = new CacheStore({ maxBytes: this.maxBytes, maxEntries: p.maxEntries, redis: this.#redis, log: this.#log })
    this.#stores.set(p.id, { maxEntries: p.maxEntries, store })
    return store
  }

  /**
   * A new config: the stores of policies it no longer has are dropped, so
   * their memory goes with them (their writes still waiting for Redis leave
   * as planned; the timers stop when those are gone).
   */
  retain (policies: readonly CachePolicyRule[]): void {
    if (this.#stores.size === 0) return
    const ids = new Set(policies.map(p => p.id))
    for (const [id, { store }] of this.#stores) {
      if (ids.has(id)) continue
      this.#retire(store)
      this.#stores.delete(id)
    }
  }

  /** Evictions of stores that were dropped or replaced, so the total never goes down. */
  #retiredEvictions = 0

  #retire (store: CacheStore): void {
    this.#retiredEvictions += store.stats.evictions
  }

  get storeCount (): number { return this.#stores.size }

  /** Removes entries whose path starts with `prefix` from every store (and Redis once). */
  async purge (prefix: string): Promise<{ local: number, shared: number, sharedError: string | null }> {
    let local = 0
    let shared = 0
    let sharedError: string | null = null
    let first = true
    for (const { store } of this.#stores.values()) {
      const r: PurgeResult = await store.purge(prefix)
      local += r.local
      // Redis is one keyspace: every store would find the same keys.
      if (first) { shared = r.shared; sharedError = r.sharedError; first = false }
    }
    if (first && this.#redis !== null) {
      const r = await new CacheStore({ maxBytes: 1024, redis: this.#redis, log: this.#log }).purge(prefix)
      shared = r.shared
      sharedError = r.sharedError
    }
    return { local, shared, sharedError }
  }

  stats (): { bytes: number, entries: number, evictions: number } {
    let bytes = 0
    let entries = 0
    let evictions = this.#retiredEvictions
    for (const { store } of this.#stores.values()) {
      const s = store.stats
      bytes += s.bytes
      entries += s.entries
      evictions += s.evictions
    }
    return { bytes, entries, evictions }
  }
}
