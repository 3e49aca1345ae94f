// Hostile and broken clients: oversized heads, too many headers, long URLs,
// large bodies, slow senders, garbage request lines. Each gets a 4xx or a
// closed socket; the gateway stays ready and keeps serving everyone else.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tlsConnect } from 'node:tls'
import { connect as h2Connect } from 'node:http2'
import { createTestCa } from '../helpers/certs.js'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePort } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { rawExchange, statuses, type RawResult } from '../helpers/raw-http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appConfig } from '../helpers/fixtures.js'
import { DEFAULT_LIMITS } from '../../src/gateway/dataplane/listener.js'

const CONFIG = `${appConfig(['v1'])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: all, namespace: test}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: {host: app, subset: v1}}]}]
`
const HEADERS_TIMEOUT_MS = 600
const MAX_BODY = 64 * 1024

let ups: Upstreams
let gw: TestGateway
let port: number

before(async () => {
  ups = await startUpstreams(['v1'])
  port = await getFreePort()
  gw = await startGateway(CONFIG, {
    vars: { port, v1: ups.get('v1').port },
    limits: { ...DEFAULT_LIMITS, headersTimeoutMs: HEADERS_TIMEOUT_MS, maxBodyBytes: MAX_BODY, maxUrlBytes: 4096 }
  })
})

after(async () => {
  await gw?.stop()
  await ups?.close()
})

/** Writes raw bytes on a fresh connection and collects what comes back until the server closes (or `waitMs`). */
function raw (chunks: Array<string | Buffer>, opts: { gapMs?: number, waitMs?: number } = {}): Promise<RawResult> {
  return rawExchange(port, chunks, opts)
}

async function stillServing (): Promise<void> {
  assert.equal(gw.gateway.ready, true, 'the gateway is still ready')
  const res = await request(`http://127.0.0.1:${port}/ok`, { headers: { host: 'app.example' } })
  assert.equal(res.status, 200, 'a normal request is still served')
}

const statusOf = (text: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)

test('a request head larger than 60 KiB gets 431', async () => {
  const r = await raw([`GET / HTTP/1.1\r\nhost: app.example\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`])
  assert.equal(statusOf(r.text), 431, r.text.slice(0, 100))
  await stillServing()
})

test('more than 100 request headers get 431 (Envoy\'s max_headers_count)', async () => {
  const many: Record<string, string> = { host: 'app.example' }
  for (let i = 0; i < 120; i++) many[`x-h-${i}`] = String(i)
  const res = await request(`http://127.0.0.1:${port}/x`, { headers: many })
  assert.equal(res.status, 431)
  const fine: Record<string, string> = { host: 'app.example' }
  for (let i = 0; i < 90; i++) fine[`x-h-${i}`] = String(i)
  assert.equal((await request(`http://127.0.0.1:${port}/x`, { headers: fine })).status, 200)
  await stillServing()
})

test('a URL over the limit gets 414', async () => {
  const res = await request(`http://127.0.0.1:${port}/${'p'.repeat(5000)}`, { headers: { host: 'app.example' } })
  assert.equal(res.status, 414)
  await stillServing()
})

test('a body over the limit gets 413, with a declared length or chunked', async () => {
  const big = Buffer.alloc(MAX_BODY + 1, 'x')
  const declared = await request(`http://127.0.0.1:${port}/upload`, { method: 'POST', headers: { host: 'app.example' }, body: big })
  assert.equal(declared.status, 413)
  assert.equal(declared.body, 'Payload Too Large')
  const chunked = await raw([
    'POST /upload HTTP/1.1\r\nhost: app.example\r\ntransfer-encoding: chunked\r\n\r\n',
    ...Array.from({ length: 5 }, () => `4000\r\n${'y'.repeat(0x4000)}\r\n`),
    '0\r\n\r\n'
  ], { waitMs: 3_000 })
  assert.ok(statusOf(chunked.text) === 413 || chunked.closed, `chunked over the limit: 413 or a reset, got ${chunked.text.slice(0, 60)}`)
  const small = await request(`http://127.0.0.1:${port}/upload`, { method: 'POST', headers: { host: 'app.example' }, body: Buffer.alloc(1000, 'z') })
  assert.equal(small.status, 200)
  await stillServing()
})

