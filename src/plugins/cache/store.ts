// CachePolicy's store in two levels: L1 in this process, an LRU bounded by
// bytes (lru-cache's own accounting), and L2 in Redis, shared by every
// replica. A lookup tries L1, then L2, and copies an L2 hit into L1. Writes are
// seen by lookups at once, reach L1 when the event-loop round ends and Redis
// within a few ms (the last write to a key wins; a key already in Redis is
// rewritten there at most once a second). Redis failing costs a miss or
// a dropped write, never a wait or an error for the request (the client from
// `connectRedis` fails fast: no offline queue, a short command timeout).
//
// Layout, in both levels: a primary key (`cacheKey`) holds the entry itself
// when the response varies on nothing, else a VaryRecord naming the request
// headers to key on; each variant then lives under `variantKey(...)`. Both
// kinds expire with the entry's last usable moment (fresh + the longer stale
// window), so neither level keeps dead responses.
import type { Cluster, Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { atRoundEnd, scriptBatches, type RedisClient } from '../redis.js'
import { decodeStored, encodeEntry, encodeVaryRecord, entrySize, varyRecordSize, VaryRecord, type CacheEntry } from './entry.js'
import { matchesPurge, purgePattern, remainingLifeMs, sortedNames, variantKey, type PurgeScope, type RequestHeaders } from './semantics.js'

export interface CacheStoreOptions {
  /** L1 bound: the total `entrySize` (and small vary records) held in this process, bytes. */
  readonly maxBytes: number
  /** L1 bound on items: responses, plus one vary record per primary key whose responses vary. */
  readonly maxEntries?: number
  readonly redis: RedisClient | null
  readonly log?: Logger | null
  /** The clock for entry lifetimes (default `Date.now`). */
  readonly now?: () => number
  /** How long writes may gather before they go to Redis together, ms (default 5). */
  readonly writeWindowMs?: number
  /** A key written to Redis is written again at most once per this, ms (default 1000; 0: every window). */
  readonly sharedHoldMs?: number
}

export interface CacheStats {
  /** L1 bytes, as lru-cache counts them (`calculatedSize`). */
  readonly bytes: number
  /** L1 items (responses and vary records). */
  readonly entries: number
  /** L1 items dropped to make room. */
  readonly evictions: number
  readonly l1Hits: number
  readonly l2Hits: number
  readonly misses: number
  readonly redisErrors: number
}

export interface PurgeResult {
  /** L1 keys removed (responses and vary records). */
  readonly local: number
  /** Redis keys removed (responses and vary records). */
  readonly shared: number
  /** Why the Redis part stopped early, or null. */
  readonly sharedError: string | null
}

type Item = CacheEntry | VaryRecord

/** A write on its way: into L1 when the event-loop round ends, encoded to Redis when the write window ends. */
interface PendingWrite {
  readonly key: string
  item: Item
  /** `itemSize(item)`, computed once for L1's bound and its accounting. */
  size: number
  /** When the item's life ends, ms since the epoch (`now` of the store). */
  until: number
  /** In L1 already, or too large for it. */
  inL1: boolean
}

const keyOfWrite = (w: PendingWrite): string => w.key

/** How much sooner than a new entry its vary record may expire before the record is rewritten. */
const RECORD_SLACK_MS = 1_000

// The Redis writes of one batch in one script call: KEYS[i] gets ARGV[3i-1]
// for ARGV[3i] ms. A vary record ('V' in ARGV[3i-2]) serves every variant of
// its primary key: it keeps the longer of its current and new lifetimes, so a
// short-lived variant does not hide the others.
const STORE_BATCH_LUA = `
for i, key in ipairs(KEYS) do
  local px = tonumber(ARGV[3 * i])
  if ARGV[3 * i - 2] == 'V' then
    local left = redis.call('PTTL', key)
    if left > px then px = left end
  end
  redis.call('SET', key, ARGV[3 * i - 1], 'PX', px)
end
return #KEYS
`
type StoreBatch = (...args: Array<string | number | Buffer>) => Promise<number>

/**
 * Writes gather this long before they go to Redis: under load a hot key is
 * written once per window instead of once per event-loop round, and another
 * replica sees it this much later at most.
 */
const DEFAULT_WRITE_WINDOW_MS = 5

/**
 * A key already written to Redis is written again at most this often: a hot
 * resource that clients keep refreshing (`cache-control: no-cache`) would
 * otherwise be encoded and sent every window. A new key still leaves within
 * the window; a changed answer for a held key reaches other replicas at most
 * a quarter more than this later (held writes are checked four times per
 * hold; each replica's own L1 has it at once).
 */
const DEFAULT_SHARED_HOLD_MS = 1_000

/** Most keys remembered per hold period, and most writes held: beyond it, writes go every window. */
const MAX_HELD_KEYS = 100_000

/** Most writes in one script call (bounds its run time on the Redis side). */
const MAX_BATCH = 128

const SCAN_COUNT = 1_000
const ERROR_LOG_INTERVAL_MS = 10_000

export class CacheStore {
  readonly #l1: LRUCache<string, Item>
  readonly #redis: RedisClient | null
  readonly #log: Logger | null
  readonly #now: () => number
  readonly #maxBytes: number
  readonly #writeWindowMs: number
  readonly #sharedHoldMs: number
  #evictions = 0
  #l1Hits = 0
  #l2Hits = 0
  #misses = 0
  #redisErrors = 0
  #lastErrorLog = 0

  constructor (opts: CacheStoreOptions) {
    if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < 1) throw new RangeError(`cache maxBytes must be a positive integer, got ${opts.maxBytes}`)
    if (opts.maxEntries !== undefined && (!Number.isSafeInteger(opts.maxEntries) || opts.maxEntries < 1)) throw new RangeError(`cache maxEntries must be a positive integer, got ${opts.maxEntries}`)
    this.#l1 = new LRUCache<string, Item>({
      // lru-cache reads the clock once per this many ms (a timer resets it; at
      // its default of 1 ms that timer runs every millisecond under load). L1's
      // TTL only bounds how long an item is kept: whether an entry may be
      // served is decided by `freshness()` on its own times, so 50 ms late is
      // harmless.
      ttlResolution: 50,
      maxSize: opts.maxBytes, // and maxEntrySize: an item larger than the whole cache is not stored
      ...(opts.maxEntries === undefined ? {} : { max: opts.maxEntries }),
      sizeCalculation: itemSize,
      dispose: (_value, _key, reason) => { if (reason === 'evict') this.#evictions++ }
    })
    this.#maxBytes = opts.maxBytes
    this.#writeWindowMs = opts.writeWindowMs ?? DEFAULT_WRITE_WINDOW_MS
    this.#sharedHoldMs = opts.sharedHoldMs ?? DEFAULT_SHARED_HOLD_MS
    this.#redis = opts.redis
    this.#log = opts.log ?? null
    this.#now = opts.now ?? Date.now
    if (this.#redis !== null) this.#redis.defineCommand('meshgateCacheStoreBatch', { lua: STORE_BATCH_LUA })
  }

  get stats (): CacheStats {
    this.#applyLocal()
    return {
      bytes: this.#l1.calculatedSize,
      entries: this.#l1.size,
      evictions: this.#evictions,
      l1Hits: this.#l1Hits,
      l2Hits: this.#l2Hits,
      misses: this.#misses,
      redisErrors: this.#redisErrors
    }
  }

  /**
   * The fast path: the entry from L1, `null` for a miss L1 can be sure of (no
   * Redis configured), `undefined` when only L2 can tell (call `get`). The
   * entry may be stale: the caller asks `freshness()`.
   */
  getLocal (primaryKey: string, reqHeaders: RequestHeaders, connection: object | null = null): CacheEntry | null | undefined {
    const item = this.#localItem(primaryKey)
    const found = item instanceof VaryRecord ? this.#localItem(variantKey(primaryKey, item.vary, reqHeaders, connection)) : item
    if (found !== undefined && !(found instanceof VaryRecord)) { this.#l1Hits++; return found }
    if (this.#redis === null) { this.#misses++; return null }
    return undefined
  }

  /**
   * True when this round already stored an answer under the key these request
   * headers lead to (not yet in L1): a hot resource fetched again and again
   * in one round is captured and stored once, the first answer of the round
   * kept, and the other answers skip the copy of their headers and body.
   */
  storedThisRound (primaryKey: string, reqHeaders: RequestHeaders, connection: object | null = null): boolean {
    if (this.#pending.size === 0) return false
    const item = this.#localItem(primaryKey)
    const key = item instanceof VaryRecord ? variantKey(primaryKey, item.vary, reqHeaders, connection) : primaryKey
    const w = this.#pending.get(key)
    return w !== undefined && !w.inL1
  }

  /** A write of this round not yet in L1, else L1's item. */
  #localItem (key: string): Item | undefined {
    if (this.#pending.size !== 0) {
      const w = this.#pending.get(key)
      if (w !== undefined && !w.inL1) return w.item
    }
    return this.#l1.get(key)
  }

  /** L1, then L2; an L2 hit is copied into L1. Resolves null on a miss and when Redis fails; never rejects. */
  get (primaryKey: string, reqHeaders: RequestHeaders, connection: object | null = null): Promise<CacheEntry | null> {
    const local = this.getLocal(primaryKey, reqHeaders, connection)
    if (local !== undefined) return Promise.resolve(local)
    return this.#getShared(this.#redis as RedisClient, primaryKey, reqHeaders, connection)
  }

  /**
   * Stores in L1 when this event-loop round ends and in Redis within the write
   * window (lookups see it at once). Never throws, never waits for Redis.
   */
  set (primaryKey: string, reqHeaders: RequestHeaders, entry: CacheEntry, connection: object | null = null): void {
    try {
      const lifeMs = Math.ceil(remainingLifeMs(entry, this.#now()))
      if (lifeMs <= 0) return
      const vary = sortedNames(entry.vary)
      const key = vary.length === 0 ? primaryKey : variantKey(primaryKey, vary, reqHeaders, connection)
      // A record naming the same headers that outlives this entry (give or take
      // a second) needs no rewrite: under steady traffic every store would
      // otherwise rewrite it, here and in Redis.
      if (vary.length !== 0 && !this.#recordHolds(primaryKey, vary, lifeMs)) this.#queue(primaryKey, new VaryRecord(vary), lifeMs)
      this.#queue(key, entry, lifeMs)
    } catch (err) {
      // Nothing above should throw (encoding a hostile entry at worst); a cache write is never worth a failed request.
      this.#onRedisError(err)
    }
  }

  /** The same vary record is held (or on its way) and lives about as long as this entry will. */
  #recordHolds (primaryKey: string, vary: readonly string[], lifeMs: number): boolean {
    let w = this.#pending.get(primaryKey)
    if (w !== undefined && w.inL1) w = undefined
    const held = w !== undefined ? w.item : this.#l1.peek(primaryKey)
    if (!(held instanceof VaryRecord) || held.vary.length !== vary.length) return false
    for (let i = 0; i < vary.length; i++) if (held.vary[i] !== vary[i]) return false
    return (w !== undefined ? w.until - this.#now() : this.#l1.getRemainingTTL(primaryKey)) >= lifeMs - RECORD_SLACK_MS
  }

  // Writes are applied when the event-loop round that asked for them is over:
  // to L1 then, and to Redis within `writeWindowMs` (or, for a key sent less
  // than `sharedHoldMs` ago, when that hold ends), in one script call (per
  // hash slot on Redis Cluster) for everything due. Writes to
  // one key collapse into the last (the end state is the same; a vary record
  // keeps the longest lifetime, as `#setLocal` and the script do): a key
  // refreshed by many requests costs one L1 update per round and one encoding
  // and Redis write per hold. Lookups read writes not yet in L1 first.
  #pending = new Map<string, PendingWrite>()
  #localScheduled = false
  #sharedScheduled = false
  /**
   * Writes whose key was sent less than `sharedHoldMs` ago, taken out of a
   * window (they are in L1 already): the last per key leaves when its hold
   * ends, checked a few times per hold.
   */
  #held = new Map<string, PendingWrite>()
  #heldTimer: NodeJS.Timeout | null = null
  /** When each key was last sent to Redis (real time), over the current and the previous hold period. */
  #sentAt = new Map<string, number>()
  #sentAtBefore = new Map<string, number>()
  #sentPeriodStart = 0

  #queue (key: string, item: Item, lifeMs: number): void {
    const size = itemSize(item)
    // Larger than all of L1: Redis only (L1 would refuse it).
    const tooLarge = size > this.#maxBytes
    const until = this.#now() + lifeMs
    const prev = this.#pending.get(key)
    if (prev === undefined) this.#pending.set(key, { key, item, size, until, inL1: tooLarge })
    else {
      prev.until = prev.item instanceof VaryRecord && item instanceof VaryRecord ? Math.max(prev.until, until) : until
      prev.item = item
      prev.size = size
      prev.inL1 = tooLarge
    }
    if (!this.#localScheduled) {
      this.#localScheduled = true
      setImmediate(this.#flushLocal)
    }
    if (this.#redis !== null && !this.#sharedScheduled) {
      this.#sharedScheduled = true
      setTimeout(this.#windowOver, this.#writeWindowMs).unref()
    }
  }

  #applyLocal (): void {
    const now = this.#now()
    for (const w of this.#pending.values()) {
      if (w.inL1) continue
      w.inL1 = true
      if (w.until > now) this.#setLocal(w.key, w.item, Math.ceil(w.until - now), w.size)
    }
  }

  readonly #flushLocal = (): void => {
    this.#localScheduled = false
    this.#applyLocal()
    // Without Redis nothing else waits for these writes.
    if (this.#redis === null) this.#pending.clear()
  }

  /** The window is over (scheduled only with Redis): the writes leave with the rest of this round's Redis commands. */
  readonly #windowOver = (): void => {
    atRoundEnd(this.#redis!, this.#flushShared)
  }

  readonly #flushShared = (): void => {
    this.#sharedScheduled = false
    if (this.#pending.size === 0) return
    this.#applyLocal()
    const real = Date.now()
    if (real - this.#sentPeriodStart >= this.#sharedHoldMs) {
      this.#sentAtBefore = this.#sentAt
      this.#sentAt = new Map()
      this.#sentPeriodStart = real
    }
    const due: PendingWrite[] = []
    for (const w of this.#pending.values()) {
      const sent = this.#sentAt.get(w.key) ?? this.#sentAtBefore.get(w.key)
      if (sent !== undefined && real - sent < this.#sharedHoldMs && this.#held.size < MAX_HELD_KEYS) this.#hold(w)
      else {
        // An older held write to this key must not follow this one.
        if (this.#held.size !== 0) this.#held.delete(w.key)
        due.push(w)
      }
    }
    this.#pending.clear()
    this.#send(due, real)
  }

  /** Keeps the last write per key (a vary record keeps its longest lifetime) until its hold ends. */
  #hold (w: PendingWrite): void {
    const prev = this.#held.get(w.key)
    if (prev !== undefined && prev.item instanceof VaryRecord && w.item instanceof VaryRecord) w.until = Math.max(w.until, prev.until)
    this.#held.set(w.key, w)
    this.#heldTimer ??= setInterval(this.#heldCheck, Math.max(1, this.#sharedHoldMs / 4)).unref()
  }

  readonly #heldCheck = (): void => { atRoundEnd(this.#redis!, this.#releaseHeld) }

  readonly #releaseHeld = (): void => {
    const real = Date.now()
    const due: PendingWrite[] = []
    for (const w of this.#held.values()) {
      const sent = this.#sentAt.get(w.key) ?? this.#sentAtBefore.get(w.key)
      if (sent !== undefined && real - sent < this.#sharedHoldMs) continue
      this.#held.delete(w.key)
      due.push(w)
    }
    if (this.#held.size === 0 && this.#heldTimer !== null) { clearInterval(this.#heldTimer); this.#heldTimer = null }
    this.#send(due, real)
  }

  /** One script call per batch (per hash slot on Redis Cluster); each key sent is remembered for holding. */
  #send (writes: PendingWrite[], real: number): void {
    const now = this.#now()
    const pending: PendingWrite[] = []
    const remember = this.#sharedHoldMs > 0
    for (const w of writes) {
      if (w.until <= now) continue
      pending.push(w)
      if (remember && this.#sentAt.size < MAX_HELD_KEYS) this.#sentAt.set(w.key, real)
    }
    if (pending.length === 0) return
    const redis = this.#redis!
    const run = (redis as unknown as { meshgateCacheStoreBatch: StoreBatch }).meshgateCacheStoreBatch
    for (const batch of scriptBatches(pending, keyOfWrite, redis.isCluster, MAX_BATCH)) {
      try {
        const args: Array<string | number | Buffer> = [batch.length]
        for (const w of batch) args.push(w.key)
        for (const w of batch) {
          if (w.item instanceof VaryRecord) args.push('V', encodeVaryRecord(w.item), Math.ceil(w.until - now))
          else args.push('E', encodeEntry(w.item), Math.ceil(w.until - now))
        }
        run.apply(redis, args).catch(this.#onRedisError)
      } catch (err) {
        this.#onRedisError(err)
      }
    }
  }

  /**
   * Drops one resource (RFC 9111 §4.4, after a successful unsafe request):
   * its primary key here and in Redis, and its writes not yet sent. Without
   * the vary record or entry under the primary key, no variant is found.
   * Resolves once Redis has dropped it (at once without Redis; never rejects).
   */
  async invalidate (primaryKey: string): Promise<void> {
    this.invalidateLocal(primaryKey)
    const redis = this.#redis
    if (redis === null) return
    try {
      await redis.unlink(primaryKey)
    } catch (err) {
      this.#onRedisError(err)
    }
  }

  /** The in-process part of `invalidate`: L1 and the writes not yet sent to Redis. */
  invalidateLocal (primaryKey: string): void {
    this.#applyLocal()
    this.#l1.delete(primaryKey)
    const variants = primaryKey + '#'
    this.#pending.delete(primaryKey)
    this.#held.delete(primaryKey)
    // Stored again, it goes to Redis within the window, not held.
    this.#sentAt.delete(primaryKey)
    this.#sentAtBefore.delete(primaryKey)
    if (this.#pending.size !== 0) for (const key of this.#pending.keys()) if (key.startsWith(variants)) this.#pending.delete(key)
    if (this.#held.size !== 0) for (const key of this.#held.keys()) if (key.startsWith(variants)) this.#held.delete(key)
  }

  /** Empties L1 (not Redis, not the writes on their way there). Returns the entries dropped. */
  clearLocal (): number {
    this.#applyLocal()
    const n = this.#l1.size
    this.#l1.clear()
    return n
  }

  /** The in-process part of a purge: L1 and the writes not yet sent to Redis. Returns the L1 keys removed. */
  purgeLocal (pathPrefix: string, scope: PurgeScope = {}): number {
    this.#applyLocal()
    const doomed: string[] = []
    for (const key of this.#l1.keys()) if (matchesPurge(key, pathPrefix, scope)) doomed.push(key)
    let local = 0
    for (const key of doomed) if (this.#l1.delete(key)) local++
    // Writes not yet sent would bring purged keys back.
    for (const key of this.#pending.keys()) if (matchesPurge(key, pathPrefix, scope)) this.#pending.delete(key)
    for (const key of this.#held.keys()) if (matchesPurge(key, pathPrefix, scope)) this.#held.delete(key)
    // A purged resource stored again goes to Redis within the window, not held.
    this.#sentAt = new Map()
    this.#sentAtBefore = new Map()
    return local
  }

  /**
   * Removes every key whose path (with query) starts with `pathPrefix`, in L1
   * and in Redis (SCAN MATCH on every master, then UNLINK one key at a time so
   * Cluster never sees a cross-slot command). Other replicas' L1 copies are
   * reached through HttpCache, which tells them over Redis.
   */
  async purge (pathPrefix: string, scope: PurgeScope = {}): Promise<PurgeResult> {
    const local = this.purgeLocal(pathPrefix, scope)
    const redis = this.#redis
    if (redis === null) return { local, shared: 0, sharedError: null }
    const removed = { count: 0 }
    try {
      const pattern = purgePattern(pathPrefix, scope)
      const masters = redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis]
      await Promise.all(masters.map(async (node) => { await purgeNode(node, pattern, removed) }))
      return { local, shared: removed.count, sharedError: null }
    } catch (err) {
      this.#onRedisError(err)
      return { local, shared: removed.count, sharedError: err instanceof Error ? err.message : String(err) }
    }
  }

  async #getShared (redis: RedisClient, primaryKey: string, reqHeaders: RequestHeaders, connection: object | null): Promise<CacheEntry | null> {
    try {
      const raw = await redis.getBuffer(primaryKey)
      let found = raw === null ? null : decodeStored(raw)
      let record: VaryRecord | null = null
      let key = primaryKey
      if (found instanceof VaryRecord) {
        record = found
        key = variantKey(primaryKey, record.vary, reqHeaders, connection)
        const variant = await redis.getBuffer(key)
        found = variant === null ? null : decodeStored(variant)
      }
      if (found === null || found instanceof VaryRecord) { this.#misses++; return null }
      const lifeMs = Math.ceil(remainingLifeMs(found, this.#now()))
      if (lifeMs <= 0) { this.#misses++; return null }
      if (record !== null) this.#setLocal(primaryKey, record, lifeMs)
      this.#setLocal(key, found, lifeMs)
      this.#l2Hits++
      return found
    } catch (err) {
      this.#onRedisError(err)
      this.#misses++
      return null
    }
  }

  /** `size`: the item's `itemSize` when the caller has it (else L1 computes it). */
  #setLocal (key: string, item: Item, lifeMs: number, size?: number): void {
    let ttl = lifeMs
    if (item instanceof VaryRecord) {
      const left = this.#l1.getRemainingTTL(key)
      if (Number.isFinite(left) && left > ttl) ttl = Math.ceil(left)
    }
    this.#l1.set(key, item instanceof VaryRecord ? item : withOwnBody(item), size === undefined ? { ttl } : { ttl, size })
  }

  readonly #onRedisError = (err: unknown): void => {
    this.#redisErrors++
    // While Redis is down every lookup fails the same way: log at most every 10 s.
    const now = Date.now()
    if (now - this.#lastErrorLog < ERROR_LOG_INTERVAL_MS) return
    this.#lastErrorLog = now
    this.#log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'cache: redis failed, serving from this process only')
  }
}

/**
 * The entry with a body that has memory of its own. Small answers arrive as
 * slices of Buffer's shared 8 KiB pool (Buffer.concat and Redis replies make
 * such views too); an entry kept in L1 would pin the whole slab while the
 * cache counts only the body. Copied here, when L1 takes the entry, rather
 * than per response: a key stored by many requests in one round is copied once.
 */
function withOwnBody (e: CacheEntry): CacheEntry {
  const b = e.body
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return e
  const own = Buffer.allocUnsafeSlow(b.length)
  b.copy(own)
  return { ...e, body: own }
}

function itemSize (item: Item): number {
  return item instanceof VaryRecord ? varyRecordSize(item) : entrySize(item)
}

async function purgeNode (node: Redis, pattern: string, removed: { count: number }): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
    cursor = next
    if (keys.length === 0) continue
    const batch = node.pipeline()
    for (const key of keys) batch.unlink(key)
    const results = await batch.exec()
    for (const [err, n] of results ?? []) if (err === null && n === 1) removed.count++
  } while (cursor !== '0')
}
