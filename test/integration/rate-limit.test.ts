// RateLimitPolicy through live gateways: in-process counters, a real
// redis-server shared by two gateways, by two meshgate processes and by a
// --workers 2 process, Redis going away and coming back (fail-open and
// fail-closed), and Redis not answering.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent } from 'undici'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePort, getFreePorts } from '../helpers/ports.js'
import { request, headerValue, type HttpResponse } from '../helpers/http.js'
import { fill, startGateway, type TestGateway } from '../helpers/gateway.js'
import { appConfig, routeYaml } from '../helpers/fixtures.js'
import { redisCommand, startRedis, startRedisCluster, type RedisServer } from '../helpers/redis.js'
import { startMeshgate, type MeshgateProcess } from '../helpers/processes.js'
import { connectRedis, redisReady } from '../../src/plugins/redis.js'
import { RedisStore } from '../../src/plugins/rate-limit/redis-store.js'

const N = 12

const CONFIG = `${appConfig(['v1'])}---
${routeYaml('api', 'api.example', 'v1')}---
${routeYaml('other', 'other.example', 'v1')}---
apiVersion: meshgate.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: partners, namespace: test}
spec:
  targetRefs: [{kind: VirtualService, name: api}]
  limits:
  - {name: per-key, requests: 5, per: 10s, key: "header:x-api-key"}
---
apiVersion: meshgate.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: quick, namespace: test}
spec:
  targetRefs: [{kind: VirtualService, name: other}]
  match: {uri: {prefix: /quick}}
  limits:
  - {name: burst, requests: 3, per: 1s, key: global}
---
apiVersion: meshgate.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: shared, namespace: test}
spec:
  targetRefs: [{kind: VirtualService, name: other}]
  match: {uri: {prefix: /shared}}
  limits:
  - {name: per-run, requests: ${N}, per: 1h, key: "header:x-run"}
---
apiVersion: meshgate.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: strict, namespace: test}
spec:
  targetRefs: [{kind: VirtualService, name: other}]
  match: {uri: {prefix: /strict}}
  failOpen: false
  limits:
  - {name: per-run, requests: 100, per: 1h, key: "header:x-run"}
`

let ups: Upstreams
let redis: RedisServer
let local: TestGateway
let localPort: number
const cleanups: Array<() => Promise<void>> = []

before(async () => {
  ups = await startUpstreams(['v1'])
  redis = await startRedis()
  localPort = await getFreePort()
  local = await startGateway(CONFIG, { vars: { port: localPort, v1: ups.get('v1').port } })
})

after(async () => {
  for (const c of cleanups.reverse()) await c()
  await local?.stop()
  await ups?.close()
  await redis?.stop()
})

/** One request on a connection of its own. */
async function fresh (port: number, host: string, path: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
  const agent = new Agent({ pipelining: 0 })
  try {
    return await request(`http://127.0.0.1:${port}${path}`, { headers: { host, ...headers }, dispatcher: agent })
  } finally {
    await agent.close()
  }
}

