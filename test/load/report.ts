// Turns the rounds of one scenario into what people read: medians, ratios
// measured in the same run, the Markdown table and the goal lines.
import type { LoadResult, LoadToolName } from './load-tools.js'
import type { ContestantId, Goal, Scenario } from './scenario.js'

export interface RoundFigure extends LoadResult {
  /** Peak RSS of the proxy's process tree during the round; null for the direct upstream. */
  readonly peakRssBytes: number | null
  /** CPU time (user + system) of the proxy's process tree per answered request, µs; null for the direct upstream. */
  readonly cpuUsPerRequest: number | null
}

/** CPU µs per request from a round's CPU time; null when it was not measured or nothing was answered. */
export function cpuPerRequest (cpuMicros: number | null, requests: number): number | null {
  return cpuMicros === null || requests === 0 ? null : cpuMicros / requests
}

export interface Row {
  readonly id: ContestantId
  readonly label: string
  readonly tool: LoadToolName
  readonly rounds: RoundFigure[]
}

export interface RowSummary {
  readonly id: ContestantId
  readonly label: string
  readonly tool: LoadToolName
  readonly rps: number
  readonly rpsMin: number
  readonly rpsMax: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly errors: number
  readonly peakRssBytes: number | null
  /** Median over rounds of the CPU time per request, µs; null when not measured. */
  readonly cpuUs: number | null
  /** req/s over the same tool's nginx, direct upstream and Node floor figures; null when that contestant did not run. */
  readonly xNginx: number | null
  readonly xDirect: number | null
  readonly xFloor: number | null
}

/** p99 of meshgate and nginx, both paced at the same rate (half of meshgate's median req/s). */
export interface HalfLoad {
  readonly tool: LoadToolName
  readonly targetRps: number
  readonly runs: ReadonlyArray<{ readonly id: ContestantId, readonly rounds: RoundFigure[] }>
}

export interface GoalOutcome {
  readonly label: string
  /** null: could not be measured (a contestant did not run); the reason is in `detail`. */
  readonly pass: boolean | null
  readonly value: number | null
  readonly detail: string
  /**
   * The same ratio round by round (round i of one contestant over round i of
   * the other, taken one after the other): its range, and how many rounds
   * were on the goal's side of the line. Absent for peak RSS (a peak over all
   * rounds) and when the two ran a different number of rounds.
   */
  readonly byRound?: RoundRatios
}

export interface RoundRatios {
  readonly min: number
  readonly max: number
  /** Rounds whose ratio meets the goal. */
  readonly meeting: number
  readonly rounds: number
}

/** Round i of `a` over round i of `b`; null unless both ran the same number of rounds (at least one) and no divisor is zero. */
function roundRatios (a: readonly number[], b: readonly number[]): number[] | null {
  if (a.length === 0 || a.length !== b.length) return null
  const out: number[] = []
  for (let i = 0; i < a.length; i++) {
    const d = b[i] as number
    if (d === 0) return null
    out.push((a[i] as number) / d)
  }
  return out
}

