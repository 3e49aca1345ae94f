// `npm run bench [-- NAME...] [--rounds N] [--seconds S] [--connections C] ...`
//
// For each scenario (test/load/scenarios/): start the upstream, nginx as a
// reverse proxy, the Node floor and meshgate; pin the proxies to CPU 0 and the
// upstream and load generator to CPU 1; warm each up; run interleaved rounds
// (A B C D A B C D …); print one Markdown table with medians and ratios
// measured in the same run, the issue's goals as pass/fail lines, and write
// bench/results/<date>-<scenario>.json and .svg. `routes` runs the
// route-selection micro-benchmark. Goals never fail the process: it exits 1
// only when a contestant does not start, answers wrongly, or errors under load.
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { repoRoot, runMeshgate, spawnProcess } from '../helpers/processes.js'
import {
  startFloor, startMeshgateContestant, startNginxProxy, startUpstream, type Running, type Upstream, type UpstreamTlsFiles
} from './contestants/start.js'
import { autocannonTool, wrkTool, type LoadResult, type LoadSpec, type LoadTool } from './load-tools.js'
import { describeHostStalls, describeMachine, findTools, machineInfo, pinSelf, type MachineInfo, type Tools } from './machine.js'
import {
  cpuPerRequest, evaluateGoals, formatGoals, formatHalfLoad, formatTable, summarize, totalErrors, type GoalOutcome, type HalfLoad, type RoundFigure, type Row
} from './report.js'
import type { RouteSelectionRow } from './route-selection.js'
import { manyRoutesConfig } from './routes-config.js'
import { peakRssBytes, rssBytes, TreeSampler } from './rss.js'
import { formatSideBySide, measureSideBySide, type SideBySide } from './side-by-side.js'
import { BENCH_HOST, DEFAULT_RESPONSE_BYTES, type BenchRequest, type ContestantId, type Scenario } from './scenario.js'
import { SCENARIOS } from './scenarios/index.js'
import { plainConfig } from './scenarios/plain.js'
import { renderChart } from './svg-chart.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { initCa, issueWorkload } from '../../src/mesh-bridge/dev-ca.js'

const USAGE = `usage: npm run bench -- [NAME...] [--rounds N] [--seconds S] [--connections C] [--warmup S]
                        [--tool wrk|autocannon|both] [--autocannon-workers N] [--wrk-threads N] [--no-pin] [--no-nginx]
                        [--node-args="V8/NODE FLAGS"]   (adds a meshgate run with those flags, in the same rounds)
names: ${SCENARIOS.map(s => s.name).join(', ')}, routes (default: all)`

interface Options {
  names: string[]
  rounds: number
  seconds: number
  connections: number
  warmupSeconds: number
  tool: 'wrk' | 'autocannon' | 'both' | 'auto'
  autocannonWorkers: number
  wrkThreads: number
  pin: boolean
  /** Behave as if nginx were not installed: node:http upstream, no nginx contestant. */
  nginx: boolean
  /** `--node-args`: a second meshgate, started with these Node/V8 flags, measured beside the first. */
  nodeArgs: string[]
}

class UsageError extends Error {}

