// CachePolicy through live gateways and real upstreams: HIT after MISS,
// no-store, Vary, collapsed misses, stale-while-revalidate, stale-if-error,
// purge through the admin endpoint, and two gateways (in-process, and two
// meshgate processes) sharing entries in Redis.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent } from 'undici'
import type { AddressInfo } from 'node:net'
import { getFreePorts } from '../helpers/ports.js'
import { request, headerValue, type HttpResponse } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { channelSubscribers, redisCommand, startRedis, type RedisServer } from '../helpers/redis.js'
import { startMeshgate, type MeshgateProcess } from '../helpers/processes.js'
import { startAdmin } from '../../src/gateway/admin.js'
import { jwksOf, makeKey, signToken } from '../helpers/jwt.js'
import { cacheKey } from '../../src/plugins/cache/semantics.js'
import { PURGE_CHANNEL } from '../../src/plugins/cache/index.js'

/** Chunk `i` of a `/chunked/N` answer: 8 KiB of one letter. */
function chunkOf (i: number): Buffer {
  return Buffer.alloc(8 * 1024, String.fromCharCode(97 + (i % 26)))
}

/** An origin whose answers each test shapes by path; it counts requests per path. */
class Origin {
  readonly server: http.Server
  readonly hits = new Map<string, number>()
  /** Paths whose requests are answered only once the test releases them (see `hold`). */
  readonly #held = new Map<string, { arrived: () => void, released: Promise<void> }>()
  delayMs = 0
  failing = false
  port = 0

  constructor () {
    this.server = http.createServer((req, res) => {
      const url = req.url ?? '/'
      this.hits.set(url, (this.hits.get(url) ?? 0) + 1)
      const n = this.hits.get(url)!
      const answer = (): void => {
        if (this.failing) { res.statusCode = 503; res.end('down'); return }
        const path = url.split('?')[0]!
        if (req.method === 'POST' && path.startsWith('/refuse')) { res.statusCode = 409; res.end('conflict'); return }
        if (path.startsWith('/nostore')) res.setHeader('cache-control', 'no-store')
        else if (path.startsWith('/lang')) { res.setHeader('cache-control', 'max-age=60'); res.setHeader('vary', 'accept-language') }
        // The first answer turns stale after a second; a refresh stays fresh for the rest of the test.
        else if (path.startsWith('/swr')) res.setHeader('cache-control', `max-age=${n === 1 ? 1 : 60}, stale-while-revalidate=30`)
        else if (path.startsWith('/sie')) res.setHeader('cache-control', 'max-age=1, stale-if-error=60')
        else if (path.startsWith('/private')) res.setHeader('cache-control', 'private, max-age=60')
        else if (path.startsWith('/big')) { res.setHeader('cache-control', 'max-age=60'); res.end(Buffer.alloc(64 * 1024, 'b')); return }
        else if (path.startsWith('/blob')) { res.setHeader('cache-control', 'max-age=60'); res.end(Buffer.alloc(8 * 1024, 'c')); return }
        // `/chunked/N`: N chunks of 8 KiB ('a', 'b', ...), each written on its own turn, with no content-length.
        else if (path.startsWith('/chunked/')) {
          res.setHeader('cache-control', 'max-age=60')
          const count = Number(path.split('/')[2])
          let i = 0
          const next = (): void => {
            if (i === count) { res.end(); return }
            res.write(chunkOf(i++))
            setImmediate(next)
          }
          next()
          return
        }
        else if (path.startsWith('/maxage1')) res.setHeader('cache-control', 'max-age=1')
        else res.setHeader('cache-control', 'max-age=60')
        res.setHeader('content-type', 'text/plain')
        res.end(`${path} #${n} lang=${String(req.headers['accept-language'] ?? '-')}`)
      }
      const held = this.#held.get(url.split('?')[0]!)
      if (held !== undefined) { held.arrived(); void held.released.then(answer); return }
      if (this.delayMs > 0) setTimeout(answer, this.delayMs)
      else answer()
    })
  }

