// Every `cases:` entry of the Istio sample corpus (compat/istio-samples/
// expectations.yaml), run twice: offline through loadConfig + explain, and live
// through an in-process gateway on the samples' own listener ports (127.0.0.1)
// with one stub upstream per ServiceEntry endpoint port of services.yaml.
// `scope: mesh` cases bind their mesh-only VirtualServices to
// gateway-bindings.yaml's default/mesh-bindings in memory, and Gateway
// certificate file paths (/etc/istio/...) are pointed in memory at test
// certificates in a temp folder. What is skipped, and why, comes from
// case-plan.ts (the compat matrix prints the same list).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import tls from 'node:tls'
import { Agent } from 'undici'
import { explain, type Explanation } from '../../src/gateway/explain.js'
import type { Gateway } from '../../src/gateway/runtime.js'
import type { Snapshot, TlsServer } from '../../src/gateway/snapshot.js'
import { startUpstream, type Upstream } from '../helpers/upstreams.js'
import { createTestCa, writeCredential, type CertFiles, type TestCa } from '../helpers/certs.js'
import { headerValue, request, type HttpResponse } from '../helpers/http.js'
import { corpusDir, durationMs, loadCases, portsFor, rawResources, requestHeaders, stubPorts, type CorpusCase } from './corpus.js'
import { planCase, WITH_CLIENT_CERTIFICATE, type Verdict } from './case-plan.js'
import { isPortError, loadCaseSnapshot, portProblem, startCaseGateway, writeCertFiles, type CaseEnv } from './harness.js'
import { startJwksServer, type JwksServer } from '../helpers/jwt.js'
import { JwtAuthenticator } from '../../src/plugins/authn-jwt/index.js'

const dir = corpusDir()
const cases = loadCases(dir)

/** Istio's retryOn when `retries.retryOn` is not set (ISTIO-SEMANTICS: a plain 503 is not retried). */
const ISTIO_DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes'
/** Requests sent to a weighted split, so that every side shows up (80/20: P(no v2 in 60) ≈ 2e-6). */
const SPLIT_REQUESTS = 60

let ca: TestCa | null = null
let credentialsDir: string | null = null
/** Where the Gateway certificate files of the file-mount samples are written instead of /etc. */
let certFilesRoot: string | null = null
let certFiles = new Map<string, string>()
/** A client certificate from the CA that signs the test certificates (the MUTUAL cases' caCertificates). */
let clientCert: CertFiles | null = null
let certProblem: string | null = null

/** The corpus's jwt/jwks.json on a real HTTP server ("the JWKS behind a jwksUri"). */
let jwks: JwksServer | null = null
const env = (): CaseEnv => ({ dir, credentialsDir, certFiles, jwksUrl: jwks?.url })

before(async () => {
  jwks = await startJwksServer(readFileSync(path.join(dir, 'jwt', 'jwks.json'), 'utf8'))
})

before(async () => {
  const wanted = cases.flatMap(c => planCase(dir, c).credentials)
  const fileNeeds = cases.flatMap(c => planCase(dir, c).certFiles)
  if (wanted.length === 0 && fileNeeds.length === 0) return
  try {
    ca = await createTestCa({ commonName: 'meshgate compat CA' })
    if (wanted.length > 0) {
      credentialsDir = await mkdtemp(path.join(tmpdir(), 'meshgate-compat-creds-'))
      // One certificate per credentialName, valid only for that server's hosts, so a
      // client that checks the name also checks that SNI picked the right server.
      for (const { name, hosts } of wanted) {
        const pair = await ca.issue(name, { dns: [...hosts], usage: 'server' })
        await writeCredential(credentialsDir, name, pair)
      }
    }
    if (fileNeeds.length > 0) {
      certFilesRoot = await mkdtemp(path.join(tmpdir(), 'meshgate-compat-files-'))
      certFiles = await writeCertFiles(ca, certFilesRoot, fileNeeds)
      clientCert = await ca.issue('compat-client', { commonName: 'meshgate compat client', usage: 'client' })
    }
  } catch (err) {
    certProblem = `test certificates could not be made: ${(err as Error).message}`
  }
})

