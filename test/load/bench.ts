// `npm run bench`: autocannon against an upstream directly and through meshgate,
// in interleaved rounds, printing one table with ratios measured in the same run.
// Throughput targets live here, never in timed unit tests.
import autocannon from 'autocannon'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { meshgateBin } from '../helpers/processes.js'
import { getFreePort } from '../helpers/ports.js'

interface Result { name: string, rps: number, p50: number, p99: number, errors: number }

const DURATION_S = Number(process.env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)

function run (name: string, url: string, host: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers: { host } }, (err, r) => {
      if (err !== null && err !== undefined) { reject(err); return }
      resolve({ name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx })
    })
  })
}

async function startUpstream (): Promise<Server> {
  const body = JSON.stringify({ ok: true, pad: 'x'.repeat(80) })
  const server = createServer({ keepAlive: true }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  server.keepAliveTimeout = 65_000
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return server
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

async function main (): Promise<void> {
  const upstream = await startUpstream()
  const upPort = (upstream.address() as AddressInfo).port
  const gwPort = await getFreePort()
  const adminPort = await getFreePort()
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-bench-'))
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'bench.yaml'), `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bench, namespace: bench}
spec:
  servers:
  - port: {number: ${gwPort}, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: up, namespace: bench}
spec:
  hosts: [up.bench.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${upPort}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bench, namespace: bench}
spec:
  hosts: [bench.test]
  gateways: [bench]
  http:
  - match: [{headers: {x-never: {exact: "1"}}}]
    route: [{destination: {host: up}}]
  - match: [{uri: {prefix: /}}]
    route: [{destination: {host: up}}]
`)
  const gw: ChildProcess = spawn(process.execPath, [meshgateBin, 'serve', '--config', dir, '--host', '127.0.0.1', '--admin-port', String(adminPort), '--access-log', 'off', '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] })
  try {
    const deadline = Date.now() + 15_000
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${adminPort}/healthz/ready`).then(r => r.status === 200, () => false)
      if (ok) break
      if (Date.now() > deadline) throw new Error('meshgate did not become ready')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    // Warm-up, then interleaved rounds so that drift hits both contestants alike.
    await run('warmup', `http://127.0.0.1:${gwPort}/`, 'bench.test')
    const direct: Result[] = []
    const proxied: Result[] = []
    for (let i = 0; i < ROUNDS; i++) {
      direct.push(await run('upstream directly', `http://127.0.0.1:${upPort}/`, 'bench.test'))
      proxied.push(await run('meshgate', `http://127.0.0.1:${gwPort}/`, 'bench.test'))
    }
    const rows = [direct, proxied].map(rs => ({
      name: rs[0]!.name,
      rps: median(rs.map(r => r.rps)),
      p50: median(rs.map(r => r.p50)),
      p99: median(rs.map(r => r.p99)),
      errors: rs.reduce((n, r) => n + r.errors, 0)
    }))
    const ceiling = rows[0]!.rps
    process.stdout.write(`load tool: autocannon (one process), ${CONNECTIONS} connections, ${DURATION_S}s × ${ROUNDS} interleaved rounds, median\n`)
    process.stdout.write('| contestant | req/s | p50 ms | p99 ms | errors | × upstream |\n|---|---|---|---|---|---|\n')
    for (const r of rows) process.stdout.write(`| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.errors} | ${(r.rps / ceiling).toFixed(2)} |\n`)
  } finally {
    gw.kill('SIGTERM')
    await new Promise(resolve => gw.once('exit', resolve))
    upstream.closeAllConnections()
    upstream.close()
    await rm(dir, { recursive: true, force: true })
  }
}

main().catch(err => {
  process.stderr.write(`bench failed: ${(err as Error).message}\n`)
  process.exitCode = 1
})
