// The JWT authenticator without a network: inline key sets, its caches, and
// the per-connection memo for repeated tokens.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { JwtAuthenticator, MSG, claimAt } from '../../src/plugins/authn-jwt/index.js'
import { compileAuthn } from '../../src/gateway/compile/authn.js'
import { parseText, type SourceResource } from '../../src/gateway/sources/yaml-documents.js'
import { RequestFacts } from '../../src/gateway/dataplane/request-facts.js'
import { jwksOf, makeHmacKey, makeKey, signToken } from '../helpers/jwt.js'

async function setup (): Promise<{ cfg: ReturnType<typeof compileAuthn>, sign: (sub: string, o?: { expIn?: number }) => Promise<string>, forge: () => Promise<string> }> {
  const key = await makeKey('k1')
  const other = await makeKey('k1')
  const hmac = makeHmacKey('h1', 'another shared secret, long enough')
  const resources: SourceResource[] = []
  parseText('authn.yaml', `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  jwtRules:
  - issuer: https://issuer.test
    jwks: '${jwksOf(key, hmac)}'
    outputClaimToHeaders: [{header: x-sub, claim: sub}, {header: x-tier, claim: plan.tier}]
`, resources, [])
  return {
    cfg: compileAuthn(resources, []),
    sign: (sub, o = {}) => signToken(key, { iss: 'https://issuer.test', sub, expIn: o.expIn, claims: { plan: { tier: 'gold' } } }),
    forge: () => signToken(other, { iss: 'https://issuer.test', sub: 'mallory' })
  }
}

function facts (token: string | null): RequestFacts {
  return new RequestFacts('GET', 'http', 'api.example', '/', token === null ? {} : { authorization: `Bearer ${token}` }, 8080, '203.0.113.9', '')
}

test('a valid token sets principal, claims and output headers; the token header is not forwarded', async () => {
  const { cfg, sign } = await setup()
  const jwt = new JwtAuthenticator(null)
  const f = facts(await sign('alice'))
  assert.equal(await jwt.authenticate(f, cfg), null)
  assert.equal(f.requestPrincipal, 'https://issuer.test/alice')
  assert.equal(f.headers['x-sub'], 'alice')
  assert.equal(f.headers['x-tier'], 'gold')
  assert.equal(f.headers.authorization, undefined)
  jwt.close()
})

test('the per-connection memo serves only the same token; another token on that connection is checked', async () => {
  const { cfg, sign, forge } = await setup()
  const jwt = new JwtAuthenticator(null)
  const conn = {}
  const good = await sign('alice')
  assert.equal(await jwt.authenticate(facts(good), cfg, conn), null)
  const again = facts(good)
  assert.equal(jwt.authenticate(again, cfg, conn), null, 'answered at once, without a promise')
  assert.equal(again.requestPrincipal, 'https://issuer.test/alice')
  assert.equal(await jwt.authenticate(facts(await forge()), cfg, conn), MSG.signature)
  const bob = facts(await sign('bob'))
  assert.equal(await jwt.authenticate(bob, cfg, conn), null)
  assert.equal(bob.requestPrincipal, 'https://issuer.test/bob')
  // No token on a connection that had one: anonymous, not the previous user.
  const none = facts(null)
  assert.equal(jwt.authenticate(none, cfg, conn), null)
  assert.equal(none.requestPrincipal, '')
  jwt.close()
})

test('an expired token is refused even after it was accepted and remembered', async () => {
  const { cfg, sign } = await setup()
  const jwt = new JwtAuthenticator(null)
  const conn = {}
  const soon = await sign('carol', { expIn: -59 })
  assert.equal(await jwt.authenticate(facts(soon), cfg, conn), null, 'within the 60 s skew')
  const late = await sign('carol', { expIn: -61 })
  assert.equal(await jwt.authenticate(facts(late), cfg, conn), MSG.expired)
  jwt.close()
})

test('claimAt reads dotted names and nested objects', () => {
  assert.equal(claimAt({ 'a.b': 1, a: { b: 2 } }, 'a.b'), 1)
  assert.equal(claimAt({ a: { b: { c: 'x' } } }, 'a.b.c'), 'x')
  assert.equal(claimAt({ a: 1 }, 'a.b'), undefined)
})
