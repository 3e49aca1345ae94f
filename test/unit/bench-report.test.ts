import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnProcess } from '../helpers/processes.js'
import { cpuPerRequest, evaluateGoals, formatGoals, formatHalfLoad, formatTable, summarize, type HalfLoad, type RoundFigure, type Row } from '../load/report.js'
import type { Scenario } from '../load/scenario.js'
import { TreeSampler } from '../load/rss.js'

function round (rps: number, cpuUsPerRequest: number | null): RoundFigure {
  return { tool: 'wrk', rps, p50Ms: 0.5, p99Ms: 1, p999Ms: 2, requests: rps * 10, non2xx: 0, socketErrors: 0, peakRssBytes: 64 * 1024 * 1024, cpuUsPerRequest }
}

test('the bench table shows the median CPU time per request, and a dash where it was not measured', () => {
  const rows: Row[] = [
    { id: 'nginx', label: 'nginx', tool: 'wrk', rounds: [round(60_000, 11), round(62_000, 10), round(58_000, 12.5)] },
    { id: 'meshgate', label: 'meshgate', tool: 'wrk', rounds: [round(30_000, 25), round(31_000, null), round(29_000, 23)] },
    { id: 'direct', label: 'upstream directly', tool: 'wrk', rounds: [round(70_000, null)] }
  ]
  const summary = summarize(rows)
  assert.equal(summary.find(r => r.id === 'nginx')?.cpuUs, 11)
  // Rounds without a figure are left out of the median, not counted as zero.
  assert.equal(summary.find(r => r.id === 'meshgate')?.cpuUs, 24)
  assert.equal(summary.find(r => r.id === 'direct')?.cpuUs, null)
  const lines = formatTable(summary).split('\n')
  assert.match(lines[0]!, /\| CPU µs\/request \|/)
  assert.match(lines.find(l => l.startsWith('| meshgate '))!, /\| 64 \| 24\.0 \| 0\.50 \|/)
  assert.match(lines.find(l => l.startsWith('| upstream directly '))!, /\| 64 \| — \| 1\.17 \|/)
})

test('the half-load line gives p50, p99 and CPU per request of both contestants', () => {
  const line = formatHalfLoad({
    tool: 'wrk',
    targetRps: 15_000,
    runs: [
      { id: 'meshgate', rounds: [round(14_000, 28), round(14_200, 27), round(13_900, 30)] },
      { id: 'nginx', rounds: [round(14_500, 12), round(14_400, null), round(14_600, 13)] }
    ]
  })
  assert.match(line, /meshgate 0\.50 \/ 1\.00 ms p50 \/ p99 at 14,000 req\/s \(28\.0 µs CPU\/request\)/)
  assert.match(line, /nginx 0\.50 \/ 1\.00 ms p50 \/ p99 at 14,500 req\/s \(12\.5 µs CPU\/request\)/)
  assert.equal(cpuPerRequest(null, 10), null)
  assert.equal(cpuPerRequest(1_000, 0), null)
  assert.equal(cpuPerRequest(1_000, 10), 100)
})

test('the tree sampler counts the CPU time a busy child process used while it ran', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  // The child spins for 400 ms after it says it is ready, then idles until stopped.
  const child = await spawnProcess(process.execPath, ['-e', `
    process.stdout.write('ready\\n')
    const end = Date.now() + 400
    while (Date.now() < end) {}
    process.stdout.write('done\\n')
    setInterval(() => {}, 1000)
  `], { name: 'spinner' })
  try {
    await child.waitForOutput('ready')
    const sampler = new TreeSampler(child.pid).start()
    await child.waitForOutput('done')
    const usage = sampler.stop()
    assert.ok(usage.cpuMicros !== null && usage.cpuMicros >= 200_000, `CPU time ${String(usage.cpuMicros)} µs`)
    assert.ok(usage.peakRssBytes !== null && usage.peakRssBytes > 0)
  } finally {
    await child.stop({ graceMs: 1_000 })
  }
})

test('a ratio goal shows its spread over rounds: each round against the same round of the other', () => {
  const scenario = {
    goals: [
      { label: 'full stack ≥ 0.7× plain', metric: 'rps', of: 'meshgate', to: 'meshgate-plain', min: 0.7 },
      { label: 'p99 ≤ 2× nginx', metric: 'p99AtHalfLoad', of: 'meshgate', to: 'nginx', max: 2 },
      { label: 'RSS ≤ floor', metric: 'peakRss', of: 'meshgate', to: 'floor', max: 1 }
    ]
  } as unknown as Scenario
  // Medians 21,600 against 30,000 (0.72×: met), but round by round 0.60, 0.80, 0.72, 0.65, 0.75.
  const rows: Row[] = [
    { id: 'meshgate', label: 'meshgate', tool: 'wrk', rounds: [18_000, 24_000, 21_600, 21_000, 22_500].map(x => round(x, 40)) },
    { id: 'meshgate-plain', label: 'plain', tool: 'wrk', rounds: [30_000, 30_000, 30_000, 32_308, 30_000].map(x => round(x, 28)) },
    { id: 'floor', label: 'floor', tool: 'wrk', rounds: [round(15_000, 50)] }
  ]
  const p99 = (ms: number): RoundFigure => ({ ...round(12_000, 40), p99Ms: ms })
  const halfLoad: HalfLoad = {
    tool: 'wrk',
    targetRps: 12_000,
    runs: [
      { id: 'meshgate', rounds: [p99(2.5), p99(2.2), p99(3.3)] },
      { id: 'nginx', rounds: [p99(1.0), p99(1.25), p99(1.5)] }
    ]
  }
  const [rps, latency, rss, errors] = evaluateGoals(scenario, rows, 'wrk', halfLoad)
  assert.equal(rps!.pass, true)
  assert.deepEqual(rps!.byRound, { min: 0.6, max: 0.8, meeting: 3, rounds: 5 })
  assert.match(rps!.detail, /^0\.72× \(21,600 vs 30,000 req\/s\); round by round 0\.60–0\.80×, 3 of 5 meeting it$/)
  // p99: medians 2.5 against 1.25 ms (2.00×: met); rounds 2.50, 1.76 and 2.20: one meets it.
  assert.equal(latency!.pass, true)
  assert.equal(latency!.byRound?.meeting, 1)
  assert.equal(latency!.byRound?.max, 2.5)
  // A peak over all rounds has no per-round ratio.
  assert.equal(rss!.byRound, undefined)
  assert.doesNotMatch(rss!.detail, /round by round/)
  assert.equal(errors!.label, 'zero errors')
  assert.match(formatGoals([rps!]), /^- pass {2}full stack ≥ 0\.7× plain: 0\.72× .*3 of 5 meeting it$/)
})

test('rounds that cannot be paired leave the goal on its medians alone', () => {
  const scenario = { goals: [{ label: 'x', metric: 'rps', of: 'meshgate', to: 'nginx', min: 0.33 }] } as unknown as Scenario
  const rows: Row[] = [
    { id: 'meshgate', label: 'meshgate', tool: 'wrk', rounds: [round(30_000, 25), round(31_000, 25)] },
    { id: 'nginx', label: 'nginx', tool: 'wrk', rounds: [round(60_000, 12)] }
  ]
  const [goal] = evaluateGoals(scenario, rows, 'wrk', null)
  assert.equal(goal!.byRound, undefined)
  assert.equal(goal!.detail, '0.51× (30,500 vs 60,000 req/s)')
})
