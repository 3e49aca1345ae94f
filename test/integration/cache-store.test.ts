// The cache store's shared level: two stores (two replicas) on one real
// redis-server, each with its own client. A write in one is a hit in the
// other; a purge reaches Redis; Redis going away costs misses, not waits.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { connectRedis, redisReady, type RedisClient } from '../../src/plugins/redis.js'
import type { CacheEntry } from '../../src/plugins/cache/entry.js'
import { cacheKey, variantKey } from '../../src/plugins/cache/semantics.js'
import { CacheStore } from '../../src/plugins/cache/store.js'
import { HttpCache, PURGE_CHANNEL } from '../../src/plugins/cache/index.js'
import type { CachePolicyRule } from '../../src/gateway/snapshot.js'
import { channelSubscribers, startRedis, startRedisCluster, type RedisServer } from '../helpers/redis.js'

const T = { timeout: 20_000 }

let redis: RedisServer
const clients: RedisClient[] = []
let a: CacheStore
let b: CacheStore

async function client (): Promise<RedisClient> {
  const c = await connectRedis([redis.url], null, { commandTimeoutMs: 200 })
  clients.push(c)
  return c
}

async function store (over: { writeWindowMs?: number, sharedHoldMs?: number } = {}): Promise<CacheStore> {
  return new CacheStore({ maxBytes: 1 << 20, redis: await client(), ...over })
}

function entry (body: string, over: Partial<CacheEntry> = {}): CacheEntry {
  return { status: 200, headers: ['content-type', 'text/plain'], body: Buffer.from(body), storedAt: Date.now(), initialAgeMs: 0, freshMs: 60_000, staleWhileRevalidateMs: 10_000, staleIfErrorMs: 30_000, vary: [], ...over }
}

/** Writes to Redis run in the background: wait until `key` is there. */
async function untilInRedis (key: string): Promise<void> {
  const deadline = Date.now() + 3_000
  while (await redis.command('EXISTS', key) !== 1) {
    if (Date.now() > deadline) throw new Error(`${key} never reached redis`)
    await sleep(10)
  }
}

async function redisKeys (): Promise<string[]> {
  const keys = await redis.command('KEYS', 'mg:c:*')
  assert.ok(Array.isArray(keys))
  return (keys as string[]).sort()
}

before(async () => {
  redis = await startRedis()
  a = await store()
  b = await store()
  for (const c of clients) assert.equal(await redisReady(c, 5_000), true)
})

after(async () => {
  for (const c of clients) c.disconnect()
  await redis?.stop()
})

test('a key written in many rounds of one write window reaches Redis once, with the last answer', T, async () => {
  const key = cacheKey('p', 'h', '/window')
  const scripts = async (): Promise<number> => {
    const info = String(await redis.command('INFO', 'commandstats'))
    return [...info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0)
  }
  const x = await store({ writeWindowMs: 200 })
  assert.equal(await redisReady(clients.at(-1)!, 5_000), true)
  const before = await scripts()
  for (let i = 0; i < 20; i++) {
    x.set(key, {}, entry(`answer ${i}`))
    assert.equal(x.getLocal(key, {})?.body.toString(), `answer ${i}`, 'a lookup sees the write at once')
    await new Promise(resolve => setImmediate(resolve))
  }
  await untilInRedis(key)
  assert.equal(await scripts() - before, 1, 'one script call for 20 writes in 20 rounds')
  const y = await store()
  assert.equal(await redisReady(clients.at(-1)!, 5_000), true)
  assert.equal((await y.get(key, {}))?.body.toString(), 'answer 19', 'the last write is the one shared')
})

