// East-west mTLS: DestinationRule ISTIO_MUTUAL to a real nginx "sidecar" with
// ssl_verify_client on, the gateway's identity from --identity-dir made by the
// dev CA, rotation under keep-alive load, and refusals that answer 503.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getFreePort } from '../helpers/ports.js'
import { request } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startNginx, type NginxServer } from '../helpers/nginx.js'
import { initCa, issueWorkload, type DevCa } from '../../src/mesh-bridge/dev-ca.js'

const GATEWAY_ID = 'spiffe://cluster.local/ns/istio-system/sa/meshgate'
const REVIEWS_ID = 'spiffe://cluster.local/ns/default/sa/reviews'

let dir: string
let ca: DevCa
let sidecar: NginxServer
let gw: TestGateway
let port: number

function config (sidecarPort: number, listenPort: number, sans: string[] | null, serviceSans: string[] | null = null): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: test}
spec:
  servers:
  - port: {number: ${listenPort}, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${sidecarPort}}, labels: {version: v1}}]${serviceSans === null ? '' : `\n  subjectAltNames: [${serviceSans.map(s => JSON.stringify(s)).join(', ')}]`}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy:
    tls:
      mode: ISTIO_MUTUAL${sans === null ? '' : `\n      subjectAltNames: [${sans.map(s => JSON.stringify(s)).join(', ')}]`}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: test}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: {host: reviews.default.svc.cluster.local, port: {number: 9080}}}]}]
`
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshgate-mesh-'))
  ca = await initCa(join(dir, 'ca'))
  await issueWorkload(ca, join(dir, 'gateway'), { spiffe: GATEWAY_ID })
  await issueWorkload(ca, join(dir, 'reviews'), { spiffe: REVIEWS_ID })
  const files = {
    'sidecar/cert.pem': await readFile(join(dir, 'reviews', 'cert-chain.pem'), 'utf8'),
    'sidecar/key.pem': await readFile(join(dir, 'reviews', 'key.pem'), 'utf8'),
    'sidecar/root.pem': ca.certPem
  }
  sidecar = await startNginx({
    files,
    portCount: 2,
    http: ctx => `server {
      listen 127.0.0.1:${ctx.ports[1]} ssl;
      ssl_certificate ${ctx.dir}/sidecar/cert.pem;
      ssl_certificate_key ${ctx.dir}/sidecar/key.pem;
      location / { default_type text/plain; return 200 "simple\\n"; }
    }
    server {
      listen 127.0.0.1:${ctx.ports[0]} ssl;
      ssl_certificate ${ctx.dir}/sidecar/cert.pem;
      ssl_certificate_key ${ctx.dir}/sidecar/key.pem;
      ssl_client_certificate ${ctx.dir}/sidecar/root.pem;
      ssl_verify_client on;
      keepalive_requests 5;
      location / { default_type text/plain; return 200 "serial=$ssl_client_serial verify=$ssl_client_verify sni=$ssl_server_name\\n"; }
    }`
  })
  port = await getFreePort()
  gw = await startGateway(config(sidecar.port, port, [REVIEWS_ID]), { identityDir: join(dir, 'gateway'), identityPollMs: 100 })
})

after(async () => {
  await gw?.stop()
  await sidecar?.stop()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

const get = (p: number = port): ReturnType<typeof request> => request(`http://127.0.0.1:${p}/reviews/1`, { headers: { host: 'bookinfo.example' } })

/** Serials compared as numbers: nginx prints them without leading zeros. */
function norm (serial: string): string {
  return serial.toLowerCase().replace(/^0+/, '')
}

function serialOf (body: string): string {
  return norm(/serial=([0-9A-Fa-f]+)/.exec(body)?.[1] ?? '')
}

/**
 * Sends requests one after another through the gateway on `p`, replaces the
 * identity files in `idDir` with a new certificate from the CA (key first, as
 * a careless agent might), and stops once the sidecar reports the new serial.
 */