function positiveInt (value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--${name} must be a whole number ≥ 1, got ${JSON.stringify(value)}`)
  return Number(value)
}

function parseOptions (argv: string[]): Options {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        rounds: { type: 'string' },
        seconds: { type: 'string' },
        connections: { type: 'string' },
        warmup: { type: 'string' },
        tool: { type: 'string' },
        'autocannon-workers': { type: 'string' },
        'wrk-threads': { type: 'string' },
        'no-pin': { type: 'boolean' },
        'no-nginx': { type: 'boolean' },
        'node-args': { type: 'string' },
        help: { type: 'boolean' }
      }
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const v = parsed.values
  if (v.help === true) throw new UsageError('')
  const tool = v.tool ?? 'auto'
  if (tool !== 'wrk' && tool !== 'autocannon' && tool !== 'both' && tool !== 'auto') throw new UsageError(`--tool must be wrk, autocannon or both, got ${JSON.stringify(tool)}`)
  const known = [...SCENARIOS.map(s => s.name), 'routes']
  for (const name of parsed.positionals) {
    if (!known.includes(name)) throw new UsageError(`unknown scenario ${JSON.stringify(name)}; expected one of ${known.join(', ')}`)
  }
  return {
    names: parsed.positionals.length > 0 ? parsed.positionals : known,
    rounds: positiveInt(v.rounds, 'rounds', 5),
    seconds: positiveInt(v.seconds, 'seconds', 10),
    connections: positiveInt(v.connections, 'connections', 50),
    warmupSeconds: positiveInt(v.warmup, 'warmup', 3),
    tool,
    autocannonWorkers: positiveInt(v['autocannon-workers'], 'autocannon-workers', 2),
    wrkThreads: positiveInt(v['wrk-threads'], 'wrk-threads', 1),
    pin: v['no-pin'] !== true,
    nginx: v['no-nginx'] !== true,
    nodeArgs: (v['node-args'] ?? '').split(/\s+/).filter(a => a !== '')
  }
}

interface Context {
  readonly opts: Options
  readonly tools: Tools
  readonly machine: MachineInfo
  readonly loadTools: readonly LoadTool[]
  readonly scratchDir: string
  readonly outDir: string
  readonly date: string
}

function buildLoadTools (opts: Options, tools: Tools, scratchDir: string): LoadTool[] {
  const wrk = tools.wrk === null ? null : wrkTool(tools.wrk.bin, tools.wrk.version, opts.wrkThreads, scratchDir)
  const cannon = autocannonTool(opts.autocannonWorkers)
  if (opts.tool === 'auto') return [wrk ?? cannon]
  if (opts.tool === 'autocannon') return [cannon]
  if (wrk === null) throw new UsageError('--tool wrk needs the wrk binary: apt-get install wrk')
  return opts.tool === 'wrk' ? [wrk] : [wrk, cannon]
}

/** Where everything runs for one scenario. */
interface Placement {
  /** For the proxies under test. */
  readonly proxyCpus: string | undefined
  /** For the upstream and the load generator (this process, for autocannon). */
  readonly loadCpus: string | undefined
  readonly note: string
}

function placementFor (scenario: Scenario, ctx: Context): Placement {
  const all = `0-${ctx.machine.cores - 1}`
  if (ctx.tools.taskset === null) return { proxyCpus: undefined, loadCpus: undefined, note: 'not pinned: taskset is not installed (apt-get install util-linux)' }
  if (ctx.machine.cores < 2) return { proxyCpus: all, loadCpus: all, note: 'not pinned: one CPU only' }
  if ((scenario.workers ?? 1) > 1) return { proxyCpus: all, loadCpus: all, note: `not pinned: ${scenario.workers ?? 1} processes per proxy share all ${ctx.machine.cores} cores with the upstream and the load generator` }
  if (!ctx.opts.pin) return { proxyCpus: all, loadCpus: all, note: 'not pinned (--no-pin)' }
  return { proxyCpus: '0', loadCpus: '1', note: 'pinned with taskset: the proxy under test on CPU 0; upstream and load generator on CPU 1' }
}

/** One request as the load tool sends it: 2xx and the upstream's body length, or an error saying what came back. */
function probe (port: number, request: BenchRequest): Promise<{ status: number, bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: request.method, path: request.path, headers: { ...request.headers, host: BENCH_HOST }, agent: false, timeout: 10_000 }, res => {
      let bytes = 0
      res.on('data', (chunk: Buffer) => { bytes += chunk.length })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, bytes }) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error('no answer within 10 s')) })
    req.on('error', reject)
    req.end()
  })
}

async function checkAnswers (running: readonly Running[], request: BenchRequest, bytes: number): Promise<void> {
  for (const c of running) {
    const got = await probe(c.port, request)
    if (got.status < 200 || got.status > 299 || got.bytes !== bytes) {
      throw new Error(`${c.label} answered ${got.status} with ${got.bytes} bytes to ${request.method} ${request.path}; expected 2xx with ${bytes} bytes`)
    }
  }
}

/** `meshgate explain` on the same config must pick the route the scenario means to hit. */
async function checkRoute (scenario: Scenario, configDir: string, port: number): Promise<string> {
  const want = scenario.expectRoute
  if (want === undefined) return ''
  const headers = Object.entries(scenario.request.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`])
  const r = await runMeshgate(['explain', ...(scenario.meshgateArgs ?? []), '--config', configDir, '--url', `http://${BENCH_HOST}:${port}${scenario.request.path}`, '-X', scenario.request.method, ...headers], { timeoutMs: 60_000 })
  // Exit 2 (no route) still prints the JSON; anything else is a refused config or a crash.
  if (r.code !== 0 && r.code !== 2) throw new Error(`meshgate explain exited ${String(r.code)}: ${r.stderr.trim()}`)
  const e = JSON.parse(r.stdout) as { virtualService?: string, route?: { name?: string, position?: number } }
  if (e.virtualService !== want.virtualService || e.route?.name !== want.route) {
    throw new Error(`meshgate explain picks ${e.virtualService ?? 'no VirtualService'} route ${e.route?.name ?? 'none'}; the scenario expects ${want.virtualService} route ${want.route}`)
  }
  return `meshgate explain: ${want.virtualService} route "${want.route}" (position ${e.route?.position ?? '?'} in the host's route table)`
}

