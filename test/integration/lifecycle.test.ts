// `meshgate serve` as a process: hot reload under keep-alive load, refused
// versions, readiness, and draining on SIGTERM.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent } from 'undici'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePort } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { startMeshgate, probeStatus, processTree } from '../helpers/processes.js'
import { NODE_FLAGS } from '../../src/cli/node-flags.js'
import { fill } from '../helpers/gateway.js'
import { appConfig } from '../helpers/fixtures.js'

const BASE = appConfig(['a', 'b'])

const route = (subset: string): string => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: test}
spec:
  hosts: [r.test]
  gateways: [gw]
  http:
  - route: [{destination: {host: app, subset: ${subset}}}]
`

let ups: Upstreams
let dir: string
let vars: Record<string, number>

before(async () => {
  ups = await startUpstreams(['a', 'b'])
  dir = await mkdtemp(join(tmpdir(), 'meshgate-life-'))
  vars = { port: await getFreePort(), a: ups.get('a').port, b: ups.get('b').port }
})

after(async () => {
  await ups?.close()
  await rm(dir, { recursive: true, force: true })
})

test('hot reload under keep-alive load: zero failed requests, new route within 2 s, invalid edit refused', async () => {
  await writeFile(join(dir, 'base.yaml'), fill(BASE, vars))
  await writeFile(join(dir, 'route.yaml'), route('a'))
  const gw = await startMeshgate(['serve', '--config', dir, '--host', '127.0.0.1', '--log-level', 'warn', '--access-log', 'off'])
  const agent = new Agent({ connections: 8, keepAliveTimeout: 30_000 })
  const url = `http://127.0.0.1:${vars.port}/`
  let failed = 0
  let sent = 0
  let stop = false
  let firstB = 0
  let switchedAt = 0
  const worker = async (): Promise<void> => {
    while (!stop) {
      sent++
      try {
        const r = await request(url, { headers: { host: 'r.test' }, dispatcher: agent })
        if (r.status !== 200) failed++
        else if (headerValue(r, 'x-upstream') === 'b' && firstB === 0) firstB = Date.now()
      } catch {
        failed++
      }
    }
  }
  try {
    const load = Promise.all(Array.from({ length: 8 }, worker))
    await new Promise(resolve => setTimeout(resolve, 500))
    switchedAt = Date.now()
    await writeFile(join(dir, 'route.yaml'), route('b'))
    const deadline = switchedAt + 2000
    while (firstB === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    assert.ok(firstB > 0, 'the new route took effect within 2 s')
    // An edit with an admission error (a rule with both route and redirect) is refused whole.
    await writeFile(join(dir, 'route.yaml'), route('a') + '    redirect: {uri: /x}\n')
    await new Promise(resolve => setTimeout(resolve, 600))
    stop = true
    await load
    assert.equal(failed, 0, `${failed} of ${sent} requests failed`)
    const r = await request(url, { headers: { host: 'r.test' } })
    assert.equal(headerValue(r, 'x-upstream'), 'b', 'the last good version keeps serving')
    const dump = (await request(`${gw.adminUrl}/config_dump`)).json<{ lastRefused: { errors: Array<{ text: string }> } | null }>()
    assert.ok(dump.lastRefused !== null, 'the refused version is shown in /config_dump')
    assert.ok(dump.lastRefused.errors.some(e => /route\.yaml:\d+: error: VirtualService\/test\/r/.test(e.text)), JSON.stringify(dump.lastRefused.errors))
    const metrics = (await request(`${gw.adminUrl}/metrics`)).body
    assert.match(metrics, /meshgate_config_reloads_total\{result="refused"\} [1-9]/)
  } finally {
    stop = true
    await agent.close()
    await gw.stop({ graceMs: 5_000 })
  }
})