test('a key already in Redis is rewritten there once per hold; new keys and purged ones still leave within the window', T, async () => {
  const hot = cacheKey('p', 'h', '/held')
  const cold = cacheKey('p', 'h', '/held-new')
  const scripts = async (): Promise<number> => {
    const info = String(await redis.command('INFO', 'commandstats'))
    return [...info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0)
  }
  const shared = async (key: string): Promise<string | undefined> => {
    const y = await store()
    assert.equal(await redisReady(clients.at(-1)!, 5_000), true)
    return (await y.get(key, {}))?.body.toString()
  }
  const x = await store({ sharedHoldMs: 2_000 })
  assert.equal(await redisReady(clients.at(-1)!, 5_000), true)
  const before = await scripts()
  x.set(hot, {}, entry('v0'))
  await untilInRedis(hot)
  assert.equal(await scripts() - before, 1)
  // Refreshed ten times: this replica sees each at once, Redis keeps v0 for now.
  for (let i = 1; i <= 10; i++) {
    x.set(hot, {}, entry(`v${i}`))
    await sleep(10)
    assert.equal(x.getLocal(hot, {})?.body.toString(), `v${i}`)
  }
  // A new key is not held back by the held one.
  x.set(cold, {}, entry('new'))
  await untilInRedis(cold)
  assert.equal(await shared(hot), 'v0', 'still held')
  assert.equal(await scripts() - before, 2, 'v0, then the new key alone')
  // When the hold ends, the last refresh goes, once.
  const deadline = Date.now() + 5_000
  while (await shared(hot) !== 'v10') {
    assert.ok(Date.now() < deadline, 'the last refresh never reached Redis')
    await sleep(50)
  }
  assert.equal(await scripts() - before, 3)
  // A purge forgets the hold: the resource stored again is shared within the window.
  await x.purge('/held')
  x.set(hot, {}, entry('after purge'))
  await untilInRedis(hot)
  assert.equal(await shared(hot), 'after purge')
})

test('a response stored by one replica is an L2 hit in the other, then an L1 hit there', T, async () => {
  const key = cacheKey('p', 'h', '/shared')
  a.set(key, {}, entry('one'))
  await untilInRedis(key)
  assert.equal(b.getLocal(key, {}), undefined, 'B\'s L1 knows nothing: ask L2')
  const got = await b.get(key, {})
  assert.equal(got?.body.toString(), 'one')
  assert.deepEqual(got?.headers, ['content-type', 'text/plain'])
  assert.equal(b.stats.l2Hits, 1)
  assert.equal(b.getLocal(key, {})?.body.toString(), 'one', 'copied into B\'s L1')
  assert.equal(b.stats.l1Hits, 1)
  const pttl = await redis.command('PTTL', key)
  assert.ok(typeof pttl === 'number' && pttl > 85_000 && pttl <= 90_000, `PX is fresh + the longer stale window: ${String(pttl)}`)
})

test('variants travel through Redis with their vary record', T, async () => {
  const key = cacheKey('p', 'h', '/greeting')
  a.set(key, { 'accept-language': 'en' }, entry('hello', { vary: ['accept-language'] }))
  a.set(key, { 'accept-language': 'de' }, entry('hallo', { vary: ['accept-language'] }))
  await untilInRedis(variantKey(key, ['accept-language'], { 'accept-language': 'de' }))
  await untilInRedis(key)
  assert.equal((await b.get(key, { 'accept-language': 'de' }))?.body.toString(), 'hallo')
  assert.equal((await b.get(key, { 'accept-language': 'en' }))?.body.toString(), 'hello')
  assert.equal(await b.get(key, { 'accept-language': 'fr' }), null)
  assert.equal(b.getLocal(key, { 'accept-language': 'en' })?.body.toString(), 'hello')
})

test('a vary record keeps the longest lifetime of its variants', T, async () => {
  const key = cacheKey('p', 'h', '/lifetimes')
  a.set(key, { 'x-v': '1' }, entry('long', { vary: ['x-v'], freshMs: 600_000 }))
  await untilInRedis(key)
  a.set(key, { 'x-v': '2' }, entry('short', { vary: ['x-v'], freshMs: 1_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0 }))
  await untilInRedis(variantKey(key, ['x-v'], { 'x-v': '2' }))
  await sleep(50)
  const pttl = await redis.command('PTTL', key)
  assert.ok(typeof pttl === 'number' && pttl > 500_000, `record PTTL ${String(pttl)}`)
})

/** How many SETs Redis has run (scripts' included). */
async function setCalls (): Promise<number> {
  const info = await redis.command('INFO', 'commandstats')
  const m = /cmdstat_set:calls=(\d+)/.exec(String(info))
  return m === null ? 0 : Number(m[1])
}