function progress (line: string): void {
  process.stderr.write(`  ${line}\n`)
}

interface ScenarioOutcome {
  readonly errors: number
  readonly failed: string | null
}

/** One load run with the contestant's process tree sampled meanwhile (peak RSS, CPU time). */
async function measured (c: Running, run: () => Promise<LoadResult>): Promise<RoundFigure> {
  // The tree is read at the start of each run: workers are up by then.
  const sampler = c.pid === null ? null : new TreeSampler(c.pid).start()
  const result = await run()
  const usage = sampler?.stop() ?? null
  return { ...result, peakRssBytes: usage?.peakRssBytes ?? null, cpuUsPerRequest: cpuPerRequest(usage?.cpuMicros ?? null, result.requests) }
}

async function measureRounds (ctx: Context, scenario: Scenario, running: readonly Running[], placement: Placement): Promise<Row[]> {
  const spec = (port: number, seconds: number): LoadSpec => ({
    port, request: scenario.request, connections: ctx.opts.connections, seconds, cpuList: placement.loadCpus
  })
  for (const c of running) {
    for (const tool of ctx.loadTools) await tool.run(spec(c.port, ctx.opts.warmupSeconds))
  }
  const rows: Row[] = running.flatMap(c => ctx.loadTools.map(t => ({ id: c.id, label: c.label, tool: t.name, rounds: [] })))
  for (let round = 1; round <= ctx.opts.rounds; round++) {
    for (const c of running) {
      for (const tool of ctx.loadTools) {
        const result = await measured(c, () => tool.run(spec(c.port, ctx.opts.seconds)))
        const row = rows.find(r => r.id === c.id && r.tool === tool.name) as Row
        row.rounds.push(result)
        const errors = result.non2xx + result.socketErrors
        progress(`round ${round}/${ctx.opts.rounds}  ${c.label} (${tool.name}): ${Math.round(result.rps).toLocaleString('en-US')} req/s, p99 ${result.p99Ms.toFixed(2)} ms${errors > 0 ? `, ${errors} errors` : ''}`)
      }
    }
  }
  return rows
}