test('5 per 10 s per x-api-key: the 6th gets 429 with retry-after and ratelimit headers; other keys are unaffected', async () => {
  const key = { 'x-api-key': `k-${randomUUID()}` }
  const decisions = async (): Promise<[number, number]> => {
    const text = await local.metrics.registry.metrics()
    const count = (d: string): number => Number(new RegExp(`meshgate_ratelimit_decisions_total\\{limit="test/partners/per-key",decision="${d}"\\} (\\d+)`).exec(text)?.[1] ?? 0)
    return [count('allow'), count('deny')]
  }
  const before = await decisions()
  for (let i = 0; i < 5; i++) {
    const res = await request(`http://127.0.0.1:${localPort}/x`, { headers: { host: 'api.example', ...key } })
    assert.equal(res.status, 200)
    assert.equal(headerValue(res, 'ratelimit-limit'), '5')
    assert.equal(headerValue(res, 'ratelimit-remaining'), String(4 - i))
  }
  const sixth = await request(`http://127.0.0.1:${localPort}/x`, { headers: { host: 'api.example', ...key } })
  assert.equal(sixth.status, 429)
  assert.equal(sixth.body, 'rate limited')
  assert.equal(headerValue(sixth, 'retry-after'), '2')
  assert.equal(headerValue(sixth, 'ratelimit-remaining'), '0')
  assert.equal(headerValue(sixth, 'ratelimit-reset'), '10')
  const after = await decisions()
  assert.deepEqual([after[0] - before[0], after[1] - before[1]], [5, 1], 'counted: 5 allowed, 1 denied')
  assert.equal((await request(`http://127.0.0.1:${localPort}/x`, { headers: { host: 'api.example', 'x-api-key': 'someone-else' } })).status, 200)
  // Not targeted: no limit, no headers.
  const other = await request(`http://127.0.0.1:${localPort}/x`, { headers: { host: 'other.example', ...key } })
  assert.equal(other.status, 200)
  assert.equal(headerValue(other, 'ratelimit-limit'), undefined)
})

test('through Redis, 5 per 10 s per x-api-key: the 6th gets 429 with retry-after and ratelimit headers, the counter expires with its window, other keys are unaffected, one more is allowed 2 s later', async () => {
  const port = await getFreePort()
  const g = await startGateway(CONFIG, { vars: { port, v1: ups.get('v1').port }, redis: [redis.url] })
  try {
    const id = randomUUID()
    const send = (apiKey: string): Promise<HttpResponse> => request(`http://127.0.0.1:${port}/x`, { headers: { host: 'api.example', 'x-api-key': apiKey } })
    for (let i = 0; i < 5; i++) {
      const res = await send(`k-${id}`)
      assert.equal(res.status, 200)
      assert.equal(headerValue(res, 'ratelimit-limit'), '5')
      assert.equal(headerValue(res, 'ratelimit-remaining'), String(4 - i))
    }
    const sixth = await send(`k-${id}`)
    assert.equal(sixth.status, 429)
    assert.equal(sixth.body, 'rate limited')
    assert.equal(headerValue(sixth, 'ratelimit-limit'), '5')
    assert.equal(headerValue(sixth, 'ratelimit-remaining'), '0')
    // GCRA on Redis' clock: one request every 2 s, the whole quota 10 s after the first
    // (a second less when the five took more than a second on a busy machine).
    assert.match(String(headerValue(sixth, 'retry-after')), /^[12]$/)
    assert.match(String(headerValue(sixth, 'ratelimit-reset')), /^(9|10)$/)
    const other = await send(`other-${id}`)
    assert.equal(other.status, 200, 'another key has its own counter')
    assert.equal(headerValue(other, 'ratelimit-remaining'), '4')
    // The counters are in Redis, one per key under the limit's prefix, and expire with the window.
    const prefix = 'mg:rl:test/partners/per-key:'
    const keys = await redisCommand(redis.port, ['KEYS', `${prefix}*${id}`])
    assert.deepEqual(Array.isArray(keys) ? [...keys].sort() : keys, [`${prefix}k-${id}`, `${prefix}other-${id}`])
    const pttl = await redisCommand(redis.port, ['PTTL', `${prefix}k-${id}`])
    assert.ok(typeof pttl === 'number' && pttl > 0 && pttl <= 10_000, `PTTL ${String(pttl)}`)
    // After one emission interval (10 s / 5 = 2 s) exactly one more request passes.
    await new Promise(resolve => setTimeout(resolve, 2_100))
    const again = await send(`k-${id}`)
    assert.equal(again.status, 200, 'allowed again after 2 s')
    assert.equal(headerValue(again, 'ratelimit-remaining'), '0')
    const next = await send(`k-${id}`)
    assert.equal(next.status, 429, 'and only one')
    assert.ok(headerValue(next, 'retry-after') !== undefined)
  } finally {
    await g.stop()
  }
})

