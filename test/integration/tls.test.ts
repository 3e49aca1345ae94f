// HTTPS listeners: SNI picks the server (and its routes), MUTUAL verifies client
// certificates, httpsRedirect answers 301, HTTP/2 over TLS via ALPN.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect as http2Connect } from 'node:http2'
import { connect as tlsConnect } from 'node:tls'
import { request as httpsRequest } from 'node:https'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePorts } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appServiceYaml } from '../helpers/fixtures.js'
import { createTestCa, writeCredential, type TestCa, type CertFiles } from '../helpers/certs.js'

const CONFIG = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: test}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: {{https}}, name: https-a, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, serverCertificate: {{aCert}}, privateKey: {{aKey}}}
  - port: {number: {{https}}, name: https-b, protocol: HTTPS}
    hosts: [b.example.com]
    tls: {mode: MUTUAL, credentialName: b-cred}
  - port: {number: {{https}}, name: https-c, protocol: HTTPS}
    hosts: [c.example.com]
    tls: {mode: OPTIONAL_MUTUAL, credentialName: c-cred, subjectAltNames: ["spiffe://cluster.local/ns/default/sa/client"]}
  - port: {number: {{http}}, name: http, protocol: HTTP}
    hosts: [a.example.com]
    tls: {httpsRedirect: true}
---
${appServiceYaml(['a', 'b'])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: test}
spec:
  hosts: [a.example.com]
  gateways: [gw]
  http:
  - route: [{destination: {host: app, subset: a}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b, namespace: test}
spec:
  hosts: [b.example.com, c.example.com]
  gateways: [gw]
  http:
  - route: [{destination: {host: app, subset: b}}]
`

let ups: Upstreams
let gw: TestGateway
let ca: TestCa
let client: CertFiles
let credDir: string
let httpsPort: number
let httpPort: number

before(async () => {
  ups = await startUpstreams(['a', 'b'])
  ca = await createTestCa()
  const certA = await ca.issue('a', { dns: ['a.example.com'], usage: 'server' })
  const certB = await ca.issue('b', { dns: ['b.example.com'], usage: 'server' })
  client = await ca.issue('client', { uris: ['spiffe://cluster.local/ns/default/sa/client'], usage: 'client' })
  credDir = await mkdtemp(join(tmpdir(), 'meshgate-cred-'))
  await writeCredential(credDir, 'b-cred', certB, { ca: ca.cert })
  await writeCredential(credDir, 'c-cred', await ca.issue('c', { dns: ['c.example.com'], usage: 'server' }), { ca: ca.cert })
  ;[httpsPort, httpPort] = await getFreePorts(2) as [number, number]
  gw = await startGateway(CONFIG, {
    credentialsDir: credDir,
    vars: { https: httpsPort, http: httpPort, aCert: certA.certPath, aKey: certA.keyPath, a: ups.get('a').port, b: ups.get('b').port }
  })
})

after(async () => {
  await gw?.stop()
  await ups?.close()
  await ca?.cleanup()
  if (credDir !== undefined) await rm(credDir, { recursive: true, force: true })
})

test('SNI a.example.com gets its certificate and its routes', async () => {
  const r = await request(`https://127.0.0.1:${httpsPort}/x`, { headers: { host: 'a.example.com' }, tls: { ca: ca.cert, servername: 'a.example.com' } })
  assert.equal(r.status, 200)
  assert.equal(headerValue(r, 'x-upstream'), 'a')
  assert.equal(ups.get('a').lastRequest?.headers['x-forwarded-proto'], 'https')
})

test('a Host of another server cannot be reached over this server\'s TLS chain (404)', async () => {
  // undici would send the Host as SNI; node:https lets SNI and Host differ, as curl --resolve/-H does.
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: httpsPort, path: '/x', servername: 'a.example.com', ca: ca.cert, headers: { host: 'b.example.com' }, agent: false }, res => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
  assert.equal(status, 404)
})

test('MUTUAL without a client certificate: no HTTP exchange happens', async () => {
  await assert.rejects(request(`https://127.0.0.1:${httpsPort}/x`, { headers: { host: 'b.example.com' }, tls: { ca: ca.cert, servername: 'b.example.com' }, timeoutMs: 3000 }))
})

test('MUTUAL with a client certificate from the CA is served', async () => {
  const r = await request(`https://127.0.0.1:${httpsPort}/x`, { headers: { host: 'b.example.com', 'x-forwarded-client-cert': 'By=forged' }, tls: { ca: ca.cert, servername: 'b.example.com', cert: client.cert, key: client.key } })
  assert.equal(r.status, 200)
  assert.equal(headerValue(r, 'x-upstream'), 'b')
  // XFCC is replaced by the verified certificate (Istio's SANITIZE_SET).
  const xfcc = String(ups.get('b').lastRequest?.headers['x-forwarded-client-cert'])
  assert.match(xfcc, /^Hash=[0-9a-f]{64};Cert="-----BEGIN%20CERTIFICATE-----[^"]+";Subject="CN=client";URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/client$/)
})

test('a client-sent x-forwarded-client-cert is dropped on connections without a client certificate', async () => {
  await request(`https://127.0.0.1:${httpsPort}/x`, { headers: { host: 'a.example.com', 'x-forwarded-client-cert': 'By=forged' }, tls: { ca: ca.cert, servername: 'a.example.com' } })
  assert.equal(ups.get('a').lastRequest?.headers['x-forwarded-client-cert'], undefined)
})