/** p99 of the goal's two contestants, both paced at half of meshgate's median req/s. */
async function measureHalfLoad (ctx: Context, scenario: Scenario, running: readonly Running[], placement: Placement, rows: readonly Row[]): Promise<HalfLoad | null> {
  const goal = scenario.goals.find(g => g.metric === 'p99AtHalfLoad')
  if (goal === undefined) return null
  const tool = ctx.loadTools[0] as LoadTool
  // The tuned meshgate (--node-args), when there is one, is paced at the same rate.
  const ids = running.some(c => c.id === 'meshgate-tuned') ? [goal.of, 'meshgate-tuned' as ContestantId, goal.to] : [goal.of, goal.to]
  const pair = ids.map(id => running.find(c => c.id === id))
  if (pair.some(c => c === undefined)) return null
  const meshgate = rows.find(r => r.id === goal.of && r.tool === tool.name)
  if (meshgate === undefined) return null
  const targetRps = summarize([meshgate])[0]!.rps / 2
  const runs: Array<{ id: ContestantId, rounds: RoundFigure[] }> = pair.map(c => ({ id: (c as Running).id, rounds: [] }))
  // As many rounds as at full load: the p99 goal sits near its line, and a median of three moved with one slow round.
  const roundCount = ctx.opts.rounds
  for (let round = 1; round <= roundCount; round++) {
    for (const run of runs) {
      const c = running.find(x => x.id === run.id) as Running
      const result = await measured(c, () => tool.run({ port: c.port, request: scenario.request, connections: ctx.opts.connections, seconds: ctx.opts.seconds, cpuList: placement.loadCpus, rate: targetRps }))
      run.rounds.push(result)
      progress(`half load ${round}/${roundCount}  ${c.label} (${tool.name}): ${Math.round(result.rps).toLocaleString('en-US')} req/s, p99 ${result.p99Ms.toFixed(2)} ms`)
    }
  }
  return { tool: tool.name, targetRps, runs }
}

/**
 * For a scenario compared with the plain config: both meshgates loaded at the
 * same time on the proxy's core (wrk only, one process each, pinned), so the
 * host's noise hits both alike. Twice as many rounds as the others, of at
 * most 3 s (short rounds are enough for a ratio both sides share).
 */
async function measurePlainSideBySide (ctx: Context, scenario: Scenario, running: readonly Running[], placement: Placement): Promise<SideBySide | null> {
  const tool = ctx.loadTools.find(t => t.name === 'wrk')
  const meshgate = running.find(c => c.id === 'meshgate')
  const plain = running.find(c => c.id === 'meshgate-plain')
  if (scenario.comparePlain !== true || tool === undefined || meshgate?.pid == null || plain?.pid == null) return null
  if ((scenario.workers ?? 1) > 1 || placement.proxyCpus !== '0' || process.platform !== 'linux') return null
  const rounds = ctx.opts.rounds * 2
  return await measureSideBySide({ label: 'the plain config', pid: plain.pid, port: plain.port }, { label: scenario.name, pid: meshgate.pid, port: meshgate.port }, {
    tool,
    rounds,
    seconds: Math.min(ctx.opts.seconds, 3),
    spec: (port, seconds) => ({ port, request: scenario.request, connections: ctx.opts.connections, seconds, cpuList: placement.loadCpus }),
    onRound: (round, r) => { progress(`side by side ${round}/${rounds}: ${scenario.name} ${r.cpuPerRequestB.toFixed(1)} µs CPU/request, plain ${r.cpuPerRequestA.toFixed(1)} (×${(r.cpuPerRequestB / r.cpuPerRequestA).toFixed(2)})`) }
  })
}

