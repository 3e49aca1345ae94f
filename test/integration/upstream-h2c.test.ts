// HTTP/2 to plaintext upstreams (h2c with prior knowledge), as Envoy does for
// clusters with HTTP/2 protocol options and no TLS: chosen by an HTTP2/gRPC
// service port or h2UpgradePolicy UPGRADE. gRPC trailers travel end to end.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { getFreePorts } from '../helpers/ports.js'
import { request } from '../helpers/http.js'
import { startGateway } from '../helpers/gateway.js'
import { oneServiceConfig } from '../helpers/fixtures.js'

let h2cServer: http2.Http2Server
let h1Server: http.Server
let h2cPort: number
let h1Port: number

before(async () => {
  // Speaks only HTTP/2 with prior knowledge: an HTTP/1.1 request gets no answer it can parse.
  h2cServer = http2.createServer((req, res) => {
    if (req.headers['content-type'] === 'application/grpc') {
      res.setHeader('content-type', 'application/grpc')
      res.addTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' })
      res.end(Buffer.from([0, 0, 0, 0, 0]))
      return
    }
    res.setHeader('content-type', 'text/plain')
    res.end(`http/${req.httpVersion}`)
  })
  h1Server = http.createServer((req, res) => { res.end(`http/${req.httpVersion}`) })
  await new Promise<void>(resolve => h2cServer.listen(0, '127.0.0.1', resolve))
  await new Promise<void>(resolve => h1Server.listen(0, '127.0.0.1', resolve))
  h2cPort = (h2cServer.address() as AddressInfo).port
  h1Port = (h1Server.address() as AddressInfo).port
})

after(async () => {
  await new Promise<void>(resolve => h2cServer?.close(() => resolve()))
  await new Promise<void>(resolve => h1Server?.close(() => resolve()))
})

function config (listen: number, listenH2: number, protocol: string, h2Policy: string | null, upstreamPort: number): string {
  return oneServiceConfig({
    listen, grpcListen: listenH2, name: 'svc', port: 8080, portName: 'port', protocol, endpointPort: upstreamPort,
    trafficPolicy: h2Policy === null ? undefined : `{connectionPool: {http: {h2UpgradePolicy: ${h2Policy}}}}`
  })
}

test('plaintext upstreams get h2c where the port or h2UpgradePolicy asks for HTTP/2', async () => {
  const cases: Array<[string, string | null, 'h2c' | 'h1', string]> = [
    ['GRPC', null, 'h2c', 'http/2.0'],
    ['HTTP2', null, 'h2c', 'http/2.0'],
    ['HTTP', 'UPGRADE', 'h2c', 'http/2.0'],
    ['HTTP', null, 'h1', 'http/1.1'],
    ['GRPC', 'DO_NOT_UPGRADE', 'h1', 'http/1.1']
  ]
  for (const [protocol, policy, upstream, want] of cases) {
    const [port, h2Listen] = await getFreePorts(2) as [number, number]
    const g = await startGateway(config(port, h2Listen, protocol, policy, upstream === 'h2c' ? h2cPort : h1Port))
    try {
      for (let i = 0; i < 3; i++) {
        const res = await request(`http://127.0.0.1:${port}/x`, { headers: { host: 'api.example' } })
        assert.equal(res.status, 200, `${protocol} ${String(policy)}: ${res.body}`)
        assert.equal(res.body, want, `${protocol}${policy === null ? '' : ` + ${policy}`}`)
      }
    } finally {
      await g.stop()
    }
  }
})

test('a gRPC call over h2c on both sides keeps its trailers', async () => {
  const [port, h2Listen] = await getFreePorts(2) as [number, number]
  const g = await startGateway(config(port, h2Listen, 'GRPC', null, h2cPort))
  try {
    const got = await new Promise<{ status: number, trailers: http2.IncomingHttpHeaders, bytes: number }>((resolve, reject) => {
      const session = http2.connect(`http://127.0.0.1:${h2Listen}`)
      session.on('error', reject)
      const req = session.request({ ':path': '/pkg.Svc/Call', ':method': 'POST', ':authority': 'svc.example', 'content-type': 'application/grpc', te: 'trailers' })
      let status = 0
      let bytes = 0
      let trailers: http2.IncomingHttpHeaders = {}
      req.on('response', h => { status = Number(h[':status']) })
      req.on('trailers', t => { trailers = t })
      req.on('data', (c: Buffer) => { bytes += c.length })
      req.on('end', () => { session.close(); resolve({ status, trailers, bytes }) })
      req.on('error', (err) => { session.close(); reject(err) })
      req.end(Buffer.from([0, 0, 0, 0, 0]))
    })
    assert.equal(got.status, 200)
    assert.equal(got.bytes, 5)
    assert.equal(got.trailers['grpc-status'], '0')
    assert.equal(got.trailers['grpc-message'], 'ok')
  } finally {
    await g.stop()
  }
})
