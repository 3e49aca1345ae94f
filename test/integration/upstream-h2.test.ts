// HTTP/2 to TLS upstreams: chosen by an HTTP2/gRPC service port or by
// h2UpgradePolicy, offered through ALPN; DO_NOT_UPGRADE keeps HTTP/1.1.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { getFreePort } from '../helpers/ports.js'
import { request } from '../helpers/http.js'
import { startGateway } from '../helpers/gateway.js'
import { oneServiceConfig } from '../helpers/fixtures.js'
import { initCa, issueWorkload } from '../../src/mesh-bridge/dev-ca.js'

let dir: string
let server: http2.Http2SecureServer
let upstreamPort: number

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshgate-h2-'))
  const ca = await initCa(join(dir, 'ca'))
  await issueWorkload(ca, join(dir, 'up'), { spiffe: 'spiffe://cluster.local/ns/default/sa/grpc', dns: ['grpc.default.svc.cluster.local'] })
  // Both protocols offered: the answer says which one the gateway chose.
  server = http2.createSecureServer({ cert: await readFile(join(dir, 'up', 'cert-chain.pem')), key: await readFile(join(dir, 'up', 'key.pem')), allowHTTP1: true }, (req, res) => {
    res.setHeader('content-type', 'text/plain')
    res.end(`http/${req.httpVersion}`)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  upstreamPort = (server.address() as AddressInfo).port
})

after(async () => {
  await new Promise<void>(resolve => server?.close(() => resolve()))
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

function config (listen: number, protocol: string, h2Policy: string | null): string {
  const tls = `tls: {mode: SIMPLE, sni: grpc.default.svc.cluster.local, caCertificates: ${join(dir, 'up', 'root-cert.pem')}}`
  return oneServiceConfig({
    listen, name: 'grpc', port: 443, portName: 'tls', protocol, endpointPort: upstreamPort,
    trafficPolicy: `{${tls}${h2Policy === null ? '' : `, connectionPool: {http: {h2UpgradePolicy: ${h2Policy}}}`}}`
  })
}

test('the service port\'s protocol and h2UpgradePolicy pick the upstream protocol', async () => {
  const cases: Array<[string, string | null, string]> = [
    ['HTTPS', null, 'http/1.1'],
    ['GRPC', null, 'http/2.0'],
    ['HTTP2', null, 'http/2.0'],
    ['HTTPS', 'UPGRADE', 'http/2.0'],
    ['GRPC', 'DO_NOT_UPGRADE', 'http/1.1']
  ]
  for (const [protocol, policy, want] of cases) {
    const port = await getFreePort()
    const g = await startGateway(config(port, protocol, policy))
    try {
      const res = await request(`http://127.0.0.1:${port}/x`, { headers: { host: 'api.example' } })
      assert.equal(res.status, 200, `${protocol} ${String(policy)}: ${res.body}`)
      assert.equal(res.body, want, `${protocol}${policy === null ? '' : ` + ${policy}`}`)
    } finally {
      await g.stop()
    }
  }
})