async function runScenario (ctx: Context, scenario: Scenario): Promise<ScenarioOutcome> {
  const workers = scenario.workers ?? 1
  const bytes = scenario.upstreamResponse?.bytes ?? DEFAULT_RESPONSE_BYTES
  const placement = placementFor(scenario, ctx)
  if (ctx.tools.taskset !== null) await pinSelf(ctx.tools.taskset, placement.loadCpus ?? `0-${ctx.machine.cores - 1}`)
  process.stdout.write(`\n## ${scenario.name}: ${scenario.description}\n\n`)
  const running: Running[] = []
  let redis: RedisServer | null = null
  try {
    if (scenario.redis === true) redis = await startRedis()
    const meshgateArgs = [...(scenario.meshgateArgs ?? []), ...(redis === null ? [] : ['--redis', redis.url])]
    let tls: UpstreamTlsFiles | null = null
    if (scenario.upstreamMtls === true) {
      const pki = path.join(ctx.scratchDir, `pki-${scenario.name}`)
      const ca = await initCa(path.join(pki, 'ca'))
      await issueWorkload(ca, path.join(pki, 'upstream'), { spiffe: 'spiffe://cluster.local/ns/bench/sa/upstream' })
      await issueWorkload(ca, path.join(pki, 'gateway'), { spiffe: 'spiffe://cluster.local/ns/istio-system/sa/meshgate' })
      tls = { cert: await readFile(path.join(pki, 'upstream', 'cert-chain.pem'), 'utf8'), key: await readFile(path.join(pki, 'upstream', 'key.pem'), 'utf8'), ca: ca.certPem }
      meshgateArgs.push('--identity-dir', path.join(pki, 'gateway'))
    }
    const upstream: Upstream = await startUpstream(ctx.tools.nginx, bytes, placement.loadCpus, tls)
    running.push(upstream)
    if (ctx.tools.nginx !== null) running.push(await startNginxProxy(scenario, ctx.tools.nginx.version, upstream.port, workers, placement.proxyCpus))
    running.push(await startFloor(upstream.port, workers, placement.proxyCpus))
    const meshgateLabel = workers > 1 ? `meshgate --workers ${workers}` : 'meshgate'
    const meshgate = await startMeshgateContestant('meshgate', meshgateLabel, scenario.meshgateConfig, upstream.mtlsPort ?? upstream.port, workers, ctx.scratchDir, placement.proxyCpus, meshgateArgs)
    running.push(meshgate)
    if (ctx.opts.nodeArgs.length > 0) {
      running.push(await startMeshgateContestant('meshgate-tuned', `${meshgateLabel}, node ${ctx.opts.nodeArgs.join(' ')}`, scenario.meshgateConfig, upstream.mtlsPort ?? upstream.port, workers, ctx.scratchDir, placement.proxyCpus, meshgateArgs, ctx.opts.nodeArgs))
    }
    if (scenario.comparePlain === true) {
      running.push(await startMeshgateContestant('meshgate-plain', `${meshgateLabel}, plain config (one route)`, plainConfig, upstream.port, workers, ctx.scratchDir, placement.proxyCpus))
    }
    const routeNote = await checkRoute(scenario, meshgate.configDir, meshgate.port)
    await checkAnswers(running, scenario.request, bytes)

    const rows = await measureRounds(ctx, scenario, running, placement)
    const halfLoad = await measureHalfLoad(ctx, scenario, running, placement, rows)
    const sideBySide = await measurePlainSideBySide(ctx, scenario, running, placement)
    const summary = summarize(rows)
    const goals = evaluateGoals(scenario, rows, (ctx.loadTools[0] as LoadTool).name, halfLoad)
    const settings = `${ctx.opts.connections} connections, ${ctx.opts.rounds} interleaved round${ctx.opts.rounds === 1 ? '' : 's'} of ${ctx.opts.seconds} s after a ${ctx.opts.warmupSeconds} s warm-up per contestant; medians of rounds`
    const notes = [
      `upstream: ${upstream.kind}`,
      placement.note,
      `load: ${ctx.loadTools.map(t => t.label).join(' and ')}; ${settings}`,
      ...(ctx.tools.nginx === null ? ['nginx is not installed (apt-get install nginx): no nginx contestant, no ratios to it'] : []),
      ...(routeNote === '' ? [] : [routeNote])
    ]
    process.stdout.write(notes.map(n => `${n}  \n`).join('') + '\n' + formatTable(summary) + '\n\n')
    if (halfLoad !== null) process.stdout.write(formatHalfLoad(halfLoad) + '\n\n')
    if (sideBySide !== null) process.stdout.write(formatSideBySide(sideBySide) + '\n\n')
    process.stdout.write(`Goals (benchmark issue; reported, never enforced):\n${formatGoals(goals)}\n`)
    const files = await writeResults(ctx, scenario, { upstream: upstream.kind, placement: placement.note, settings, routeNote, rows, summary, halfLoad, sideBySide, goals })
    process.stdout.write(`\nresults: ${files.map(f => path.relative(repoRoot, f)).join(', ')}\n`)
    return { errors: totalErrors(summary, halfLoad), failed: null }
  } catch (err) {
    const message = (err as Error).message
    process.stdout.write(`scenario ${scenario.name} failed: ${message}\n`)
    return { errors: 0, failed: message }
  } finally {
    for (const c of running.reverse()) await c.stop().catch(() => {})
    await redis?.stop().catch(() => {})
  }
}

