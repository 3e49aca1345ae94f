// Principals that are not JWTs, through a live gateway: API keys (ApiKeyPolicy →
// `apikey/<consumer>`) and edge mTLS identities (a MUTUAL server's verified
// client certificate → source principal). Each drives an ALLOW and a DENY rule.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePorts } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appServiceYaml } from '../helpers/fixtures.js'
import { createTestCa, spiffeId, writeCredential, type CertFiles, type TestCa } from '../helpers/certs.js'

const sha = (s: string): string => createHash('sha256').update(s).digest('hex')

const CONFIG = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: test}
spec:
  servers:
  - port: {number: {{http}}, name: http, protocol: HTTP}
    hosts: [api.example, open.example, q.example]
  - port: {number: {{https}}, name: https, protocol: HTTPS}
    hosts: [mesh.example]
    tls: {mode: MUTUAL, credentialName: mesh-cred}
---
${appServiceYaml(['v1'])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: test}
spec:
  hosts: [api.example]
  gateways: [gw]
  http: [{route: [{destination: {host: app, subset: v1}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: open, namespace: test}
spec:
  hosts: [open.example, mesh.example]
  gateways: [gw]
  http: [{route: [{destination: {host: app, subset: v1}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: by-query, namespace: test}
spec:
  hosts: [q.example]
  gateways: [gw]
  http: [{route: [{destination: {host: app, subset: v1}}]}]
---
apiVersion: meshgate.io/v1alpha1
kind: ApiKeyPolicy
metadata: {name: in-query, namespace: test}
spec:
  targetRefs: [{kind: VirtualService, name: by-query}]
  in: query:api_key
  keys:
  - {name: team-q, valueSha256: ${sha('key-of-team-q')}}
---
apiVersion: meshgate.io/v1alpha1
kind: ApiKeyPolicy
metadata: {name: partners, namespace: test}
spec:
  targetRefs: [{kind: VirtualService, name: api}]
  in: header:x-api-key
  keys:
  - {name: team-a, valueSha256: ${sha('key-of-team-a')}}
  - {name: team-b, valueFrom: {{keyFile}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: who-may-enter, namespace: istio-system}
spec:
  rules:
  - from: [{source: {requestPrincipals: ["apikey/*"]}}]
  - to: [{operation: {hosts: [open.example]}}]
  - from: [{source: {principals: ["cluster.local/ns/edge/sa/client", "cluster.local/ns/other/sa/x", "CN=partner"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: keep-out, namespace: istio-system}
spec:
  action: DENY
  rules:
  - from: [{source: {requestPrincipals: ["apikey/team-b"]}}]
    to: [{operation: {paths: ["/admin/*"]}}]
  - from: [{source: {namespaces: [other]}}]
    to: [{operation: {paths: ["/secret/*"]}}]
  - from: [{source: {principals: ["CN=partner"]}}]
    to: [{operation: {paths: ["/secret/*"]}}]
`

let ups: Upstreams
let gw: TestGateway
let ca: TestCa
let dir: string
let httpPort: number
let httpsPort: number
const clients: Record<string, CertFiles> = {}
const accessLines: string[] = []

before(async () => {
  ups = await startUpstreams(['v1'])
  ca = await createTestCa()
  dir = await mkdtemp(join(tmpdir(), 'meshgate-principals-'))
  await writeFile(join(dir, 'team-b.key'), 'key-of-team-b\n')
  await writeCredential(dir, 'mesh-cred', await ca.issue('mesh', { dns: ['mesh.example'], usage: 'server' }), { ca: ca.cert })
  clients.edge = await ca.issue('edge-client', { uris: [spiffeId('edge', 'client')], usage: 'client' })
  clients.other = await ca.issue('other-client', { uris: [spiffeId('other', 'x')], usage: 'client' })
  clients.third = await ca.issue('third-client', { uris: [spiffeId('third', 'y')], usage: 'client' })
  // No URI SAN: known by its subject.
  clients.partner = await ca.issue('partner', { usage: 'client' })
  clients.stranger = await ca.issue('stranger', { usage: 'client' })
  ;[httpPort, httpsPort] = await getFreePorts(2) as [number, number]
  gw = await startGateway(CONFIG, { accessLog: pino({ level: 'info' }, { write (line: string) { accessLines.push(line) } }), credentialsDir: dir, vars: { http: httpPort, https: httpsPort, v1: ups.get('v1').port, keyFile: join(dir, 'team-b.key') } })
})

after(async () => {
  await gw?.stop()
  await ups?.close()
  await ca?.cleanup()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

function api (path: string, key?: string): ReturnType<typeof request> {
  return request(`http://127.0.0.1:${httpPort}${path}`, { headers: { host: 'api.example', ...(key === undefined ? {} : { 'x-api-key': key }) } })
}

function mesh (path: string, who: string): ReturnType<typeof request> {
  const c = clients[who]!
  return request(`https://127.0.0.1:${httpsPort}${path}`, { headers: { host: 'mesh.example' }, tls: { ca: ca.cert, servername: 'mesh.example', cert: c.cert, key: c.key } })
}

test('API keys: a covered route needs a valid key (401 otherwise), an uncovered one does not', async () => {
  const missing = await api('/x')
  assert.equal(missing.status, 401)
  assert.equal(missing.body, 'API key is missing')
  assert.match(String(headerValue(missing, 'www-authenticate')), /^APIKey realm="http:\/\/api\.example\/x"$/)
  const wrong = await api('/x', 'key-of-nobody')
  assert.equal(wrong.status, 401)
  assert.equal(wrong.body, 'API key is not valid')
  assert.equal((await request(`http://127.0.0.1:${httpPort}/x`, { headers: { host: 'open.example' } })).status, 200)
})

test('API keys drive ALLOW and DENY rules through the apikey/<consumer> principal; the key is not forwarded', async () => {
  ups.clear()
  assert.equal((await api('/admin/users', 'key-of-team-a')).status, 200, 'team-a: allowed by apikey/*')
  assert.equal(ups.get('v1').requests.at(-1)!.headers['x-api-key'], undefined)
  assert.equal((await api('/orders', 'key-of-team-b')).status, 200, 'team-b (key from a file): allowed by apikey/*')
  const denied = await api('/admin/users', 'key-of-team-b')
  assert.equal(denied.status, 403, 'team-b on /admin: the DENY rule')
  assert.equal(denied.body, 'RBAC: access denied')
})

/** The access-log entry of the request whose upstream saw `requestId`, read after the answer. */
async function accessEntry (requestId: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 50; i++) {
    const line = accessLines.find(l => l.includes(requestId))
    if (line !== undefined) return JSON.parse(line) as Record<string, unknown>
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  throw new Error(`no access-log line for ${requestId}`)
}

test('an API key in the query is neither forwarded nor logged; the log names the consumer and the decision', async () => {
  ups.clear()
  const res = await request(`http://127.0.0.1:${httpPort}/items?page=2&api_key=key-of-team-q&sort=asc`, { headers: { host: 'q.example' } })
  assert.equal(res.status, 200)
  const seen = ups.get('v1').requests.at(-1)!
  assert.equal(seen.url, '/items?page=2&sort=asc')
  const entry = await accessEntry(String(seen.headers['x-request-id']))
  assert.equal(entry.path, '/items?page=2&sort=asc')
  assert.equal(entry.consumer, 'team-q')
  assert.equal(entry.request_principal, 'apikey/team-q')
  assert.doesNotMatch(accessLines.join('\n'), /key-of-team/)
  // The only parameter: the query goes entirely.
  assert.equal((await request(`http://127.0.0.1:${httpPort}/items?api_key=key-of-team-q`, { headers: { host: 'q.example' } })).status, 200)
  assert.equal(ups.get('v1').requests.at(-1)!.url, '/items')
  assert.equal((await request(`http://127.0.0.1:${httpPort}/items?api_key=nope`, { headers: { host: 'q.example' } })).status, 401)

  // A denied request's line names the policy that denied it.
  const denied = await api('/admin/users', 'key-of-team-b')
  assert.equal(denied.status, 403)
  const line = accessLines.map(l => JSON.parse(l) as Record<string, unknown>).findLast(e => e.path === '/admin/users')!
  assert.equal(line.consumer, 'team-b')
  assert.match(JSON.stringify(line.authz), /istio-system\/keep-out/)
  assert.doesNotMatch(accessLines.join('\n'), /key-of-team/)
})

test('edge mTLS principals drive ALLOW and DENY rules', async () => {
  assert.equal((await mesh('/secret/plans', 'edge')).status, 200, 'ns edge: allowed principal, not in the denied namespace')
  assert.equal((await mesh('/public', 'other')).status, 200, 'ns other: allowed principal')
  assert.equal((await mesh('/secret/plans', 'other')).status, 403, 'ns other on /secret: the DENY rule on namespaces')
  assert.equal((await mesh('/public', 'third')).status, 403, 'ns third: a verified certificate, but no ALLOW rule names it')
  assert.equal((await mesh('/public', 'partner')).status, 200, 'CN=partner (no SPIFFE ID): allowed by its subject')
  assert.equal((await mesh('/secret/plans', 'partner')).status, 403, 'CN=partner on /secret: the DENY rule naming its subject')
  assert.equal((await mesh('/public', 'stranger')).status, 403, 'CN=stranger: verified, but no rule names its subject')
  // A plain-text client has no source principal at all.
  assert.equal((await request(`http://127.0.0.1:${httpPort}/x`, { headers: { host: 'mesh.example' } })).status, 403)
})

test('consumers and authorization decisions are counted in /metrics', async () => {
  await api('/orders', 'key-of-team-a')
  const text = await gw.metrics.registry.metrics()
  assert.match(text, /meshgate_consumer_requests_total\{consumer="team-a",code="2xx"\} [1-9]/)
  assert.match(text, /meshgate_consumer_requests_total\{consumer="team-b",code="4xx"\} [1-9]/)
  assert.match(text, /meshgate_authz_decisions_total\{policy="istio-system\/keep-out",decision="deny"\} [1-9]/)
  assert.match(text, /meshgate_authz_decisions_total\{policy="istio-system\/who-may-enter",decision="allow"\} [1-9]/)
  assert.doesNotMatch(text, /key-of-team/, 'keys never appear in metrics')
})
