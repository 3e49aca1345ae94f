// A Gateway port with protocol HTTP2 speaks h2c (prior knowledge) and HTTP/1.1
// on one socket, as Istio's do; a plain HTTP port refuses h2c streams.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:http2'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePorts } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appServiceYaml } from '../helpers/fixtures.js'

let ups: Upstreams
let gw: TestGateway
let h2Port: number
let h1Port: number

before(async () => {
  ups = await startUpstreams(['a'])
  ;[h2Port, h1Port] = await getFreePorts(2) as [number, number]
  gw = await startGateway(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: test}
spec:
  servers:
  - port: {number: {{h2}}, name: http2, protocol: HTTP2}
    hosts: ["*"]
  - port: {number: {{h1}}, name: http, protocol: HTTP}
    hosts: ["*"]
---
${appServiceYaml(['a'])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: test}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: app, subset: a}}]
`, { vars: { h2: h2Port, h1: h1Port, a: ups.get('a').port } })
})

after(async () => {
  await gw?.stop()
  await ups?.close()
})

function h2Get (port: number, path: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`)
    session.on('error', reject)
    const req = session.request({ ':path': path, ':method': 'GET', ':authority': 'h2.test' })
    let status = 0
    let body = ''
    req.on('response', h => { status = Number(h[':status']) })
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => { session.close(); resolve({ status, body }) })
    req.on('error', (err) => { session.close(); reject(err) })
    req.end()
  })
}

test('h2c with prior knowledge is served on an HTTP2 port', async () => {
  const r = await h2Get(h2Port, '/over-h2c')
  assert.equal(r.status, 200)
  assert.equal(JSON.parse(r.body).url, '/over-h2c')
  assert.equal(ups.get('a').lastRequest?.headers.host, 'h2.test')
})

test('HTTP/1.1 is served on the same HTTP2 port', async () => {
  const r = await request(`http://127.0.0.1:${h2Port}/over-h1`)
  assert.equal(r.status, 200)
  assert.equal(headerValue(r, 'x-upstream'), 'a')
})

test('a plain HTTP port refuses h2c streams', async () => {
  await assert.rejects(h2Get(h1Port, '/nope'))
})