interface ScenarioRecord {
  upstream: string
  placement: string
  settings: string
  routeNote: string
  rows: Row[]
  summary: ReturnType<typeof summarize>
  halfLoad: HalfLoad | null
  sideBySide: SideBySide | null
  goals: GoalOutcome[]
}

async function writeResults (ctx: Context, scenario: Scenario, record: ScenarioRecord): Promise<string[]> {
  await mkdir(ctx.outDir, { recursive: true })
  const base = path.join(ctx.outDir, `${ctx.date}-${scenario.name}`)
  const json = {
    scenario: scenario.name,
    description: scenario.description,
    takenAt: new Date().toISOString(),
    machine: ctx.machine,
    tools: ctx.loadTools.map(t => t.label),
    settings: { rounds: ctx.opts.rounds, seconds: ctx.opts.seconds, warmupSeconds: ctx.opts.warmupSeconds, connections: ctx.opts.connections, summary: record.settings },
    placement: record.placement,
    upstream: record.upstream,
    request: { ...scenario.request, host: BENCH_HOST },
    responseBytes: scenario.upstreamResponse?.bytes ?? DEFAULT_RESPONSE_BYTES,
    route: record.routeNote,
    summary: record.summary,
    contestants: record.rows,
    halfLoad: record.halfLoad,
    sideBySide: record.sideBySide,
    goals: record.goals
  }
  await writeFile(`${base}.json`, JSON.stringify(json, null, 2) + '\n')
  const subtitle = `${ctx.date} · ${ctx.loadTools.map(t => t.label).join(' / ')} · ${ctx.opts.connections} connections · ${ctx.machine.cores} cores · ${record.placement.split(':')[0] ?? ''}`
  await writeFile(`${base}.svg`, renderChart(`meshgate benchmark: ${scenario.name}`, [scenario.description, subtitle], record.summary))
  return [`${base}.json`, `${base}.svg`]
}

const ROUTE_SELECTION_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'route-selection.js')

/** Memory of `meshgate serve` holding the 10,000-route config, started as the image starts it, with no traffic. */
interface ServedRss {
  /** RSS once /healthz/ready answers 200: the config is loaded and served. */
  readonly readyMb: number
  /** VmHWM by then: the most it had resident, which is while it parsed and compiled the config. */
  readonly peakMb: number
  /** The lowest RSS sampled each second over IDLE_S seconds without traffic: where it settles once V8's memory reducer has run (its timing varies). */
  readonly idleMb: number
}

const SERVED_ROUTES = 10_000
const IDLE_S = 60
const MIB = 1024 * 1024

async function measureServedRss (ctx: Context, cpuList: string | undefined): Promise<ServedRss | string> {
  // Nothing listens on the upstream port: no request is sent, and meshgate does not probe upstreams.
  const mg = await startMeshgateContestant('meshgate', 'meshgate, 10,000 routes', (up, listen) => manyRoutesConfig(SERVED_ROUTES, up, listen), 1, 1, ctx.scratchDir, cpuList)
  try {
    const pid = mg.pid!
    const ready = rssBytes(pid)
    const peak = peakRssBytes(pid)
    let idle: number | null = ready
    for (let i = 0; i < IDLE_S; i++) {
      await new Promise(resolve => setTimeout(resolve, 1000))
      const now = rssBytes(pid)
      if (now !== null && (idle === null || now < idle)) idle = now
    }
    if (ready === null || peak === null || idle === null) return 'no /proc/<pid>/status on this system'
    return { readyMb: ready / MIB, peakMb: peak / MIB, idleMb: idle / MIB }
  } finally {
    await mg.stop()
  }
}