test('a slowloris client is cut off when its head takes longer than the headers timeout', async () => {
  const head = 'GET / HTTP/1.1\r\nhost: app.example\r\n'.split('')
  const slow = raw([...head, ...Array.from({ length: 100 }, (_, i) => `x-slow-${i}: 1\r\n`)], { gapMs: 50, waitMs: 8_000 })
  await new Promise(resolve => setTimeout(resolve, 200))
  await stillServing()
  const r = await slow
  assert.equal(r.closed, true, 'the slow connection is closed')
  assert.ok(r.ms < HEADERS_TIMEOUT_MS + 3_000, `closed after ${r.ms} ms`)
  assert.ok(r.text === '' || statusOf(r.text) === 408, `408 or nothing, got ${r.text.slice(0, 60)}`)
  await stillServing()
})

test('on a kept-alive connection (read by the parser itself), a stalled second head gets 408 at the headers timeout and garbage gets 400', async () => {
  const first = 'GET /first HTTP/1.1\r\nhost: app.example\r\n\r\n'
  const stalled = await raw([first, 'GET /second HTTP/1.1\r\nhost: app.ex'], { gapMs: 200, waitMs: 8_000 })
  assert.deepEqual(statuses(stalled.text), [200, 408], stalled.text.slice(0, 300))
  assert.equal(stalled.closed, true)
  assert.ok(stalled.ms >= 200 + HEADERS_TIMEOUT_MS - 100 && stalled.ms < 200 + HEADERS_TIMEOUT_MS + 3_000, `closed after ${stalled.ms} ms`)
  const garbage = await raw([first, 'GET / HTTP/1.1\r\nbad header line\r\n\r\n'], { gapMs: 200, waitMs: 3_000 })
  assert.deepEqual(statuses(garbage.text), [200, 400], garbage.text.slice(0, 300))
  assert.equal(garbage.closed, true)
  await stillServing()
})

test('over TLS too: a slow HTTP/1.1 head is cut off at the headers timeout, a normal request is served', async () => {
  const ca = await createTestCa()
  try {
    const pair = await ca.issue('s', { dns: ['s.example'], usage: 'server' })
    const tlsPort = await getFreePort()
    const g = await startGateway(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: test}
spec:
  servers:
  - port: {number: ${tlsPort}, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, serverCertificate: ${pair.certPath}, privateKey: ${pair.keyPath}}
---
${CONFIG.split('---\n').slice(1).join('---\n')}`, { vars: { port, v1: ups.get('v1').port }, limits: { ...DEFAULT_LIMITS, headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: 800 } })
    try {
      const started = Date.now()
      const closedAfter = await new Promise<number>((resolve) => {
        const s = tlsConnect({ port: tlsPort, host: '127.0.0.1', servername: 's.example', ca: ca.cert, ALPNProtocols: ['http/1.1'] }, () => {
          s.write('GET / HTTP/1.1\r\nhost: s.example\r\n')
          let i = 0
          const t = setInterval(() => { if (s.destroyed) { clearInterval(t); return } s.write(`x-h${i++}: 1\r\n`) }, 100)
        })
        s.on('error', () => {})
        s.on('close', () => resolve(Date.now() - started))
        setTimeout(() => s.destroy(), 8_000)
      })
      assert.ok(closedAfter < HEADERS_TIMEOUT_MS + 2_000, `closed after ${closedAfter} ms`)
      // A complete head, then a body that trickles: the request timeout (800 ms) ends it with 408.
      const slowBody = await new Promise<{ ms: number, text: string }>((resolve) => {
        const t0 = Date.now()
        let text = ''
        const s = tlsConnect({ port: tlsPort, host: '127.0.0.1', servername: 's.example', ca: ca.cert, ALPNProtocols: ['http/1.1'] }, () => {
          s.write('POST /upload HTTP/1.1\r\nhost: s.example\r\ncontent-length: 100\r\n\r\n')
          const t = setInterval(() => { if (s.destroyed) { clearInterval(t); return } s.write('x') }, 100)
        })
        s.on('data', (d: Buffer) => { text += d.toString() })
        s.on('error', () => {})
        s.on('close', () => resolve({ ms: Date.now() - t0, text }))
        setTimeout(() => s.destroy(), 8_000)
      })
      assert.ok(slowBody.ms < 800 + 2_000, `slow body closed after ${slowBody.ms} ms`)
      assert.ok(slowBody.text === '' || /^HTTP\/1\.1 408/.test(slowBody.text), slowBody.text.slice(0, 60))
      // A handshake and then silence: the first head is due within the headers timeout too.
      const silentFor = await new Promise<number>((resolve) => {
        const t0 = Date.now()
        const s = tlsConnect({ port: tlsPort, host: '127.0.0.1', servername: 's.example', ca: ca.cert, ALPNProtocols: ['http/1.1'] })
        s.resume() // a 408 may come first
        s.on('error', () => {})
        s.on('close', () => resolve(Date.now() - t0))
        setTimeout(() => s.destroy(), 8_000)
      })
      assert.ok(silentFor >= HEADERS_TIMEOUT_MS - 100 && silentFor < HEADERS_TIMEOUT_MS + 2_000, `silent connection closed after ${silentFor} ms`)
      const ok = await request(`https://127.0.0.1:${tlsPort}/x`, { headers: { host: 's.example' }, tls: { ca: ca.cert, servername: 's.example' } })
      assert.equal(ok.status, 200)
    } finally {
      await g.stop()
    }
  } finally {
    await ca.cleanup()
  }
})

