// Micro-benchmark, no network: route selection per request at 10 / 1,000 /
// 10,000 routes (one virtual host, the request hitting a late route, with
// header, regex and query matches in the way), compile time, and memory with
// 10,000 routes loaded. Run: `npm run bench -- routes` (which adds --expose-gc
// and prints the goals), or after a build `node --expose-gc dist/test/load/route-selection.js [--json]`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/gateway/config-loader.js'
import { RequestFacts } from '../../src/gateway/dataplane/request-facts.js'
import { newSelection, selectRoute } from '../../src/gateway/dataplane/route-request.js'
import type { Snapshot } from '../../src/gateway/snapshot.js'
import { manyRoutesConfig } from './routes-config.js'

async function load (routes: number): Promise<{ snapshot: Snapshot, compileMs: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-routes-'))
  try {
    await writeFile(join(dir, 'c.yaml'), manyRoutesConfig(routes, 1, 8080))
    const t0 = performance.now()
    const r = await loadConfig([dir], { gatewayLabels: {}, credentialsDir: null })
    const compileMs = performance.now() - t0
    if (r.snapshot === null) throw new Error(`config refused: ${r.issues.map(i => i.message).join('; ')}`)
    return { snapshot: r.snapshot, compileMs }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function nsPerSelection (snapshot: Snapshot, routes: number): number {
  // The last exact route: a linear scan would test every matcher before it.
  const target = routes - 1 - ((routes - 3) % 4 + 4) % 4
  const f = new RequestFacts('GET', 'http', 'bench.test', `/exact-${target}?v=${target}`, { 'x-tenant': 'nobody' }, 8080, '127.0.0.1', '')
  const sel = newSelection()
  const want = `r${target}`
  if (selectRoute(snapshot, f, sel).route?.name !== want) throw new Error(`expected ${want}, got ${sel.route?.name ?? 'no route'}`)
  const n = 200_000
  for (let i = 0; i < 20_000; i++) selectRoute(snapshot, f, sel)
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) selectRoute(snapshot, f, sel)
  return Number(process.hrtime.bigint() - t0) / n
}

export interface RouteSelectionRow {
  routes: number
  compileMs: number
  nsPerSelection: number
  heapMb: number
  /** Process RSS right after this config was loaded (the previous ones collectable). */
  rssMb: number
}

async function main (): Promise<void> {
  const rows: RouteSelectionRow[] = []
  for (const routes of [10, 1000, 10000]) {
    global.gc?.()
    const { snapshot, compileMs } = await load(routes)
    global.gc?.()
    const { heapUsed, rss } = process.memoryUsage()
    rows.push({ routes, compileMs, nsPerSelection: nsPerSelection(snapshot, routes), heapMb: heapUsed / 1024 / 1024, rssMb: rss / 1024 / 1024 })
  }
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify({ gcExposed: global.gc !== undefined, rows }) + '\n')
    return
  }
  const base = rows[0]?.nsPerSelection ?? 1
  const lines = ['| routes | compile ms | ns per selection | heap MB after load | RSS MB after load |', '|---|---|---|---|---|']
  for (const r of rows) {
    lines.push(`| ${r.routes} | ${r.compileMs.toFixed(0)} | ${r.nsPerSelection.toFixed(0)} (${(r.nsPerSelection / base).toFixed(2)}× at 10) | ${r.heapMb.toFixed(0)} | ${r.rssMb.toFixed(0)} |`)
  }
  if (global.gc === undefined) lines.push('', '(run with --expose-gc for steadier heap figures)')
  process.stdout.write(lines.join('\n') + '\n')
}

main().catch(err => {
  process.stderr.write(`route-selection failed: ${(err as Error).message}\n`)
  process.exitCode = 1
})