/** The route-selection micro-benchmark in its own process (fresh heap, --expose-gc), with its goals, then the memory of a served 10,000-route config. */
async function runRoutes (ctx: Context): Promise<ScenarioOutcome> {
  process.stdout.write('\n## routes: route selection without the network (10 / 1,000 / 10,000 routes, late route), compile time, memory\n\n')
  const cpuList = ctx.tools.taskset !== null && ctx.machine.cores >= 2 && ctx.opts.pin ? '0' : undefined
  const proc = await spawnProcess(process.execPath, ['--expose-gc', ROUTE_SELECTION_SCRIPT, '--json'], { name: 'route-selection', cpuList })
  const exit = await proc.waitForExit(300_000)
  if (exit.code !== 0) {
    process.stdout.write(`routes failed\n${proc.describeOutput()}\n`)
    return { errors: 0, failed: 'route-selection exited non-zero' }
  }
  const { rows } = JSON.parse(proc.stdout) as { rows: RouteSelectionRow[] }
  let served: ServedRss | string
  try {
    served = await measureServedRss(ctx, cpuList)
  } catch (err) {
    process.stdout.write(`routes failed: meshgate serve with ${SERVED_ROUTES.toLocaleString('en-US')} routes did not start\n${(err as Error).message}\n`)
    return { errors: 0, failed: 'meshgate serve with 10,000 routes did not start' }
  }
  const at = (n: number): RouteSelectionRow | undefined => rows.find(r => r.routes === n)
  const small = at(10)
  const large = at(10_000)
  const lines = ['| routes | compile ms | ns per selection | × at 10 routes | heap MiB | RSS MiB (this process) |', '|---|---|---|---|---|---|']
  for (const r of rows) {
    lines.push(`| ${r.routes.toLocaleString('en-US')} | ${r.compileMs.toFixed(0)} | ${r.nsPerSelection.toFixed(0)} | ${(r.nsPerSelection / (small?.nsPerSelection ?? 1)).toFixed(2)} | ${r.heapMb.toFixed(0)} | ${r.rssMb.toFixed(0)} |`)
  }
  const servedLines = typeof served === 'string'
    ? [`\`meshgate serve\` with ${SERVED_ROUTES.toLocaleString('en-US')} routes: not measured (${served})`]
    : [
        `\`meshgate serve\` with ${SERVED_ROUTES.toLocaleString('en-US')} routes, started as the image starts it, no traffic:`, '',
        '| RSS MiB when ready | peak RSS MiB (during the load) | lowest RSS MiB in ' + String(IDLE_S) + ' s idle |', '|---|---|---|',
        `| ${served.readyMb.toFixed(0)} | ${served.peakMb.toFixed(0)} | ${served.idleMb.toFixed(0)} |`
      ]
  const goals: GoalOutcome[] = []
  if (small !== undefined && large !== undefined) {
    const ratio = large.nsPerSelection / small.nsPerSelection
    goals.push(
      { label: 'route selection at 10,000 routes ≤ 1.3× the cost at 10', pass: ratio <= 1.3, value: ratio, detail: `${ratio.toFixed(2)}× (${large.nsPerSelection.toFixed(0)} vs ${small.nsPerSelection.toFixed(0)} ns)` },
      { label: 'compile of 10,000 routes ≤ 1 s', pass: large.compileMs <= 1000, value: large.compileMs, detail: `${large.compileMs.toFixed(0)} ms (files read, validated, compiled)` }
    )
  }
  goals.push(typeof served === 'string'
    ? { label: 'RSS ≤ 150 MB with 10,000 routes loaded', pass: null, value: null, detail: served }
    : { label: 'RSS ≤ 150 MB with 10,000 routes loaded', pass: served.peakMb * 1.048576 <= 150, value: served.peakMb, detail: `meshgate serve: peak ${(served.peakMb * 1.048576).toFixed(0)} MB during the load, ${(served.readyMb * 1.048576).toFixed(0)} MB when ready, ${(served.idleMb * 1.048576).toFixed(0)} MB at the lowest in ${IDLE_S} s idle` })
  process.stdout.write(`${cpuList === undefined ? 'not pinned' : 'pinned to CPU 0'}; no network\n\n${lines.join('\n')}\n\n${servedLines.join('\n')}\n\nGoals (benchmark issue; reported, never enforced):\n${formatGoals(goals)}\n`)
  await mkdir(ctx.outDir, { recursive: true })
  const file = path.join(ctx.outDir, `${ctx.date}-routes.json`)
  await writeFile(file, JSON.stringify({ scenario: 'routes', takenAt: new Date().toISOString(), machine: ctx.machine, rows, served, goals }, null, 2) + '\n')
  process.stdout.write(`\nresults: ${path.relative(repoRoot, file)}\n`)
  return { errors: 0, failed: null }
}

