// A real redis-server (or a small Redis Cluster) on 127.0.0.1 for tests, in a
// temp dir, stopped by PID. `redisCommand` is a minimal RESP client so tests
// can check and reset state without depending on the gateway's own client.
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { getFreePort } from './ports.js'
import { requireExecutable, spawnProcess, type ManagedProcess } from './processes.js'

const execFileAsync = promisify(execFile)

export interface RedisServer {
  readonly host: string
  readonly port: number
  /** `redis://127.0.0.1:PORT`, as `--redis` takes it. */
  readonly url: string
  readonly dir: string
  readonly process: ManagedProcess
  command (...args: Array<string | number>): Promise<RedisReply>
  stop (): Promise<void>
}

export interface StartRedisOptions {
  /** Extra `--flag value` pairs, e.g. ['--cluster-enabled', 'yes']. */
  args?: string[]
  /** A fixed port (to restart a server where clients expect it); default: a free one. */
  port?: number
  startTimeoutMs?: number
}

/** Starts redis-server on a free 127.0.0.1 port with no persistence. */
export async function startRedis (opts: StartRedisOptions = {}): Promise<RedisServer> {
  const bin = await requireExecutable('redis-server', 'redis-server')
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshgate-redis-'))
  // A free port can be taken between the probe and redis' bind; try a few.
  let lastError: unknown = null
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = opts.port ?? await getFreePort()
    const proc = await spawnProcess(bin, [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--save', '',
      '--appendonly', 'no',
      '--daemonize', 'no',
      '--protected-mode', 'no',
      '--logfile', '',
      ...(opts.args ?? [])
    ], { name: 'redis-server', cwd: dir })
    try {
      await waitForPong(port, proc, opts.startTimeoutMs ?? 10_000)
    } catch (err) {
      lastError = err
      await proc.stop({ graceMs: 1_000 })
      if (/Address already in use/i.test(proc.stdout + proc.stderr)) continue
      break
    }
    return {
      host: '127.0.0.1',
      port,
      url: `redis://127.0.0.1:${port}`,
      dir,
      process: proc,
      command: (...args) => redisCommand(port, args),
      stop: async () => {
        await proc.stop({ graceMs: 3_000 })
        await rm(dir, { recursive: true, force: true })
      }
    }
  }
  await rm(dir, { recursive: true, force: true })
  throw lastError instanceof Error ? lastError : new Error('redis-server did not start')
}

async function waitForPong (port: number, proc: ManagedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await redisCommand(port, ['PING'], 1_000) === 'PONG') return
    } catch { /* not up yet */ }
    if (!proc.isRunning) throw new Error(`redis-server exited before answering PING on port ${port}\n${proc.describeOutput()}`)
    if (Date.now() > deadline) throw new Error(`redis-server did not answer PING on port ${port} within ${timeoutMs} ms\n${proc.describeOutput()}`)
    await sleep(25)
  }
}

export interface RedisCluster {
  readonly nodes: readonly RedisServer[]
  /** Comma-separated `redis://` URLs, as `--redis` takes a cluster. */
  readonly url: string
  stop (): Promise<void>
}

/**
 * Starts `size` (>= 3) cluster-enabled redis-servers, no replicas, and joins them
 * with `redis-cli --cluster create` (package redis-tools, a dependency of redis-server).
 */
export async function startRedisCluster (size = 3): Promise<RedisCluster> {
  const cli = await requireExecutable('redis-cli', 'redis-tools')
  const nodes: RedisServer[] = []
  const stop = async (): Promise<void> => { await Promise.all(nodes.map(async (n) => { await n.stop() })) }
  try {
    for (let i = 0; i < size; i++) {
      nodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--cluster-node-timeout', '5000'] }))
    }
    await execFileAsync(cli, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 })
    const deadline = Date.now() + 15_000
    for (const node of nodes) {
      for (;;) {
        const info = await node.command('CLUSTER', 'INFO')
        if (typeof info === 'string' && info.includes('cluster_state:ok')) break
        if (Date.now() > deadline) throw new Error(`redis cluster node ${node.port} not ok: ${String(info)}`)
        await sleep(50)
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes, url: nodes.map((n) => n.url).join(','), stop }
}

export type RedisReply = string | number | null | Error | RedisReply[]

/**
 * Waits until at least `n` connections subscribe to `channel` on the server
 * (PUBSUB NUMSUB), for at most `timeoutMs`; returns the last count seen.
 */
export async function channelSubscribers (redis: RedisServer, channel: string, n: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const r = await redis.command('PUBSUB', 'NUMSUB', channel) as [string, number]
    const count = Number(r[1])
    if (count >= n || Date.now() > deadline) return count
    await sleep(10)
  }
}

/** Sends one command on a new connection and returns its parsed reply (errors as Error values). */
export function redisCommand (port: number, args: ReadonlyArray<string | number>, timeoutMs = 5_000, host = '127.0.0.1'): Promise<RedisReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host })
    let buffer = Buffer.alloc(0)
    socket.setTimeout(timeoutMs, () => { socket.destroy(new Error(`redis ${host}:${port}: no reply within ${timeoutMs} ms`)) })
    socket.on('error', reject)
    socket.on('connect', () => { socket.write(encodeCommand(args)) })
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      const parsed = parseReply(buffer, 0)
      if (parsed === null) return
      socket.end()
      resolve(parsed.value)
    })
    socket.on('close', () => { reject(new Error(`redis ${host}:${port}: connection closed before a reply`)) })
  })
}

function encodeCommand (args: ReadonlyArray<string | number>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const arg of args) {
    const value = Buffer.from(String(arg))
    parts.push(Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

/** Parses one RESP2 reply at `offset`; null when more bytes are needed. */
function parseReply (buf: Buffer, offset: number): { value: RedisReply, end: number } | null {
  const lineEnd = buf.indexOf('\r\n', offset)
  if (lineEnd === -1) return null
  const type = String.fromCharCode(buf[offset] as number)
  const line = buf.toString('utf8', offset + 1, lineEnd)
  const next = lineEnd + 2
  switch (type) {
    case '+': return { value: line, end: next }
    case '-': return { value: new Error(line), end: next }
    case ':': return { value: Number(line), end: next }
    case '$': {
      const len = Number(line)
      if (len === -1) return { value: null, end: next }
      if (buf.length < next + len + 2) return null
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 }
    }
    case '*': {
      const count = Number(line)
      if (count === -1) return { value: null, end: next }
      const items: RedisReply[] = []
      let at = next
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at)
        if (item === null) return null
        items.push(item.value)
        at = item.end
      }
      return { value: items, end: at }
    }
    default:
      return { value: new Error(`unexpected RESP type ${JSON.stringify(type)}`), end: buf.length }
  }
}