test('SIGTERM lets a slow in-flight request finish with 200, readiness turns 503, exit code 0', async () => {
  await writeFile(join(dir, 'base.yaml'), fill(BASE, vars))
  await writeFile(join(dir, 'route.yaml'), route('a'))
  const gw = await startMeshgate(['serve', '--config', dir, '--host', '127.0.0.1'])
  const inflight = request(`http://127.0.0.1:${vars.port}/delay/1`, { headers: { host: 'r.test' } })
  await new Promise(resolve => setTimeout(resolve, 300))
  gw.kill('SIGTERM')
  await new Promise(resolve => setTimeout(resolve, 100))
  const ready = await probeStatus(`${gw.adminUrl}/healthz/ready`)
  assert.ok(ready === 503 || ready === null, `readiness while draining: ${ready}`)
  const r = await inflight
  assert.equal(r.status, 200)
  const exit = await gw.waitForExit(10_000)
  assert.equal(exit.code, 0)
  // One JSON access-log line per request, with Envoy-like fields.
  const line = gw.stdout.split('\n').filter(l => l.includes('"msg":"access"')).map(l => JSON.parse(l) as Record<string, unknown>).find(l => l.path === '/delay/1')
  assert.ok(line !== undefined, `no access line in:\n${gw.stdout}`)
  assert.equal(line.response_code, 200)
  assert.equal(line.method, 'GET')
  assert.equal(line.authority, 'r.test')
  assert.equal(line.virtual_service, 'test/r')
  assert.equal(line.response_flags, '-')
  assert.match(String(line.upstream_host), /^127\.0\.0\.1:\d+$/)
  assert.match(String(line.request_id), /^[0-9a-f-]{36}$/)
  assert.ok(typeof line.duration_ms === 'number' && line.duration_ms >= 900)
})

test('an invalid config at start exits 1 with file:line errors and no stack trace', async () => {
  const bad = await mkdtemp(join(tmpdir(), 'meshgate-bad-'))
  await writeFile(join(bad, 'vs.yaml'), route('a').replace('route: [', 'directResponse: {status: 200}\n    route: ['))
  const gw = await startMeshgate(['serve', '--config', bad, '--host', '127.0.0.1'], { waitReady: false })
  const exit = await gw.waitForExit(10_000)
  assert.equal(exit.code, 1)
  assert.match(gw.stderr, /vs\.yaml:\d+: error: VirtualService\/test\/r: http\[0\]/)
  assert.doesNotMatch(gw.stderr, /\n\s+at /)
  await rm(bad, { recursive: true, force: true })
})

test('--workers 2 shares the listener, aggregates metrics on the admin port, and stops cleanly', async () => {
  await writeFile(join(dir, 'base.yaml'), fill(BASE, vars))
  await writeFile(join(dir, 'route.yaml'), route('a'))
  // Started as a bare `node bin/meshgate.js`: the workers get meshgate's Node flags all the same.
  const gw = await startMeshgate(['serve', '--config', dir, '--host', '127.0.0.1', '--workers', '2', '--access-log', 'off'], { readyTimeoutMs: 20_000, bare: true })
  try {
    assert.ok(!readFileSync(`/proc/${gw.pid}/cmdline`, 'utf8').split('\0').includes(NODE_FLAGS[0]!))
    const workers = processTree(gw.pid).filter(pid => pid !== gw.pid).map(pid => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'))
    assert.equal(workers.length, 2)
    for (const argv of workers) for (const f of NODE_FLAGS) assert.ok(argv.includes(f), argv.join(' '))
    const answers = await Promise.all(Array.from({ length: 20 }, () => request(`http://127.0.0.1:${vars.port}/`, { headers: { host: 'r.test', connection: 'close' } })))
    assert.ok(answers.every(a => a.status === 200))
    const metrics = (await request(`${gw.adminUrl}/metrics`)).body
    const m = /meshgate_requests_total\{[^}]*virtual_service="test\/r"[^}]*code="200"[^}]*\} (\d+)/.exec(metrics)
    assert.ok(m !== null, metrics.slice(0, 2000))
    assert.equal(Number(m[1]), 20)
    const dump = (await request(`${gw.adminUrl}/config_dump`)).json<{ active: { version: string } }>()
    assert.match(dump.active.version, /^[0-9a-f]{12}$/)
  } finally {
    const exit = await gw.stop({ graceMs: 10_000 })
    assert.equal(exit.code, 0)
  }
})