test('writes to one key in one event-loop round leave once: the last entry, the longest vary record', T, async () => {
  const before = await setCalls()
  const key = cacheKey('p', 'h', '/coalesced')
  for (let i = 0; i < 10; i++) a.set(key, {}, entry(`v${i}`))
  const vkey = cacheKey('p', 'h', '/coalesced-vary')
  a.set(vkey, { 'x-v': '1' }, entry('long', { vary: ['x-v'], freshMs: 600_000 }))
  a.set(vkey, { 'x-w': '1' }, entry('short', { vary: ['x-w'], freshMs: 1_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0 }))
  await untilInRedis(variantKey(vkey, ['x-w'], { 'x-w': '1' }))
  await sleep(50)
  assert.equal(await setCalls() - before, 4, 'one entry, one vary record, two variants')
  assert.equal((await b.get(key, {}))?.body.toString(), 'v9')
  const pttl = await redis.command('PTTL', vkey)
  assert.ok(typeof pttl === 'number' && pttl > 500_000, `the record keeps the longer lifetime: PTTL ${String(pttl)}`)
  assert.equal((await b.get(vkey, { 'x-w': '1' }))?.body.toString(), 'short', 'the record names the last vary list')
})

test('a purge drops writes that have not left yet', T, async () => {
  const before = await setCalls()
  const key = cacheKey('p', 'h', '/unsent')
  a.set(key, {}, entry('unsent'))
  await a.purge('/unsent')
  await sleep(100)
  assert.equal(await redis.command('EXISTS', key), 0)
  assert.equal(await setCalls() - before, 0, 'the write never left')
})

test('garbage under a cache key is a miss', T, async () => {
  const key = cacheKey('p', 'h', '/garbage')
  await redis.command('SET', key, 'not an entry')
  assert.equal(await b.get(key, {}), null)
})

test('purge removes matching keys from L1 and Redis, reading glob specials literally', T, async () => {
  const paths = ['/api/a', '/api/b?x=1', '/a*b', '/ab', '/x|/api', '/static/s']
  for (const p of paths) a.set(cacheKey('p', 'h', p), {}, entry(p))
  a.set(cacheKey('p', 'h', '/api/v'), { 'x-t': '1' }, entry('v', { vary: ['x-t'] }))
  for (const p of paths) await untilInRedis(cacheKey('p', 'h', p))
  await untilInRedis(variantKey(cacheKey('p', 'h', '/api/v'), ['x-t'], { 'x-t': '1' }))

  assert.deepEqual(await a.purge('/a*'), { local: 1, shared: 1, sharedError: null }, 'only /a*b, not /ab')
  const r = await a.purge('/api')
  assert.deepEqual(r, { local: 4, shared: 4, sharedError: null }, '/api/a, /api/b?x=1, /api/v and its variant')
  const left = await redisKeys()
  for (const p of ['/ab', '/x|/api', '/static/s']) assert.ok(left.includes(cacheKey('p', 'h', p)), p)
  for (const p of ['/api/a', '/api/b?x=1', '/a*b', '/api/v']) {
    assert.ok(!left.includes(cacheKey('p', 'h', p)), p)
    assert.equal(a.getLocal(cacheKey('p', 'h', p), { 'x-t': '1' }), undefined, `${p}: gone from A's L1 too`)
  }
  const fresh = await store()
  assert.equal(await redisReady(clients.at(-1) as RedisClient, 5_000), true)
  assert.equal(await fresh.get(cacheKey('p', 'h', '/api/a'), {}), null, 'a replica with an empty L1 misses')
  assert.equal((await fresh.get(cacheKey('p', 'h', '/static/s'), {}))?.body.toString(), '/static/s')
})