/** A Gateway with a plain HTTP/1.1 port and an HTTP2 (h2c) port, ending with its document separator. */
function twoPortGateway (p1: number, p2: number): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: test}
spec:
  servers:
  - port: {number: ${p1}, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: ${p2}, name: http2, protocol: HTTP2}
    hosts: ["*"]
---
`
}

test('a request body that stops arriving gets 408 after the body idle timeout (HTTP/1.1 and h2c); one that keeps trickling is served', async () => {
  const [p1, p2] = [await getFreePort(), await getFreePort()]
  const IDLE_MS = 700
  const g = await startGateway(`${twoPortGateway(p1, p2)}${CONFIG.split('---\n').slice(1).join('---\n')}`, { vars: { v1: ups.get('v1').port }, limits: { ...DEFAULT_LIMITS, bodyIdleTimeoutMs: IDLE_MS } })
  try {
    // HTTP/1.1: 10 of 100 bytes, then silence.
    const stalled = await rawExchange(p1, ['POST /upload HTTP/1.1\r\nhost: app.example\r\ncontent-length: 100\r\n\r\n', 'x'.repeat(10)], { waitMs: 8_000 })
    assert.equal(stalled.closed, true)
    assert.equal(statusOf(stalled.text), 408, stalled.text.slice(0, 60))
    assert.ok(stalled.ms >= IDLE_MS - 100 && stalled.ms < IDLE_MS + 2_500, `closed after ${stalled.ms} ms`)
    // A body that arrives slowly but never pauses for the timeout is served, however long it takes.
    const chunks = ['POST /upload HTTP/1.1\r\nhost: app.example\r\ncontent-length: 10\r\nconnection: close\r\n\r\n', ...'x'.repeat(10).split('')]
    const trickle = await rawExchange(p1, chunks, { gapMs: 200, waitMs: 8_000 })
    assert.equal(statusOf(trickle.text), 200, trickle.text.slice(0, 60))
    assert.ok(trickle.ms > IDLE_MS, 'the whole body took longer than the idle timeout')
    // The same after a first request on the connection, whose later bytes the parser reads itself.
    const first = 'GET /first HTTP/1.1\r\nhost: app.example\r\n\r\n'
    const stalledLater = await rawExchange(p1, [first, 'POST /upload HTTP/1.1\r\nhost: app.example\r\ncontent-length: 100\r\n\r\n', 'x'.repeat(10)], { gapMs: 100, waitMs: 8_000 })
    assert.deepEqual(statuses(stalledLater.text), [200, 408], stalledLater.text.slice(0, 300))
    const trickleLater = await rawExchange(p1, [first, 'POST /upload HTTP/1.1\r\nhost: app.example\r\ncontent-length: 10\r\nconnection: close\r\n\r\n', ...'x'.repeat(10).split('')], { gapMs: 200, waitMs: 8_000 })
    assert.deepEqual(statuses(trickleLater.text), [200, 200], trickleLater.text.slice(0, 300))

    // HTTP/2 (h2c): a stream whose body stops.
    const h2 = await new Promise<{ status: number, ms: number }>((resolve, reject) => {
      const t0 = Date.now()
      const session = h2Connect(`http://127.0.0.1:${p2}`)
      session.on('error', reject)
      const stream = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'app.example', 'content-length': '100' }, { endStream: false })
      stream.write('x'.repeat(10))
      stream.on('response', h => { resolve({ status: Number(h[':status']), ms: Date.now() - t0 }); session.close() })
      stream.on('error', () => {})
      setTimeout(() => { reject(new Error('no answer in 8 s')); session.destroy() }, 8_000).unref()
    })
    assert.equal(h2.status, 408)
    assert.ok(h2.ms >= IDLE_MS - 100 && h2.ms < IDLE_MS + 2_500, `answered after ${h2.ms} ms`)
    const ok = await request(`http://127.0.0.1:${p1}/ok`, { headers: { host: 'app.example' } })
    assert.equal(ok.status, 200)
  } finally {
    await g.stop()
  }
})