after(async () => {
  await jwks?.close()
  await ca?.cleanup()
  if (credentialsDir !== null) await rm(credentialsDir, { recursive: true, force: true })
  if (certFilesRoot !== null) await rm(certFilesRoot, { recursive: true, force: true })
})

function optionsOf (v: Verdict): { skip?: string, todo?: string } {
  return v.kind === 'skip' ? { skip: v.reason } : v.kind === 'todo' ? { todo: v.reason } : {}
}

function needsCertificates (c: CorpusCase): boolean {
  const plan = planCase(dir, c)
  return plan.credentials.length > 0 || plan.certFiles.length > 0
}

describe('Istio samples offline: loadConfig + explain', () => {
  for (const c of cases) {
    test(c.name, optionsOf(planCase(dir, c).offline), async (t) => {
      if (needsCertificates(c) && certProblem !== null) { t.skip(certProblem); return }
      const snapshot = await loadCaseSnapshot(env(), c)
      const jwt = new JwtAuthenticator(null)
      const e = await explain(snapshot, { url: c.request.url, method: c.request.method, headers: requestHeaders(dir, c), clientIp: c.request.clientIp }, { jwt })
      jwt.close()
      if (planCase(dir, c).certFiles.length > 0) checkCertFilesServed(snapshot, e)
      if (c.expect.tls === 'handshake-fails') {
        checkHandshakeRefusal(snapshot, e)
        t.diagnostic('explain describes the request after a TLS handshake and cannot present a client certificate: ' +
          'the offline run checks that the handshake refuses clients without one (MUTUAL server), not the route')
        return
      }
      checkExplanation(c, e)
    })
  }
})

/** The TLS server (filter chain) explain picked by SNI, or null (plain-text port, or no server takes the SNI). */
function selectedTlsServer (snapshot: Snapshot, e: Explanation): TlsServer | null {
  const r = e.result as Record<string, any>
  const g = r.gatewayServer
  if (r.listener === null || g === null || g.mode === undefined) return null
  return snapshot.listeners.get(r.listener.port)?.tlsServers
    .find(s => `${s.gateway.namespace}/${s.gateway.name}` === g.gateway && s.serverIndex === g.server) ?? null
}

/** The Gateway's file paths were pointed at the test's files, and those are what the server holds. */
function checkCertFilesServed (snapshot: Snapshot, e: Explanation): void {
  const server = selectedTlsServer(snapshot, e)
  assert.ok(server !== null, `a TLS server takes the request\n${JSON.stringify(e.result, null, 1)}`)
  const written = new Set([...certFiles.values()].map(f => readFileSync(f, 'utf8')))
  assert.ok(written.has(server.material.cert), 'the server certificate is the one written for the sample\'s serverCertificate path')
  assert.ok(written.has(server.material.key), 'the private key is the one written for the sample\'s privateKey path')
  if (server.mode !== 'SIMPLE') assert.equal(server.material.ca, ca!.cert, 'caCertificates is the test CA written for the sample\'s path')
}

/**
 * `tls: handshake-fails` offline. explain takes no client certificate: it
 * describes what happens after a handshake, so its route says nothing about
 * whether the handshake succeeds. Either explain itself finds that no TLS
 * server takes the SNI (then the handshake fails for everybody), or the server
 * it picks is MUTUAL on a listener whose handshake refuses a client without a
 * valid certificate, which the case's request has not got. The route is not
 * compared; the live run sends the request without and with a certificate.
 */
