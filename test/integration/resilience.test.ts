// Weighted splits, retries, timeouts, outlier detection and Envoy's failure
// answers, against real upstreams that are told to fail.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Agent } from 'undici'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePort, getFreePorts } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appConfig } from '../helpers/fixtures.js'

const CONFIG = `${appConfig(['a', 'b'], ['none'])}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: flaky, namespace: test}
spec:
  hosts: [flaky.test.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: {{f1}}}, labels: {role: one}}
  - {address: 127.0.0.1, ports: {http: {{f2}}}, labels: {role: two}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dead, namespace: test}
spec:
  hosts: [dead.test.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: {{closed}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: flaky, namespace: test}
spec:
  host: flaky
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection:
      consecutive5xxErrors: 2
      interval: 100ms
      baseEjectionTime: 1s
      maxEjectionPercent: 50
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: test}
spec:
  hosts: [r.test]
  gateways: [gw]
  http:
  - name: split
    match: [{uri: {prefix: /split}}]
    route:
    - {destination: {host: app, subset: a}, weight: 90}
    - {destination: {host: app, subset: b}, weight: 10}
  - name: retry
    match: [{uri: {prefix: /retry}}]
    retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: app, subset: a}}]
  - name: default-retry
    match: [{uri: {prefix: /noretry}}]
    route: [{destination: {host: app, subset: a}}]
  - name: timeout
    match: [{uri: {prefix: /slow}}]
    timeout: 200ms
    route: [{destination: {host: app, subset: b}}]
  - name: flaky
    match: [{uri: {prefix: /flaky}}]
    retries: {attempts: 0}
    route: [{destination: {host: flaky}}]
  - name: dead
    match: [{uri: {prefix: /dead}}]
    route: [{destination: {host: dead}}]
  - name: empty-subset
    match: [{uri: {prefix: /empty}}]
    route: [{destination: {host: app, subset: none}}]
  - name: cors
    match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: "https://shop.example"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: app, subset: a}}]
  - name: mirror
    match: [{uri: {prefix: /mirror}}]
    mirror: {host: app, subset: b}
    route: [{destination: {host: app, subset: a}}]
`

let ups: Upstreams
let gw: TestGateway
let base: string

before(async () => {
  ups = await startUpstreams(['a', 'b', 'f1', 'f2'])
  const [port, closed] = await getFreePorts(2)
  gw = await startGateway(CONFIG, {
    vars: { port: port!, closed: closed!, a: ups.get('a').port, b: ups.get('b').port, f1: ups.get('f1').port, f2: ups.get('f2').port }
  })
  base = `http://127.0.0.1:${port}`
})

after(async () => {
  await gw?.stop()
  await ups?.close()
})

const H = { host: 'r.test' }

test('a 90/10 split over 1000 requests lands within binomial tolerance', async () => {
  ups.clear()
  const agent = new Agent({ connections: 16 })
  const n = 1000
  const batch = 50
  for (let i = 0; i < n; i += batch) {
    await Promise.all(Array.from({ length: batch }, () => request(`${base}/split`, { headers: H, dispatcher: agent })))
  }
  await agent.close()
  const b = ups.get('b').count
  assert.equal(ups.get('a').count + b, n)
  // mean 100, sd ≈ 9.5: ±4.5 sd
  assert.ok(b > 57 && b < 143, `b got ${b} of ${n}`)
})

test('retries: two 503s then success with attempts 3 and retryOn 5xx gives 200 after 3 upstream requests', async () => {
  ups.clear()
  ups.get('a').failNext(2, 503)
  const r = await request(`${base}/retry`, { headers: H })
  assert.equal(r.status, 200)
  assert.equal(ups.get('a').count, 3)
  assert.deepEqual(ups.get('a').requests.map(q => q.headers['x-envoy-attempt-count']), ['1', '2', '3'])
})

test('without a retries block an upstream 503 is not retried (Istio default retryOn)', async () => {
  ups.clear()
  ups.get('a').failNext(1, 503)
  const r = await request(`${base}/noretry`, { headers: H })
  assert.equal(r.status, 503)
  assert.equal(ups.get('a').count, 1)
})

test('a reset after the request went out is not retried by the default policy: 503 connection termination', async () => {
  ups.clear()
  ups.get('a').resetNext(1)
  const r = await request(`${base}/noretry`, { headers: H })
  assert.equal(r.status, 503)
  assert.match(r.body, /reset reason: connection termination/)
  assert.equal(ups.get('a').count, 1)
})

test('retryOn 5xx also retries a connection reset', async () => {
  ups.clear()
  ups.get('a').resetNext(1)
  const r = await request(`${base}/retry`, { headers: H })
  assert.equal(r.status, 200)
  assert.equal(ups.get('a').count, 2)
})

