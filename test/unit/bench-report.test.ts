import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnProcess } from '../helpers/processes.js'
import { cpuPerRequest, formatHalfLoad, formatTable, summarize, type RoundFigure, type Row } from '../load/report.js'
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