async function main (): Promise<number> {
  let opts: Options
  try {
    opts = parseOptions(process.argv.slice(2))
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`${err.message === '' ? '' : `bench: ${err.message}\n`}${USAGE}\n`)
    return err.message === '' ? 0 : 2
  }
  const found = await findTools()
  const tools: Tools = opts.nginx ? found : { ...found, nginx: null }
  const machine = await machineInfo(tools)
  const scratchDir = await mkdtemp(path.join(os.tmpdir(), 'meshgate-bench-'))
  // Also on Ctrl-C: processes.ts kills the children it tracks and exits, which runs this.
  process.on('exit', () => { rmSync(scratchDir, { recursive: true, force: true }) })
  let loadTools: LoadTool[]
  try {
    loadTools = buildLoadTools(opts, tools, scratchDir)
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`)
    return 2
  }
  const ctx: Context = { opts, tools, machine, loadTools, scratchDir, outDir: path.join(repoRoot, 'bench', 'results'), date: new Date().toISOString().slice(0, 10) }
  const busy = machine.cpuBusyBefore === null ? 'unknown' : `${Math.round(machine.cpuBusyBefore * 100)} %`
  const busyWarning = (machine.cpuBusyBefore ?? 0) > 0.2 ? ' (something else is running: figures will be noisy)' : ''
  process.stdout.write(`# meshgate benchmark, ${ctx.date}\n\nmeshgate ${machine.commit}  \nmachine: ${describeMachine(machine)}; CPU busy in the second before the run: ${busy}${busyWarning}  \n${describeHostStalls(machine.hostStalls)}  \n`)
  process.stdout.write(`tools: ${loadTools.map(t => t.label).join(', ')}${tools.wrk === null ? ' (wrk is not installed: apt-get install wrk)' : ''}; nginx ${tools.nginx?.version ?? 'not installed (apt-get install nginx)'}; taskset ${tools.taskset === null ? 'not installed' : 'yes'}\n`)
  const outcomes: Array<{ name: string, outcome: ScenarioOutcome }> = []
  for (const name of opts.names) {
    const scenario = SCENARIOS.find(s => s.name === name)
    const outcome = scenario === undefined ? await runRoutes(ctx) : await runScenario(ctx, scenario)
    outcomes.push({ name, outcome })
  }
  const bad = outcomes.filter(o => o.outcome.failed !== null || o.outcome.errors > 0)
  if (bad.length > 0) {
    process.stdout.write(`\nbench: errors in ${bad.map(o => o.outcome.failed !== null ? `${o.name} (did not run: ${o.outcome.failed.split('\n')[0] ?? ''})` : `${o.name} (${o.outcome.errors} errors under load)`).join(', ')}\n`)
    return 1
  }
  return 0
}

main().then(code => { process.exitCode = code }, err => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
