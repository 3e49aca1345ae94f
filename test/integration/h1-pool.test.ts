// meshgate's HTTP/1.1 upstream pool on its own, against real servers on
// 127.0.0.1: node:http ones, and raw TCP servers for answers node:http would
// never send (no length, garbage, unsolicited bytes, a close mid-body).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildConnector } from 'undici'
import { H1Pool, H1_ONREAD, type UpstreamControl, type UpstreamHeaders, type UpstreamRequest } from '../../src/mesh-bridge/h1-pool.js'
import { getFreePort } from '../helpers/ports.js'
import { startGateway } from '../helpers/gateway.js'
import { oneServiceConfig } from '../helpers/fixtures.js'
import { rawExchange } from '../helpers/raw-http.js'

interface Outcome {
  status: number
  headers: UpstreamHeaders
  body: string
  trailers: UpstreamHeaders | null
  error: (Error & { code?: string }) | null
}

const servers: Array<Server | net.Server> = []
const pools: H1Pool[] = []

after(async () => {
  for (const p of pools) await p.destroy()
  for (const s of servers) { (s as Server).closeAllConnections?.(); s.close() }
})

async function listen<T extends Server | net.Server> (server: T): Promise<{ server: T, port: number, connections: () => number }> {
  let connections = 0
  server.on('connection', () => { connections++ })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections }
}

function httpServer (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server, port: number, connections: () => number }> {
  return listen(createServer({ keepAliveTimeout: 30_000 }, handler))
}

/** A TCP server that answers each request head it sees with `answer(n)` (n counts requests). */
function rawServer (answer: (n: number, socket: net.Socket, head: string) => void): Promise<{ server: net.Server, port: number, connections: () => number }> {
  let n = 0
  return listen(net.createServer(socket => {
    let buf = ''
    socket.on('data', d => {
      buf += d.toString('latin1')
      let end: number
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, end)
        buf = buf.slice(end + 4)
        answer(++n, socket, head)
      }
    })
    socket.on('error', () => {})
  }))
}

// As the gateway builds it for plain TCP: reads land in the pool's shared buffer.
const sharedReads = buildConnector({ timeout: 2_000, noDelay: true, onread: H1_ONREAD } as unknown as buildConnector.BuildOptions)
// As for TLS upstreams (and undici's own pools): a Buffer per read, through 'data' events.
const dataEvents = buildConnector({ timeout: 2_000, noDelay: true } as buildConnector.BuildOptions)

function pool (port: number, over: Partial<ConstructorParameters<typeof H1Pool>[0]> = {}): H1Pool {
  const p = new H1Pool({
    host: '127.0.0.1',
    port,
    tls: false,
    connect: sharedReads,
    maxConnections: Infinity,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 60_000,
    ...over
  })
  pools.push(p)
  return p
}

function send (p: H1Pool, opts: Partial<UpstreamRequest> = {}, hooks: { onStart?: (c: UpstreamControl) => void, onData?: (c: UpstreamControl, chunk: Buffer) => void } = {}): Promise<Outcome> {
  return new Promise(resolve => {
    const out: Outcome = { status: 0, headers: {}, body: '', trailers: null, error: null }
    const chunks: Buffer[] = []
    p.dispatch({ method: 'GET', path: '/', headers: ['host', 'up.test'], body: null, ...opts }, {
      onRequestStart (c) { hooks.onStart?.(c) },
      onResponseStart (_c, status, headers) { out.status = status; out.headers = headers },
      onResponseData (c, chunk) { chunks.push(chunk); hooks.onData?.(c, chunk) },
      onResponseEnd (_c, trailers) { out.body = Buffer.concat(chunks).toString(); out.trailers = trailers; resolve(out) },
      onResponseError (_c, err) { out.body = Buffer.concat(chunks).toString(); out.error = err; resolve(out) }
    })
  })
}

test('keeps one connection alive for sequential requests and hands headers over lower-cased, repeats as lists', async () => {
  const up = await httpServer((req, res) => {
    res.setHeader('Set-Cookie', ['a=1', 'b=2'])
    res.setHeader('X-Path', req.url ?? '')
    res.end(`hello ${req.headers['x-n'] as string}`)
  })
  const p = pool(up.port)
  for (let i = 0; i < 5; i++) {
    const r = await send(p, { path: `/n/${i}`, headers: ['host', 'up.test', 'x-n', String(i)] })
    assert.equal(r.error, null)
    assert.equal(r.status, 200)
    assert.equal(r.body, `hello ${i}`)
    assert.equal(r.headers['x-path'], `/n/${i}`)
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2'])
  }
  assert.equal(up.connections(), 1)
  assert.equal(p.connections, 1)
})

