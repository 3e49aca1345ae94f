// A reload of unchanged files costs a read, not a compile; a changed YAML or
// referenced certificate file is a new version.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/gateway/config-loader.js'

const OPTS = { gatewayLabels: { istio: 'ingressgateway' }, credentialsDir: null }

test('unchanged sources are reported as unchanged without a snapshot; a changed YAML or cert file is loaded', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-loader-'))
  try {
    const cert = join(dir, 'server.crt')
    await writeFile(cert, 'one')
    await writeFile(join(dir, 'gw.yaml'), `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, serverCertificate: ${cert}, privateKey: ${cert}}
`)
    const first = await loadConfig([dir], OPTS)
    assert.equal(first.unchanged, false)
    assert.deepEqual(first.refs, [cert])
    const again = await loadConfig([dir], OPTS, { version: first.version, refs: first.refs })
    assert.equal(again.unchanged, true)
    assert.equal(again.snapshot, null)
    assert.equal(again.version, first.version)
    await writeFile(cert, 'two')
    const rotated = await loadConfig([dir], OPTS, { version: first.version, refs: first.refs })
    assert.equal(rotated.unchanged, false)
    assert.notEqual(rotated.version, first.version)
    await writeFile(join(dir, 'more.yaml'), 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: other}\nspec: {servers: [{port: {number: 9090, name: http, protocol: HTTP}, hosts: ["*"]}]}\n')
    const edited = await loadConfig([dir], OPTS, { version: rotated.version, refs: rotated.refs })
    assert.equal(edited.unchanged, false)
    assert.ok(edited.snapshot?.listeners.has(9090))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
