// The Redis connection behind shared rate-limit counters and the shared cache
// (`--redis URL`, or several comma-separated URLs for Redis Cluster). Commands
// fail fast instead of queueing while Redis is away (no offline queue, a short
// per-command timeout), and the client reconnects in the background, so a
// missing Redis never holds a request and its return needs no restart.
import type { Cluster, Redis } from 'ioredis'
import type { Logger } from 'pino'
import calculateSlot from 'cluster-key-slot'

export type RedisClient = Redis | Cluster

/** The scripts defined with a key count that varies per call (`defineCommand` without numberOfKeys). */
export const BATCH_SCRIPTS = ['meshgateGcraBatch', 'meshgateCacheStoreBatch']

export interface RedisOptions {
  /** Per-command timeout, ms (default 100). */
  readonly commandTimeoutMs?: number
}

export function parseRedisUrls (value: string): string[] {
  return value.split(',').map(s => s.trim()).filter(s => s !== '')
}

/** Connects in the background. ioredis is loaded only here: a gateway without --redis never pays its ~20 MB. */
export async function connectRedis (urls: readonly string[], log: Logger | null, opts: RedisOptions = {}): Promise<RedisClient> {
  if (urls.length === 0) throw new Error('--redis needs a URL')
  const { Redis, Cluster } = await import('ioredis')
  const common = {
    commandTimeout: opts.commandTimeoutMs ?? 100,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    // Commands issued in the same tick (a rate-limit check and a cache lookup,
    // or many requests' checks) leave in one write: fewer syscalls on both ends.
    enableAutoPipelining: true,
    // Scripts that take a batch of keys are batched already; auto-pipelining
    // would route them on Redis Cluster by their first argument (the key
    // count), not by their keys.
    autoPipeliningIgnoredCommands: BATCH_SCRIPTS,
    // Reconnect for ever, at most every 2 s.
    retryStrategy: (times: number): number => Math.min(2_000, 100 * times)
  }
  let client: RedisClient
  if (urls.length === 1) {
    client = new Redis(urls[0]!, { ...common, lazyConnect: false })
  } else {
    const nodes = urls.map(u => { const x = new URL(u); return { host: x.hostname, port: Number(x.port || 6379) } })
    const first = new URL(urls[0]!)
    client = new Cluster(nodes, {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      autoPipeliningIgnoredCommands: BATCH_SCRIPTS,
      clusterRetryStrategy: common.retryStrategy,
      redisOptions: { ...common, password: first.password === '' ? undefined : decodeURIComponent(first.password), username: first.username === '' ? undefined : decodeURIComponent(first.username) }
    })
  }
  let lastLog = 0
  client.on('error', (err: Error) => {
    // Reconnect attempts fail repeatedly while Redis is down: log at most every 10 s.
    const now = Date.now()
    if (now - lastLog > 10_000) { lastLog = now; log?.warn({ err: err.message }, 'redis unavailable') }
  })
  client.on('ready', () => { log?.info({ redis: urls.map(redact) }, 'redis connected') })
  return client
}

function redact (u: string): string {
  try { const x = new URL(u); if (x.password !== '') x.password = '***'; return x.toString() } catch { return u }
}

/**
 * Work for the end of the current event-loop round: the batched writes of the
 * rate-limit and cache stores. They run together in one `setImmediate`, with
 * the connection's socket corked on a single Redis, so one round's commands
 * leave in one write. Each task handles its own errors.
 */
export function atRoundEnd (client: RedisClient, task: () => void): void {
  let round = rounds.get(client)
  if (round === undefined) { round = new RoundEnd(client); rounds.set(client, round) }
  round.add(task)
}

const rounds = new WeakMap<RedisClient, RoundEnd>()

class RoundEnd {
  readonly #client: RedisClient
  #tasks: Array<() => void> = []
  #spare: Array<() => void> = []
  #scheduled = false

  constructor (client: RedisClient) { this.#client = client }

  add (task: () => void): void {
    this.#tasks.push(task)
    if (!this.#scheduled) { this.#scheduled = true; setImmediate(this.#run) }
  }

  readonly #run = (): void => {
    this.#scheduled = false
    const tasks = this.#tasks
    this.#tasks = this.#spare
    const socket = this.#client.isCluster ? undefined : (this.#client as Redis).stream
    socket?.cork()
    try {
      for (let i = 0; i < tasks.length; i++) tasks[i]!()
    } finally {
      tasks.length = 0
      this.#spare = tasks
      socket?.uncork()
    }
  }
}

/** Resolves true once the client is ready, false after `timeoutMs`. */
export function redisReady (client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true)
  return new Promise(resolve => {
    const done = (ok: boolean): void => { clearTimeout(timer); client.off('ready', onReady); resolve(ok) }
    const onReady = (): void => { done(true) }
    const timer = setTimeout(() => { done(false) }, timeoutMs)
    client.on('ready', onReady)
  })
}

/**
 * `items` cut into script calls of at most `max`: as they come on one Redis,
 * by hash slot on Redis Cluster (a script may only touch keys of one slot).
 */
export function scriptBatches<T> (items: T[], keyOf: (item: T) => string, cluster: boolean, max: number): T[][] {
  const out: T[][] = []
  if (!cluster) {
    for (let i = 0; i < items.length; i += max) out.push(items.slice(i, i + max))
    return out
  }
  const bySlot = new Map<number, T[]>()
  for (const item of items) {
    const slot = calculateSlot(keyOf(item))
    const list = bySlot.get(slot)
    if (list === undefined) bySlot.set(slot, [item])
    else list.push(item)
  }
  for (const list of bySlot.values()) {
    for (let i = 0; i < list.length; i += max) out.push(list.slice(i, i + max))
  }
  return out
}
