// What the figures were taken on, and which tools this machine has: recorded in
// every results file, because a benchmark figure means nothing without them.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import { promisify } from 'node:util'
import { findExecutable, repoRoot } from '../helpers/processes.js'

const execFileAsync = promisify(execFile)

export interface Tools {
  readonly nginx: { readonly bin: string, readonly version: string } | null
  readonly wrk: { readonly bin: string, readonly version: string } | null
  readonly taskset: string | null
}

export interface MachineInfo {
  readonly cores: number
  readonly cpuModel: string
  readonly memoryGiB: number
  readonly os: string
  readonly kernel: string
  readonly node: string
  readonly nginx: string | null
  readonly wrk: string | null
  readonly taskset: boolean
  /** Share of all CPUs busy in the second before the run (null without /proc/stat): other work skews every figure. */
  readonly cpuBusyBefore: number | null
  /**
   * Time each CPU lost while a busy loop ran on it for a second before the run.
   * On a virtual machine the host takes CPU time that neither /proc/stat's busy
   * share nor, often, its steal column shows; stalls of milliseconds land in
   * every contestant's latency percentiles. Null without taskset.
   */
  readonly hostStalls: readonly HostStalls[] | null
  /** The meshgate commit measured; `dirty` when the work tree had changes. */
  readonly commit: string
}

async function versionOf (bin: string, args: string[], pattern: RegExp): Promise<string> {
  // nginx -v prints to stderr; wrk -v exits 1 after printing its banner.
  const out = await execFileAsync(bin, args).then(r => r.stdout + r.stderr, (err: { stdout?: string, stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`)
  return pattern.exec(out)?.[1] ?? 'unknown version'
}

export async function findTools (): Promise<Tools> {
  const nginxBin = await findExecutable('nginx')
  const wrkBin = await findExecutable('wrk')
  return {
    nginx: nginxBin === null ? null : { bin: nginxBin, version: await versionOf(nginxBin, ['-v'], /nginx\/(\S+)/) },
    wrk: wrkBin === null ? null : { bin: wrkBin, version: await versionOf(wrkBin, ['-v'], /wrk (?:debian\/)?(\d[\w.~+-]*)/) },
    taskset: await findExecutable('taskset')
  }
}

async function osName (): Promise<string> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => '')
  return /^PRETTY_NAME="?([^"\n]+)"?/m.exec(text)?.[1] ?? `${os.type()} ${os.release()}`
}

/** Busy and total jiffies over all CPUs, from the first line of /proc/stat. */
async function cpuTimes (): Promise<{ busy: number, total: number } | null> {
  const line = (await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? ''
  if (!line.startsWith('cpu ')) return null
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  const total = f.reduce((a, b) => a + b, 0)
  const idle = (f[3] ?? 0) + (f[4] ?? 0)
  return { busy: total - idle, total }
}

async function cpuBusyOverOneSecond (): Promise<number | null> {
  const a = await cpuTimes()
  await new Promise(resolve => setTimeout(resolve, 1000))
  const b = await cpuTimes()
  if (a === null || b === null || b.total === a.total) return null
  return (b.busy - a.busy) / (b.total - a.total)
}

export interface HostStalls {
  readonly cpu: number
  /** Share of the probe's wall time the loop did not run. */
  readonly lostShare: number
  /** The longest gap between two turns of the loop, ms. */
  readonly longestMs: number
}

// A gap longer than this between two reads of the clock is time the loop did not run.
const STALL_THRESHOLD_MS = 0.2
const PROBE = `
const { performance } = require('node:perf_hooks')
const start = performance.now()
let last = start, lost = 0, longest = 0
for (;;) {
  const now = performance.now()
  const gap = now - last
  if (gap > ${STALL_THRESHOLD_MS}) { lost += gap; if (gap > longest) longest = gap }
  last = now
  if (now - start >= 1000) break
}
process.stdout.write(JSON.stringify({ lostShare: lost / (last - start), longestMs: longest }))
`

/** Runs a one-second busy loop pinned to each CPU in turn. */
async function probeHostStalls (taskset: string | null, cpus: number): Promise<HostStalls[] | null> {
  if (taskset === null) return null
  const out: HostStalls[] = []
  for (let cpu = 0; cpu < cpus; cpu++) {
    try {
      const { stdout } = await execFileAsync(taskset, ['-c', String(cpu), process.execPath, '-e', PROBE], { timeout: 10_000 })
      const r = JSON.parse(stdout) as { lostShare: number, longestMs: number }
      out.push({ cpu, lostShare: r.lostShare, longestMs: r.longestMs })
    } catch {
      return null
    }
  }
  return out
}

/** One line on host stalls, with a warning when they are large enough to show in latency percentiles. */
export function describeHostStalls (stalls: readonly HostStalls[] | null): string {
  if (stalls === null) return 'host stalls: not probed (no taskset)'
  const parts = stalls.map(s => `CPU ${s.cpu} lost ${(s.lostShare * 100).toFixed(1)} %, longest ${s.longestMs.toFixed(1)} ms`)
  const noisy = stalls.some(s => s.lostShare > 0.005 || s.longestMs > 2)
  return `host stalls (1 s busy loop per CPU): ${parts.join('; ')}${noisy ? ' (the host is taking time from this machine: p99 and p99.9 will be noisy, ratios of medians less so)' : ''}`
}

async function gitCommit (): Promise<string> {
  const run = async (args: string[]): Promise<string> => (await execFileAsync('git', args, { cwd: repoRoot })).stdout.trim()
  try {
    const head = await run(['rev-parse', '--short', 'HEAD'])
    const dirty = (await run(['status', '--porcelain', '--untracked-files=no', '--', 'src', 'bin', 'package.json'])) !== ''
    return dirty ? `${head} + uncommitted changes in src/` : head
  } catch {
    return 'unknown (not a git checkout)'
  }
}

export async function machineInfo (tools: Tools): Promise<MachineInfo> {
  return {
    cores: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    os: await osName(),
    kernel: os.release(),
    node: process.version,
    nginx: tools.nginx?.version ?? null,
    wrk: tools.wrk?.version ?? null,
    taskset: tools.taskset !== null,
    cpuBusyBefore: await cpuBusyOverOneSecond(),
    hostStalls: await probeHostStalls(tools.taskset, os.availableParallelism()),
    commit: await gitCommit()
  }
}

export function describeMachine (m: MachineInfo): string {
  return `${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.os}, Linux ${m.kernel}, Node ${m.node}`
}

/** Sets the CPUs of this process and all its threads (autocannon's workers start from here and inherit them). */
export async function pinSelf (taskset: string, cpuList: string): Promise<void> {
  await execFileAsync(taskset, ['-a', '-p', '-c', cpuList, String(process.pid)])
}
