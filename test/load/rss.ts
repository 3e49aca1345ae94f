// Peak resident memory of a process and its descendants (nginx's and
// meshgate's workers), sampled from /proc/<pid>/status (VmRSS) while load runs,
// and the CPU time they used meanwhile (/proc/<pid>/stat). Linux only:
// elsewhere both stay null and the table shows "—".
import { readFileSync } from 'node:fs'
import { processTree, procStat } from '../helpers/processes.js'

const SAMPLE_MS = 100

const VM_RSS = /^VmRSS:\s+(\d+) kB/m
const VM_HWM = /^VmHWM:\s+(\d+) kB/m

/** A `kB` field of /proc/<pid>/status in bytes; null when the process is gone or /proc is not there. */
function statusBytes (pid: number, field: RegExp): number | null {
  try {
    const m = field.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : Number(m[1]) * 1024
  } catch {
    return null
  }
}

/** VmRSS in bytes; null when the process is gone or /proc is not there. */
export function rssBytes (pid: number): number | null {
  return statusBytes(pid, VM_RSS)
}

/** VmHWM in bytes: the most the process has ever had resident; null when it is gone or /proc is not there. */
export function peakRssBytes (pid: number): number | null {
  return statusBytes(pid, VM_HWM)
}

// Linux reports CPU times in USER_HZ, 100 per second on every architecture Node runs on.
const TICK_US = 10_000

/** utime + stime of one process in µs (/proc/<pid>/stat fields 14 and 15); null when it is gone. */
export function cpuMicros (pid: number): number | null {
  const fields = procStat(pid)
  return fields === null ? null : (Number(fields[11]) + Number(fields[12])) * TICK_US
}

function treeCpuMicros (pids: readonly number[]): number | null {
  let sum = 0
  let seen = false
  for (const pid of pids) {
    const us = cpuMicros(pid)
    if (us === null) continue
    sum += us
    seen = true
  }
  return seen ? sum : null
}

/** What one round took from a process tree: its peak RSS and the CPU time it used. */
export interface TreeUsage {
  readonly peakRssBytes: number | null
  /** User + system CPU time of the tree during the round, µs (10 ms resolution). */
  readonly cpuMicros: number | null
}

export class TreeSampler {
  #pids: number[]
  #peak: number | null = null
  #timer: NodeJS.Timeout | null = null
  #cpuAtStart: number | null = null

  /** The process tree is read once here: workers are up before load starts and do not change during a round. */
  constructor (root: number) {
    this.#pids = processTree(root)
  }

  start (): this {
    this.#cpuAtStart = treeCpuMicros(this.#pids)
    this.#sample()
    this.#timer = setInterval(() => { this.#sample() }, SAMPLE_MS)
    return this
  }

  /** Stops sampling: the peak of the summed RSS, in bytes, and the CPU time used since start(). */
  stop (): TreeUsage {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#sample()
    const cpuAtEnd = treeCpuMicros(this.#pids)
    return { peakRssBytes: this.#peak, cpuMicros: cpuAtEnd === null || this.#cpuAtStart === null ? null : cpuAtEnd - this.#cpuAtStart }
  }

  #sample (): void {
    let sum = 0
    let seen = false
    for (const pid of this.#pids) {
      const rss = rssBytes(pid)
      if (rss === null) continue
      sum += rss
      seen = true
    }
    if (seen && (this.#peak === null || sum > this.#peak)) this.#peak = sum
  }
}