test('an upstream keep-alive timeout shorter than the safety margin means no reuse', async () => {
  const up = await rawServer((_n, socket) => {
    socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=1\r\n\r\nok')
  })
  const p = pool(up.port)
  assert.equal((await send(p)).body, 'ok')
  assert.equal((await send(p)).body, 'ok')
  assert.equal(up.connections(), 2)
})

test('maxRequestsPerConnection 1 asks for connection: close and opens a connection per request', async () => {
  const seen: string[] = []
  const up = await httpServer((req, res) => { seen.push(req.headers.connection ?? ''); res.end('x') })
  const p = pool(up.port, { maxRequestsPerConnection: 1 })
  for (let i = 0; i < 3; i++) assert.equal((await send(p)).status, 200)
  assert.deepEqual(seen, ['close', 'close', 'close'])
  assert.equal(up.connections(), 3)
})

test('maxConnections caps the connections; the rest wait in order and all complete', async () => {
  let open = 0
  let peak = 0
  const up = await httpServer((_req, res) => {
    open++
    peak = Math.max(peak, open)
    setTimeout(() => { open--; res.end('done') }, 30)
  })
  const p = pool(up.port, { maxConnections: 2 })
  const all = await Promise.all(Array.from({ length: 6 }, () => send(p)))
  assert.deepEqual(all.map(r => r.body), Array(6).fill('done'))
  assert.equal(peak, 2)
  assert.equal(up.connections(), 2)
})

test('request bodies: a buffer gets its length, a stream without one goes chunked, framing headers from the caller are replaced', async () => {
  const got: Array<{ te: string | undefined, cl: string | undefined, expect: string | undefined, body: string }> = []
  const up = await httpServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      got.push({ te: req.headers['transfer-encoding'], cl: req.headers['content-length'], expect: req.headers.expect, body })
      res.end('ok')
    })
  })
  const p = pool(up.port)
  await send(p, { method: 'POST', headers: ['host', 'up.test', 'transfer-encoding', 'chunked', 'expect', '100-continue'], body: Buffer.from('buffered') })
  await send(p, { method: 'POST', body: Readable.from([Buffer.from('one,'), Buffer.from('two')]) })
  await send(p, { method: 'PUT', headers: ['host', 'up.test', 'content-length', '6'], body: Readable.from([Buffer.from('abc'), Buffer.from('def')]) })
  await send(p, { method: 'POST' })
  assert.deepEqual(got, [
    { te: undefined, cl: '8', expect: undefined, body: 'buffered' },
    { te: 'chunked', cl: undefined, expect: undefined, body: 'one,two' },
    { te: undefined, cl: '6', expect: undefined, body: 'abcdef' },
    { te: undefined, cl: '0', expect: undefined, body: '' }
  ])
  assert.equal(up.connections(), 1)
})

