// One match table and one action table, each row sent through a live gateway
// to real upstreams; every row asserts the status and which upstream answered.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePort } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appConfig } from '../helpers/fixtures.js'

const CONFIG = `${appConfig(['a', 'b', 'c'])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: table, namespace: test}
spec:
  hosts: [match.test, alt.test]
  gateways: [gw]
  http:
  - name: uri-exact
    match: [{uri: {exact: /exact}}]
    route: [{destination: {host: app, subset: a}}]
  - name: uri-prefix
    match: [{uri: {prefix: /prefix}}]
    route: [{destination: {host: app, subset: b}}]
  - name: uri-regex
    match: [{uri: {regex: "/re/[0-9]+"}}]
    route: [{destination: {host: app, subset: c}}]
  - name: ignore-case
    match: [{uri: {prefix: /CaSe}, ignoreUriCase: true}]
    route: [{destination: {host: app, subset: a}}]
  - name: method-and-uri
    match: [{method: {exact: POST}, uri: {prefix: /m}}]
    route: [{destination: {host: app, subset: b}}]
  - name: header-exact
    match: [{headers: {x-h: {exact: "One"}}}]
    route: [{destination: {host: app, subset: a}}]
  - name: header-prefix
    match: [{headers: {x-p: {prefix: pre}}}]
    route: [{destination: {host: app, subset: b}}]
  - name: header-regex
    match: [{headers: {x-r: {regex: "v[0-9]"}}}]
    route: [{destination: {host: app, subset: c}}]
  - name: header-present
    match: [{headers: {x-present: {}}}]
    route: [{destination: {host: app, subset: a}}]
  - name: without-header
    match: [{uri: {prefix: /wo}, withoutHeaders: {x-w: {exact: "no"}}}]
    route: [{destination: {host: app, subset: b}}]
  - name: query-exact
    match: [{queryParams: {q: {exact: "yes"}}}]
    route: [{destination: {host: app, subset: c}}]
  - name: query-present
    match: [{queryParams: {qp: {}}}]
    route: [{destination: {host: app, subset: a}}]
  - name: authority
    match: [{authority: {prefix: alt.test}}]
    route: [{destination: {host: app, subset: c}}]
  - name: or-blocks
    match: [{uri: {exact: /or1}}, {uri: {exact: /or2}}]
    route: [{destination: {host: app, subset: b}}]
  - name: scheme
    match: [{scheme: {exact: https}, uri: {prefix: /scheme}}]
    route: [{destination: {host: app, subset: a}}]
  - name: port
    match: [{port: {{port}}, uri: {prefix: /port}}]
    route: [{destination: {host: app, subset: c}}]
  - name: other-port
    match: [{port: 1, uri: {prefix: /otherport}}]
    route: [{destination: {host: app, subset: a}}]
  - name: first
    match: [{uri: {prefix: /first}}]
    route: [{destination: {host: app, subset: a}}]
  - name: first-shadowed
    match: [{uri: {prefix: /first/x}}]
    route: [{destination: {host: app, subset: b}}]
  - name: redirect
    match: [{uri: {prefix: /redir}}]
    redirect: {uri: /moved, authority: new.test}
  - name: redirect-https
    match: [{uri: {exact: /secure}}]
    redirect: {scheme: https, redirectCode: 308}
  - name: redirect-prefix
    match: [{uri: {prefix: /old/}}]
    redirect: {prefixRewrite: /new/, redirectCode: 302}
  - name: direct
    match: [{uri: {exact: /direct}}]
    directResponse: {status: 418, body: {string: "teapot"}}
    headers: {response: {set: {content-type: text/x-tea}}}
  - name: rewrite-prefix
    match: [{uri: {prefix: /rw/}}]
    rewrite: {uri: /new/}
    route: [{destination: {host: app, subset: a}}]
  - name: rewrite-regex
    match: [{uri: {prefix: /rx/}}]
    rewrite: {uriRegexRewrite: {match: "^/rx/(.*)$", rewrite: "/v2/\\\\1"}}
    route: [{destination: {host: app, subset: b}}]
  - name: rewrite-authority
    match: [{uri: {prefix: /host}}]
    rewrite: {authority: rewritten.test}
    route: [{destination: {host: app, subset: c}}]
  - name: header-ops
    match: [{uri: {prefix: /hdr}}]
    headers:
      request: {set: {x-set: "set-value"}, add: {x-add: added}, remove: [x-drop]}
      response: {set: {x-resp: "r"}, remove: [x-upstream]}
    route: [{destination: {host: app, subset: a}, headers: {request: {set: {x-dest: d}}}}]
  - name: abort
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: app, subset: a}}]
  - name: abort-without-percentage
    match: [{uri: {prefix: /noabort}}]
    fault: {abort: {httpStatus: 500}}
    route: [{destination: {host: app, subset: b}}]
  - name: dangling-subset
    match: [{uri: {prefix: /dangling}}]
    route: [{destination: {host: app, subset: nope}}]
  - name: unknown-host
    match: [{uri: {prefix: /unknown}}]
    route: [{destination: {host: nowhere.example.com}}]
  - name: catch-all
    route: [{destination: {host: app, subset: c}}]
`