test('after the window the quota is back (3 per 1 s, global)', async () => {
  const send = (): Promise<HttpResponse> => request(`http://127.0.0.1:${localPort}/quick`, { headers: { host: 'other.example' } })
  const first = await Promise.all([send(), send(), send(), send()])
  assert.deepEqual(first.map(r => r.status).sort(), [200, 200, 200, 429])
  await new Promise(resolve => setTimeout(resolve, 1_100))
  const again = await Promise.all([send(), send(), send()])
  assert.deepEqual(again.map(r => r.status), [200, 200, 200])
})

async function countPassed (ports: readonly number[], run: string, total: number): Promise<number> {
  let passed = 0
  const codes = new Set<number>()
  await Promise.all(Array.from({ length: 8 }, async (_, w) => {
    for (let i = w; i < total; i += 8) {
      const res = await fresh(ports[i % ports.length]!, 'other.example', '/shared', { 'x-run': run })
      codes.add(res.status)
      if (res.status === 200) passed++
    }
  }))
  assert.deepEqual([...codes].sort(), [200, 429])
  return passed
}

test('two gateways sharing one Redis: exactly N of 4N requests pass', async () => {
  const [p1, p2] = await getFreePorts(2) as [number, number]
  const a = await startGateway(CONFIG, { vars: { port: p1, v1: ups.get('v1').port }, redis: [redis.url] })
  cleanups.push(() => a.stop())
  const b = await startGateway(CONFIG, { vars: { port: p2, v1: ups.get('v1').port }, redis: [redis.url] })
  cleanups.push(() => b.stop())
  assert.equal(await countPassed([p1, p2], `two-${randomUUID()}`, 4 * N), N)
})

test('two meshgate serve processes sharing one Redis: exactly N of 4N requests over fresh connections pass', async () => {
  const [p1, p2, admin1, admin2] = await getFreePorts(4) as [number, number, number, number]
  const dirs: string[] = []
  const procs: MeshgateProcess[] = []
  try {
    for (const [port, admin] of [[p1, admin1], [p2, admin2]] as const) {
      const dir = await mkdtemp(join(tmpdir(), 'meshgate-rl-'))
      dirs.push(dir)
      await writeFile(join(dir, 'config.yaml'), fill(CONFIG, { port, v1: ups.get('v1').port }))
      procs.push(await startMeshgate(['serve', '--config', dir, '--host', '127.0.0.1', '--admin-port', String(admin), '--redis', redis.url, '--access-log', 'off'], { readyTimeoutMs: 30_000 }))
    }
    // 2N requests to each process, one connection per request: N pass in all, 3N are refused.
    assert.equal(await countPassed([p1, p2], `procs-${randomUUID()}`, 4 * N), N)
  } finally {
    await Promise.all(procs.map(p => p.stop({ graceMs: 5_000 })))
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  }
})

test('meshgate serve --workers 2 --redis: exactly N of 4N requests over fresh connections pass', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-rl-'))
  const [port, admin] = await getFreePorts(2) as [number, number]
  await writeFile(join(dir, 'config.yaml'), fill(CONFIG, { port, v1: ups.get('v1').port }))
  let proc: MeshgateProcess | null = null
  try {
    proc = await startMeshgate(['serve', '--config', dir, '--host', '127.0.0.1', '--admin-port', String(admin), '--workers', '2', '--redis', redis.url, '--access-log', 'off'], { readyTimeoutMs: 30_000 })
    assert.equal(await countPassed([port], `workers-${randomUUID()}`, 4 * N), N)
  } finally {
    await proc?.stop({ graceMs: 5_000 })
    await rm(dir, { recursive: true, force: true })
  }
})