export function median (xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

function errorsOf (r: LoadResult): number {
  return r.non2xx + r.socketErrors
}

export function summarize (rows: readonly Row[]): RowSummary[] {
  const base = rows.map(r => {
    const rps = r.rounds.map(x => x.rps)
    const rss = r.rounds.map(x => x.peakRssBytes).filter((x): x is number => x !== null)
    const cpu = r.rounds.map(x => x.cpuUsPerRequest).filter((x): x is number => x !== null)
    return {
      id: r.id,
      label: r.label,
      tool: r.tool,
      rps: median(rps),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      p50Ms: median(r.rounds.map(x => x.p50Ms)),
      p99Ms: median(r.rounds.map(x => x.p99Ms)),
      p999Ms: median(r.rounds.map(x => x.p999Ms)),
      errors: r.rounds.reduce((n, x) => n + errorsOf(x), 0),
      peakRssBytes: rss.length === 0 ? null : Math.max(...rss),
      cpuUs: cpu.length === 0 ? null : median(cpu)
    }
  })
  const find = (id: ContestantId, tool: LoadToolName): number | null => base.find(b => b.id === id && b.tool === tool)?.rps ?? null
  const ratio = (rps: number, to: number | null): number | null => to === null || to === 0 ? null : rps / to
  return base.map(b => ({
    ...b,
    xNginx: ratio(b.rps, find('nginx', b.tool)),
    xDirect: ratio(b.rps, find('direct', b.tool)),
    xFloor: ratio(b.rps, find('floor', b.tool))
  }))
}

export function totalErrors (rows: readonly RowSummary[], halfLoad: HalfLoad | null): number {
  const half = halfLoad?.runs.reduce((n, r) => n + r.rounds.reduce((m, x) => m + errorsOf(x), 0), 0) ?? 0
  return rows.reduce((n, r) => n + r.errors, 0) + half
}

const MIB = 1024 * 1024

function thousands (n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function ms (n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)
}

function micros (x: number | null): string {
  return x === null ? '—' : x.toFixed(1)
}

function times (x: number | null): string {
  return x === null ? '—' : x.toFixed(2)
}

export function formatTable (rows: readonly RowSummary[]): string {
  const lines = [
    '| contestant | tool | req/s, median [min–max] | p50 / p99 / p99.9 ms | errors | peak RSS MiB | CPU µs/request | × nginx | × upstream | × Node floor |',
    '|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const r of rows) {
    const rss = r.peakRssBytes === null ? '—' : (r.peakRssBytes / MIB).toFixed(0)
    lines.push(`| ${r.label} | ${r.tool} | ${thousands(r.rps)} [${thousands(r.rpsMin)}–${thousands(r.rpsMax)}] | ${ms(r.p50Ms)} / ${ms(r.p99Ms)} / ${ms(r.p999Ms)} | ${r.errors} | ${rss} | ${micros(r.cpuUs)} | ${times(r.xNginx)} | ${times(r.xDirect)} | ${times(r.xFloor)} |`)
  }
  return lines.join('\n')
}

function halfLoadP99 (halfLoad: HalfLoad | null, id: ContestantId): number | null {
  const run = halfLoad?.runs.find(r => r.id === id)
  return run === undefined || run.rounds.length === 0 ? null : median(run.rounds.map(r => r.p99Ms))
}

export function formatHalfLoad (halfLoad: HalfLoad): string {
  const parts = halfLoad.runs.map(r => {
    const rps = median(r.rounds.map(x => x.rps))
    const cpu = r.rounds.map(x => x.cpuUsPerRequest).filter((x): x is number => x !== null)
    const cpuNote = cpu.length === 0 ? '' : ` (${micros(median(cpu))} µs CPU/request)`
    return `${r.id} ${ms(median(r.rounds.map(x => x.p50Ms)))} / ${ms(median(r.rounds.map(x => x.p99Ms)))} ms p50 / p99 at ${thousands(rps)} req/s${cpuNote}`
  })
  return `p99 at half load (${halfLoad.tool}, paced at ~${thousands(halfLoad.targetRps)} req/s, median of ${halfLoad.runs[0]?.rounds.length ?? 0} rounds): ${parts.join(', ')}`
}

function meets (goal: Goal, value: number): boolean {
  return (goal.min === undefined || value >= goal.min) && (goal.max === undefined || value <= goal.max)
}

/** The goal's ratio per round, from the rounds behind the medians it is judged on. */
function byRound (goal: Goal, rounds: readonly Row[], tool: LoadToolName, halfLoad: HalfLoad | null): RoundRatios | undefined {
  let ratios: number[] | null = null
  if (goal.metric === 'rps') {
    const of = rounds.find(r => r.id === goal.of && r.tool === tool)
    const to = rounds.find(r => r.id === goal.to && r.tool === tool)
    if (of !== undefined && to !== undefined) ratios = roundRatios(of.rounds.map(x => x.rps), to.rounds.map(x => x.rps))
  } else if (goal.metric === 'p99AtHalfLoad') {
    const of = halfLoad?.runs.find(r => r.id === goal.of)
    const to = halfLoad?.runs.find(r => r.id === goal.to)
    if (of !== undefined && to !== undefined) ratios = roundRatios(of.rounds.map(x => x.p99Ms), to.rounds.map(x => x.p99Ms))
  }
  if (ratios === null) return undefined
  return { min: Math.min(...ratios), max: Math.max(...ratios), meeting: ratios.filter(x => meets(goal, x)).length, rounds: ratios.length }
}

function evaluate (goal: Goal, rows: readonly RowSummary[], rounds: readonly Row[], tool: LoadToolName, halfLoad: HalfLoad | null): GoalOutcome {
  const of = rows.find(r => r.id === goal.of && r.tool === tool)
  const to = rows.find(r => r.id === goal.to && r.tool === tool)
  let a: number | null = null
  let b: number | null = null
  if (goal.metric === 'rps') { a = of?.rps ?? null; b = to?.rps ?? null }
  if (goal.metric === 'peakRss') { a = of?.peakRssBytes ?? null; b = to?.peakRssBytes ?? null }
  if (goal.metric === 'p99AtHalfLoad') { a = halfLoadP99(halfLoad, goal.of); b = halfLoadP99(halfLoad, goal.to) }
  if (a === null || b === null || b === 0) {
    const missing = rows.some(r => r.id === goal.of) ? goal.to : goal.of
    return { label: goal.label, pass: null, value: null, detail: `not measured (no ${missing} contestant in this run)` }
  }
  const value = a / b
  const unit = goal.metric === 'peakRss' ? `${(a / MIB).toFixed(0)} vs ${(b / MIB).toFixed(0)} MiB` : goal.metric === 'p99AtHalfLoad' ? `${ms(a)} vs ${ms(b)} ms` : `${thousands(a)} vs ${thousands(b)} req/s`
  const r = byRound(goal, rounds, tool, halfLoad)
  const detail = `${value.toFixed(2)}× (${unit})` + (r === undefined ? '' : `; round by round ${r.min.toFixed(2)}–${r.max.toFixed(2)}×, ${r.meeting} of ${r.rounds} meeting it`)
  return { label: goal.label, pass: meets(goal, value), value, detail, ...(r === undefined ? {} : { byRound: r }) }
}

/** The goals judged on the medians of `rounds`, each ratio with its spread over the rounds. */
export function evaluateGoals (scenario: Scenario, rounds: readonly Row[], tool: LoadToolName, halfLoad: HalfLoad | null): GoalOutcome[] {
  const rows = summarize(rounds)
  const outcomes = scenario.goals.map(g => evaluate(g, rows, rounds, tool, halfLoad))
  const errors = totalErrors(rows, halfLoad)
  outcomes.push({ label: 'zero errors', pass: errors === 0, value: errors, detail: `${errors} error(s)` })
  return outcomes
}

export function formatGoals (outcomes: readonly GoalOutcome[]): string {
  return outcomes.map(o => `- ${o.pass === null ? 'n/a ' : o.pass ? 'pass' : 'FAIL'}  ${o.label}: ${o.detail}`).join('\n')
}