test('a connection that never sends a byte is closed', async () => {
  const r = await raw([], { waitMs: 8_000 })
  assert.equal(r.closed, true)
  await stillServing()
})

test('malformed request lines and headers get 400 and a closed connection', async () => {
  for (const garbage of ['GARBAGE\r\n\r\n', 'GET / HTTP/9.9\r\nhost: a\r\n\r\n', 'GET / HTTP/1.1\r\nbad header line\r\n\r\n', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03']) {
    const r = await raw([garbage], { waitMs: 3_000 })
    assert.ok(statusOf(r.text) === 400 || (r.text === '' && r.closed), `${JSON.stringify(garbage.slice(0, 20))}: 400 or closed, got ${JSON.stringify(r.text.slice(0, 60))}`)
  }
  await stillServing()
})

test('client-sent x-envoy-* and x-meshgate-* headers are gone before routing and authorization (HTTP/1.1 and h2c)', async () => {
  const [p1, p2] = [await getFreePort(), await getFreePort()]
  const g = await startGateway(`${twoPortGateway(p1, p2)}${appConfig(['v1']).split('---\n').slice(1).join('---\n')}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: all, namespace: test}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{headers: {x-envoy-internal: {exact: "true"}}}]
    directResponse: {status: 418, body: {string: "steered by a client header"}}
  - route: [{destination: {host: app, subset: v1}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: staff, namespace: istio-system}
spec:
  action: ALLOW
  rules: [{when: [{key: "request.headers[x-meshgate-staff]", notValues: ["yes"]}]}]
`, { vars: { v1: ups.get('v1').port } })
  try {
    const sneaky = { 'x-envoy-internal': 'true', 'x-meshgate-staff': 'yes' }
    const res = await request(`http://127.0.0.1:${p1}/x`, { headers: { host: 'app.example', ...sneaky } })
    assert.equal(res.status, 200, `HTTP/1.1: ${res.status} ${res.body}`)
    const h2 = await new Promise<number>((resolve, reject) => {
      const session = h2Connect(`http://127.0.0.1:${p2}`)
      session.on('error', reject)
      const stream = session.request({ ':path': '/x', ':authority': 'app.example', ...sneaky })
      stream.on('response', h => { resolve(Number(h[':status'])); session.close() })
      stream.on('error', reject)
      stream.resume()
    })
    assert.equal(h2, 200)
  } finally {
    await g.stop()
  }
})

test('client-sent internal headers do not reach the upstream', async () => {
  ups.clear()
  const res = await request(`http://127.0.0.1:${port}/x`, { headers: { host: 'app.example', 'x-meshgate-internal': '1', 'x-envoy-retry-on': '5xx', 'x-geo-country': 'XX' } })
  assert.equal(res.status, 200)
  const seen = ups.get('v1').requests.at(-1)!.headers
  assert.equal(seen['x-meshgate-internal'], undefined)
  assert.equal(seen['x-envoy-retry-on'], undefined)
  assert.equal(seen['x-geo-country'], undefined)
  assert.equal(headerValue(res, 'server'), 'istio-envoy')
})
