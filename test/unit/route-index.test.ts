// Property: for any route list and request, the indexed selection picks the
// same route as Envoy's first-match linear scan.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { HTTPMatchRequest } from '../../src/gateway/config-types.js'
import type { Route, VirtualHost } from '../../src/gateway/snapshot.js'
import { buildMatch, matchRequest } from '../../src/gateway/compile/route-matcher.js'
import { buildRouteIndex, INDEX_THRESHOLD } from '../../src/gateway/compile/route-index.js'
import { literalHead } from '../../src/gateway/compile/string-matcher.js'
import { buildRouteTable } from '../../src/gateway/compile/host-index.js'
import { selectRoute, newSelection } from '../../src/gateway/dataplane/route-request.js'
import { RequestFacts } from '../../src/gateway/dataplane/request-facts.js'
import type { Snapshot, Listener } from '../../src/gateway/snapshot.js'
import { DEFAULT_EDGE_FACTS } from '../../src/gateway/compile/edge-facts.js'
import { NO_AUTHN } from '../../src/gateway/compile/authn.js'
import { compileAuthz } from '../../src/gateway/compile/authz.js'
import { NO_API_KEYS } from '../../src/gateway/compile/api-keys.js'
import { NO_RATE_LIMITS } from '../../src/gateway/compile/rate-limits.js'
import { NO_CACHE } from '../../src/gateway/compile/cache.js'

const segment = fc.constantFrom('a', 'b', 'A', 'api', 'API', 'v1', 'x', '')
const path = fc.array(segment, { minLength: 0, maxLength: 4 }).map(s => `/${s.join('/')}`)

const matchBlock: fc.Arbitrary<HTTPMatchRequest | null> = fc.oneof(
  fc.constant(null),
  fc.record({ uri: fc.record({ exact: path }), ignoreUriCase: fc.boolean() }),
  fc.record({ uri: fc.record({ prefix: path }), ignoreUriCase: fc.boolean() }),
  fc.record({ uri: fc.record({ prefix: path }), headers: fc.constant({ 'x-h': { exact: '1' } }) }),
  fc.record({ uri: fc.record({ regex: fc.constantFrom('/a.*', '/[A-Z]+', '.*', '/api/v[0-9]*', '/ab?', '/a|/b', '(?i)/A.*', '/a/(b|x)') }) }),
  fc.record({ headers: fc.constant({ 'x-h': { exact: '1' } }) })
)

function routeOf (block: HTTPMatchRequest | null, i: number): Route {
  return {
    name: `r${i}`,
    rule: null as unknown as Route['rule'],
    matchIndex: 0,
    match: block === null ? null : buildMatch(block),
    catchAll: false,
    vsLabel: 'test/vs',
    routeLabel: `r${i}`
  }
}

function linear (routes: readonly Route[], f: RequestFacts): Route | null {
  for (const r of routes) if (r.match === null || matchRequest(r.match, f)) return r
  return null
}

function snapshotWith (routes: readonly Route[]): Snapshot {
  const vhost: VirtualHost = { name: 'h:80', domains: ['h'], routes, requireTls: false, index: buildRouteIndex(routes) }
  const listener = { port: 80, listenPort: 80, bind: '', tls: false, plain: buildRouteTable('http.80', [vhost]), sniExact: new Map(), sniSuffixes: [], sniStar: null, tlsServers: [], requestCert: false, rejectUnauthorized: false, fingerprint: '', gatewayNames: [], h2c: false } satisfies Listener
  return { version: 'test', listeners: new Map([[80, listener]]), clusters: new Map(), resources: [], edgeFacts: DEFAULT_EDGE_FACTS, authn: NO_AUTHN, authz: compileAuthz([], []), apiKeys: NO_API_KEYS, rateLimits: NO_RATE_LIMITS, cache: NO_CACHE, issues: [] }
}

test('indexed route selection equals the linear first-match scan', () => {
  fc.assert(fc.property(
    fc.array(matchBlock, { minLength: INDEX_THRESHOLD, maxLength: 60 }),
    fc.array(fc.tuple(path, fc.boolean()), { minLength: 1, maxLength: 20 }),
    (blocks, requests) => {
      const routes = blocks.map(routeOf)
      const snap = snapshotWith(routes)
      assert.ok(snap.listeners.get(80)!.plain!.exact.get('h')!.index !== null, 'the index is in use')
      const sel = newSelection()
      for (const [p, withHeader] of requests) {
        const f = new RequestFacts('GET', 'http', 'h', p, withHeader ? { 'x-h': '1' } : {}, 80, '127.0.0.1', '')
        const want = linear(routes, f)
        const got = selectRoute(snap, f, sel).route
        assert.equal(got?.name ?? null, want?.name ?? null, `path ${p} header ${withHeader}`)
      }
    }
  ), { numRuns: 400, seed: 4242 })
})

test('a virtual host below the threshold keeps the plain scan', () => {
  assert.equal(buildRouteIndex([routeOf(null, 0)]), null)
})

test('literalHead keeps only text every full match must start with', () => {
  assert.equal(literalHead('/api/v[0-9]+'), '/api/v')
  assert.equal(literalHead('/ab?'), '/a')
  assert.equal(literalHead('/ab*c'), '/a')
  assert.equal(literalHead('/ab{2}'), '/a')
  assert.equal(literalHead('/a+'), '/a')
  assert.equal(literalHead('/a|/b'), '')
  assert.equal(literalHead('(?i)/a'), '')
  assert.equal(literalHead('.*'), '')
  assert.equal(literalHead('/a\\.b'), '/a')
})
