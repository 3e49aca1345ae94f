// The AuthorizationPolicy decision table (test/helpers/authz-cases.ts) replayed
// against a live gateway: each case's policies are applied by a reload, then the
// request is sent for real. JWT facts travel as real tokens validated by a
// RequestAuthentication; the client address as x-forwarded-for from a trusted
// proxy. Cases about the TCP peer, client certificates, SNI, listener ports or
// API keys need a connection this harness does not make; the offline run
// (test/unit/authz.test.ts) covers them, and test/integration/jwt.test.ts and
// tls tests the live paths for those facts.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePort } from '../helpers/ports.js'
import { request } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appConfig } from '../helpers/fixtures.js'
import { AUTHZ_CASES, AUTHZ_DEFAULTS, type AuthzCase } from '../helpers/authz-cases.js'
import { jwksOf, makeKey, signToken, type SigningKey } from '../helpers/jwt.js'

/** Facts a plain HTTP request from 127.0.0.1 cannot carry as the case means them. */
const PEER_FACTS = /\b(ipBlocks|notIpBlocks|principals|notPrincipals|namespaces|notNamespaces|serviceAccounts|notServiceAccounts|ports|notPorts)\b|source\.(ip|principal|namespace|serviceAccount)|destination\.(port|ip)|connection\.sni|experimental\.envoy/

function liveable (c: AuthzCase): boolean {
  const r = c.request
  if (r.peerPrincipal !== undefined || r.sni !== undefined || r.port !== undefined || r.peerIp !== undefined) return false
  if (r.requestPrincipal?.startsWith('apikey/') === true) return false
  return !PEER_FACTS.test(c.policies)
}

const live = AUTHZ_CASES.filter(liveable)

function principalParts (c: AuthzCase): { iss: string, sub: string } | null {
  const r = c.request
  if (r.requestPrincipal === undefined && r.claims === undefined) return null
  const claims = r.claims ?? {}
  if (typeof claims.iss === 'string' && typeof claims.sub === 'string') return { iss: claims.iss, sub: claims.sub }
  const p = r.requestPrincipal ?? ''
  const slash = p.lastIndexOf('/')
  return { iss: p.slice(0, slash), sub: p.slice(slash + 1) }
}

const issuers = [...new Set(live.map(principalParts).filter(p => p !== null).map(p => p.iss))]

let key: SigningKey
let ups: Upstreams
let gw: TestGateway
let port: number
let base: string

before(async () => {
  key = await makeKey('authz')
  ups = await startUpstreams(['v1'])
  port = await getFreePort()
  base = `${appConfig(['v1'])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: all, namespace: test}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: app, subset: v1}}]
---
apiVersion: meshgate.io/v1alpha1
kind: EdgeFacts
metadata: {name: edge, namespace: istio-system}
spec:
  trustedProxies: [127.0.0.1/32]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  jwtRules:
${issuers.map(iss => `  - issuer: "${iss}"\n    jwks: '${jwksOf(key)}'`).join('\n')}
`
  gw = await startGateway(base, { vars: { port, v1: ups.get('v1').port } })
})

after(async () => {
  await gw?.stop()
  await ups?.close()
})

test('at least 40 cases of the decision table run live', (t) => {
  assert.ok(live.length >= 40, `only ${live.length} live cases`)
  t.diagnostic(`${live.length} of ${AUTHZ_CASES.length} cases run live`)
})

test('every live case gets the decision of the table', async () => {
  const failures: string[] = []
  for (const c of live) {
    await gw.update(c.policies.trim() === '' ? base : `${base}---\n${c.policies}`)
    const r = c.request
    const headers: Record<string, string> = { host: r.host ?? AUTHZ_DEFAULTS.host, 'x-forwarded-for': r.clientIp ?? AUTHZ_DEFAULTS.peerIp, ...(r.headers ?? {}) }
    const who = principalParts(c)
    if (who !== null) {
      const claims = { ...(r.claims ?? {}) }
      if (r.presenter !== undefined) claims.azp = r.presenter
      headers.authorization = `Bearer ${await signToken(key, { iss: who.iss, sub: who.sub, aud: r.audiences, claims })}`
    }
    const res = await request(`http://127.0.0.1:${port}${r.path}`, { method: r.method ?? AUTHZ_DEFAULTS.method, headers })
    if (res.status !== c.want) failures.push(`${c.name}: expected ${c.want}, got ${res.status} ${res.body.slice(0, 80)}`)
    else if (c.want === 403) assert.equal(res.body, 'RBAC: access denied', c.name)
  }
  assert.deepEqual(failures, [])
})

test('which policies reach the gateway: selectors against --gateway-labels, and with --namespace only its own and the root namespace\'s selector-less ones', async () => {
  const deny = (name: string, ns: string, path: string, selector = ''): string => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
${selector === '' ? '' : `  selector: {matchLabels: {${selector}}}\n`}  action: DENY
  rules: [{to: [{operation: {paths: ["${path}"]}}]}]
`
  const policies = deny('edge-only', 'istio-system', '/edge', 'app: edge-gw') +
    deny('other-gw', 'istio-system', '/other', 'app: other-gw') +
    deny('root-wide', 'istio-system', '/root') +
    deny('own-ns', 'ingress', '/own') +
    deny('elsewhere', 'shop', '/elsewhere')
  const codes = async (p: number): Promise<Record<string, number>> => {
    const out: Record<string, number> = {}
    for (const path of ['/edge', '/other', '/root', '/own', '/elsewhere']) out[path] = (await request(`http://127.0.0.1:${p}${path}`, { headers: { host: 'app.example' } })).status
    return out
  }
  const p1 = await getFreePort()
  const scoped = await startGateway(`${base}${policies}`, { vars: { port: p1, v1: ups.get('v1').port }, gatewayLabels: { istio: 'ingressgateway', app: 'edge-gw' }, namespace: 'ingress' })
  try {
    assert.deepEqual(await codes(p1), { '/edge': 403, '/other': 200, '/root': 403, '/own': 403, '/elsewhere': 200 })
  } finally {
    await scoped.stop()
  }
  // Default labels (istio=ingressgateway) and no --namespace: no app label to match; every selector-less policy applies.
  const p2 = await getFreePort()
  const open = await startGateway(`${base}${policies}`, { vars: { port: p2, v1: ups.get('v1').port } })
  try {
    assert.deepEqual(await codes(p2), { '/edge': 200, '/other': 200, '/root': 403, '/own': 403, '/elsewhere': 403 })
  } finally {
    await open.stop()
  }
})