async function rotateUnderLoad (p: number, idDir: string, nextDir: string, waitMs: number): Promise<{ failures: number, sent: number, serials: Set<string>, next: string }> {
  let failures = 0
  let sent = 0
  const serials = new Set<string>()
  let running = true
  const load = (async () => {
    while (running) {
      const res = await get(p)
      sent++
      if (res.status !== 200) failures++
      else serials.add(serialOf(res.body))
    }
  })()
  await new Promise(resolve => setTimeout(resolve, 200))
  const { serial } = await issueWorkload(ca, nextDir, { spiffe: GATEWAY_ID })
  // Write aside, rename over: each file changes at once, the pair does not.
  for (const f of ['key.pem', 'cert-chain.pem']) {
    await writeFile(join(idDir, `.${f}.new`), await readFile(join(nextDir, f)))
    await rename(join(idDir, `.${f}.new`), join(idDir, f))
  }
  const deadline = Date.now() + waitMs
  while (!serials.has(norm(serial)) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  running = false
  await load
  return { failures, sent, serials, next: norm(serial) }
}

test('ISTIO_MUTUAL: the sidecar verifies the gateway\'s SPIFFE certificate and answers', async () => {
  const res = await get()
  assert.equal(res.status, 200, res.body)
  assert.match(res.body, /verify=SUCCESS/)
  assert.equal(serialOf(res.body), norm(gw.gateway.plane!.upstreams.pools.identity!.current.serial))
  // Istio's SNI for the cluster, whatever Host the client sent.
  assert.match(res.body, /sni=outbound_\.9080_\._\.reviews\.default\.svc\.cluster\.local/)
})

test('refusals answer 503 and the gateway stays ready: SAN mismatch, no identity, a sidecar from another CA', async () => {
  const cases: Array<[string, () => Promise<TestGateway>]> = [
    ['the sidecar is not the identity the DestinationRule names', async () => await startGateway(config(sidecar.port, await getFreePort(), ['spiffe://cluster.local/ns/default/sa/ratings']), { identityDir: join(dir, 'gateway') })],
    ['the gateway has no identity (--identity-dir not given)', async () => await startGateway(config(sidecar.port, await getFreePort(), [REVIEWS_ID]))]
  ]
  for (const [what, start] of cases) {
    const g = await start()
    try {
      const p = Number(g.gateway.listeners.keys().next().value)
      const res = await get(p)
      assert.equal(res.status, 503, `${what}: ${res.body}`)
      assert.equal(g.gateway.ready, true)
    } finally {
      await g.stop()
    }
  }
  // The gateway's root does not vouch for a sidecar certified by another CA.
  const otherCa = await initCa(join(dir, 'other-ca'))
  await issueWorkload(otherCa, join(dir, 'gateway-other-root'), { spiffe: GATEWAY_ID })
  const g = await startGateway(config(sidecar.port, await getFreePort(), [REVIEWS_ID]), { identityDir: join(dir, 'gateway-other-root') })
  try {
    const p = Number(g.gateway.listeners.keys().next().value)
    const res = await get(p)
    assert.equal(res.status, 503, res.body)
    assert.match(res.body, /upstream connect error/)
  } finally {
    await g.stop()
  }
})

test('ISTIO_MUTUAL without subjectAltNames checks the ServiceEntry\'s, and the DestinationRule\'s win', async () => {
  const cases: Array<[string, string[] | null, string[], number]> = [
    ['the ServiceEntry names the sidecar', null, [REVIEWS_ID], 200],
    ['the ServiceEntry names another identity', null, ['spiffe://cluster.local/ns/default/sa/ratings'], 503],
    ['the DestinationRule\'s names replace the ServiceEntry\'s', [REVIEWS_ID], ['spiffe://cluster.local/ns/default/sa/ratings'], 200]
  ]
  for (const [what, drSans, seSans, want] of cases) {
    const p = await getFreePort()
    const g = await startGateway(config(sidecar.port, p, drSans, seSans), { identityDir: join(dir, 'gateway') })
    try {
      const res = await get(p)
      assert.equal(res.status, want, `${what}: ${res.body}`)
    } finally {
      await g.stop()
    }
  }
})

test('rotation under keep-alive load: no failed request, new connections present the new certificate', async () => {
  const before = norm(gw.gateway.plane!.upstreams.pools.identity!.current.serial)
  const r = await rotateUnderLoad(port, join(dir, 'gateway'), join(dir, 'gateway-next'), 5_000)
  assert.equal(r.failures, 0, `${r.failures} of ${r.sent} requests failed during rotation`)
  assert.ok(r.serials.has(before), 'the old certificate served before the rotation')
  assert.ok(r.serials.has(r.next), 'new connections present the new certificate')
})

function filesConfig (listenPort: number, tls: string, sidecarPort = sidecar.port): string {
  return config(sidecarPort, listenPort, null).replace(/    tls:\n      mode: ISTIO_MUTUAL\n/, `    tls:\n${tls}\n`)
}

/** Each case: [what, the DestinationRule's tls block, upstream port, expected status, expected body]. */
async function expectEach (cases: Array<[string, string, number, number, RegExp]>, credentialsDir?: string): Promise<void> {
  for (const [what, tls, upstreamPort, status, body] of cases) {
    const p = await getFreePort()
    const g = await startGateway(filesConfig(p, tls, upstreamPort), { credentialsDir })
    try {
      const res = await get(p)
      assert.equal(res.status, status, `${what}: ${res.body}`)
      assert.match(res.body, body, what)
    } finally {
      await g.stop()
    }
  }
}

test('MUTUAL with file paths and SIMPLE with caCertificates and sni, as the DestinationRule says', async () => {
  const id = join(dir, 'gateway-files')
  await issueWorkload(ca, id, { spiffe: GATEWAY_ID })
  const mutual = `      mode: MUTUAL
      clientCertificate: ${join(id, 'cert-chain.pem')}
      privateKey: ${join(id, 'key.pem')}
      caCertificates: ${join(id, 'root-cert.pem')}
      subjectAltNames: ["${REVIEWS_ID}"]`
  const simple = `      mode: SIMPLE
      caCertificates: ${join(id, 'root-cert.pem')}
      subjectAltNames: ["${REVIEWS_ID}"]`
  const cases: Array<[string, string, number, number, RegExp]> = [
    ['MUTUAL: the sidecar verifies the certificate from the files', mutual, sidecar.port, 200, /verify=SUCCESS/],
    ['SIMPLE to a TLS server that asks for no client certificate', simple, sidecar.ports[1]!, 200, /simple/],
    ['SIMPLE to the sidecar: it wants a client certificate (nginx answers 400)', simple, sidecar.port, 400, /certificate/i]
  ]
  await expectEach(cases)
})

test('MUTUAL and SIMPLE from a credentialName (a Secret\'s keys as files), as for Istio gateways', async () => {
  const id = join(dir, 'gateway-files')
  await issueWorkload(ca, id, { spiffe: GATEWAY_ID })
  const creds = join(dir, 'credentials')
  // The Secret's keys as Kubernetes names them: tls.crt, tls.key, ca.crt.
  await mkdir(join(creds, 'reviews-client'), { recursive: true })
  await copyFile(join(id, 'cert-chain.pem'), join(creds, 'reviews-client', 'tls.crt'))
  await copyFile(join(id, 'key.pem'), join(creds, 'reviews-client', 'tls.key'))
  await copyFile(join(id, 'root-cert.pem'), join(creds, 'reviews-client', 'ca.crt'))
  // A CA-only credential for SIMPLE, in Istio's separate `<name>-cacert` form.
  await mkdir(join(creds, 'reviews-ca-cacert'), { recursive: true })
  await copyFile(join(id, 'root-cert.pem'), join(creds, 'reviews-ca-cacert', 'ca.crt'))
  const cases: Array<[string, string, number, number, RegExp]> = [
    ['MUTUAL: the client certificate comes from the credential', `      mode: MUTUAL\n      credentialName: reviews-client\n      subjectAltNames: ["${REVIEWS_ID}"]`, sidecar.port, 200, /verify=SUCCESS/],
    ['SIMPLE: the CA comes from the -cacert credential', `      mode: SIMPLE\n      credentialName: reviews-ca\n      subjectAltNames: ["${REVIEWS_ID}"]`, sidecar.ports[1]!, 200, /simple/]
  ]
  await expectEach(cases, creds)
})

test('MUTUAL from files: replacing the certificate files under keep-alive load fails no request', async () => {
  const id = join(dir, 'gateway-rotating')
  await issueWorkload(ca, id, { spiffe: GATEWAY_ID })
  const tls = `      mode: MUTUAL
      clientCertificate: ${join(id, 'cert-chain.pem')}
      privateKey: ${join(id, 'key.pem')}
      caCertificates: ${join(id, 'root-cert.pem')}
      subjectAltNames: ["${REVIEWS_ID}"]`
  const p = await getFreePort()
  const g = await startGateway(filesConfig(p, tls), { watch: true })
  try {
    const warm = await get(p)
    assert.equal(warm.status, 200, warm.body)
    const first = serialOf(warm.body)
    // The key first, then the certificate: the half-replaced pair is refused whole, the complete one applies.
    const r = await rotateUnderLoad(p, id, join(dir, 'gateway-rotating-next'), 8_000)
    assert.equal(r.failures, 0, `${r.failures} of ${r.sent} requests failed while the files changed`)
    assert.ok(r.serials.has(first))
    assert.ok(r.serials.has(r.next), 'the new certificate is presented')
  } finally {
    await g.stop()
  }
})

test('an expired identity is refused: at start with a clear error, on rotation with the last good one kept', async () => {
  const expired = join(dir, 'expired')
  await issueWorkload(ca, expired, { spiffe: GATEWAY_ID, notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) })
  await assert.rejects(startGateway(config(sidecar.port, await getFreePort(), [REVIEWS_ID]), { identityDir: expired }), /identity-dir .*expired at/)
  const good = gw.gateway.plane!.upstreams.pools.identity!.current.serial
  for (const f of ['key.pem', 'cert-chain.pem']) {
    await writeFile(join(dir, 'gateway', `.${f}.new`), await readFile(join(expired, f)))
    await rename(join(dir, 'gateway', `.${f}.new`), join(dir, 'gateway', f))
  }
  await new Promise(resolve => setTimeout(resolve, 400))
  assert.equal(gw.gateway.plane!.upstreams.pools.identity!.current.serial, good, 'the last good identity stays')
  assert.equal((await get()).status, 200)
  const metrics = await gw.metrics.registry.metrics()
  assert.match(metrics, /meshgate_cert_expiry_seconds\{cert="identity"\} \d+/)
})