interface Row {
  name: string
  path: string
  method?: string
  host?: string
  headers?: Record<string, string>
  status: number
  upstream: string | null
  check?: (r: Awaited<ReturnType<typeof request>>, ups: Upstreams) => void
}

const MATCH_ROWS: Row[] = [
  { name: 'uri exact matches the whole path', path: '/exact', status: 200, upstream: 'a' },
  { name: 'uri exact does not match a longer path', path: '/exact/more', status: 200, upstream: 'c' },
  { name: 'uri exact ignores the query string', path: '/exact?x=1', status: 200, upstream: 'a' },
  { name: 'uri prefix is a plain string prefix', path: '/prefixes', status: 200, upstream: 'b' },
  { name: 'uri regex is a full match', path: '/re/123', status: 200, upstream: 'c' },
  { name: 'uri regex does not match a partial path', path: '/re/123/x', status: 200, upstream: 'c', check: (_r, ups) => assert.equal(ups.get('c').lastRequest?.url, '/re/123/x') },
  { name: 'ignoreUriCase makes a prefix case-insensitive', path: '/case/lower', status: 200, upstream: 'a' },
  { name: 'method and uri are ANDed: both match', path: '/m/1', method: 'POST', status: 200, upstream: 'b' },
  { name: 'method and uri are ANDed: wrong method falls through', path: '/m/1', method: 'GET', status: 200, upstream: 'c' },
  { name: 'header exact', path: '/h', headers: { 'x-h': 'One' }, status: 200, upstream: 'a' },
  { name: 'header exact is case-sensitive in its value', path: '/h', headers: { 'x-h': 'one' }, status: 200, upstream: 'c' },
  { name: 'header prefix', path: '/h', headers: { 'x-p': 'prefix' }, status: 200, upstream: 'b' },
  { name: 'header regex is a full match', path: '/h', headers: { 'x-r': 'v7' }, status: 200, upstream: 'c' },
  { name: 'header regex rejects a partial value', path: '/h', headers: { 'x-r': 'v77', 'x-present': '' }, status: 200, upstream: 'a' },
  { name: 'header {} means present', path: '/h', headers: { 'x-present': 'anything' }, status: 200, upstream: 'a' },
  { name: 'withoutHeaders matches when the header is absent', path: '/wo', status: 200, upstream: 'b' },
  { name: 'withoutHeaders matches when the header differs', path: '/wo', headers: { 'x-w': 'yes' }, status: 200, upstream: 'b' },
  { name: 'withoutHeaders refuses the excluded value', path: '/wo', headers: { 'x-w': 'no' }, status: 200, upstream: 'c' },
  { name: 'queryParams exact', path: '/q?q=yes', status: 200, upstream: 'c', check: (_r, ups) => assert.equal(ups.get('c').lastRequest?.url, '/q?q=yes') },
  { name: 'queryParams {} means present', path: '/q?qp', status: 200, upstream: 'a' },
  { name: 'authority prefix', path: '/auth', host: 'alt.test', status: 200, upstream: 'c' },
  { name: 'match blocks are ORed: first block', path: '/or1', status: 200, upstream: 'b' },
  { name: 'match blocks are ORed: second block', path: '/or2', status: 200, upstream: 'b' },
  { name: 'scheme https does not match plain text', path: '/scheme', status: 200, upstream: 'c' },
  { name: 'port matches the listener port', path: '/port', status: 200, upstream: 'c' },
  { name: 'a block for another port never matches', path: '/otherport', status: 200, upstream: 'c' },
  { name: 'first match wins over a later more specific rule', path: '/first/x', status: 200, upstream: 'a' },
  { name: 'unknown virtual host is 404', path: '/exact', host: 'nobody.test', status: 200, upstream: 'a' }
]