  /**
   * From now on requests for `path` wait for `release()` before they are
   * answered (and are counted as they arrive); `arrived` resolves when the
   * first one is in. After `release()` the path is answered at once again.
   */
  hold (path: string): { arrived: Promise<void>, release: () => void } {
    let arrived!: () => void
    let release!: () => void
    const arrival = new Promise<void>(resolve => { arrived = resolve })
    const released = new Promise<void>(resolve => { release = resolve })
    this.#held.set(path, { arrived, released })
    return { arrived: arrival, release: () => { this.#held.delete(path); release() } }
  }

  async start (): Promise<void> {
    await new Promise<void>(resolve => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
  }

  count (path: string): number { return this.hits.get(path) ?? 0 }

  async close (): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }
}

const config = (origin: number, port: number): string => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: test}
spec:
  servers:
  - port: {number: ${port}, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: origin, namespace: test}
spec:
  hosts: [origin.test.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${origin}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: site, namespace: test}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: {host: origin}}]}]
---
apiVersion: meshgate.io/v1alpha1
kind: CachePolicy
metadata: {name: site, namespace: test}
spec:
  targetRefs: [{kind: VirtualService, name: site}]
  ttl: 30s
  maxBodyBytes: 32768
`

let origin: Origin
let gw: TestGateway
let port: number

before(async () => {
  origin = new Origin()
  await origin.start()
  ;[port] = await getFreePorts(1) as [number]
  gw = await startGateway(config(origin.port, port))
})

after(async () => {
  await gw?.stop()
  await origin?.close()
})

function get (path: string, headers: Record<string, string> = {}, p = port): Promise<HttpResponse> {
  return request(`http://127.0.0.1:${p}${path}`, { headers: { host: 'site.example', ...headers } })
}

test('the second GET is a HIT with an age; the upstream saw one request; HEAD is answered from the GET entry', async () => {
  const first = await get('/page')
  assert.equal(headerValue(first, 'x-cache'), 'MISS')
  const second = await get('/page')
  assert.equal(headerValue(second, 'x-cache'), 'HIT')
  assert.equal(second.body, first.body)
  assert.match(String(headerValue(second, 'age')), /^\d+$/)
  assert.equal(headerValue(second, 'cache-control'), 'max-age=60')
  assert.equal(origin.count('/page'), 1)
  const head = await request(`http://127.0.0.1:${port}/page`, { method: 'HEAD', headers: { host: 'site.example' } })
  assert.equal(head.status, 200)
  assert.equal(headerValue(head, 'x-cache'), 'HIT')
  assert.equal(origin.count('/page'), 1)
})

test('age on a HIT counts from when the entry was stored: 0 at first, at least 1 a second later', async () => {
  assert.equal(headerValue(await get('/aged'), 'x-cache'), 'MISS')
  const early = await get('/aged')
  assert.equal(headerValue(early, 'x-cache'), 'HIT')
  assert.equal(headerValue(early, 'age'), '0')
  await new Promise(resolve => setTimeout(resolve, 1_100))
  const later = await get('/aged')
  assert.equal(headerValue(later, 'x-cache'), 'HIT')
  assert.equal(later.body, early.body)
  const age = Number(headerValue(later, 'age'))
  assert.ok(Number.isInteger(age) && age >= 1, `age ${String(headerValue(later, 'age'))} after more than a second`)
  assert.ok(age > Number(headerValue(early, 'age')), 'the age grew')
  assert.equal(origin.count('/aged'), 1)
})

test('a successful POST, PUT or DELETE drops the cached GET of its target; a refused one does not', async () => {
  const post = (path: string, method = 'POST'): Promise<HttpResponse> => request(`http://127.0.0.1:${port}${path}`, { method, headers: { host: 'site.example' }, body: '{}' })
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const path = `/inv-${method.toLowerCase()}?id=1`
    assert.equal(headerValue(await get(path), 'x-cache'), 'MISS')
    assert.equal(headerValue(await get(path), 'x-cache'), 'HIT')
    const w = await post(path, method)
    assert.equal(w.status, 200)
    assert.equal(headerValue(w, 'x-cache'), 'BYPASS', `${method} is not answered from the GET entry`)
    const after = await get(path)
    assert.equal(headerValue(after, 'x-cache'), 'MISS', `${method} invalidated the entry`)
    assert.match(after.body, /#3 /, 'the GET after the write went upstream')
  }
  assert.equal(headerValue(await get('/refuse'), 'x-cache'), 'MISS')
  assert.equal((await post('/refuse')).status, 409)
  assert.equal(headerValue(await get('/refuse'), 'x-cache'), 'HIT', 'a 4xx answer to a write leaves the entry')
})

