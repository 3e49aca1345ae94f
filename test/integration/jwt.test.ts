// RequestAuthentication through a live gateway: keys served by a real JWKS
// server on 127.0.0.1, tokens signed with real keys, real upstreams.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePort } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appConfig } from '../helpers/fixtures.js'
import { jwksOf, makeHmacKey, makeKey, signToken, startJwksServer, unsignedToken, type JwksServer, type SigningKey } from '../helpers/jwt.js'

const ISS = 'https://issuer.test'
let ups: Upstreams
let gw: TestGateway
let port: number
let jwks: JwksServer
let k1: SigningKey
let k2: SigningKey
let ec: SigningKey
let stranger: SigningKey
const hmac = makeHmacKey('h1', 'a shared secret that is long enough for HS256')

function config (jwksUri: string): string {
  return `${appConfig(['v1', 'v2'])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: test}
spec:
  hosts: [api.example]
  gateways: [gw]
  http:
  - name: admins
    match: [{headers: {"@request.auth.claims.group": {exact: admins}}}]
    route: [{destination: {host: app, subset: v2}}]
  - name: everyone
    route: [{destination: {host: app, subset: v1}}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  jwtRules:
  - issuer: ${ISS}
    jwksUri: ${jwksUri}
    audiences: [shop]
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders:
    - {header: x-jwt-sub, claim: sub}
    - {header: x-jwt-tier, claim: plan.tier}
  - issuer: hmac-issuer
    jwks: '${jwksOf(hmac)}'
    fromHeaders: [{name: x-token}]
    forwardOriginalToken: true
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: private-needs-jwt, namespace: istio-system}
spec:
  action: DENY
  rules:
  - to: [{operation: {paths: ["/private/*"]}}]
    from: [{source: {notRequestPrincipals: ["*"]}}]
`
}

before(async () => {
  ;[k1, k2, ec, stranger] = await Promise.all([makeKey('k1'), makeKey('k2'), makeKey('e1', 'ES256'), makeKey('k1')])
  jwks = await startJwksServer(jwksOf(k1, ec))
  ups = await startUpstreams(['v1', 'v2'])
  port = await getFreePort()
  gw = await startGateway(config(jwks.url), { vars: { port, v1: ups.get('v1').port, v2: ups.get('v2').port }, jwks: { cooldownMs: 0, refreshMs: 60_000 } })
})

after(async () => {
  await gw?.stop()
  await ups?.close()
  await jwks?.close()
})

function get (path: string, headers: Record<string, string> = {}): ReturnType<typeof request> {
  return request(`http://127.0.0.1:${port}${path}`, { headers: { host: 'api.example', ...headers } })
}

const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` })

test('no token: the request passes anonymous, as in Istio', async () => {
  const res = await get('/public')
  assert.equal(res.status, 200)
  assert.equal(headerValue(res, 'x-upstream'), 'v1')
})

test('a valid token passes; claims and payload go upstream, the token does not', async () => {
  const token = await signToken(k1, { iss: ISS, sub: 'alice', aud: 'shop', claims: { plan: { tier: 'gold' } } })
  ups.clear()
  const res = await get('/public', { ...bearer(token), 'x-jwt-sub': 'mallory' })
  assert.equal(res.status, 200, res.body)
  const seen = ups.get('v1').requests.at(-1)!.headers
  assert.equal(seen['x-jwt-sub'], 'alice', 'the claim header is the token\'s, never the client\'s')
  assert.equal(seen['x-jwt-tier'], 'gold')
  assert.deepEqual(JSON.parse(Buffer.from(String(seen['x-jwt-payload']), 'base64url').toString()).sub, 'alice')
  assert.equal(seen.authorization, undefined, 'forwardOriginalToken: false removes the token')
  // Without a token, client-sent claim headers do not reach the upstream either.
  await get('/public', { 'x-jwt-sub': 'mallory' })
  assert.equal(ups.get('v1').requests.at(-1)!.headers['x-jwt-sub'], undefined)
})

test('invalid tokens are answered 401 with the jwt_verify text and a Bearer challenge', async () => {
  const cases: Array<[string, string, string]> = [
    ['expired beyond the 60 s skew', await signToken(k1, { iss: ISS, sub: 'a', aud: 'shop', expIn: -120 }), 'Jwt is expired'],
    ['not yet valid beyond the skew', await signToken(k1, { iss: ISS, sub: 'a', aud: 'shop', nbfIn: 600 }), 'Jwt not yet valid'],
    ['wrong audience', await signToken(k1, { iss: ISS, sub: 'a', aud: 'other' }), 'Audiences in Jwt are not allowed'],
    ['issuer no rule names', await signToken(k1, { iss: 'https://evil.test', sub: 'a', aud: 'shop' }), 'Jwt issuer is not configured'],
    ['signed by another key with the same kid', await signToken(stranger, { iss: ISS, sub: 'a', aud: 'shop' }), 'Jwt verification fails'],
    ['alg none', unsignedToken({ iss: ISS, sub: 'a', aud: 'shop' }), 'Jwt verification fails'],
    ['not a JWT', 'abc.def', 'Jwt is not in the form of Header.Payload.Signature'],
    ['an HMAC token for the RSA issuer (HMAC only where configured)', await signToken(hmac, { iss: ISS, sub: 'a', aud: 'shop' }), "Jwks doesn't have key to match kid or alg from Jwt"]
  ]
  for (const [what, token, message] of cases) {
    const res = await get('/public', bearer(token))
    assert.equal(res.status, 401, what)
    assert.equal(res.body, message, what)
    assert.equal(headerValue(res, 'www-authenticate'), 'Bearer realm="http://api.example/public", error="invalid_token"', what)
  }
  // Within the skew is fine.
  assert.equal((await get('/public', bearer(await signToken(k1, { iss: ISS, sub: 'a', aud: 'shop', expIn: -30 })))).status, 200)
})

test('a bad token is refused even where no route or policy would apply', async () => {
  const res = await request(`http://127.0.0.1:${port}/x`, { headers: { host: 'nowhere.example', ...bearer('abc.def.ghi') } })
  assert.equal(res.status, 401)
})

