// DestinationRule upstream policy and the sticky split, live: circuit-breaker
// overflow, consistent hashing, sticky canary, and the metrics they leave.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePort } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { gatewayYaml } from '../helpers/fixtures.js'

const CONFIG = `${gatewayYaml()}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pool, namespace: test}
spec:
  hosts: [pool.test.svc.cluster.local, hash.test.svc.cluster.local, cookie.test.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: {{u0}}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: {{u1}}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: {{u2}}}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pool, namespace: test}
spec:
  host: pool
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
  subsets:
  - {name: one, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: hash, namespace: test}
spec:
  host: hash
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cookie, namespace: test}
spec:
  host: cookie.test.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpCookie: {name: affinity, path: /, ttl: 60s}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: canary
  namespace: test
  annotations:
    meshgate.io/sticky-split: "header:x-user"
spec:
  hosts: [canary.test]
  gateways: [gw]
  http:
  - route:
    - {destination: {host: hash, subset: v1}, weight: 50}
    - {destination: {host: hash, subset: v2}, weight: 50}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: other, namespace: test}
spec:
  hosts: [other.test]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /pool}}]
    route: [{destination: {host: pool, subset: one}}]
  - match: [{uri: {prefix: /hash}}]
    route: [{destination: {host: hash, subset: v1}}]
  - match: [{uri: {prefix: /cookie}}]
    route: [{destination: {host: cookie}}]
`

let ups: Upstreams
let gw: TestGateway
let base: string

before(async () => {
  ups = await startUpstreams(['u0', 'u1', 'u2'])
  const port = await getFreePort()
  gw = await startGateway(CONFIG, { vars: { port, u0: ups.get('u0').port, u1: ups.get('u1').port, u2: ups.get('u2').port } })
  base = `http://127.0.0.1:${port}`
})

after(async () => {
  await gw?.stop()
  await ups?.close()
})

test('connectionPool overflow: beyond 1 connection and 1 pending request the gateway answers 503 overflow at once', async () => {
  ups.clear()
  ups.get('u2').setDelay(400)
  const answers = await Promise.all(Array.from({ length: 4 }, () => request(`${base}/pool`, { headers: { host: 'other.test' } })))
  ups.get('u2').setDelay(0)
  const overflowed = answers.filter(a => a.status === 503)
  assert.ok(overflowed.length >= 1, `statuses ${answers.map(a => a.status).join(',')}`)
  for (const a of overflowed) {
    assert.equal(headerValue(a, 'x-envoy-overloaded'), 'true')
    assert.match(a.body, /reset reason: overflow/)
  }
  assert.equal(answers.filter(a => a.status === 200).length, ups.get('u2').count)
})

test('consistentHash on a header keeps one user on one endpoint', async () => {
  ups.clear()
  const byUser = new Map<string, Set<string>>()
  for (let round = 0; round < 5; round++) {
    for (let u = 0; u < 12; u++) {
      const r = await request(`${base}/hash`, { headers: { host: 'other.test', 'x-user': `user-${u}` } })
      const set = byUser.get(`user-${u}`) ?? new Set()
      set.add(headerValue(r, 'x-upstream')!)
      byUser.set(`user-${u}`, set)
    }
  }
  for (const [user, seen] of byUser) assert.equal(seen.size, 1, `${user} saw ${[...seen].join(',')}`)
  const used = new Set([...byUser.values()].map(s => [...s][0]))
  assert.ok(used.has('u0') && used.has('u1'), 'both v1 endpoints get users')
})

test('meshgate.io/sticky-split keeps each user on one side of a 50/50 split while the split holds across users', async () => {
  ups.clear()
  const side = new Map<string, string>()
  for (let u = 0; u < 200; u++) {
    const r = await request(`${base}/`, { headers: { host: 'canary.test', 'x-user': `u${u}` } })
    side.set(`u${u}`, headerValue(r, 'x-upstream') === 'u2' ? 'v2' : 'v1')
  }
  for (let u = 0; u < 200; u += 7) {
    const r = await request(`${base}/`, { headers: { host: 'canary.test', 'x-user': `u${u}` } })
    assert.equal(headerValue(r, 'x-upstream') === 'u2' ? 'v2' : 'v1', side.get(`u${u}`), `u${u} switched sides`)
  }
  const v2 = [...side.values()].filter(s => s === 'v2').length
  // mean 100, sd ≈ 7.1: ±4 sd
  assert.ok(v2 > 71 && v2 < 129, `v2 got ${v2} of 200 users`)
})

test('metrics count requests by VirtualService, route, destination, subset and code', async () => {
  await request(`${base}/hash`, { headers: { host: 'other.test', 'x-user': 'metrics' } })
  const text = await gw.metrics.registry.metrics()
  assert.match(text, /meshgate_requests_total\{listener="\d+",virtual_service="test\/other",route="http\[1\]",destination="hash\.test\.svc\.cluster\.local",subset="v1",code="200",flags=""\} \d+/)
  assert.match(text, /meshgate_upstream_attempts_total\{cluster="outbound\|80\|v1\|hash\.test\.svc\.cluster\.local",result="2xx"\} \d+/)
  assert.match(text, /meshgate_request_duration_seconds_bucket\{le="[\d.]+",virtual_service="test\/other",route="http\[1\]"\}/)
})

test('consistentHash httpCookie with a ttl mints the cookie, and the cookie keeps the client on one endpoint', async () => {
  const first = await request(`${base}/cookie`, { headers: { host: 'other.test' } })
  assert.equal(first.status, 200)
  const setCookie = headerValue(first, 'set-cookie')
  assert.match(setCookie ?? '', /^affinity=[0-9a-f]+; Max-Age=60; Path=\/; HttpOnly$/)
  const cookie = setCookie!.split(';')[0]!
  const seen = new Set<string>()
  for (let i = 0; i < 10; i++) {
    const r = await request(`${base}/cookie`, { headers: { host: 'other.test', cookie } })
    assert.equal(headerValue(r, 'set-cookie'), undefined, 'no new cookie once the client has one')
    seen.add(headerValue(r, 'x-upstream')!)
  }
  assert.equal(seen.size, 1)
  assert.ok(seen.has(headerValue(first, 'x-upstream')!), 'the minted cookie maps to the endpoint that answered first')
})
