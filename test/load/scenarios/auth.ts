// (i) North-south AAA: a RequestAuthentication (RS256, inline key set) and two
// AuthorizationPolicies (a DENY on a path, an ALLOW that requires a request
// principal with a claim) on the request path, with a valid bearer token on
// every request, next to meshgate's plain-proxy figure in the same rounds. The
// token repeats, as a client's token does, so this is the cost with a warm
// verification cache plus authorization per request.
import { createSign, generateKeyPairSync } from 'node:crypto'
import type { Scenario } from '../scenario.js'
import { plainConfig } from './plain.js'

const ISSUER = 'https://issuer.bench.test'
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' }

function b64url (o: object): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url')
}

/** An RS256 token valid for a day, signed with node:crypto (no async key import at module load). */
function token (): string {
  const now = Math.floor(Date.now() / 1000)
  const input = `${b64url({ alg: 'RS256', kid: 'bench', typ: 'JWT' })}.${b64url({ iss: ISSUER, sub: 'bench-user', aud: 'bench', groups: ['buyers'], iat: now, exp: now + 86_400 })}`
  const sig = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')
  return `${input}.${sig}`
}

export function authConfig (upstreamPort: number, listenPort: number): string {
  return `${plainConfig(upstreamPort, listenPort)}---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  jwtRules:
  - issuer: ${ISSUER}
    audiences: [bench]
    jwks: '${JSON.stringify({ keys: [jwk] })}'
    outputClaimToHeaders: [{header: x-user, claim: sub}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: istio-system}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: buyers, namespace: istio-system}
spec:
  rules:
  - from: [{source: {requestPrincipals: ["${ISSUER}/*"]}}]
    to: [{operation: {methods: [GET], paths: ["/api/*"]}}]
    when: [{key: "request.auth.claims[groups]", values: [buyers]}]
`
}

export const auth: Scenario = {
  name: 'auth',
  description: 'JWT (RS256) + AuthorizationPolicy DENY and ALLOW on every request, vs the plain config',
  meshgateConfig: authConfig,
  request: { method: 'GET', path: '/api/items/42', headers: { accept: 'application/json', authorization: `Bearer ${token()}` } },
  expectRoute: { virtualService: 'bench/plain', route: 'all' },
  comparePlain: true,
  goals: [
    { label: 'JWT + authorization cost ≤ 15 % of the plain proxy\'s req/s', metric: 'rps', of: 'meshgate', to: 'meshgate-plain', min: 0.85 }
  ]
}
