// The echo upstream (`meshgate echo`) and the test helpers every other test relies on.
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, test } from 'node:test'
import { Client } from 'undici'
import { parseEchoPath, startEcho, type EchoServer } from '../../src/cli/echo.js'
import { createTestCerts, spiffeId, type TestCerts } from '../helpers/certs.js'
import { headerValue, request } from '../helpers/http.js'
import { startNginx } from '../helpers/nginx.js'
import { canConnect, getFreePorts } from '../helpers/ports.js'
import { repoRoot, spawnProcess, waitForReady } from '../helpers/processes.js'
import { startRedis, startRedisCluster } from '../helpers/redis.js'
import { startUpstream, startUpstreams } from '../helpers/upstreams.js'

interface EchoBody { upstream: string, method: string, url: string, headers: Record<string, string>, body?: number }

describe('echo upstream', () => {
  let echo: EchoServer
  before(async () => { echo = await startEcho({ port: 0, name: 'reviews-v1' }) })
  after(async () => { await echo.close() })

  test('answers 200 JSON naming itself, the method, url and headers', async () => {
    const res = await request(`http://127.0.0.1:${echo.port}/a/b?x=1`, { headers: { 'x-test': 'yes' } })
    assert.equal(res.status, 200)
    assert.equal(headerValue(res, 'x-upstream'), 'reviews-v1')
    assert.equal(headerValue(res, 'content-type'), 'application/json')
    const body = res.json<EchoBody>()
    assert.equal(body.upstream, 'reviews-v1')
    assert.equal(body.method, 'GET')
    assert.equal(body.url, '/a/b?x=1')
    assert.equal(body.headers['x-test'], 'yes')
    assert.equal(body.body, undefined)
  })

  test('sees the host header the request helper sets', async () => {
    const res = await request(`http://127.0.0.1:${echo.port}/`, { headers: { host: 'shop.example' } })
    assert.equal(res.json<EchoBody>().headers.host, 'shop.example')
  })

  test('reports the request body length in bytes', async () => {
    const res = await request(`http://127.0.0.1:${echo.port}/post`, { method: 'POST', body: 'héllo' })
    assert.equal(res.json<EchoBody>().body, 6)
  })

  test('answers the code named by a path ending in /status/<code>', async () => {
    for (const [path, status] of [['/status/503', 503], ['/api/v1/status/418', 418], ['/status/204', 204], ['/status/999', 400]] as const) {
      const res = await request(`http://127.0.0.1:${echo.port}${path}`)
      assert.equal(res.status, status, path)
      assert.equal(headerValue(res, 'x-upstream'), 'reviews-v1')
      if (status === 204) assert.equal(res.body, '')
    }
  })

  test('waits before answering a path ending in /delay/<seconds>', async () => {
    const start = Date.now()
    const res = await request(`http://127.0.0.1:${echo.port}/delay/0.2`)
    assert.equal(res.status, 200)
    assert.ok(Date.now() - start >= 190, `answered after ${Date.now() - start} ms`)
  })

  test('echoes only the headers on /headers', async () => {
    const res = await request(`http://127.0.0.1:${echo.port}/headers`, { headers: { 'x-a': '1' } })
    assert.deepEqual(Object.keys(res.json<object>()).sort(), ['headers', 'upstream'])
    assert.equal(res.json<EchoBody>().headers['x-a'], '1')
  })

  test('keeps the connection alive across requests', async () => {
    let connections = 0
    const count = (): void => { connections++ }
    echo.server.on('connection', count)
    const client = new Client(`http://127.0.0.1:${echo.port}`)
    try {
      for (let i = 0; i < 3; i++) {
        const res = await client.request({ path: '/', method: 'GET' })
        await res.body.text()
      }
    } finally {
      await client.close()
      echo.server.off('connection', count)
    }
    assert.equal(connections, 1)
  })

  test('answers 400 to a malformed request and keeps serving', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(echo.port, '127.0.0.1', () => { socket.write('NOT HTTP AT ALL\r\n\r\n') })
      let text = ''
      socket.setEncoding('utf8')
      socket.on('data', (d: string) => { text += d })
      socket.on('close', () => { resolve(text) })
      socket.on('error', reject)
    })
    assert.match(reply, /^HTTP\/1\.1 400/)
    assert.equal((await request(`http://127.0.0.1:${echo.port}/`)).status, 200)
  })

  test('parses special paths without throwing on any input', () => {
    const cases: Array<[string, { status: number, delayMs: number, headersOnly: boolean }]> = [
      ['/', { status: 200, delayMs: 0, headersOnly: false }],
      ['/status/500?x=/status/200', { status: 500, delayMs: 0, headersOnly: false }],
      ['/delay/99', { status: 200, delayMs: 10_000, headersOnly: false }],
      ['/delay/0.25/', { status: 200, delayMs: 250, headersOnly: false }],
      ['/status/abc', { status: 200, delayMs: 0, headersOnly: false }],
      ['%%%/\u0000', { status: 200, delayMs: 0, headersOnly: false }],
      ['/x/headers', { status: 200, delayMs: 0, headersOnly: true }]
    ]
    for (const [url, want] of cases) assert.deepEqual(parseEchoPath(url), want, url)
  })
})