test('API-key callers bypass the cache, unless the policy varies on the key header: then each key has its own entries', async () => {
  const sha = (k: string): string => createHash('sha256').update(k).digest('hex')
  const apiKeys = `---
apiVersion: meshgate.io/v1alpha1
kind: ApiKeyPolicy
metadata: {name: partners, namespace: test}
spec:
  in: header:x-api-key
  keys: [{name: a, valueSha256: ${sha('key-a')}}, {name: b, valueSha256: ${sha('key-b')}}]
`
  const [p2] = await getFreePorts(1) as [number]
  const plain = await startGateway(config(origin.port, p2) + apiKeys)
  try {
    for (let i = 0; i < 2; i++) assert.equal(headerValue(await get('/partner-plain', { 'x-api-key': 'key-a' }, p2), 'x-cache'), 'BYPASS')
  } finally {
    await plain.stop()
  }
  const keyed = await startGateway(config(origin.port, p2).replace('  maxBodyBytes: 32768', '  maxBodyBytes: 32768\n  vary: [x-api-key]') + apiKeys)
  try {
    assert.equal(headerValue(await get('/partner', { 'x-api-key': 'key-a' }, p2), 'x-cache'), 'MISS')
    const again = await get('/partner', { 'x-api-key': 'key-a' }, p2)
    assert.equal(headerValue(again, 'x-cache'), 'HIT')
    assert.match(again.body, /#1 /)
    // Another key: its own entry, fetched upstream.
    const other = await get('/partner', { 'x-api-key': 'key-b' }, p2)
    assert.equal(headerValue(other, 'x-cache'), 'MISS')
    assert.match(other.body, /#2 /)
    assert.equal(origin.count('/partner'), 2)
  } finally {
    await keyed.stop()
  }
})

test('no-store, private and bodies over maxBodyBytes are never cached; authorization bypasses', async () => {
  for (const path of ['/nostore', '/private', '/big']) {
    await get(path)
    await get(path)
    assert.equal(origin.count(path), 2, path)
  }
  const bypass = await get('/page', { authorization: 'Bearer x' })
  assert.equal(headerValue(bypass, 'x-cache'), 'BYPASS')
  assert.equal(origin.count('/page'), 2)
})

test('a chunked body over maxBodyBytes (no content-length) streams through whole and is not stored; a chunked one under it is', async () => {
  // 6 chunks of 8 KiB: over the policy's 32 KiB only from the fifth chunk on.
  const whole = Buffer.concat(Array.from({ length: 6 }, (_, i) => chunkOf(i))).toString()
  for (let i = 0; i < 2; i++) {
    const res = await get('/chunked/6')
    assert.equal(res.status, 200)
    assert.equal(headerValue(res, 'x-cache'), 'MISS', `request ${i + 1}`)
    assert.equal(headerValue(res, 'content-length'), undefined, 'sent without a length')
    assert.equal(res.body.length, whole.length)
    assert.equal(res.body, whole)
  }
  assert.equal(origin.count('/chunked/6'), 2, 'the second GET went to the origin again')
  // 3 chunks (24 KiB) fit: chunked encoding alone does not keep an answer out.
  const small = await get('/chunked/3')
  assert.equal(headerValue(small, 'x-cache'), 'MISS')
  const again = await get('/chunked/3')
  assert.equal(headerValue(again, 'x-cache'), 'HIT')
  assert.equal(again.body, Buffer.concat([chunkOf(0), chunkOf(1), chunkOf(2)]).toString())
  assert.equal(origin.count('/chunked/3'), 1)
})

test('with vary [authorization], JWT callers get an entry per credential even though the token is not forwarded', async () => {
  const key = await makeKey('cache')
  const [p] = await getFreePorts(1) as [number]
  const yaml = `${config(origin.port, p).replace('maxBodyBytes: 32768', 'maxBodyBytes: 32768\n  vary: [authorization]')}---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  jwtRules:
  - issuer: https://issuer.cache.test
    jwks: '${jwksOf(key)}'
`
  const jwtGw = await startGateway(yaml)
  try {
    const alice = `Bearer ${await signToken(key, { iss: 'https://issuer.cache.test', sub: 'alice' })}`
    const bob = `Bearer ${await signToken(key, { iss: 'https://issuer.cache.test', sub: 'bob' })}`
    // One client connection switching credentials: what it sent last must not key the next.
    const oneConnection = new Agent({ connections: 1 })
    const seen: Array<string | undefined> = []
    for (const who of [alice, alice, bob, bob, alice]) {
      const res = await request(`http://127.0.0.1:${p}/me`, { headers: { host: 'site.example', authorization: who }, dispatcher: oneConnection })
      assert.equal(res.status, 200)
      seen.push(headerValue(res, 'x-cache'))
    }
    await oneConnection.close()
    assert.deepEqual(seen, ['MISS', 'HIT', 'MISS', 'HIT', 'HIT'])
    assert.equal(origin.count('/me'), 2, 'one upstream request per credential')
  } finally {
    await jwtGw.stop()
  }
})

test('Vary: accept-language keeps two entries', async () => {
  const en = await get('/lang', { 'accept-language': 'en' })
  const de = await get('/lang', { 'accept-language': 'de' })
  assert.notEqual(en.body, de.body)
  const en2 = await get('/lang', { 'accept-language': 'en' })
  const de2 = await get('/lang', { 'accept-language': 'de' })
  assert.equal(en2.body, en.body)
  assert.equal(de2.body, de.body)
  assert.equal(headerValue(en2, 'x-cache'), 'HIT')
  assert.equal(headerValue(de2, 'x-cache'), 'HIT')
  assert.equal(origin.count('/lang'), 2)
})

test('one keep-alive connection asking for other paths and queries gets each its own entry', async () => {
  const one = new Agent({ connections: 1 })
  try {
    const on = (path: string): Promise<HttpResponse> => request(`http://127.0.0.1:${port}${path}`, { headers: { host: 'site.example' }, dispatcher: one })
    const labels: string[] = []
    for (const path of ['/conn?a=1', '/conn?a=1', '/conn?a=2', '/conn', '/conn?a=2', '/conn2?a=1']) labels.push(String(headerValue(await on(path), 'x-cache')))
    assert.deepEqual(labels, ['MISS', 'HIT', 'MISS', 'MISS', 'HIT', 'MISS'])
    for (const url of ['/conn?a=1', '/conn?a=2', '/conn', '/conn2?a=1']) assert.equal(origin.count(url), 1, url)
  } finally {
    await one.close()
  }
})

test('50 concurrent misses make one upstream request', async () => {
  origin.delayMs = 200
  try {
    const answers = await Promise.all(Array.from({ length: 50 }, () => get('/collapsed')))
    assert.deepEqual(new Set(answers.map(a => a.status)), new Set([200]))
    assert.equal(new Set(answers.map(a => a.body)).size, 1)
    assert.equal(origin.count('/collapsed'), 1)
  } finally {
    origin.delayMs = 0
  }
})

/** `promise`, or a failure naming `what` after `ms` (so a missing event fails the test instead of hanging it). */
async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no ${what} within ${ms} ms`)) }, ms) })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

test('stale-while-revalidate: stale answers while the one background refresh is held at the origin; once it lands, a fresh HIT', async () => {
  const first = await get('/swr')
  assert.equal(headerValue(first, 'x-cache'), 'MISS')
  // max-age=1: stale after a second, and served as such for 30 s more.
  await new Promise(resolve => setTimeout(resolve, 1_100))
  const refresh = origin.hold('/swr')
  try {
    // The origin answers nothing for /swr until released: these come from the cache.
    const stale = await Promise.all([get('/swr'), get('/swr'), get('/swr')])
    assert.deepEqual(stale.map(r => headerValue(r, 'x-cache')), ['STALE', 'STALE', 'STALE'])
    for (const r of stale) assert.equal(r.body, first.body)
    await within(refresh.arrived, 5_000, 'background refresh at the origin')
    assert.equal(origin.count('/swr'), 2, 'exactly one refresh in flight for three stale answers')
    // While it is held, another stale answer, and no second refresh.
    const meanwhile = await get('/swr')
    assert.equal(headerValue(meanwhile, 'x-cache'), 'STALE')
    assert.equal(origin.count('/swr'), 2)
    refresh.release()
    // The refresh is stored once its answer is in: ask (a bounded number of times) until it shows.
    let fresh = await get('/swr')
    for (let i = 0; i < 100 && headerValue(fresh, 'x-cache') === 'STALE'; i++) {
      await new Promise(resolve => setTimeout(resolve, 20))
      fresh = await get('/swr')
    }
    assert.equal(headerValue(fresh, 'x-cache'), 'HIT')
    assert.match(fresh.body, /#2/)
    assert.equal(origin.count('/swr'), 2, 'the origin saw exactly one refresh')
  } finally {
    refresh.release()
  }
})

test('stale-if-error: an upstream 5xx is answered with the stale entry', async () => {
  const first = await get('/sie')
  await new Promise(resolve => setTimeout(resolve, 1_100))
  origin.failing = true
  try {
    const res = await get('/sie')
    assert.equal(res.status, 200)
    assert.equal(headerValue(res, 'x-cache'), 'STALE')
    assert.equal(res.body, first.body)
  } finally {
    origin.failing = false
  }
})

test('stale-if-error also covers an upstream that refuses connections; without stale-if-error the answer is a 503', async () => {
  // An origin of its own, closed halfway: the shared one stays up for the other tests.
  const own = new Origin()
  await own.start()
  const [p] = await getFreePorts(1) as [number]
  const down = await startGateway(config(own.port, p))
  let closed = false
  try {
    const sie = await get('/sie', {}, p)
    assert.equal(headerValue(sie, 'x-cache'), 'MISS')
    const plain = await get('/maxage1', {}, p)
    assert.equal(headerValue(plain, 'x-cache'), 'MISS')
    assert.equal(headerValue(plain, 'cache-control'), 'max-age=1')
    // Both stale after a second; only /sie may still be served, and only on an error.
    await new Promise(resolve => setTimeout(resolve, 1_100))
    await own.close()
    closed = true
    const stale = await get('/sie', {}, p)
    assert.equal(stale.status, 200)
    assert.equal(headerValue(stale, 'x-cache'), 'STALE')
    assert.equal(stale.body, sie.body)
    const refused = await get('/maxage1', {}, p)
    assert.equal(refused.status, 503)
    assert.notEqual(headerValue(refused, 'x-cache'), 'STALE')
    assert.notEqual(refused.body, plain.body)
    assert.equal(own.count('/sie'), 1, 'the origin was not reached after it closed')
    assert.equal(own.count('/maxage1'), 1)
  } finally {
    await down.stop()
    if (!closed) await own.close()
  }
})

test('DELETE /cache?prefix= purges; the cache counts results and bytes in /metrics', async () => {
  await get('/purge/a')
  await get('/purge/b')
  const [adminPort] = await getFreePorts(1) as [number]
  const admin = await startAdmin('127.0.0.1', adminPort, { gateway: () => gw.gateway, metrics: gw.metrics })
  try {
    const res = await request(`http://127.0.0.1:${adminPort}/cache?prefix=/purge/`, { method: 'DELETE' })
    assert.equal(res.status, 200)
    assert.equal((JSON.parse(res.body) as { local: number }).local, 2)
    assert.equal(headerValue(await get('/purge/a'), 'x-cache'), 'MISS')
    assert.equal((await request(`http://127.0.0.1:${adminPort}/cache`, { method: 'DELETE' })).status, 400)
    const metrics = (await request(`http://127.0.0.1:${adminPort}/metrics`)).body
    assert.match(metrics, /meshgate_cache_requests_total\{policy="test\/site",result="HIT"\} [1-9]/)
    assert.match(metrics, /meshgate_cache_bytes [1-9]/)
  } finally {
    await admin.close()
  }
})

