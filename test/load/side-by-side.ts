// Two meshgate configurations under load at the same time, on the same core,
// each driven by its own wrk: whatever the host takes from the guest during a
// round (steal time, a noisy neighbour) hits both alike, so the ratio of their
// CPU time per request holds still where a ratio of req/s measured one after
// the other swings with the host. Reported next to the interleaved rounds.
import type { LoadSpec, LoadTool } from './load-tools.js'
import { median } from './report.js'
import { cpuMicros } from './rss.js'

export interface SideBySideRound {
  readonly requestsA: number
  readonly requestsB: number
  /** CPU time (user + system) per request, µs. */
  readonly cpuPerRequestA: number
  readonly cpuPerRequestB: number
}

export interface SideBySide {
  readonly a: string
  readonly b: string
  readonly rounds: SideBySideRound[]
  /** Median over rounds of B's CPU per request / A's. */
  readonly cpuRatio: number
  readonly cpuRatioQ1: number
  readonly cpuRatioQ3: number
  /** A's CPU per request / B's: B's throughput relative to A's at the same CPU. */
  readonly throughputRatio: number
}

function cpuOf (pid: number): number {
  const us = cpuMicros(pid)
  if (us === null) throw new Error(`process ${pid} is gone`)
  return us
}

function quantile (sorted: readonly number[], q: number): number {
  const i = (sorted.length - 1) * q
  const lo = Math.floor(i)
  const hi = Math.ceil(i)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (i - lo)
}

export interface SideBySideOptions {
  readonly tool: LoadTool
  readonly rounds: number
  readonly seconds: number
  readonly spec: (port: number, seconds: number) => LoadSpec
  readonly onRound?: (round: number, r: SideBySideRound) => void
}

/** `rounds` rounds of A and B loaded together; A and B are processes by pid and port. */
export async function measureSideBySide (a: { label: string, pid: number, port: number }, b: { label: string, pid: number, port: number }, opts: SideBySideOptions): Promise<SideBySide> {
  const rounds: SideBySideRound[] = []
  for (let round = 1; round <= opts.rounds; round++) {
    const a0 = cpuOf(a.pid)
    const b0 = cpuOf(b.pid)
    const [ra, rb] = await Promise.all([opts.tool.run(opts.spec(a.port, opts.seconds)), opts.tool.run(opts.spec(b.port, opts.seconds))])
    const a1 = cpuOf(a.pid)
    const b1 = cpuOf(b.pid)
    const r: SideBySideRound = {
      requestsA: ra.requests,
      requestsB: rb.requests,
      cpuPerRequestA: (a1 - a0) / Math.max(1, ra.requests),
      cpuPerRequestB: (b1 - b0) / Math.max(1, rb.requests)
    }
    rounds.push(r)
    opts.onRound?.(round, r)
  }
  const ratios = rounds.map(r => r.cpuPerRequestB / r.cpuPerRequestA).sort((x, y) => x - y)
  const cpuRatio = median(ratios)
  return { a: a.label, b: b.label, rounds, cpuRatio, cpuRatioQ1: quantile(ratios, 0.25), cpuRatioQ3: quantile(ratios, 0.75), throughputRatio: 1 / cpuRatio }
}

export function formatSideBySide (s: SideBySide): string {
  return `Side by side (both on the proxy's core at the same time, ${s.rounds.length} rounds): ${s.b} used ${s.cpuRatio.toFixed(2)}× the CPU per request of ${s.a} [quartiles ${s.cpuRatioQ1.toFixed(2)}–${s.cpuRatioQ3.toFixed(2)}], i.e. ${s.throughputRatio.toFixed(2)}× its req/s per core.`
}