test('on Redis Cluster, variants are shared and purge scans every master', { timeout: 60_000 }, async (t) => {
  const cluster = await startRedisCluster(3)
  const c1 = await connectRedis(cluster.url.split(','), null, { commandTimeoutMs: 500 })
  const c2 = await connectRedis(cluster.url.split(','), null, { commandTimeoutMs: 500 })
  t.after(async () => { c1.disconnect(); c2.disconnect(); await cluster.stop() })
  assert.equal(await redisReady(c1, 10_000), true)
  assert.equal(await redisReady(c2, 10_000), true)
  const x = new CacheStore({ maxBytes: 1 << 20, redis: c1 })
  const y = new CacheStore({ maxBytes: 1 << 20, redis: c2 })
  // Enough keys to land on every master.
  const keys = Array.from({ length: 30 }, (_, i) => cacheKey('p', 'h', `/c/${i}`))
  for (const k of keys) x.set(k, { 'accept-language': 'en' }, entry(k, { vary: ['accept-language'] }))
  x.set(cacheKey('p', 'h', '/keep'), {}, entry('keep'))
  const deadline = Date.now() + 5_000
  let got: CacheEntry | null = null
  while ((got = await y.get(keys[29] as string, { 'accept-language': 'en' })) === null && Date.now() < deadline) await sleep(20)
  assert.equal(got?.body.toString(), keys[29])
  // Wait for the other background writes: 30 records, 30 variants, /keep.
  const sizes = async (): Promise<number[]> => await Promise.all(cluster.nodes.map(async n => Number(await n.command('DBSIZE'))))
  while ((await sizes()).reduce((s, n) => s + n, 0) < 61 && Date.now() < deadline) await sleep(20)
  assert.ok((await sizes()).every(n => n > 0), 'keys on every master')
  const r = await x.purge('/c/')
  assert.equal(r.sharedError, null)
  assert.equal(r.shared, 60, 'each primary key and its variant')
  assert.equal(r.local, 60)
  const z = new CacheStore({ maxBytes: 1 << 20, redis: c2 })
  assert.equal(await z.get(keys[3] as string, { 'accept-language': 'en' }), null)
  assert.equal((await z.get(cacheKey('p', 'h', '/keep'), {}))?.body.toString(), 'keep')
})

/** `n` gateways' caches, each on its own Redis client (as replicas are). */
async function gateways (n: number): Promise<HttpCache[]> {
  const redisClients = await Promise.all(Array.from({ length: n }, async () => await client()))
  for (const c of redisClients) assert.equal(await redisReady(c, 5_000), true)
  return redisClients.map(c => new HttpCache({ redis: c, log: null }))
}

/**
 * Three gateways that all hold `key` and `other` (bodies `bodies`) in their
 * first level and in Redis, listening on the purge channel.
 */
async function threeHolding (policy: CachePolicyRule, key: string, other: string, bodies: [string, string]): Promise<HttpCache[]> {
  const caches = await gateways(3)
  for (const c of caches) {
    c.storeFor(policy).set(key, {}, entry(bodies[0]))
    c.storeFor(policy).set(other, {}, entry(bodies[1]))
  }
  await untilInRedis(key)
  // The listeners subscribe when their first store opens; give them a moment to be on the channel.
  await untilListening(3)
  return caches
}

/** Until no gateway's first level holds `key` any more (within 3 s). */
async function untilDropped (caches: readonly HttpCache[], policy: CachePolicyRule, key: string): Promise<void> {
  for (const [i, c] of caches.entries()) {
    const until = Date.now() + 3_000
    while (c.storeFor(policy).getLocal(key, {}) !== undefined) {
      if (Date.now() > until) throw new Error(`gateway ${i} still holds the dropped entry in its first level`)
      await sleep(10)
    }
  }
}

/** Until `n` connections listen on the purge channel. */
async function untilListening (n: number): Promise<void> {
  const count = await channelSubscribers(redis, PURGE_CHANNEL, n, 5_000)
  if (count < n) throw new Error(`${String(count)} of ${n} purge listeners subscribed`)
}