describe('meshgate echo command', () => {
  const runEchoScript = (argv: string[]): string =>
    `import(${JSON.stringify(`${repoRoot}/dist/src/cli/echo.js`)}).then((m) => m.runEcho(${JSON.stringify(argv)})).then((code) => { process.exitCode = code })`

  test('serves each --port/--name pair and exits 0 on SIGTERM', async () => {
    const [p1, p2] = await getFreePorts(2) as [number, number]
    const proc = await spawnProcess(process.execPath, ['-e', runEchoScript(['--port', String(p1), '--name', 'a', `--port=${p2}`, '--name', 'b'])], { name: 'echo' })
    try {
      await proc.waitForOutput(`"b" listening on http://127.0.0.1:${p2}`)
      assert.equal(headerValue(await request(`http://127.0.0.1:${p1}/`), 'x-upstream'), 'a')
      assert.equal(headerValue(await request(`http://127.0.0.1:${p2}/`), 'x-upstream'), 'b')
    } finally {
      const exit = await proc.stop()
      assert.deepEqual(exit, { code: 0, signal: null })
    }
  })

  test('exits 2 with the usage on a bad argument', async () => {
    const proc = await spawnProcess(process.execPath, ['-e', runEchoScript(['--port', 'eighty'])], { name: 'echo' })
    const exit = await proc.waitForExit()
    assert.equal(exit.code, 2)
    assert.match(proc.stderr, /--port: got "eighty"/)
    assert.match(proc.stderr, /usage: meshgate echo/)
  })
})