const ACTION_ROWS: Row[] = [
  {
    name: 'redirect replaces path and authority, keeps the query, 301 by default',
    path: '/redir/x?k=v',
    status: 301,
    upstream: null,
    check: (r) => assert.equal(headerValue(r, 'location'), 'http://new.test/moved?k=v')
  },
  {
    name: 'redirect to https drops the default port and uses the given code',
    path: '/secure',
    host: 'match.test:80',
    status: 308,
    upstream: null,
    check: (r) => assert.equal(headerValue(r, 'location'), 'https://match.test/secure')
  },
  {
    name: 'redirect prefixRewrite swaps the matched prefix and keeps the rest and the query',
    path: '/old/a/b?c=d',
    status: 302,
    upstream: null,
    check: (r) => assert.equal(headerValue(r, 'location'), 'http://match.test/new/a/b?c=d')
  },
  {
    name: 'directResponse answers with status, body and route response headers',
    path: '/direct',
    status: 418,
    upstream: null,
    check: (r) => { assert.equal(r.body, 'teapot'); assert.equal(headerValue(r, 'content-type'), 'text/x-tea') }
  },
  {
    name: 'rewrite.uri replaces the matched prefix',
    path: '/rw/item?x=1',
    status: 200,
    upstream: 'a',
    check: (_r, ups) => assert.equal(ups.get('a').lastRequest?.url, '/new/item?x=1')
  },
  {
    name: 'uriRegexRewrite substitutes capture groups',
    path: '/rx/deep/path',
    status: 200,
    upstream: 'b',
    check: (_r, ups) => assert.equal(ups.get('b').lastRequest?.url, '/v2/deep/path')
  },
  {
    name: 'rewrite.authority changes the Host the upstream sees',
    path: '/host',
    status: 200,
    upstream: 'c',
    check: (_r, ups) => assert.equal(ups.get('c').lastRequest?.headers.host, 'rewritten.test')
  },
  {
    name: 'header operations apply at rule and destination level',
    path: '/hdr',
    headers: { 'x-drop': 'gone', 'x-add': 'client' },
    status: 200,
    upstream: 'a',
    check: (r, ups) => {
      const h = ups.get('a').lastRequest!.headers
      assert.equal(h['x-set'], 'set-value')
      assert.equal(h['x-drop'], undefined)
      assert.equal(h['x-add'], 'client, added')
      assert.equal(h['x-dest'], 'd')
      assert.equal(headerValue(r, 'x-resp'), 'r')
      assert.equal(headerValue(r, 'x-upstream'), undefined)
    }
  },
  {
    name: 'fault abort at 100 % answers without calling the upstream',
    path: '/abort',
    status: 503,
    upstream: null,
    check: (r) => assert.equal(r.body, 'fault filter abort')
  },
  { name: 'fault abort without percentage never fires', path: '/noabort', status: 200, upstream: 'b' },
  {
    name: 'a subset no DestinationRule defines answers 503 with an empty body',
    path: '/dangling',
    status: 503,
    upstream: null,
    check: (r) => assert.equal(r.body, '')
  },
  { name: 'an unknown destination host answers 503', path: '/unknown', status: 503, upstream: null },
  {
    name: 'proxied answers carry Envoy headers',
    path: '/anything',
    status: 200,
    upstream: 'c',
    check: (r, ups) => {
      assert.equal(headerValue(r, 'server'), 'istio-envoy')
      assert.match(headerValue(r, 'x-envoy-upstream-service-time') ?? '', /^\d+$/)
      const h = ups.get('c').lastRequest!.headers
      assert.equal(h['x-forwarded-proto'], 'http')
      assert.equal(h['x-forwarded-for'], '127.0.0.1')
      assert.match(String(h['x-request-id']), /^[0-9a-f-]{36}$/)
      assert.equal(h['x-envoy-attempt-count'], '1')
    }
  },
  {
    name: 'client-sent x-envoy headers and x-request-id are not trusted',
    path: '/anything',
    headers: { 'x-envoy-retry-on': '5xx', 'x-request-id': 'client-chosen', 'x-forwarded-for': '10.9.9.9' },
    status: 200,
    upstream: 'c',
    check: (_r, ups) => {
      const h = ups.get('c').lastRequest!.headers
      assert.equal(h['x-envoy-retry-on'], undefined)
      assert.notEqual(h['x-request-id'], 'client-chosen')
      assert.equal(h['x-forwarded-for'], '10.9.9.9, 127.0.0.1')
    }
  }
]

let ups: Upstreams
let gw: TestGateway
let port: number

before(async () => {
  ups = await startUpstreams(['a', 'b', 'c'])
  port = await getFreePort()
  gw = await startGateway(CONFIG, { vars: { port, a: ups.get('a').port, b: ups.get('b').port, c: ups.get('c').port } })
})

after(async () => {
  await gw?.stop()
  await ups?.close()
})

async function runRow (row: Row): Promise<void> {
  ups.clear()
  const host = row.host ?? 'match.test'
  const r = await request(`http://127.0.0.1:${port}${row.path}`, { method: row.method ?? 'GET', headers: { host, ...row.headers } })
  const expectedStatus = row.host === 'nobody.test' ? 404 : row.status
  assert.equal(r.status, expectedStatus, `${row.name}: status (body ${r.body})`)
  const answered = Object.entries(ups.counts()).filter(([, n]) => n > 0).map(([k]) => k)
  const expectedUpstream = row.host === 'nobody.test' ? null : row.upstream
  assert.deepEqual(answered, expectedUpstream === null ? [] : [expectedUpstream], `${row.name}: upstream`)
  row.check?.(r, ups)
}

for (const row of MATCH_ROWS) test(`match: ${row.name}`, async () => { await runRow(row) })
for (const row of ACTION_ROWS) test(`action: ${row.name}`, async () => { await runRow(row) })
