// Child processes for tests: meshgate itself, redis-server, nginx.
//
// Every process is stopped by its own PID (SIGTERM, then SIGKILL after a grace
// period), never by name: other engineers and other test files run their own
// copies on the same machine. Processes a test forgot to stop are killed when
// the test file's process exits or is told to stop by the test runner.
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { once } from 'node:events'
import { readFileSync, readdirSync } from 'node:fs'
import { access, constants } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { getFreePort } from './ports.js'
import { NODE_FLAGS } from '../../src/cli/node-flags.js'

/** The repository root (this file runs from dist/test/helpers/). */
export const repoRoot = path.resolve(fileURLToPath(new URL('../../../', import.meta.url)))
export const meshgateBin = path.join(repoRoot, 'bin', 'meshgate.js')

export interface ExitInfo { code: number | null, signal: NodeJS.Signals | null }

export interface SpawnOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Shown in error messages; defaults to the command's base name. */
  name?: string
  /**
   * Runs the command under `taskset -c LIST` (e.g. `0`, `0-1`), so every thread
   * it starts stays on those CPUs. taskset execs the command: the PID is the command's.
   */
  cpuList?: string
}

export interface WaitOptions {
  timeoutMs?: number
  stream?: 'stdout' | 'stderr' | 'both'
  /** Only output after this many characters of the stream counts (see `outputLength`). */
  since?: number
}

// Bound the memory a chatty child (access logs under load) can take; the tail is what matters.
const MAX_KEPT_CHARS = 8 * 1024 * 1024

const live = new Set<ManagedProcess>()
let hooksInstalled = false

function killAllLive(): void {
  for (const p of live) p.killTree('SIGKILL')
}

/**
 * The fields of /proc/<pid>/stat from the third (the state) on, or null when
 * the process is gone. The command name (field 2) may hold spaces and
 * parentheses, so fields are counted after its last ')'.
 */
export function procStat (pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

function parentPid (pid: number): number | null {
  const fields = procStat(pid)
  return fields === null ? null : Number(fields[1])
}

/**
 * `root` and every process below it (nginx's workers, node:cluster workers), from
 * one pass over /proc; just `[root]` where there is no /proc.
 */
export function processTree (root: number): number[] {
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return [root]
  }
  const children = new Map<number, number[]>()
  for (const entry of entries) {
    const pid = Number(entry)
    const parent = Number.isInteger(pid) ? parentPid(pid) : null
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

function installExitHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', killAllLive)
  // The test runner sends SIGTERM to a file that ran out of time; without this the
  // servers it started would outlive it and keep their ports.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      killAllLive()
      process.exit(sig === 'SIGTERM' ? 143 : 130)
    })
  }
}

export class ManagedProcess {
  readonly name: string
  readonly pid: number
  readonly child: ChildProcess
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>
  #stdout = ''
  #stderr = ''
  #exit: ExitInfo | null = null
  #listeners = new Set<() => void>()

  constructor (child: ChildProcess, name: string) {
    if (child.pid === undefined) throw new Error(`${name}: could not start`)
    this.child = child
    this.name = name
    this.pid = child.pid
    child.stdout?.setEncoding('utf8')
    child.stderr?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => { this.#stdout = keepTail(this.#stdout + chunk); this.#notify() })
    child.stderr?.on('data', (chunk: string) => { this.#stderr = keepTail(this.#stderr + chunk); this.#notify() })
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.#exit = { code, signal }
        live.delete(this)
        this.#notify()
        resolve(this.#exit)
      })
    })
  }

