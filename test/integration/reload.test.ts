// Reloads change listeners only where Gateways changed: a new port opens, a
// removed one closes, and connections on untouched ports keep going.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Agent } from 'undici'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePorts, canConnect } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { gatewayYaml, appServiceYaml } from '../helpers/fixtures.js'

const config = (ports: readonly number[], subset = 'a'): string => `${gatewayYaml(ports.map(String))}---
${appServiceYaml(['a', 'b'])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: test}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: app, subset: ${subset}}}]
`

let ups: Upstreams
let gw: TestGateway
let p1: number
let p2: number

before(async () => {
  ups = await startUpstreams(['a', 'b'])
  ;[p1, p2] = await getFreePorts(2) as [number, number]
  gw = await startGateway(config([p1]), { vars: { a: ups.get('a').port, b: ups.get('b').port } })
})

after(async () => {
  await gw?.stop()
  await ups?.close()
})

test('adding a Gateway server opens its port; removing it closes it; the other listener keeps its connections', async () => {
  const agent = new Agent({ connections: 1, keepAliveTimeout: 30_000 })
  try {
    const first = await request(`http://127.0.0.1:${p1}/`, { dispatcher: agent })
    assert.equal(first.status, 200)
    const socketPort = ups.get('a').lastRequest?.remoteAddress
    assert.equal(await canConnect(p2), false)

    await gw.update(config([p1, p2], 'b'))
    assert.equal(await canConnect(p2), true, 'the new port is open')
    const onNew = await request(`http://127.0.0.1:${p2}/`)
    assert.equal(headerValue(onNew, 'x-upstream'), 'b')
    // The kept-alive connection to the first port now sees the new routes.
    const again = await request(`http://127.0.0.1:${p1}/`, { dispatcher: agent })
    assert.equal(headerValue(again, 'x-upstream'), 'b')
    assert.equal(typeof socketPort, 'string')

    await gw.update(config([p1], 'b'))
    assert.equal(await canConnect(p2), false, 'the removed port is closed')
    const still = await request(`http://127.0.0.1:${p1}/`, { dispatcher: agent })
    assert.equal(still.status, 200)
  } finally {
    await agent.close()
  }
})

test('a refused version leaves the listeners and routes as they were', async () => {
  await gw.update(config([p1], 'a'))
  await gw.update(config([p1, p2], 'b').replace('protocol: HTTP}', 'protocol: HTTP, bogus: 1, number: 0}'))
  assert.equal(await canConnect(p2), false)
  const r = await request(`http://127.0.0.1:${p1}/`)
  assert.equal(headerValue(r, 'x-upstream'), 'a')
  assert.ok(gw.gateway.lastRefused !== null)
})

test('a connection closed before its first byte is closed by the gateway too', async () => {
  const { connect } = await import('node:net')
  const sock = connect(p1, '127.0.0.1')
  await new Promise(resolve => sock.once('connect', resolve))
  const closed = new Promise<boolean>(resolve => {
    sock.once('close', () => resolve(true))
    setTimeout(() => resolve(false), 2000)
  })
  sock.end()
  assert.equal(await closed, true, 'the half-closed socket was closed')
})

test('draining does not wait for connections that never sent a byte', async () => {
  const { connect } = await import('node:net')
  const idle = connect(p1, '127.0.0.1')
  await new Promise(resolve => idle.once('connect', resolve))
  idle.on('error', () => {})
  const started = Date.now()
  await gw.gateway.drain(5_000)
  assert.ok(Date.now() - started < 1_500, `drain took ${Date.now() - started} ms`)
  idle.destroy()
})