test('MUTUAL with a certificate from another CA is refused', async () => {
  const other = await createTestCa()
  try {
    const stranger = await other.issue('stranger', { usage: 'client' })
    await assert.rejects(request(`https://127.0.0.1:${httpsPort}/x`, { headers: { host: 'b.example.com' }, tls: { ca: ca.cert, servername: 'b.example.com', cert: stranger.cert, key: stranger.key }, timeoutMs: 3000 }))
  } finally {
    await other.cleanup()
  }
})

test('an SNI no server accepts fails the handshake', async () => {
  await new Promise<void>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: httpsPort, servername: 'd.example.com', ca: ca.cert })
    s.once('secureConnect', () => { s.destroy(); reject(new Error('handshake succeeded')) })
    s.once('error', () => resolve())
  })
})

test('httpsRedirect answers plain-text requests with 301 to https', async () => {
  const r = await request(`http://127.0.0.1:${httpPort}/path?q=1`, { headers: { host: 'a.example.com' } })
  assert.equal(r.status, 301)
  assert.equal(headerValue(r, 'location'), 'https://a.example.com/path?q=1')
  assert.equal(ups.total() >= 0, true)
})

test('HTTP/2 over TLS (ALPN h2) is served', async () => {
  const session = http2Connect(`https://127.0.0.1:${httpsPort}`, { ca: ca.cert, servername: 'a.example.com' })
  try {
    const { status, body } = await new Promise<{ status: number, body: string }>((resolve, reject) => {
      const req = session.request({ ':path': '/h2', ':method': 'GET', ':authority': 'a.example.com' })
      let status = 0
      let body = ''
      req.on('response', h => { status = Number(h[':status']) })
      req.setEncoding('utf8')
      req.on('data', (c: string) => { body += c })
      req.on('end', () => resolve({ status, body }))
      req.on('error', reject)
      req.end()
    })
    assert.equal(status, 200)
    assert.equal(JSON.parse(body).upstream, 'a')
    assert.equal(JSON.parse(body).url, '/h2')
  } finally {
    session.close()
  }
})

/** One raw HTTP/1.1 exchange over TLS (ALPN http/1.1); resolves with what the server sent before closing. */
function rawTls (head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port: httpsPort, host: '127.0.0.1', servername: 'a.example.com', ca: ca.cert, ALPNProtocols: ['http/1.1'] })
    let text = ''
    s.setEncoding('latin1')
    s.on('data', (d: string) => { text += d })
    s.on('close', () => resolve(text))
    s.on('error', (err) => { if (text !== '') resolve(text); else reject(err) })
    s.setTimeout(5_000, () => s.destroy())
    s.on('secureConnect', () => { s.write(head) })
  })
}

const NODE_HTTP1 = process.env.MESHGATE_DOWNSTREAM_HTTP1 === 'node' ? 'node:http inside the HTTP/2 server keeps its own 16 KiB head limit' : false

test('HTTP/1.1 over TLS: heads up to the listener limit (60 KiB, not Node\'s 16) are served, larger ones get 431, pipelined requests answer in order', { skip: NODE_HTTP1 }, async () => {
  // x-big is named in connection, so hop-by-hop: the upstream (node:http, 16 KiB) never sees it.
  const big = await rawTls(`GET /big HTTP/1.1\r\nhost: a.example.com\r\nx-big: ${'b'.repeat(30 * 1024)}\r\nconnection: close, x-big\r\n\r\n`)
  assert.match(big, /^HTTP\/1\.1 200 /)
  const huge = await rawTls(`GET /huge HTTP/1.1\r\nhost: a.example.com\r\nx-big: ${'b'.repeat(64 * 1024)}\r\n\r\n`)
  assert.match(huge, /^HTTP\/1\.1 431 /)
  const two = await rawTls('GET /one HTTP/1.1\r\nhost: a.example.com\r\n\r\nGET /two HTTP/1.1\r\nhost: a.example.com\r\nconnection: close\r\n\r\n')
  const urls = [...two.matchAll(/"url":"([^"]+)"/g)].map(m => m[1])
  assert.deepEqual(urls, ['/one', '/two'])
})

test('OPTIONAL_MUTUAL serves clients without a certificate', async () => {
  const r = await request(`https://127.0.0.1:${httpsPort}/x`, { headers: { host: 'c.example.com' }, tls: { ca: ca.cert, servername: 'c.example.com' } })
  assert.equal(r.status, 200)
})

test('OPTIONAL_MUTUAL with subjectAltNames accepts a verified certificate with an allowed SAN', async () => {
  const r = await request(`https://127.0.0.1:${httpsPort}/x`, { headers: { host: 'c.example.com' }, tls: { ca: ca.cert, servername: 'c.example.com', cert: client.cert, key: client.key } })
  assert.equal(r.status, 200)
})

test('OPTIONAL_MUTUAL refuses a certificate that fails verification or has no allowed SAN', async () => {
  const other = await createTestCa()
  try {
    const stranger = await other.issue('stranger', { uris: ['spiffe://cluster.local/ns/default/sa/client'], usage: 'client' })
    await assert.rejects(request(`https://127.0.0.1:${httpsPort}/x`, { headers: { host: 'c.example.com' }, tls: { ca: ca.cert, servername: 'c.example.com', cert: stranger.cert, key: stranger.key }, timeoutMs: 3000 }))
    const wrongSan = await ca.issue('wrong-san', { uris: ['spiffe://cluster.local/ns/default/sa/other'], usage: 'client' })
    await assert.rejects(request(`https://127.0.0.1:${httpsPort}/x`, { headers: { host: 'c.example.com' }, tls: { ca: ca.cert, servername: 'c.example.com', cert: wrongSan.cert, key: wrongSan.key }, timeoutMs: 3000 }))
  } finally {
    await other.cleanup()
  }
})