function checkHandshakeRefusal (snapshot: Snapshot, e: Explanation): void {
  const r = e.result as Record<string, any>
  const facts = JSON.stringify(r, null, 1)
  assert.equal(r.listener?.tls, true, `a TLS listener on the request's port\n${facts}`)
  const server = selectedTlsServer(snapshot, e)
  if (server === null) {
    assert.equal(e.matched, false, 'no server, no route')
    assert.equal(e.status, null, 'no HTTP status without a handshake')
    assert.match(String(r.reason), /handshake fails/, 'explain says the handshake fails')
    return
  }
  assert.equal(r.gatewayServer.mode, 'MUTUAL', `the server picked by SNI requires a client certificate\n${facts}`)
  assert.equal(snapshot.listeners.get(r.listener.port)!.rejectUnauthorized, true, 'the listener\'s handshake refuses clients without a valid certificate')
  assert.ok(server.material.ca !== null && server.material.ca !== '', 'caCertificates loaded: client certificates are verified against it')
}

/** Compares explain's answer with `expect`, field by field, for what explain can know. */
function checkExplanation (c: CorpusCase, e: Explanation): void {
  const x = c.expect
  const r = e.result as Record<string, any>
  const facts = JSON.stringify(r, null, 1)
  // CONTRACT: explain exits 2 exactly when no route matches.
  assert.equal(e.matched, x.explainExit !== 2, `explainExit ${x.explainExit ?? 0} expected, matched=${e.matched}\n${facts}`)
  assert.equal(r.virtualService, x.virtualService, `virtualService\n${facts}`)
  if (x.route !== undefined) assert.equal(r.route?.index, x.route.index, 'route index')
  if (x.destination === null) {
    assert.equal(r.destination ?? null, null, 'no destination')
  } else {
    assert.equal(r.destination?.host, x.destination.host, 'destination host')
    if (x.destination.port !== undefined) assert.equal(r.destination.port, x.destination.port, 'destination port')
    if (x.destination.subset !== undefined) assert.equal(r.destination.subset, x.destination.subset, 'destination subset')
    else if (x.weights === undefined) assert.equal(r.destination.subset, null, 'no subset: every endpoint of the service')
  }
  if (x.weights !== undefined) {
    assert.deepEqual((r.weights ?? []).map((w: { subset: string, weight: number }) => ({ subset: w.subset, weight: w.weight })), x.weights, 'weights')
  } else if (x.destination !== null) {
    assert.equal(r.weights, null, 'a single destination has no weights')
  }
  if (x.fault !== undefined) {
    assert.ok(r.fault !== undefined && r.fault !== null, `fault expected\n${facts}`)
    if (x.fault.delay !== undefined) {
      assert.equal(durationMs(r.fault.delay), durationMs(x.fault.delay), 'fault delay')
      assert.equal(r.fault.delayPercentage, x.fault.percentage, 'fault delay percentage')
    }
    if (x.fault.abort !== undefined) {
      assert.equal(r.fault.abort, x.fault.abort, 'fault abort status')
      assert.equal(r.fault.abortPercentage, x.fault.percentage, 'fault abort percentage')
    }
  } else if (e.matched) {
    assert.equal(r.fault ?? null, null, 'no fault')
  }
  if (x.timeout !== undefined) assert.equal(durationMs(r.timeout), durationMs(x.timeout), 'timeout')
  else if (e.matched) assert.equal(r.timeout, null, 'no route timeout (Istio sets none by default)')
  if (x.retries !== undefined) {
    assert.equal(r.retries?.attempts, x.retries.attempts, 'retry attempts')
    if (x.retries.perTryTimeout !== undefined) assert.equal(durationMs(r.retries.perTryTimeout), durationMs(x.retries.perTryTimeout), 'perTryTimeout')
    if (x.retries.retryOn === null) assert.ok(r.retries.retryOn === null || r.retries.retryOn === ISTIO_DEFAULT_RETRY_ON, `retryOn unset: Istio's default list, got ${r.retries.retryOn}`)
    else if (x.retries.retryOn !== undefined) assert.equal(r.retries.retryOn, x.retries.retryOn, 'retryOn')
  }
  if (x.mirror !== undefined) {
    const m = (r.mirror ?? [])[0]
    assert.ok(m !== undefined, `mirror expected\n${facts}`)
    assert.equal(m.host, x.mirror.host, 'mirror host')
    if (x.mirror.subset !== undefined) assert.equal(m.subset, x.mirror.subset, 'mirror subset')
    if (x.mirror.percentage !== undefined) assert.equal(m.percentage, x.mirror.percentage, 'mirror percentage')
  } else if (e.matched) {
    assert.equal(r.mirror, null, 'no mirror')
  }
  // explain knows the status of answers the gateway gives itself (404, fault abort, 503 NC/UH, redirects);
  // for forwarded requests the upstream decides and explain says null.
  if (x.authz !== undefined) {
    const want = x.authz as { decision: string, policy: string | null }
    assert.equal(r.authz?.decision, want.decision, `authz decision\n${facts}`)
    assert.equal(r.authz?.policy ?? null, want.policy, 'the deciding policy')
  }
  if (e.status !== null) assert.equal(e.status, x.status, `status\n${facts}`)
  if (x.upstreamContacted === false || x.explainExit === 2) assert.equal(e.status, x.status, 'a local answer: explain knows its status')
}