test('meshgate serve --workers 2: the admin purge empties every worker\'s memory and counts each; a PUT through one worker reaches the other', async () => {
  const [p, adminPort] = await getFreePorts(2) as [number, number]
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-cache-'))
  let proc: MeshgateProcess | null = null
  // One connection per request: the primary hands each new connection to a worker.
  const fresh = async (path: string, method = 'GET'): Promise<HttpResponse> => {
    const one = new Agent({ connections: 1 })
    try {
      const res = await request(`http://127.0.0.1:${p}${path}`, { method, headers: { host: 'site.example' }, dispatcher: one, ...(method === 'GET' ? {} : { body: '{}' }) })
      assert.equal(res.status, 200, path)
      return res
    } finally {
      await one.close()
    }
  }
  /** Fresh-connection GETs of `path` (at most 40) until the origin has seen it `target` times; their x-cache labels. */
  const fillTo = async (path: string, target: number): Promise<string[]> => {
    const labels: string[] = []
    for (let i = 0; i < 40 && origin.count(path) < target; i++) labels.push(String(headerValue(await fresh(path), 'x-cache')))
    // A few more: each worker answers from its own memory now.
    for (let i = 0; i < 4; i++) labels.push(String(headerValue(await fresh(path), 'x-cache')))
    return labels
  }
  try {
    await writeFile(join(dir, 'config.yaml'), config(origin.port, p))
    // Round-robin hand-off (node:cluster's default on Linux), whatever the environment says.
    proc = await startMeshgate(['serve', '--config', dir, '--host', '127.0.0.1', '--workers', '2', '--admin-port', String(adminPort), '--access-log', 'off'],
      { readyTimeoutMs: 30_000, env: { ...process.env, NODE_CLUSTER_SCHED_POLICY: 'rr' } })
    // Each worker has its own memory: one MISS (one origin request) per worker, HITs after.
    for (const path of ['/wpurge/item', '/wkeep']) {
      const labels = await fillTo(path, 2)
      assert.equal(origin.count(path), 2, `${path}: both workers fetched it`)
      assert.equal(labels.filter(l => l === 'MISS').length, 2, `${path}: ${labels.join(' ')}`)
      assert.deepEqual(labels.slice(-4), ['HIT', 'HIT', 'HIT', 'HIT'])
    }
    const res = await request(`http://127.0.0.1:${adminPort}/cache?prefix=/wpurge`, { method: 'DELETE' })
    assert.equal(res.status, 200)
    const purged = JSON.parse(res.body) as { prefix: string, workers: number, local: number }
    assert.equal(purged.prefix, '/wpurge')
    assert.equal(purged.workers, 2)
    assert.equal(purged.local, 2, 'one entry dropped in each worker')
    // The purged path: the next request is a MISS, and each worker fetches it once again.
    const labels = await fillTo('/wpurge/item', 4)
    assert.equal(labels[0], 'MISS', 'the first request after the purge')
    assert.equal(origin.count('/wpurge/item'), 4, `one refill per worker: ${labels.join(' ')}`)
    assert.equal(labels.filter(l => l === 'MISS').length, 2)
    // Outside the prefix: still cached in both workers.
    for (let i = 0; i < 4; i++) assert.equal(headerValue(await fresh('/wkeep'), 'x-cache'), 'HIT')
    assert.equal(origin.count('/wkeep'), 2)
    // A PUT through one worker changes the resource: the other worker, told
    // through the primary (no Redis here), drops its copy too.
    await fresh('/wkeep', 'PUT')
    assert.equal(origin.count('/wkeep'), 3)
    const afterPut = await fillTo('/wkeep', 5)
    assert.equal(origin.count('/wkeep'), 5, `both workers fetched it again: ${afterPut.join(' ')}`)
    assert.equal(afterPut.filter(l => l === 'MISS').length, 2, afterPut.join(' '))
  } finally {
    await proc?.stop({ graceMs: 5_000 })
    await rm(dir, { recursive: true, force: true })
  }
})

