// Bodies stream both ways: large answers with back-pressure, trailers after the
// body, and request bodies larger than the retry buffer.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { request as undiciRequest } from 'undici'
import { getFreePort } from '../helpers/ports.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { gatewayYaml } from '../helpers/fixtures.js'

const BIG = 8 * 1024 * 1024

let upstream: Server
let gw: TestGateway
let port: number

before(async () => {
  upstream = createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const chunk = Buffer.alloc(64 * 1024, 7)
      let sent = 0
      const pump = (): void => {
        while (sent < BIG) {
          sent += chunk.length
          if (!res.write(chunk)) { res.once('drain', pump); return }
        }
        res.end()
      }
      pump()
      return
    }
    if (req.url === '/cookie') {
      res.end(String(req.headers.cookie?.length ?? 0))
      return
    }
    if (req.url === '/trailers') {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' })
      res.write('hello ')
      res.addTrailers({ 'x-checksum': 'abc123' })
      res.end('world')
      return
    }
    const hash = createHash('sha256')
    let size = 0
    req.on('data', (c: Buffer) => { hash.update(c); size += c.length })
    req.on('end', () => { res.end(JSON.stringify({ size, sha256: hash.digest('hex') })) })
  })
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
  port = await getFreePort()
  gw = await startGateway(`${gatewayYaml()}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: up, namespace: test}
spec:
  hosts: [up.test.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: {{up}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: up, namespace: test}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: up}}]
`, { vars: { port, up: (upstream.address() as AddressInfo).port } })
})

after(async () => {
  await gw?.stop()
  upstream.closeAllConnections()
  await new Promise(resolve => upstream.close(resolve))
})

test('a large answer streams through with every byte', async () => {
  const res = await undiciRequest(`http://127.0.0.1:${port}/big`)
  let size = 0
  for await (const c of res.body) size += (c as Buffer).length
  assert.equal(res.statusCode, 200)
  assert.equal(size, BIG)
})

test('trailers from the upstream reach the client after the body', async () => {
  const res = await undiciRequest(`http://127.0.0.1:${port}/trailers`)
  assert.equal(await res.body.text(), 'hello world')
  assert.equal(res.trailers['x-checksum'], 'abc123')
})

test('a request body larger than the retry buffer is streamed to the upstream intact', async () => {
  const body = Buffer.alloc(3 * 1024 * 1024 + 17, 3)
  const res = await undiciRequest(`http://127.0.0.1:${port}/upload`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })
  const got = await res.body.json() as { size: number, sha256: string }
  assert.equal(got.size, body.length)
  assert.equal(got.sha256, createHash('sha256').update(body).digest('hex'))
})

test('a chunked request body is forwarded intact', async () => {
  const body = Readable.from(Array.from({ length: 10 }, (_, i) => Buffer.alloc(1000, i)))
  const res = await undiciRequest(`http://127.0.0.1:${port}/chunked`, { method: 'POST', body })
  const got = await res.body.json() as { size: number }
  assert.equal(got.size, 10_000)
})

test('request headers up to Envoy\'s 60 KiB default are accepted (Node alone stops at 16 KiB)', async () => {
  const cookie = `big=${'c'.repeat(40 * 1024)}`
  const res = await undiciRequest(`http://127.0.0.1:${port}/cookie`, { headers: { cookie } })
  assert.equal(res.statusCode, 200)
  assert.equal(await res.body.text(), String(cookie.length))
  const tooBig = await undiciRequest(`http://127.0.0.1:${port}/cookie`, { headers: { cookie: `big=${'c'.repeat(70 * 1024)}` } }).then(r => r.statusCode, () => 431)
  assert.equal(tooBig, 431)
})