describe('Istio samples live: in-process gateway on 127.0.0.1, stub upstreams', () => {
  const stubs = new Map<number, Upstream>()
  const stubProblems = new Map<number, string>()

  before(async () => {
    for (const port of stubPorts(dir)) {
      try {
        stubs.set(port, await startUpstream(String(port), { port }))
      } catch (err) {
        stubProblems.set(port, (err as NodeJS.ErrnoException).code ?? (err as Error).message)
      }
    }
  })

  after(async () => {
    await Promise.all([...stubs.values()].map(s => s.close()))
  })

  const totalRequests = (): number => [...stubs.values()].reduce((n, s) => n + s.count, 0)

  for (const c of cases) {
    test(c.name, optionsOf(planCase(dir, c).live), async (t) => {
      if (needsCertificates(c) && certProblem !== null) { t.skip(certProblem); return }
      const resources = rawResources(dir, c.config)
      const x = c.expect
      const sides = x.weights?.map(w => ({ subset: w.subset, ports: portsFor(resources, x.destination!.host, w.subset) })) ?? []
      const allowed = x.destination === null ? [] : x.weights !== undefined ? sides.flatMap(s => s.ports) : portsFor(resources, x.destination.host, x.destination.subset)
      const mirrorPorts = x.mirror === undefined ? [] : portsFor(resources, x.mirror.host, x.mirror.subset)
      if (x.destination !== null) assert.ok(allowed.length > 0, `no stub port found in the case's files for ${JSON.stringify(x.destination)}`)
      // A refused handshake is also checked the other way: with a client certificate, the answer of the case named in WITH_CLIENT_CERTIFICATE.
      const withCertName = x.tls === 'handshake-fails' ? WITH_CLIENT_CERTIFICATE[c.name] : undefined
      const withCert = withCertName === undefined ? null : cases.find(o => o.name === withCertName) ?? null
      if (withCertName !== undefined) assert.ok(withCert !== null, `case ${withCertName} is not in the corpus`)
      const withCertDest = withCert?.expect.destination ?? null
      const withCertPorts = withCertDest === null ? [] : portsFor(resources, withCertDest.host, withCertDest.subset)
      if (withCertDest !== null) assert.ok(withCertPorts.length > 0, `no stub port found in the case's files for ${JSON.stringify(withCertDest)}`)
      const missing = [...allowed, ...mirrorPorts, ...withCertPorts].filter(p => !stubs.has(p))
      if (missing.length > 0) { t.skip(`stub upstream port ${missing.map(p => `${p} (${stubProblems.get(p) ?? 'not started'})`).join(', ')} is not available`); return }

      const snapshot = await loadCaseSnapshot(env(), c)
      for (const port of snapshot.listeners.keys()) {
        const problem = await portProblem(port)
        if (problem !== null) { t.skip(`listener port ${port} on 127.0.0.1 cannot be bound (${problem}): another process has it or the test lacks the privilege`); return }
      }
      let gateway: Gateway
      try {
        gateway = await startCaseGateway(env(), c)
      } catch (err) {
        const code = isPortError(err)
        if (code !== null) { t.skip(`a listener port of the case cannot be bound on 127.0.0.1 (${code})`); return }
        throw err
      }
      for (const s of stubs.values()) s.clear()
      const agent = new Agent({ keepAliveTimeout: 1_000 })
      try {
        const send = (): Promise<HttpResponse> => sendCaseRequest(c, agent)
        if (x.weights !== undefined) {
          await checkSplit(c, send, sides)
          return
        }
        if (x.status === null) {
          // `status: null`: no HTTP exchange at all (e.g. a TLS handshake the gateway refuses).
          const failure = await send().then(() => null, (err: unknown) => err as Error & { code?: string, cause?: { code?: string } })
          assert.ok(failure !== null, 'no HTTP response expected')
          const code = failure.cause?.code ?? failure.code ?? failure.message
          t.diagnostic(`request without a client certificate failed: ${code}`)
          if (x.tls === 'handshake-fails') {
            // undici only says "other side closed"; a bare TLS client sees the alert the gateway sends
            // (TLS 1.3: `certificate required`, after the client's Finished; TLS 1.2: a handshake failure).
            const alert = await tlsRefusal(c)
            assert.match(alert, /^ERR_SSL_.*ALERT/, `the gateway refuses the handshake with a TLS alert, got ${alert}`)
            t.diagnostic(`bare TLS client without a certificate: ${alert}`)
          }
          assert.equal(totalRequests(), 0, 'no upstream is contacted')
          if (withCert !== null) {
            const res = await sendCaseRequest(c, agent, clientCert!)
            assert.equal(res.status, withCert.expect.status, `with a client certificate from the CA: the status of ${withCert.name} (body: ${res.body.slice(0, 200)})`)
            const answeredBy = headerValue(res, 'x-upstream')
            if (withCertDest !== null) {
              assert.ok(answeredBy !== undefined && withCertPorts.includes(Number(answeredBy)), `with a client certificate: answered by stub ${answeredBy ?? '(none)'}, expected one of ${withCertPorts.join(', ')}`)
            }
            assert.equal(totalRequests(), withCertDest === null ? 0 : 1, 'one upstream request, with the certificate')
          }
          return
        }
        const started = performance.now()
        const res = await send()
        const elapsedMs = performance.now() - started
        assert.equal(res.status, x.status, `status (body: ${res.body.slice(0, 200)})`)
        const answeredBy = headerValue(res, 'x-upstream')
        if (x.destination === null || x.upstreamContacted === false) {
          assert.equal(answeredBy, undefined, 'the gateway answers by itself')
          assert.equal(totalRequests(), 0, 'no upstream is contacted')
        } else {
          assert.ok(answeredBy !== undefined && allowed.includes(Number(answeredBy)),
            `answered by stub ${answeredBy ?? '(none)'}, expected one of ${allowed.join(', ')} (${x.destination.host}${x.destination.subset !== undefined ? ` subset ${x.destination.subset}` : ''})`)
          assert.equal(stubs.get(Number(answeredBy))!.count, 1, 'one upstream request')
        }
        const delayMs = durationMs(x.fault?.delay)
        if (delayMs > 0 && x.fault?.percentage === 100) assert.ok(elapsedMs >= delayMs - 50, `fault delay ${x.fault.delay}: answered after ${Math.round(elapsedMs)} ms`)
        if (x.mirror !== undefined) await checkMirror(c, mirrorPorts, Number(answeredBy))
        else assert.equal(totalRequests(), x.destination === null || x.upstreamContacted === false ? 0 : 1, 'no other upstream request')
      } finally {
        await agent.close()
        await gateway.drain(1_000)
      }
    })
  }

  /** The mirror stub gets one copy besides the request that was answered (which may hit the same stub). */
  async function checkMirror (c: CorpusCase, ports: readonly number[], answeredBy: number): Promise<void> {
    const url = new URL(c.request.url)
    const copies = (): number => ports.reduce((n, p) => n + stubs.get(p)!.count, 0) - (ports.includes(answeredBy) ? 1 : 0)
    const deadline = Date.now() + 2_000
    while (copies() < 1 && Date.now() < deadline) await sleep(20)
    assert.equal(copies(), 1, `the mirror (stub ${ports.join(' or ')}) gets one copy within 2 s`)
    const copy = ports.map(p => stubs.get(p)!).find(s => s.count > (s.port === answeredBy ? 1 : 0))!
    assert.equal(copy.lastRequest!.url, `${url.pathname}${url.search}`, 'the copy has the same path')
    assert.equal(copy.lastRequest!.headers.host, url.host, 'Istio ≥ 1.28 keeps the original Host on the copy')
    assert.equal(totalRequests(), 2, 'the request and its copy, nothing else')
  }
})