describe('test helpers', () => {
  test('getFreePorts returns distinct ports nobody listens on', async () => {
    const ports = await getFreePorts(5)
    assert.equal(new Set(ports).size, 5)
    for (const port of ports) assert.equal(await canConnect(port), false)
  })

  test('upstreams count requests and fail, delay and reset on demand', async () => {
    const ups = await startUpstreams(['v1', 'v2'])
    try {
      const v1 = ups.get('v1')
      v1.failNext(2).delayNext(1, 150).resetNext(1)
      assert.equal((await request(`${v1.url}/`)).status, 503)
      assert.equal((await request(`${v1.url}/`)).status, 503)
      const start = Date.now()
      assert.equal((await request(`${v1.url}/`)).status, 200)
      assert.ok(Date.now() - start >= 140)
      await assert.rejects(request(`${v1.url}/`))
      assert.equal((await request(`${v1.url}/x`, { method: 'POST', body: 'hi' })).status, 200)
      await request(`${ups.get('v2').url}/`)
      assert.deepEqual(ups.counts(), { v1: 5, v2: 1 })
      assert.equal(v1.lastRequest?.body, 'hi')
      assert.equal(v1.lastRequest?.method, 'POST')
    } finally {
      await ups.close()
    }
  })

  test('an upstream that hangs is released by close()', async () => {
    const up = await startUpstream('slow')
    up.hangNext(1)
    const pending = request(`${up.url}/`, { timeoutMs: 5_000 })
    while (up.count === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    await up.close()
    await assert.rejects(pending)
  })

  test('spawned processes are stopped by PID, with SIGKILL when they ignore SIGTERM', async () => {
    const stubborn = "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)"
    const proc = await spawnProcess(process.execPath, ['-e', stubborn], { name: 'stubborn' })
    await proc.waitForOutput('up')
    const exit = await proc.stop({ graceMs: 300 })
    assert.equal(exit.signal, 'SIGKILL')
    assert.equal(proc.isRunning, false)
  })

  test('waitForOutput fails early with the output when the process exits', async () => {
    const proc = await spawnProcess(process.execPath, ['-e', "console.error('boom'); process.exit(3)"], { name: 'crasher' })
    await assert.rejects(proc.waitForOutput('never printed'), /crasher .* exited \(code 3\)[\s\S]*boom/)
  })

  test('waitForReady polls /healthz/ready until it answers 200', async () => {
    const admin = await startEcho({ port: 0, name: 'admin' })
    try {
      await waitForReady(admin.port, { timeoutMs: 2_000 })
    } finally {
      await admin.close()
    }
    await assert.rejects(waitForReady(admin.port, { timeoutMs: 200 }), /not ready within 200 ms/)
  })
})

describe('real servers', () => {
  test('redis-server starts on a free port, answers and stops', async () => {
    const redis = await startRedis()
    try {
      assert.equal(await redis.command('PING'), 'PONG')
      assert.equal(await redis.command('SET', 'k', 'v'), 'OK')
      assert.equal(await redis.command('GET', 'k'), 'v')
      assert.equal(await redis.command('INCRBY', 'n', 5), 5)
    } finally {
      await redis.stop()
    }
    assert.equal(redis.process.isRunning, false)
    assert.equal(await canConnect(redis.port), false)
  })

  test('a three-node redis cluster forms and serves keys', async () => {
    const cluster = await startRedisCluster(3)
    try {
      assert.equal(cluster.url.split(',').length, 3)
      const info = await cluster.nodes[0]!.command('CLUSTER', 'INFO')
      assert.match(String(info), /cluster_state:ok/)
    } finally {
      await cluster.stop()
    }
  })

  test('nginx starts in a temp dir, proxies to an echo upstream and stops', async () => {
    const up = await startUpstream('behind-nginx')
    const nginx = await startNginx({
      http: ({ ports }) => `server {
        listen 127.0.0.1:${ports[0]};
        location /direct { return 200 "nginx\\n"; }
        location / { proxy_pass ${up.url}; proxy_set_header x-forwarded-for $proxy_add_x_forwarded_for; }
      }`
    })
    try {
      const direct = await request(`${nginx.url}/direct`)
      assert.equal(direct.body, 'nginx\n')
      const proxied = await request(`${nginx.url}/via`)
      assert.equal(headerValue(proxied, 'x-upstream'), 'behind-nginx')
      assert.equal(up.lastRequest?.headers['x-forwarded-for'], '127.0.0.1')
      const viaLine = /"GET \/via HTTP\/1\.1" 200/
      assert.match(await nginx.accessLog(viaLine), viaLine)
    } finally {
      await nginx.stop()
      await up.close()
    }
    assert.equal(nginx.process.isRunning, false)
    assert.equal(await canConnect(nginx.port), false)
  })
})

describe('test certificates', () => {
  let certs: TestCerts
  before(async () => { certs = await createTestCerts({ hosts: ['bookinfo.example.com'] }) })
  after(async () => { await certs.cleanup() })

  test('a mutual-TLS upstream sees the client SPIFFE identity', async () => {
    const up = await startUpstream('secure', { tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert, requestCert: true } })
    try {
      const res = await request(`https://127.0.0.1:${up.port}/`, {
        tls: { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key, servername: 'bookinfo.example.com' }
      })
      assert.equal(res.status, 200)
      assert.match(up.lastRequest?.peerSan ?? '', new RegExp(`URI:${spiffeId('default', 'client')}`))
    } finally {
      await up.close()
    }
  })

  test('a client without a certificate is refused by a mutual-TLS upstream', async () => {
    const up = await startUpstream('secure', { tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert, requestCert: true } })
    try {
      await assert.rejects(request(`https://127.0.0.1:${up.port}/`, { tls: { ca: certs.ca.cert, servername: 'localhost' } }))
      assert.equal(up.count, 0)
    } finally {
      await up.close()
    }
  })
})
