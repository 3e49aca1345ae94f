// WebSocket upgrades pass through the gateway to the routed upstream.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { WebSocket } from 'undici'
import { getFreePort } from '../helpers/ports.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { gatewayYaml } from '../helpers/fixtures.js'
import { rawExchange } from '../helpers/raw-http.js'

const CONFIG = `${gatewayYaml()}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ws, namespace: test}
spec:
  hosts: [ws.test.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: {{ws}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ws, namespace: test}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /socket}}]
    headers: {request: {set: {x-via: gateway}}}
    route: [{destination: {host: ws}}]
`

let upstream: Server
let gw: TestGateway
let port: number
let seenHeaders: Record<string, unknown> = {}

/** A minimal WebSocket server: completes the handshake and sends one unmasked text frame. */
function frame (text: string): Buffer {
  const payload = Buffer.from(text)
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload])
}

before(async () => {
  upstream = createServer((_req, res) => { res.writeHead(426); res.end() })
  upstream.on('upgrade', (req, socket, head: Buffer) => {
    seenHeaders = req.headers
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`)
    socket.write(frame(`hello ${req.url}`))
    socket.on('error', () => {})
    // /socket/echo: whatever the client sends after the head comes back.
    if (req.url === '/socket/echo') {
      // node:http hands over the bytes that came with the head separately.
      if (head.length > 0) socket.write(head)
      socket.on('data', (d: Buffer) => { socket.write(d) })
    }
  })
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
  port = await getFreePort()
  gw = await startGateway(CONFIG, { vars: { port, ws: (upstream.address() as AddressInfo).port } })
})

after(async () => {
  await gw?.stop()
  upstream.closeAllConnections()
  await new Promise(resolve => upstream.close(resolve))
})

test('a WebSocket upgrade is routed and spliced to the upstream', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket/1`, { headers: { host: 'ws.test' } } as never)
  const message = await new Promise<string>((resolve, reject) => {
    ws.addEventListener('message', ev => resolve(String(ev.data)))
    ws.addEventListener('error', () => reject(new Error('websocket error')))
    setTimeout(() => reject(new Error('no message within 5 s')), 5000)
  })
  ws.close()
  assert.equal(message, 'hello /socket/1')
  assert.equal(seenHeaders['x-via'], 'gateway')
  assert.equal(seenHeaders.upgrade, 'websocket')
})

test('an upgrade with no route gets 404 and the connection closes', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/elsewhere`, { headers: { host: 'ws.test' } } as never)
  const outcome = await new Promise<string>(resolve => {
    ws.addEventListener('open', () => resolve('open'))
    ws.addEventListener('error', () => resolve('error'))
  })
  assert.equal(outcome, 'error')
})

test('an upgrade after a plain request on the same connection: the bytes after its head and later ones reach the upstream', async () => {
  // The second head is read by the parser itself (the socket is consumed after
  // the first read); on the upgrade the socket goes back to its stream.
  const r = await rawExchange(port, [
    'GET /socket/plain HTTP/1.1\r\nhost: ws.test\r\n\r\n',
    'GET /socket/echo HTTP/1.1\r\nhost: ws.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\nEARLY-BYTES',
    'LATE-BYTES'
  ], { gapMs: 300, until: t => t.includes('LATE-BYTES'), waitMs: 5_000 })
  assert.match(r.text, /^HTTP\/1\.1 426 /, r.text.slice(0, 200))
  assert.match(r.text, /HTTP\/1\.1 101 Switching Protocols/)
  assert.ok(r.text.includes('hello /socket/echo'), r.text)
  assert.ok(r.text.includes('EARLY-BYTES'), 'the bytes read with the head were passed on')
  assert.ok(r.text.includes('LATE-BYTES'), 'bytes after the upgrade still flow')
})