/** Sends the case's request to 127.0.0.1 on the URL's port, with the URL's host as Host (and SNI for https, and a client certificate if given). */
function sendCaseRequest (c: CorpusCase, agent: Agent, client?: CertFiles): Promise<HttpResponse> {
  const url = new URL(c.request.url)
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80'
  const target = `${url.protocol}//127.0.0.1:${port}${url.pathname}${url.search}`
  const headers = { ...requestHeaders(dir, c), host: url.host }
  if (url.protocol === 'https:') {
    const tls = { ca: ca!.cert, servername: url.hostname, ...(client !== undefined ? { cert: client.cert, key: client.key } : {}) }
    return request(target, { method: c.request.method, headers, tls, timeoutMs: 5_000 })
  }
  return request(target, { method: c.request.method, headers, dispatcher: agent, timeoutMs: 5_000 })
}

/** Connects with the case's SNI and the test CA but no client certificate; resolves to the error code the TLS client gets. */
function tlsRefusal (c: CorpusCase): Promise<string> {
  const url = new URL(c.request.url)
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port: Number(url.port !== '' ? url.port : 443), servername: url.hostname, ca: ca!.cert })
    const timer = setTimeout(() => { socket.destroy(); resolve('no alert within 3 s') }, 3_000)
    const done = (what: string): void => { clearTimeout(timer); socket.destroy(); resolve(what) }
    // TLS 1.3 completes the client side first; the server's verdict comes with the first read.
    socket.once('secureConnect', () => { socket.write(`GET ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\n\r\n`) })
    socket.once('data', () => { done('an HTTP answer without a client certificate') })
    socket.once('error', (err: NodeJS.ErrnoException) => { done(err.code ?? err.message) })
    socket.once('close', () => { done('closed without a TLS alert') })
  })
}