test('a purge on one gateway reaches the first level of every other gateway on the Redis', T, async () => {
  const policy = { id: 'ns/items', maxEntries: 10_000 } as unknown as CachePolicyRule
  const key = cacheKey('ns/items', 'shop.example', '/items/1')
  const other = cacheKey('ns/items', 'shop.example', '/other')
  const caches = await threeHolding(policy, key, other, ['v1', 'keep'])
  try {
    const r = await caches[0]!.purge('/items')
    assert.equal(r.local, 1)
    assert.equal(r.sharedError, null)
    await untilDropped(caches, policy, key)
    for (const [i, c] of caches.entries()) {
      assert.equal(c.storeFor(policy).getLocal(other, {})?.body.toString(), 'keep', `gateway ${i}: outside the prefix stays`)
    }
    assert.equal(await redis.command('EXISTS', key), 0)
  } finally {
    for (const c of caches) c.close()
  }
})

test('an unsafe request\'s invalidation on one gateway drops the resource from every other gateway\'s first level and from Redis', T, async () => {
  const policy = { id: 'ns/orders', maxEntries: 10_000 } as unknown as CachePolicyRule
  const key = cacheKey('ns/orders', 'shop.example', '/orders/7')
  const other = cacheKey('ns/orders', 'shop.example', '/orders/8')
  const caches = await threeHolding(policy, key, other, ['before the PUT', 'untouched'])
  try {
    await caches[1]!.invalidate(policy, key)
    // Its own memory at once, Redis before the announcement.
    assert.equal(caches[1]!.storeFor(policy).getLocal(key, {}), undefined)
    assert.equal(await redis.command('EXISTS', key), 0)
    await untilDropped(caches, policy, key)
    for (const [i, c] of caches.entries()) {
      assert.equal(await c.storeFor(policy).get(key, {}), null, `gateway ${i}: a miss, not a refill from Redis`)
      assert.equal(c.storeFor(policy).getLocal(other, {})?.body.toString(), 'untouched', `gateway ${i}: other resources stay`)
    }
  } finally {
    for (const c of caches) c.close()
  }
})

test('a gateway whose purge channel connection was cut empties its first level when it is back: what it missed is unknown', T, async () => {
  const policy = { id: 'ns/cut', maxEntries: 10_000 } as unknown as CachePolicyRule
  const caches = await gateways(2)
  try {
    const key = cacheKey('ns/cut', 'shop.example', '/catalog')
    for (const c of caches) c.storeFor(policy).set(key, {}, entry('old'))
    await untilInRedis(key)
    await untilListening(2)
    // While the listeners are cut off, the resource changes in Redis: an announcement sent now would be lost.
    assert.ok(Number(await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub')) >= 2)
    caches[0]!.storeFor(policy).invalidateLocal(key)
    assert.equal(await redis.command('UNLINK', key), 1)
    await untilListening(2)
    for (const [i, c] of caches.entries()) {
      assert.equal(c.storeFor(policy).getLocal(key, {}), undefined, `gateway ${i} emptied its first level on reconnecting`)
      assert.equal(await c.storeFor(policy).get(key, {}), null, `gateway ${i}: the next lookup asks Redis`)
    }
  } finally {
    for (const c of caches) c.close()
  }
})

// Last: it stops the server.
test('with Redis stopped, get misses quickly, set and purge do not throw, L1 still serves', T, async () => {
  const cached = cacheKey('p', 'h', '/before-stop')
  a.set(cached, {}, entry('still here'))
  await untilInRedis(cached)
  await redis.stop()
  await sleep(50)

  const started = performance.now()
  assert.equal(await b.get(cacheKey('p', 'h', '/before-stop'), {}), null)
  assert.equal(await a.get(cacheKey('p', 'h', '/never'), {}), null)
  const elapsed = performance.now() - started
  assert.ok(elapsed < 500, `two misses took ${elapsed.toFixed(0)} ms`)

  assert.doesNotThrow(() => { a.set(cacheKey('p', 'h', '/during'), {}, entry('local only')) })
  assert.equal(a.getLocal(cacheKey('p', 'h', '/during'), {})?.body.toString(), 'local only')
  assert.equal((await a.get(cached, {}))?.body.toString(), 'still here')
  const purged = await a.purge('/during')
  assert.equal(purged.local, 1)
  assert.equal(purged.shared, 0)
  assert.ok(purged.sharedError !== null)
  assert.ok(a.stats.redisErrors > 0)
  await sleep(50) // let the background writes fail before the clients go
})
