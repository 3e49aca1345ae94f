// Rate-limit state in Redis: GCRA steps in a Lua script, so the count is exact
// across workers and replicas. Checks are batched: every check asked for while
// the event loop handles one round of sockets leaves in one script call (one
// command to build, send and parse instead of one per check, and one script
// run on the Redis side), sent when that round is over (setImmediate). On Redis
// Cluster a script may only touch keys of one hash slot, so a batch is split by
// slot.
import { scriptBatches, type RedisClient } from '../redis.js'
import { GCRA_BATCH_LUA, type GcraResult } from './gcra.js'

type BatchCommand = (...args: Array<string | number>) => Promise<number[]>

interface Pending {
  readonly key: string
  readonly requests: number
  readonly periodMs: number
  readonly resolve: (r: GcraResult) => void
  readonly reject: (err: Error) => void
}

const keyOfPending = (p: Pending): string => p.key

/** Most checks in one script call (bounds the script's run time and the reply size). */
const MAX_BATCH = 256

export class RedisStore {
  readonly client: RedisClient
  readonly #cluster: boolean
  #queue: Pending[] = []
  #scheduled = false

  constructor (client: RedisClient) {
    this.client = client
    this.#cluster = client.isCluster
    client.defineCommand('meshgateGcraBatch', { lua: GCRA_BATCH_LUA })
  }

  take (key: string, requests: number, periodMs: number): Promise<GcraResult> {
    return new Promise<GcraResult>((resolve, reject) => {
      this.#queue.push({ key, requests, periodMs, resolve, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(this.#flush)
      }
    })
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    const queue = this.#queue
    this.#queue = []
    for (const batch of scriptBatches(queue, keyOfPending, this.#cluster, MAX_BATCH)) this.#send(batch)
  }

  #send (batch: Pending[]): void {
    const args: Array<string | number> = [batch.length]
    for (const p of batch) args.push(p.key)
    for (const p of batch) args.push(p.periodMs, p.periodMs / p.requests)
    const run = (this.client as unknown as { meshgateGcraBatch: BatchCommand }).meshgateGcraBatch
    run.apply(this.client, args).then(reply => {
      for (let i = 0; i < batch.length; i++) {
        const o = 4 * i
        batch[i]!.resolve({ allowed: reply[o] === 1, resetMs: reply[o + 1]!, retryAfterMs: reply[o + 2]!, remaining: reply[o + 3]! })
      }
    }, (err: Error) => {
      for (const p of batch) p.reject(err)
    })
  }
}