/** A weighted split: every answer comes from one of the sides, each side answers, and the shares are near the weights. */
async function checkSplit (c: CorpusCase, send: () => Promise<HttpResponse>, sides: ReadonlyArray<{ subset: string, ports: number[] }>): Promise<void> {
  const seen = new Map<string, number>(sides.map(s => [s.subset, 0]))
  for (let i = 0; i < SPLIT_REQUESTS; i++) {
    const res = await send()
    assert.equal(res.status, c.expect.status, 'status')
    const by = Number(headerValue(res, 'x-upstream'))
    const side = sides.find(s => s.ports.includes(by))
    assert.ok(side !== undefined, `answered by stub ${by}, which is on no side of ${JSON.stringify(sides)}`)
    seen.set(side.subset, seen.get(side.subset)! + 1)
  }
  const total = c.expect.weights!.reduce((n, w) => n + w.weight, 0)
  for (const w of c.expect.weights!) {
    const share = seen.get(w.subset)! / SPLIT_REQUESTS
    assert.ok(seen.get(w.subset)! > 0, `subset ${w.subset} (weight ${w.weight}) never answered in ${SPLIT_REQUESTS} requests`)
    // ±25 points: about 4 standard deviations at 60 requests, so a correct split practically never fails.
    assert.ok(Math.abs(share - w.weight / total) <= 0.25, `subset ${w.subset}: ${Math.round(share * 100)} % of answers for weight ${w.weight}/${total}`)
  }
}
