// Peak resident memory of a process and its descendants (nginx's and
// meshgate's workers), sampled from /proc/<pid>/status (VmRSS) while load runs.
// Linux only: elsewhere the peak stays null and the table says "n/a".
import { readFileSync, readdirSync } from 'node:fs'

const SAMPLE_MS = 100

function parentOf (pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses; the parent PID is the second field after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[1])
  } catch {
    return null
  }
}

/** `root` and every process below it, from one pass over /proc. */
export function processTree (root: number): number[] {
  const children = new Map<number, number[]>()
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return [root]
  }
  for (const entry of entries) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    const parent = parentOf(pid)
    if (parent === null) continue
    const list = children.get(parent)
    if (list === undefined) children.set(parent, [pid])
    else list.push(pid)
  }
  const tree: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.pop() as number
    tree.push(pid)
    queue.push(...(children.get(pid) ?? []))
  }
  return tree
}

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