  get stdout (): string { return this.#stdout }
  get stderr (): string { return this.#stderr }
  get exitInfo (): ExitInfo | null { return this.#exit }
  get isRunning (): boolean { return this.#exit === null }

  /** Characters received so far on a stream; pass it as `since` to wait only for later output. */
  outputLength (stream: 'stdout' | 'stderr' = 'stdout'): number {
    return stream === 'stdout' ? this.#stdout.length : this.#stderr.length
  }

  /** Sends a signal to this process only. Returns false if it had already exited. */
  kill (signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.#exit !== null) return false
    try {
      process.kill(this.pid, signal)
      return true
    } catch {
      return false
    }
  }

  /**
   * Sends a signal to this process and everything it started. For SIGKILL: a
   * killed nginx master leaves its workers running, still bound to the port.
   */
  killTree (signal: NodeJS.Signals): void {
    if (this.#exit !== null) return
    for (const pid of processTree(this.pid)) {
      try {
        process.kill(pid, signal)
      } catch { /* already gone */ }
    }
  }

  /**
   * Waits until the output matches `pattern` and returns the match. Fails early,
   * with the output's tail, if the process exits first.
   */
  async waitForOutput (pattern: string | RegExp, opts: WaitOptions = {}): Promise<RegExpExecArray> {
    const regex = typeof pattern === 'string' ? new RegExp(escapeRegExp(pattern)) : pattern
    const stream = opts.stream ?? 'both'
    const since = opts.since ?? 0
    const timeoutMs = opts.timeoutMs ?? 10_000
    const check = (): RegExpExecArray | null => {
      if (stream !== 'stderr') {
        const m = regex.exec(this.#stdout.slice(since))
        if (m !== null) return m
      }
      if (stream !== 'stdout') {
        const m = regex.exec(this.#stderr.slice(since))
        if (m !== null) return m
      }
      return null
    }
    return this.#waitFor(check, `output matching ${String(regex)}`, timeoutMs)
  }

  /** Waits for the process to exit by itself. */
  async waitForExit (timeoutMs = 10_000): Promise<ExitInfo> {
    return this.#waitFor(() => this.#exit, 'exit', timeoutMs, true)
  }

  /**
   * Stops the process: `signal` (SIGTERM) first, SIGKILL if it is still running
   * after `graceMs`. Resolves with how it exited.
   */
  async stop (opts: { graceMs?: number, signal?: NodeJS.Signals } = {}): Promise<ExitInfo> {
    if (this.#exit !== null) return this.#exit
    this.kill(opts.signal ?? 'SIGTERM')
    const timer = setTimeout(() => { this.killTree('SIGKILL') }, opts.graceMs ?? 5_000)
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }

  /** The last lines of both streams, for error messages. */
  describeOutput (maxChars = 4000): string {
    const out = this.#stdout.slice(-maxChars).trimEnd()
    const err = this.#stderr.slice(-maxChars).trimEnd()
    return `--- ${this.name} stdout (tail) ---\n${out}\n--- ${this.name} stderr (tail) ---\n${err}`
  }

  #notify (): void {
    for (const listener of [...this.#listeners]) listener()
  }

  #waitFor<T>(check: () => T | null, what: string, timeoutMs: number, exitIsOk = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        this.#listeners.delete(listener)
      }
      const listener = (): void => {
        const value = check()
        if (value !== null) {
          done()
          resolve(value)
        } else if (!exitIsOk && this.#exit !== null) {
          done()
          reject(new Error(`${this.name} (pid ${this.pid}) exited (${formatExit(this.#exit)}) before ${what}\n${this.describeOutput()}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${this.name} (pid ${this.pid}): no ${what} within ${timeoutMs} ms\n${this.describeOutput()}`))
      }, timeoutMs)
      this.#listeners.add(listener)
      listener()
    })
  }
}

function keepTail (text: string): string {
  return text.length > MAX_KEPT_CHARS ? text.slice(text.length - MAX_KEPT_CHARS / 2) : text
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

export function formatExit (exit: ExitInfo): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `code ${String(exit.code)}`
}

/** Finds an executable on PATH (and in the sbin dirs, where Debian puts nginx); null if missing. */
export async function findExecutable (name: string): Promise<string | null> {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/sbin', '/usr/local/sbin', '/sbin'])
  for (const dir of dirs) {
    if (dir === '') continue
    const candidate = path.join(dir, name)
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch { /* try the next dir */ }
  }
  return null
}

/** Like findExecutable, but fails with the Debian package to install when missing. */
export async function requireExecutable (name: string, debianPackage: string): Promise<string> {
  const found = await findExecutable(name)
  if (found === null) throw new Error(`${name} not found: apt-get install ${debianPackage}`)
  return found
}

/** Starts a child process with piped stdout/stderr, tracked for cleanup. */
export async function spawnProcess (command: string, args: readonly string[], opts: SpawnOptions = {}): Promise<ManagedProcess> {
  installExitHooks()
  if (opts.cpuList !== undefined) {
    const taskset = await requireExecutable('taskset', 'util-linux')
    args = ['-c', opts.cpuList, command, ...args]
    command = taskset
  }
  const name = opts.name ?? path.basename(command)
  const child = spawn(command, args, {
    cwd: opts.cwd ?? repoRoot,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  // 'spawn' or 'error' (ENOENT, EACCES) comes first; report the latter clearly.
  const [event, err] = await Promise.race([
    once(child, 'spawn').then(() => ['spawn', null] as const),
    once(child, 'error').then(([e]: unknown[]) => ['error', e as Error] as const)
  ])
  if (event === 'error') throw new Error(`${name}: cannot run ${command}: ${err?.message ?? 'unknown error'}`)
  const managed = new ManagedProcess(child, name)
  live.add(managed)
  return managed
}

/** One GET with no keep-alive; resolves the status code, or null if nothing answered. */
export function probeStatus (url: string, timeoutMs = 2_000): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume()
      resolve(res.statusCode ?? null)
    })
    req.on('timeout', () => { req.destroy() })
    req.on('error', () => { resolve(null) })
  })
}

/** Polls `GET /healthz/ready` on the admin port until it answers 200. */
export async function waitForReady (
  adminPort: number,
  opts: { timeoutMs?: number, process?: ManagedProcess, host?: string } = {}
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 15_000
  const url = `http://${opts.host ?? '127.0.0.1'}:${adminPort}/healthz/ready`
  const deadline = Date.now() + timeoutMs
  let last: number | null = null
  for (;;) {
    last = await probeStatus(url)
    if (last === 200) return
    const proc = opts.process
    if (proc !== undefined && !proc.isRunning) {
      throw new Error(`${proc.name} exited (${formatExit(proc.exitInfo as ExitInfo)}) before ${url} was ready\n${proc.describeOutput()}`)
    }
    if (Date.now() > deadline) {
      const tail = proc !== undefined ? `\n${proc.describeOutput()}` : ''
      throw new Error(`${url} not ready within ${timeoutMs} ms (last answer: ${last ?? 'no connection'})${tail}`)
    }
    await sleep(50)
  }
}

export interface MeshgateProcess extends ManagedProcess {
  readonly adminPort: number
  readonly adminUrl: string
}

export interface StartMeshgateOptions extends SpawnOptions {
  /** Wait for `/healthz/ready` (default true for `serve`). */
  waitReady?: boolean
  readyTimeoutMs?: number
  /** Node/V8 flags before the script, after meshgate's own (e.g. `--max-semi-space-size=64`). */
  nodeArgs?: readonly string[]
  /** Start without meshgate's own Node flags (NODE_FLAGS), as a bare `node bin/meshgate.js` does. */
  bare?: boolean
}

/**
 * Runs `node <NODE_FLAGS> bin/meshgate.js <args>`, as the container image does
 * (build first: it runs dist/). For `serve` without
 * `--admin-port`, a free admin port is added. Waits until ready.
 */
export async function startMeshgate (args: readonly string[], opts: StartMeshgateOptions = {}): Promise<MeshgateProcess> {
  const argv = [...args]
  let adminPort = 15000
  const i = argv.findIndex((a) => a === '--admin-port' || a.startsWith('--admin-port='))
  if (i !== -1) {
    const arg = argv[i] as string
    adminPort = Number(arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1])
  } else if (argv[0] === 'serve') {
    adminPort = await getFreePort()
    argv.push('--admin-port', String(adminPort))
  }
  const proc = await spawnProcess(process.execPath, [...(opts.bare === true ? [] : NODE_FLAGS), ...(opts.nodeArgs ?? []), meshgateBin, ...argv], { name: 'meshgate', ...opts })
  const result = Object.assign(proc, { adminPort, adminUrl: `http://127.0.0.1:${adminPort}` })
  if (opts.waitReady ?? argv[0] === 'serve') {
    try {
      await waitForReady(adminPort, { timeoutMs: opts.readyTimeoutMs ?? 15_000, process: proc })
    } catch (err) {
      await proc.stop({ graceMs: 1_000 })
      throw err
    }
  }
  return result
}

export interface RunResult extends ExitInfo { stdout: string, stderr: string }

/** Runs `node bin/meshgate.js <args>` to completion (validate, explain, test). */
export async function runMeshgate (args: readonly string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  const proc = await spawnProcess(process.execPath, [meshgateBin, ...args], { name: 'meshgate', ...opts })
  try {
    const exit = await proc.waitForExit(opts.timeoutMs ?? 20_000)
    return { ...exit, stdout: proc.stdout, stderr: proc.stderr }
  } finally {
    await proc.stop({ graceMs: 1_000 })
  }
}