test('Redis going away: requests are answered at once (fail-open) and counted; back: limits apply again', async () => {
  const own = await startRedis()
  const port = await getFreePort()
  const g = await startGateway(CONFIG, { vars: { port, v1: ups.get('v1').port }, redis: [own.url] })
  const redisPort = own.port
  let restarted: RedisServer | null = null
  try {
    const run = { 'x-run': `down-${randomUUID()}` }
    assert.equal((await fresh(port, 'other.example', '/shared', run)).status, 200)
    await own.stop()
    const started = Date.now()
    for (let i = 0; i < 2 * N; i++) {
      const res = await fresh(port, 'other.example', '/shared', run)
      assert.equal(res.status, 200, 'fail-open: let through')
    }
    assert.ok(Date.now() - started < 5_000, `2N requests with Redis down took ${Date.now() - started} ms`)
    const errors = g.metrics.rateLimitStoreErrors.get('test/shared')?.value ?? 0
    assert.ok(errors >= 2 * N, `store errors counted: ${errors}`)
    restarted = await startRedis({ port: redisPort })
    // The client reconnects in the background; within a few seconds the limit holds again.
    const deadline = Date.now() + 10_000
    const fresh429 = { 'x-run': `back-${randomUUID()}` }
    let limited = false
    while (!limited && Date.now() < deadline) {
      let passed = 0
      for (let i = 0; i < N + 1; i++) if ((await fresh(port, 'other.example', '/shared', fresh429)).status === 200) passed++
      limited = passed <= N
      if (!limited) { fresh429['x-run'] = `back-${randomUUID()}`; await new Promise(resolve => setTimeout(resolve, 200)) }
    }
    assert.ok(limited, 'the limit applies again once Redis is back')
  } finally {
    await g.stop()
    await restarted?.stop()
  }
})

test('failOpen: false with Redis stopped: answered 500 at once while fail-open policies let through; back: 200 again', async () => {
  const own = await startRedis()
  const port = await getFreePort()
  const g = await startGateway(CONFIG, { vars: { port, v1: ups.get('v1').port }, redis: [own.url] })
  const redisPort = own.port
  let restarted: RedisServer | null = null
  try {
    const run = { 'x-run': `strict-${randomUUID()}` }
    const up = await fresh(port, 'other.example', '/strict', run)
    assert.equal(up.status, 200)
    assert.equal(headerValue(up, 'ratelimit-limit'), '100', 'counted in Redis')
    await own.stop()
    const errorsBefore = g.metrics.rateLimitStoreErrors.get('test/strict')?.value ?? 0
    for (let i = 0; i < 3; i++) {
      const started = Date.now()
      const res = await fresh(port, 'other.example', '/strict', run)
      const took = Date.now() - started
      assert.equal(res.status, 500, 'fail-closed: refused')
      assert.equal(res.body, 'rate limit store unavailable')
      assert.ok(took < 1_000, `a fail-closed answer with Redis down took ${took} ms`)
    }
    const errors = (g.metrics.rateLimitStoreErrors.get('test/strict')?.value ?? 0) - errorsBefore
    assert.equal(errors, 3, 'each refusal counted as a store error')
    assert.equal((await fresh(port, 'other.example', '/shared', run)).status, 200, 'a fail-open policy lets through meanwhile')
    restarted = await startRedis({ port: redisPort })
    // The client reconnects in the background; within a few seconds requests pass again.
    const deadline = Date.now() + 10_000
    let status = 0
    while (status !== 200 && Date.now() < deadline) {
      status = (await fresh(port, 'other.example', '/strict', run)).status
      if (status !== 200) await new Promise(resolve => setTimeout(resolve, 200))
    }
    assert.equal(status, 200, 'fail-closed ends once Redis is back')
  } finally {
    await g.stop()
    await restarted?.stop()
  }
})