test('route timeout answers 504 upstream request timeout', async () => {
  ups.clear()
  ups.get('b').delayNext(1, 1500)
  const started = Date.now()
  const r = await request(`${base}/slow`, { headers: H })
  assert.equal(r.status, 504)
  assert.equal(r.body, 'upstream request timeout')
  assert.ok(Date.now() - started < 1200, 'answered at the timeout, not when the upstream finished')
})

test('connect failure answers 503 with Envoy wording after the default retries', async () => {
  const r = await request(`${base}/dead`, { headers: H })
  assert.equal(r.status, 503)
  assert.match(r.body, /^upstream connect error or disconnect\/reset before headers\. (retried and the latest )?reset reason: connection failure/)
})

test('a subset selecting no endpoint answers 503 no healthy upstream', async () => {
  const r = await request(`${base}/empty`, { headers: H })
  assert.equal(r.status, 503)
  assert.equal(r.body, 'no healthy upstream')
})

test('outlier detection ejects a failing endpoint, sends traffic to the healthy one, and lets it back after the ejection time', async () => {
  ups.clear()
  ups.get('f1').setStatus(500)
  // Round robin alternates; after 2 consecutive 5xx from f1 it is ejected.
  for (let i = 0; i < 6; i++) await request(`${base}/flaky`, { headers: H })
  const f1Before = ups.get('f1').count
  assert.ok(f1Before >= 2 && f1Before <= 3, `f1 saw ${f1Before}`)
  const answers = await Promise.all(Array.from({ length: 10 }, () => request(`${base}/flaky`, { headers: H })))
  assert.ok(answers.every(a => a.status === 200), 'every request went to the healthy endpoint')
  assert.equal(ups.get('f1').count, f1Before, 'the ejected endpoint got nothing')
  ups.get('f1').setStatus(null)
  await new Promise(resolve => setTimeout(resolve, 1300))
  for (let i = 0; i < 6; i++) await request(`${base}/flaky`, { headers: H })
  assert.ok(ups.get('f1').count > f1Before, 'the endpoint is back after its ejection time')
})

test('CORS preflight from an allowed origin is answered by the gateway', async () => {
  ups.clear()
  const r = await request(`${base}/cors`, { method: 'OPTIONS', headers: { ...H, origin: 'https://shop.example', 'access-control-request-method': 'POST' } })
  assert.equal(r.status, 200)
  assert.equal(headerValue(r, 'access-control-allow-origin'), 'https://shop.example')
  assert.equal(headerValue(r, 'access-control-allow-methods'), 'GET,POST')
  assert.equal(headerValue(r, 'access-control-allow-headers'), 'x-custom')
  assert.equal(headerValue(r, 'access-control-max-age'), '86400')
  assert.equal(headerValue(r, 'access-control-allow-credentials'), 'true')
  assert.equal(ups.total(), 0)
})

test('CORS actual request from an allowed origin gets the allow-origin header; others are forwarded untouched', async () => {
  const ok = await request(`${base}/cors`, { headers: { ...H, origin: 'https://shop.example' } })
  assert.equal(ok.status, 200)
  assert.equal(headerValue(ok, 'access-control-allow-origin'), 'https://shop.example')
  const other = await request(`${base}/cors`, { headers: { ...H, origin: 'https://evil.example' } })
  assert.equal(other.status, 200)
  assert.equal(headerValue(other, 'access-control-allow-origin'), undefined)
})

test('mirror sends a copy to the mirror destination and the client gets the primary answer', async () => {
  ups.clear()
  const r = await request(`${base}/mirror`, { method: 'POST', headers: { ...H, 'content-type': 'text/plain' }, body: 'hello' })
  assert.equal(r.status, 200)
  assert.equal(headerValue(r, 'x-upstream'), 'a')
  const deadline = Date.now() + 2000
  while (ups.get('b').count === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  assert.equal(ups.get('b').count, 1)
  assert.equal(ups.get('b').lastRequest?.body, 'hello')
  assert.equal(ups.get('b').lastRequest?.headers.host, 'r.test', 'the copy keeps the original Host (Istio 1.28+)')
})

test('a request body is streamed to the upstream', async () => {
  ups.clear()
  const body = 'x'.repeat(3 * 1024 * 1024)
  const r = await request(`${base}/noretry`, { method: 'PUT', headers: { ...H, 'content-type': 'application/octet-stream' }, body })
  assert.equal(r.status, 200)
  assert.equal(r.json<{ body: number }>().body, body.length)
})

void getFreePort
