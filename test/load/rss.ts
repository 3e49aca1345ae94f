// Peak resident memory of a process and its descendants (nginx's and
// meshgate's workers), sampled from /proc/<pid>/status (VmRSS) while load runs.
// Linux only: elsewhere the peak stays null and the table shows "—".
import { readFileSync } from 'node:fs'
import { processTree } from '../helpers/processes.js'

const SAMPLE_MS = 100

/** VmRSS in bytes; null when the process is gone or /proc is not there. */
export function rssBytes (pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : Number(m[1]) * 1024
  } catch {
    return null
  }
}

export class RssSampler {
  #pids: number[]
  #peak: number | null = null
  #timer: NodeJS.Timeout | null = null

  /** The process tree is read once here: workers are up before load starts and do not change during a round. */
  constructor (root: number) {
    this.#pids = processTree(root)
  }

  start (): this {
    this.#sample()
    this.#timer = setInterval(() => { this.#sample() }, SAMPLE_MS)
    return this
  }

  /** Stops sampling and returns the peak of the summed RSS, in bytes. */
  stop (): number | null {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#sample()
    return this.#peak
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