test('Redis not answering (CLIENT PAUSE 2000): a fail-open request is let through before the pause ends, and counted as a store error', async () => {
  const own = await startRedis()
  const port = await getFreePort()
  const g = await startGateway(CONFIG, { vars: { port, v1: ups.get('v1').port }, redis: [own.url] })
  try {
    const run = { 'x-run': `paused-${randomUUID()}` }
    const warm = await fresh(port, 'other.example', '/shared', run)
    assert.equal(warm.status, 200)
    assert.equal(headerValue(warm, 'ratelimit-limit'), String(N), 'counted in Redis')
    const errorsBefore = g.metrics.rateLimitStoreErrors.get('test/shared')?.value ?? 0
    // Taken before the pause starts, so `took` can only overstate the time since.
    const pausedAt = Date.now()
    assert.equal(await redisCommand(own.port, ['CLIENT', 'PAUSE', 2_000]), 'OK')
    const res = await fresh(port, 'other.example', '/shared', run)
    const took = Date.now() - pausedAt
    assert.equal(res.status, 200, 'fail-open: let through')
    assert.equal(headerValue(res, 'ratelimit-limit'), undefined, 'not counted: the store did not answer')
    // The 100 ms command timeout bounds the wait; the pause holds Redis for 2000 ms.
    assert.ok(took < 1_500, `answered ${took} ms after the pause began`)
    const errors = (g.metrics.rateLimitStoreErrors.get('test/shared')?.value ?? 0) - errorsBefore
    assert.equal(errors, 1, 'the timed-out check counted as a store error')
  } finally {
    await g.stop()
    await own.stop()
  }
})

test('Redis Cluster (--redis with three node URLs): exactly N of 4N requests pass', async () => {
  const cluster = await startRedisCluster(3)
  const [p1, p2] = await getFreePorts(2) as [number, number]
  let a: TestGateway | null = null
  let b: TestGateway | null = null
  try {
    a = await startGateway(CONFIG, { vars: { port: p1, v1: ups.get('v1').port }, redis: cluster.url.split(',') })
    b = await startGateway(CONFIG, { vars: { port: p2, v1: ups.get('v1').port }, redis: cluster.url.split(',') })
    assert.equal(await countPassed([p1, p2], `cluster-${randomUUID()}`, 4 * N), N)
  } finally {
    await a?.stop()
    await b?.stop()
    await cluster.stop()
  }
})

test('on Redis Cluster, one batch of checks on keys of every master counts each key exactly', async () => {
  const cluster = await startRedisCluster(3)
  const client = await connectRedis(cluster.url.split(','), null, { commandTimeoutMs: 500 })
  try {
    assert.equal(await redisReady(client, 10_000), true)
    const store = new RedisStore(client)
    // 30 keys land on every master; 3 checks each, 2 allowed per key.
    const results = await Promise.all(Array.from({ length: 90 }, (_, i) => store.take(`spread-${i % 30}`, 2, 60_000)))
    for (let k = 0; k < 30; k++) {
      const mine = results.filter((_, i) => i % 30 === k)
      assert.deepEqual(mine.map(r => r.allowed), [true, true, false], `key ${k}`)
    }
  } finally {
    client.disconnect()
    await cluster.stop()
  }
})

/** A RedisStore on its own redis-server, stopped after `fn`. */
async function withRedisStore (fn: (store: RedisStore, redis: RedisServer) => Promise<void>): Promise<void> {
  const redis = await startRedis()
  const client = await connectRedis([redis.url], null)
  try {
    assert.equal(await redisReady(client, 5_000), true)
    await fn(new RedisStore(client), redis)
  } finally {
    client.disconnect()
    await redis.stop()
  }
}

