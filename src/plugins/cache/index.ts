// The response cache's runtime: one store per CachePolicy (L1 bounded by
// --cache-max-bytes and the policy's maxEntries, L2 in Redis with --redis),
// the table of misses in flight (concurrent misses for one key wait for one
// upstream answer) and the keys being refreshed in the background.
import type { Logger } from 'pino'
import type { CachePolicyRule } from '../../gateway/snapshot.js'
import type { Cluster, Redis } from 'ioredis'
import type { RedisClient } from '../redis.js'
import { randomUUID } from 'node:crypto'
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

/**
 * Where every gateway sharing the Redis hears what another one dropped: a
 * purge, `{"prefix": "/p", "from": "<id>"}`, or one resource changed by an
 * unsafe request, `{"key": "<primary key>", "from": "<id>"}`.
 */
export const PURGE_CHANNEL = 'mg:cache:purge'

export class HttpCache {
  readonly maxBytes: number
  readonly #redis: RedisClient | null
  readonly #log: Logger | null
  readonly #stores = new Map<string, { maxEntries: number, store: CacheStore }>()
  /** Primary key → callbacks of the requests waiting for the miss being fetched. */
  readonly inflight = new Map<string, Array<() => void>>()
  /** Keys with a stale-while-revalidate refresh under way. */
  readonly refreshing = new Set<string>()
  /** This cache's name on the purge channel (its own announcements are skipped). */
  readonly #id = randomUUID()
  /**
   * The subscribed connection that hears other gateways' purges: opened as
   * soon as a config has a CachePolicy (or with the first store), so a
   * replica that has just started hears invalidations sent before its first
   * cached request.
   */
  #listener: RedisClient | null = null
  /**
   * Without Redis, where an invalidation goes so that this process's sibling
   * workers drop their copies too (set by `serve --workers`; they call
   * `invalidateLocal`). With Redis, the purge channel reaches them.
   */
  relay: ((primaryKey: string) => void) | null = null

  constructor (opts: HttpCacheOptions) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_CACHE_MAX_BYTES
    this.#redis = opts.redis
    this.#log = opts.log
  }

  storeFor (p: CachePolicyRule): CacheStore {
    const known = this.#stores.get(p.id)
    if (known !== undefined && known.maxEntries === p.maxEntries) return known.store
    if (known !== undefined) this.#retire(known.store)
    else this.#listenOnce()
    const store = new CacheStore({ maxBytes: this.maxBytes, maxEntries: p.maxEntries, redis: this.#redis, log: this.#log })
    this.#stores.set(p.id, { maxEntries: p.maxEntries, store })
    return store
  }

  /**
   * A config (the first one too): with a CachePolicy and Redis, the purge
   * channel's connection opens now. The stores of policies it no longer has
   * are dropped, so their memory goes with them (their writes still waiting
   * for Redis leave as planned; the timers stop when those are gone).
   */
  retain (policies: readonly CachePolicyRule[]): void {
    if (policies.length > 0) this.#listenOnce()
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

  /**
   * Another gateway's purges and invalidations reach this one's first level
   * over Redis pub/sub: the other's L1 copies of a dropped resource would
   * otherwise be served until they expire. Pub/sub keeps nothing for a
   * connection that is down, so when it is back after a loss, this gateway
   * empties its first level: what it missed is unknown, and Redis (which the
   * sender cleaned before announcing) refills it. Opened once, and only with
   * Redis.
   */
  #listenOnce (): void {
    const redis = this.#redis
    if (this.#listener !== null || redis === null) return
    const sub: RedisClient = redis.isCluster ? (redis as Cluster).duplicate() : (redis as Redis).duplicate()
    this.#listener = sub
    let connectedBefore = false
    sub.on('error', () => { /* the shared client logs Redis being down */ })
    // (Re)subscribe on every connect: the offline queue is off.
    sub.on('ready', () => {
      if (connectedBefore) {
        let local = 0
        for (const { store } of this.#stores.values()) local += store.clearLocal()
        this.#log?.info({ local }, 'cache purge channel reconnected: memory level emptied, announcements may have been missed')
      }
      connectedBefore = true
      sub.subscribe(PURGE_CHANNEL).catch((err: Error) => { this.#log?.warn({ err: err.message }, 'cache purge channel: subscribe failed') })
    })
    sub.on('message', (_channel: string, text: string) => {
      let m: { prefix?: unknown, key?: unknown, from?: unknown }
      try { m = JSON.parse(text) as typeof m } catch { return }
      if (m.from === this.#id) return
      if (typeof m.key === 'string') { this.invalidateLocal(m.key); return }
      if (typeof m.prefix !== 'string') return
      let local = 0
      for (const { store } of this.#stores.values()) local += store.purgeLocal(m.prefix)
      this.#log?.info({ prefix: m.prefix, local }, 'cache purged by another gateway')
    })
  }

  /**
   * A successful unsafe request changed the resource under `primaryKey`
   * (RFC 9111 §4.4): dropped here and in Redis, then announced, so other
   * gateways drop their memory's copy too. Never rejects.
   */
  async invalidate (p: CachePolicyRule, primaryKey: string): Promise<void> {
    await this.storeFor(p).invalidate(primaryKey)
    if (this.#redis === null) { this.relay?.(primaryKey); return }
    // After Redis is clean, so a replica that misses next does not refill from it.
    try {
      await this.#redis.publish(PURGE_CHANNEL, JSON.stringify({ key: primaryKey, from: this.#id }))
    } catch {
      // Redis is down: the shared client logs it; replicas' memory keeps its copy for its lifetime.
    }
  }

  /** Drops one resource from this process's memory only (another worker's invalidation). */
  invalidateLocal (primaryKey: string): void {
    for (const { store } of this.#stores.values()) store.invalidateLocal(primaryKey)
  }

  /** Closes the purge channel's connection. */
  close (): void {
    this.#listener?.disconnect()
    this.#listener = null
  }

  /** Removes entries whose path starts with `prefix` from every store (and Redis once), and tells the other gateways. */
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
    // After Redis is clean, so a replica that misses next does not refill from it.
    if (this.#redis !== null) {
      try {
        await this.#redis.publish(PURGE_CHANNEL, JSON.stringify({ prefix, from: this.#id }))
      } catch (err) {
        sharedError ??= `announcing the purge to other gateways failed: ${(err as Error).message}`
      }
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