test('memory bound: 10x the cache size of bodies keeps its byte count within the bound', async () => {
  const [p] = await getFreePorts(1) as [number]
  const small = await startGateway(config(origin.port, p), { cacheMaxBytes: 64 * 1024 })
  try {
    // 80 answers of 8 KiB: ten times what the cache may hold.
    for (let i = 0; i < 80; i++) await get(`/blob/${i}`, {}, p)
    const stats = small.gateway.plane!.cache.stats()
    assert.ok(stats.bytes <= 64 * 1024, `cache bytes ${stats.bytes}`)
    assert.ok(stats.evictions > 0, 'entries were evicted to stay within the bound')
  } finally {
    await small.stop()
  }
})

test('a small cached body owns its memory rather than pinning a slab of Buffer\'s shared pool', async () => {
  const res = await get('/owned')
  assert.equal(headerValue(res, 'x-cache'), 'MISS')
  const plane = gw.gateway.plane!
  const policy = plane.current.cache.policies[0]!
  const entry = plane.cache.storeFor(policy).getLocal(cacheKey(policy.id, 'site.example', '/owned'), {})
  assert.ok(entry !== null && entry !== undefined, 'stored')
  assert.equal(entry.body.toString(), res.body)
  assert.equal(entry.body.buffer.byteLength, entry.body.length, 'the body is not a view into a larger buffer')
})