test('other algorithms and locations: ES256 from the JWKS, HMAC from an inline key in its own header, access_token', async () => {
  assert.equal((await get('/public', bearer(await signToken(ec, { iss: ISS, sub: 'e', aud: 'shop' })))).status, 200)
  ups.clear()
  const h = await signToken(hmac, { iss: 'hmac-issuer', sub: 'svc' })
  assert.equal((await get('/public', { 'x-token': h })).status, 200)
  assert.equal(ups.get('v1').requests.at(-1)!.headers['x-token'], h, 'forwardOriginalToken: true keeps it')
  // The HMAC rule reads only x-token: the same token as a Bearer is for the other rule, which does not know its issuer.
  assert.equal((await get('/public', bearer(h))).status, 401)
  const q = await signToken(k1, { iss: ISS, sub: 'q', aud: 'shop' })
  assert.equal((await get(`/public?access_token=${q}`)).status, 200)
})

test('claims route (@request.auth.claims) and requestPrincipals gate (AuthorizationPolicy)', async () => {
  const admin = await signToken(k1, { iss: ISS, sub: 'root', aud: 'shop', claims: { group: 'admins' } })
  const user = await signToken(k1, { iss: ISS, sub: 'bob', aud: ['other', 'shop'], claims: { group: 'users' } })
  assert.equal(headerValue(await get('/x', bearer(admin)), 'x-upstream'), 'v2')
  assert.equal(headerValue(await get('/x', bearer(user)), 'x-upstream'), 'v1')
  const denied = await get('/private/data')
  assert.equal(denied.status, 403)
  assert.equal(denied.body, 'RBAC: access denied')
  assert.equal((await get('/private/data', bearer(user))).status, 200)
})

test('a symmetric (oct) key published at a jwksUri is never used: a public key set cannot hold a shared secret', async () => {
  const published = makeHmacKey('hs-remote', 'a secret anyone can read at the jwks uri, long enough')
  const saved = jwks.body
  jwks.body = jwksOf(k1, ec, published)
  try {
    const before = jwks.fetches
    const res = await get('/public', bearer(await signToken(published, { iss: ISS, sub: 'forger', aud: 'shop' })))
    assert.ok(jwks.fetches > before, 'the unknown kid made the gateway fetch the set with the oct key in it')
    assert.equal(res.status, 401)
    // The asymmetric keys of the same set still work.
    assert.equal((await get('/public', bearer(await signToken(k1, { iss: ISS, sub: 'ok', aud: 'shop' })))).status, 200)
  } finally {
    jwks.body = saved
  }
})

test('key rotation is picked up without a restart; with the JWKS server down, cached keys keep working', async () => {
  const before = jwks.fetches
  const rotated = await signToken(k2, { iss: ISS, sub: 'r', aud: 'shop' })
  // Not published yet: unknown kid.
  assert.equal((await get('/public', bearer(rotated))).status, 401)
  jwks.body = jwksOf(k1, k2, ec)
  const res = await get('/public', bearer(await signToken(k2, { iss: ISS, sub: 'r2', aud: 'shop' })))
  assert.equal(res.status, 200, res.body)
  assert.ok(jwks.fetches > before, 'the unknown kid made the gateway refetch the key set')
  await jwks.close()
  for (const key of [k1, k2]) {
    const t = await signToken(key, { iss: ISS, sub: `down-${key.kid}`, aud: 'shop' })
    assert.equal((await get('/public', bearer(t))).status, 200, `kid ${key.kid} with the JWKS server down`)
  }
  // A token for a kid nobody published still fails (and does not hang).
  const other = await makeKey('k9')
  assert.equal((await get('/public', bearer(await signToken(other, { iss: ISS, sub: 'x', aud: 'shop' })))).status, 401)
  // That refetch failed: the keys fetched before it are still there.
  assert.equal((await get('/public', bearer(await signToken(k2, { iss: ISS, sub: 'after-failure', aud: 'shop' })))).status, 200)
})

test('a token whose key is not published yet is retried once the refetch cooldown is over, not a minute later', async () => {
  const server = await startJwksServer(jwksOf(k1))
  const port2 = await getFreePort()
  const g = await startGateway(config(server.url), { vars: { port: port2, v1: ups.get('v1').port, v2: ups.get('v2').port }, jwks: { cooldownMs: 500, refreshMs: 60_000 } })
  try {
    const early = await makeKey('k-early')
    const token = await signToken(early, { iss: ISS, sub: 'early', aud: 'shop' })
    const ask = async (): Promise<number> => (await request(`http://127.0.0.1:${port2}/public`, { headers: { host: 'api.example', ...bearer(token) } })).status
    // The set was fetched at start, within the cooldown: no refetch, refused.
    assert.equal(await ask(), 401)
    server.body = jwksOf(k1, early)
    await new Promise(resolve => setTimeout(resolve, 700))
    assert.equal(await ask(), 200, 'the same token is checked again after the cooldown and its key fetched')
  } finally {
    await g.stop()
    await server.close()
  }
})