test('checks asked for together leave in one script call, and each key still counts exactly', async () => {
  await withRedisStore(async (store, redis) => {
    const calls = async (): Promise<number> => {
      const info = String(await redis.command('INFO', 'commandstats'))
      return [...info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0)
    }
    const reads = async (): Promise<number> => Number(/cmdstat_get:calls=(\d+)/.exec(String(await redis.command('INFO', 'commandstats')))?.[1] ?? 0)
    const before = await calls()
    const readsBefore = await reads()
    // 3 keys × 20 checks at once, 7 allowed per key and period.
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => store.take(`batch-${i % 3}`, 7, 60_000)))
    const after = await calls()
    assert.ok(after - before <= 2, `60 checks took ${after - before} script calls`)
    // The checks on one key run as one step: one read per key and call, not one per check.
    assert.ok(await reads() - readsBefore <= 3 * (after - before), `60 checks on 3 keys read ${await reads() - readsBefore} times`)
    for (let k = 0; k < 3; k++) {
      const mine = results.filter((_, i) => i % 3 === k)
      assert.equal(mine.filter(r => r.allowed).length, 7, `key ${k}: exactly 7 allowed`)
      // In order within the batch: the first 7 pass, remaining counts down to 0.
      assert.deepEqual(mine.slice(0, 7).map(r => r.remaining), [6, 5, 4, 3, 2, 1, 0])
      assert.ok(mine.slice(7).every(r => !r.allowed && r.retryAfterMs > 0))
    }
  })
})

test('checks asked for while a script call is on its way leave together when it comes back', async () => {
  const redis = await startRedis()
  const client = await connectRedis([redis.url], null, { commandTimeoutMs: 2_000 })
  try {
    assert.equal(await redisReady(client, 5_000), true)
    const store = new RedisStore(client)
    const calls = async (): Promise<number> => {
      const info = String(await redis.command('INFO', 'commandstats'))
      return [...info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0)
    }
    await store.take('warm', 1, 60_000)
    const before = await calls()
    // Redis holds every command for 300 ms: the first call stays on its way
    // while five more event-loop rounds each ask for four checks.
    assert.equal(await redis.command('CLIENT', 'PAUSE', 300), 'OK')
    const results = [store.take('nagle', 10, 60_000)]
    for (let round = 0; round < 5; round++) {
      await new Promise(resolve => setImmediate(resolve))
      for (let i = 0; i < 4; i++) results.push(store.take('nagle', 10, 60_000))
    }
    const got = await Promise.all(results)
    assert.equal(await calls() - before, 2, 'the first check alone, then the other 20 in one call')
    assert.equal(got.filter(r => r.allowed).length, 10)
    assert.deepEqual(got.slice(0, 10).map(r => r.remaining), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    // Nothing on its way any more: a lone check leaves on its own again.
    assert.equal((await store.take('alone', 1, 60_000)).allowed, true)
    assert.equal(await calls() - before, 3)
  } finally {
    client.disconnect()
    await redis.stop()
  }
})

test('a batch gives each check the numbers it would get alone (fractional interval: 3 per second)', async () => {
  await withRedisStore(async (store) => {
    const together = await Promise.all(Array.from({ length: 5 }, () => store.take('frac-batch', 3, 1_000)))
    const alone = []
    for (let i = 0; i < 5; i++) alone.push(await store.take('frac-alone', 3, 1_000))
    assert.deepEqual(together.map(r => r.allowed), [true, true, true, false, false])
    assert.deepEqual(together.map(r => r.allowed), alone.map(r => r.allowed))
    assert.deepEqual(together.map(r => r.remaining), [2, 1, 0, 0, 0])
    assert.deepEqual(together.map(r => r.remaining), alone.map(r => r.remaining))
    // A 334, 667, 1000 ms backlog (rounded up), then a refusal until a third of a second passes.
    assert.deepEqual(together.map(r => r.resetMs), [334, 667, 1000, 1000, 1000])
    assert.deepEqual(together.slice(3).map(r => r.retryAfterMs), [334, 334])
    for (let i = 0; i < 5; i++) assert.ok(Math.abs(together[i]!.resetMs - alone[i]!.resetMs) <= 50, `check ${i}: ${together[i]!.resetMs} vs ${alone[i]!.resetMs} ms`)
  })
})