test('two gateways share a HIT through Redis', async () => {
  let redis: RedisServer | null = null
  let a: TestGateway | null = null
  let b: TestGateway | null = null
  try {
    redis = await startRedis()
    const [pa, pb] = await getFreePorts(2) as [number, number]
    a = await startGateway(config(origin.port, pa), { redis: [redis.url] })
    b = await startGateway(config(origin.port, pb), { redis: [redis.url] })
    const first = await get('/shared', {}, pa)
    assert.equal(headerValue(first, 'x-cache'), 'MISS')
    await new Promise(resolve => setTimeout(resolve, 100))
    const second = await get('/shared', {}, pb)
    assert.equal(headerValue(second, 'x-cache'), 'HIT')
    assert.equal(second.body, first.body)
    assert.equal(origin.count('/shared'), 1)
  } finally {
    await a?.stop()
    await b?.stop()
    await redis?.stop()
  }
})

test('two meshgate serve processes share a HIT through Redis; a PUT through one drops the other\'s copy', async () => {
  let redis: RedisServer | null = null
  const dirs: string[] = []
  const procs: MeshgateProcess[] = []
  try {
    redis = await startRedis()
    const [pa, pb] = await getFreePorts(2) as [number, number]
    for (const p of [pa, pb]) {
      const dir = await mkdtemp(join(tmpdir(), 'meshgate-cache-'))
      dirs.push(dir)
      await writeFile(join(dir, 'config.yaml'), config(origin.port, p))
      procs.push(await startMeshgate(['serve', '--config', dir, '--host', '127.0.0.1', '--redis', redis.url, '--access-log', 'off'], { readyTimeoutMs: 30_000 }))
    }
    // Both listen on the purge channel from their start, before any cached
    // request: a replica's first request must not be what opens it, or an
    // invalidation sent meanwhile would be lost.
    assert.equal(await channelSubscribers(redis, PURGE_CHANNEL, 2, 3_000), 2, 'both processes listen on the purge channel before their first request')
    const first = await get('/shared-procs', {}, pa)
    assert.equal(first.status, 200)
    assert.equal(headerValue(first, 'x-cache'), 'MISS')
    // A writes to Redis within its write window (a few ms). Wait for the key in
    // Redis, not by asking B: a miss on B would fetch from the origin itself.
    const key = cacheKey('test/site', 'site.example', '/shared-procs')
    const deadline = Date.now() + 2_000
    while (await redisCommand(redis.port, ['EXISTS', key]) !== 1 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal(await redisCommand(redis.port, ['EXISTS', key]), 1, 'process A stored the entry in Redis')
    const second = await get('/shared-procs', {}, pb)
    assert.equal(second.status, 200)
    assert.equal(headerValue(second, 'x-cache'), 'HIT')
    assert.equal(second.body, first.body)
    assert.equal(origin.count('/shared-procs'), 1, 'the origin saw one request for both processes')
    // B now holds the resource in its own memory. A PUT through A changes it:
    // A drops it in Redis, then tells B, which drops its copy.
    const put = await request(`http://127.0.0.1:${pa}/shared-procs`, { method: 'PUT', headers: { host: 'site.example' }, body: '{}' })
    assert.equal(put.status, 200)
    const until = Date.now() + 3_000
    let after = await get('/shared-procs', {}, pb)
    while (headerValue(after, 'x-cache') === 'HIT' && Date.now() < until) {
      assert.equal(after.body, first.body)
      await new Promise(resolve => setTimeout(resolve, 20))
      after = await get('/shared-procs', {}, pb)
    }
    assert.equal(headerValue(after, 'x-cache'), 'MISS', 'process B dropped its copy after the PUT through A')
    assert.match(after.body, /#3 /, 'and fetched the changed resource from the origin')
  } finally {
    await Promise.all(procs.map(p => p.stop({ graceMs: 5_000 })))
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
    await redis?.stop()
  }
})