test('answer framing: trailers, HEAD, 100 Continue, 204, more than 32 headers', async () => {
  const up = await rawServer((n, socket, head) => {
    if (head.startsWith('HEAD')) { socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n'); return }
    switch (n) {
      case 1: socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: grpc-status\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 0\r\nGrpc-Message: fine\r\n\r\n'); break
      case 3: socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\nmade'); break
      case 4: socket.write('HTTP/1.1 204 No Content\r\n\r\n'); break
      default: {
        const many = Array.from({ length: 40 }, (_, i) => `x-h${i}: v${i}\r\n`).join('')
        socket.write(`HTTP/1.1 200 OK\r\n${many}content-length: 4\r\n\r\nmany`)
      }
    }
  })
  const p = pool(up.port)
  const chunked = await send(p)
  assert.equal(chunked.body, 'abc')
  assert.deepEqual(chunked.trailers, { 'grpc-status': '0', 'grpc-message': 'fine' })
  const head = await send(p, { method: 'HEAD' })
  assert.equal(head.error, null)
  assert.equal(head.headers['content-length'], '1000')
  assert.equal(head.body, '')
  const created = await send(p)
  assert.equal(created.status, 201)
  assert.equal(created.body, 'made')
  assert.equal((await send(p)).status, 204)
  const many = await send(p)
  assert.equal(many.body, 'many')
  assert.equal(many.headers['x-h0'], 'v0')
  assert.equal(many.headers['x-h39'], 'v39')
  assert.equal(up.connections(), 1)
})

test('an answer delimited by the connection end completes, and that connection is not reused', async () => {
  const up = await rawServer((_n, socket) => { socket.end('HTTP/1.1 200 OK\r\n\r\nuntil close') })
  const p = pool(up.port)
  const first = await send(p)
  assert.equal(first.error, null)
  assert.equal(first.body, 'until close')
  assert.equal((await send(p)).body, 'until close')
  assert.equal(up.connections(), 2)
})

test('failures: refused, closed mid-body, garbage, a header that would break framing', async () => {
  const closed = net.createServer()
  await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
  const refusedPort = (closed.address() as AddressInfo).port
  await new Promise<void>(resolve => closed.close(() => resolve()))
  const refused = await send(pool(refusedPort))
  assert.equal(refused.error?.code, 'ECONNREFUSED')

  const cut = await rawServer((_n, socket) => { socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial'); setTimeout(() => socket.destroy(), 20) })
  const r = await send(pool(cut.port))
  assert.equal(r.status, 200)
  assert.equal(r.body, 'partial')
  assert.match(r.error?.message ?? '', /other side closed/)

  const garbage = await rawServer((_n, socket) => { socket.write('SMTP ready\r\n\r\n') })
  const g = await send(pool(garbage.port))
  assert.ok(g.error !== null)
  assert.match(g.error.code ?? '', /^HPE_/)

  let requests = 0
  const counted = await httpServer((_req, res) => { requests++; res.end() })
  const bad = await send(pool(counted.port), { headers: ['host', 'up.test', 'x-injected', 'a\r\nx-evil: 1'] })
  assert.equal(bad.error?.code, 'UND_ERR_INVALID_ARG')
  assert.equal(requests, 0)
})

test('an idle connection the upstream closed is dropped; bytes nobody asked for close the connection', async () => {
  const up = await rawServer((n, socket) => {
    // The third answer comes with a second one stuck to it, in the same write.
    socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok' + (n === 3 ? 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nextra' : ''))
    if (n === 1) setTimeout(() => socket.end(), 20)
    if (n === 2) setTimeout(() => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'), 20)
  })
  const p = pool(up.port)
  assert.equal((await send(p)).body, 'ok')
  await sleep(80)
  assert.equal(p.connections, 0)
  assert.equal((await send(p)).body, 'ok')
  await sleep(80)
  assert.equal(p.connections, 0)
  assert.equal((await send(p)).body, 'ok')
  await sleep(20)
  assert.equal(p.connections, 0)
  assert.equal((await send(p)).body, 'ok')
  assert.equal(up.connections(), 4)
})

test('abort ends the request with its reason, and the pool keeps serving', async () => {
  const up = await httpServer((req, res) => { if (req.url === '/hang') return; res.end('fine') })
  const p = pool(up.port)
  const reason = Object.assign(new Error('per-try timeout'), { code: 'TEST_ABORT' })
  const hung = send(p, { path: '/hang' }, { onStart: c => { setTimeout(() => c.abort(reason), 30) } })
  assert.equal((await hung).error, reason)
  assert.equal((await send(p)).body, 'fine')
  const timed = await send(p, { path: '/hang', timeoutMs: 50 })
  assert.equal(timed.error?.code, 'UND_ERR_HEADERS_TIMEOUT')
})

/** Sends GET /0 … /count-1 at once; keeps every body chunk as handed over, to be compared after all are complete. */
async function sendEach (p: H1Pool, count: number): Promise<{ results: Outcome[], held: Buffer[][] }> {
  const held: Buffer[][] = []
  const results = await Promise.all(Array.from({ length: count }, (_, n) => {
    const chunks: Buffer[] = []
    held.push(chunks)
    return send(p, { path: `/${n}` }, { onData: (_c, chunk) => { chunks.push(chunk) } })
  }))
  return { results, held }
}

test('small answers taken whole from the shared read buffer arrive intact, each its own copy', async () => {
  // Head and body in one write, so each answer arrives in one read and takes the
  // path that copies the body out of the shared buffer when the answer completes.
  const pattern = (n: number, len: number): Buffer => { const b = Buffer.allocUnsafe(len); for (let i = 0; i < len; i++) b[i] = (n * 7 + i * 3) & 0xff; return b }
  const up = await rawServer((_n, socket, head) => {
    const n = Number(/^GET \/(\d+) /.exec(head)![1])
    const body = pattern(n, 100 + n * 150)
    socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nx-n: ${n}\r\n\r\n`, 'latin1'), body]))
  })
  const p = pool(up.port)
  const { results, held } = await sendEach(p, 16)
  let whole = 0
  for (let n = 0; n < results.length; n++) {
    assert.equal(results[n]!.error, null)
    assert.equal(results[n]!.headers['x-n'], String(n))
    assert.ok(Buffer.concat(held[n]!).equals(pattern(n, 100 + n * 150)), `answer ${n} intact`)
    // The parser's own copies get an ArrayBuffer of their exact size; these come from Buffer's pool.
    if (held[n]!.length === 1 && held[n]![0]!.buffer.byteLength === Buffer.poolSize) whole++
  }
  assert.ok(whole > 0, 'some answers were taken whole')
  // Kept alive and reused as usual.
  assert.equal((await send(p, { path: '/3' })).headers['x-n'], '3')
})

test('a head split across reads, and an informational answer before the final one in the same read, take the parser\'s path', async () => {
  const up = await rawServer((n, socket) => {
    if (n === 1) {
      socket.write('HTTP/1.1 200 OK\r\ncontent-')
      setTimeout(() => socket.write('length: 5\r\n\r\nhello'), 30)
    } else {
      socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nworld')
    }
  })
  const p = pool(up.port)
  const a = await send(p)
  assert.equal(a.error, null)
  assert.equal(a.body, 'hello')
  const b = await send(p)
  assert.equal(b.error, null)
  assert.equal(b.status, 200)
  assert.equal(b.body, 'world')
  assert.equal(up.connections(), 1)
})

for (const [reads, connect] of [['shared-buffer reads', sharedReads], ['data events', dataEvents]] as const) {
  test(`pause and resume hold a large answer back without losing bytes (${reads})`, async () => {
    const size = 2 * 1024 * 1024
    const up = await httpServer((_req, res) => { res.end(Buffer.alloc(size, 'z')) })
    const p = pool(up.port, { connect })
    let paused = false
    const r = await send(p, {}, {
      onData: (c) => {
        if (paused) return
        paused = true
        c.pause()
        setTimeout(() => c.resume(), 50)
      }
    })
    assert.equal(r.error, null)
    assert.equal(r.body.length, size)
    assert.equal((await send(p)).body.length, size)
    assert.equal(up.connections(), 1)
  })
}

test('answers read through the shared buffer on many connections at once arrive intact', async () => {
  // Each answer is its own byte pattern, sent in pieces so reads of different
  // connections interleave: a chunk handed on as a view of the shared buffer
  // (rather than a copy) would show another answer's bytes.
  const pattern = (n: number, len: number): Buffer => { const b = Buffer.allocUnsafe(len); for (let i = 0; i < len; i++) b[i] = (n * 31 + i) & 0xff; return b }
  const up = await httpServer((req, res) => {
    const n = Number(req.url!.slice(1))
    const body = pattern(n, 200_000)
    res.writeHead(200, { 'content-length': body.length })
    let off = 0
    const next = (): void => {
      if (off >= body.length) { res.end(); return }
      const end = Math.min(off + 7_000 + n * 13, body.length)
      res.write(body.subarray(off, end))
      off = end
      setImmediate(next)
    }
    next()
  })
  const p = pool(up.port)
  const { results, held } = await sendEach(p, 12)
  for (let n = 0; n < results.length; n++) {
    assert.equal(results[n]!.error, null)
    // Compared after every answer is complete: the chunks kept must not have changed since.
    assert.ok(Buffer.concat(held[n]!).equals(pattern(n, 200_000)), `answer ${n} intact`)
  }
  assert.ok(up.connections() > 1)
})

test('close waits for requests in flight; destroy fails them', async () => {
  const up = await httpServer((req, res) => { if (req.url === '/hang') return; setTimeout(() => res.end('late'), 50) })
  const p = pool(up.port, { maxConnections: 1 })
  const answering = send(p)
  await sleep(10)
  // One request waits for a connection still being opened, one for the only connection to come free.
  const q = pool(up.port, { maxConnections: 1 })
  const connecting = send(q)
  const queued = send(q)
  await Promise.all([p.close(), q.close()])
  assert.equal((await answering).body, 'late')
  assert.equal((await connecting).body, 'late')
  assert.equal((await queued).body, 'late')
  const after = await send(p)
  assert.equal(after.error?.code, 'UND_ERR_DESTROYED')

  const d = pool(up.port)
  const hung = send(d, { path: '/hang' })
  await sleep(20)
  await d.destroy()
  assert.equal((await hung).error?.code, 'UND_ERR_DESTROYED')
})

test('the gateway proxies HTTP/1.1 through this pool, or through undici\'s with MESHGATE_UPSTREAM_HTTP1=undici', async () => {
  const up = await httpServer((req, res) => {
    res.setHeader('x-seen-connection', req.headers.connection ?? '')
    res.end(`${req.method ?? ''} ${req.url ?? ''}`)
  })
  for (const mode of ['meshgate', 'undici'] as const) {
    const before = up.connections()
    if (mode === 'undici') process.env.MESHGATE_UPSTREAM_HTTP1 = 'undici'
    const listen = await getFreePort()
    const gw = await startGateway(oneServiceConfig({ listen, name: 'app', port: 80, portName: 'http', protocol: 'HTTP', endpointPort: up.port }))
    try {
      const rt = gw.gateway.plane!.upstreams.get('outbound|80||app.default.svc.cluster.local')!
      assert.equal(rt.poolOf(rt.states[0]!) instanceof H1Pool, mode === 'meshgate', mode)
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`http://127.0.0.1:${listen}/n/${i}`)
        assert.equal(res.status, 200, mode)
        assert.equal(await res.text(), `GET /n/${i}`)
        assert.equal(res.headers.get('x-seen-connection'), 'keep-alive', mode)
      }
      assert.equal(up.connections() - before, 1, `${mode}: one upstream connection, kept alive`)
    } finally {
      delete process.env.MESHGATE_UPSTREAM_HTTP1
      await gw.stop()
    }
  }
})

test('answers of every size reach the client intact: head and body in one buffer when small, one writev when larger', async () => {
  // Sizes on both sides of the point where the client-side answer stops being
  // copied into one buffer with its head (half of Buffer.poolSize), and past
  // the size the upstream side takes whole from one read.
  const sizes = [0, 100, 3_900, 4_096, 5_000, 16_384, 70_000]
  const bodies = new Map(sizes.map(n => [n, Array.from({ length: n }, (_, i) => String.fromCharCode(97 + ((i * 7 + n) % 26))).join('')]))
  const body = (n: number): string => bodies.get(n) ?? ''
  const up = await httpServer((req, res) => {
    const n = Number(/^\/size\/(\d+)$/.exec(req.url ?? '')?.[1] ?? 0)
    res.setHeader('content-length', n)
    res.end(body(n))
  })
  const listen = await getFreePort()
  const gw = await startGateway(oneServiceConfig({ listen, name: 'app', port: 80, portName: 'http', protocol: 'HTTP', endpointPort: up.port }))
  try {
    // Pipelined on one connection: the answers follow each other on the wire with no gap to tell them apart by.
    const heads = sizes.map(n => `GET /size/${n} HTTP/1.1\r\nhost: app\r\n\r\n`).join('')
    const total = (t: string): number => t.split('HTTP/1.1 200').length - 1
    const r = await rawExchange(listen, [heads], { until: t => total(t) === sizes.length && t.endsWith(body(70_000)), waitMs: 8_000 })
    let rest = r.text
    for (const n of sizes) {
      const end = rest.indexOf('\r\n\r\n')
      assert.ok(end > 0, `answer for ${n} has a head`)
      const head = rest.slice(0, end)
      assert.match(head, /^HTTP\/1\.1 200 OK\r\n/)
      assert.match(head, new RegExp(`\r\ncontent-length: ${n}(\r\n|$)`), head)
      assert.equal(rest.slice(end + 4, end + 4 + n), body(n), `body of ${n} bytes intact`)
      rest = rest.slice(end + 4 + n)
    }
    assert.equal(rest, '', 'nothing after the last answer')
  } finally {
    await gw.stop()
  }
})
