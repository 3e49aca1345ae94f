// Rate-limit state in Redis: GCRA steps in a Lua script, so the count is exact
// across workers and replicas. Checks are batched: every check asked for while
// the event loop handles one round of sockets leaves in one script call (one
// command to build, send and parse instead of one per check, and one script
// run on the Redis side), sent when that round is over. The checks of a round
// on one key form one run: one read and one write in Redis and two numbers in
// the reply, however many requests share the key. While a call is on its way,
// new checks wait for its reply and leave together right after it (one call
// in flight, as Nagle does for small writes): under load a call then carries
// the checks of every round its round trip spans, and an idle gateway's check
// leaves at once. The per-command timeout bounds that wait. On Redis Cluster a
// script may only touch keys of one hash slot, so a batch is split by slot.
import { atRoundEnd, scriptBatches, type RedisClient } from '../redis.js'
import { GCRA_BATCH_LUA, replayGcraRun, type GcraResult } from './gcra.js'

type BatchCommand = (...args: Array<string | number>) => Promise<Array<string | number>>

/**
 * Told the outcome of one check when its batch comes back. The rate limiter's
 * waiter turns the result into the request's answer and settles the one
 * promise the request waits on; `take` adapts a plain promise.
 */
export interface GcraWaiter {
  settle (result: GcraResult): void
  fail (err: Error): void
}

/** The checks of one round on one key with one limit, in the order asked: one script step. */
interface Run {
  readonly key: string
  readonly requests: number
  readonly periodMs: number
  readonly waiters: GcraWaiter[]
}

const keyOfRun = (r: Run): string => r.key

/** Most keys in one script call (bounds the script's run time and the reply size). */
const MAX_BATCH = 256
/** Most checks in one run: a longer one starts a second run on the same key. */
const MAX_RUN = 1_024

export class RedisStore {
  readonly client: RedisClient
  readonly #cluster: boolean
  #runs: Run[] = []
  /**
   * The open run per key in this round, by the key's two parts (a limit's
   * prefix, the request's value): both are strings that already exist, so no
   * key is built and hashed per check, only per run. A new map each round
   * rather than one cleared: a long-lived map written with each round's new
   * objects is work for every young-generation collection.
   */
  #open = new Map<string, Map<string, Run>>()
  #scheduled = false
  /** Script calls sent and not yet answered; while there are any, new checks wait for their reply. */
  #inFlight = 0

  constructor (client: RedisClient) {
    this.client = client
    this.#cluster = client.isCluster
    client.defineCommand('meshgateGcraBatch', { lua: GCRA_BATCH_LUA })
  }

  take (key: string, requests: number, periodMs: number): Promise<GcraResult> {
    return new Promise<GcraResult>((resolve, reject) => { this.takeOn(key, '', requests, periodMs, { settle: resolve, fail: reject }) })
  }

  /** One check on the key `prefix + value` (not built per check); `waiter` hears the result when the round's batch comes back. */
  takeOn (prefix: string, value: string, requests: number, periodMs: number, waiter: GcraWaiter): void {
    let byValue = this.#open.get(prefix)
    if (byValue === undefined) { byValue = new Map(); this.#open.set(prefix, byValue) }
    let run = byValue.get(value)
    if (run === undefined || run.requests !== requests || run.periodMs !== periodMs || run.waiters.length >= MAX_RUN) {
      run = { key: prefix + value, requests, periodMs, waiters: [] }
      byValue.set(value, run)
      this.#runs.push(run)
    }
    run.waiters.push(waiter)
    if (this.#inFlight === 0) this.#schedule()
  }

  /** The open runs leave at the end of this event-loop round. */
  #schedule (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    atRoundEnd(this.client, this.#flush)
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    const runs = this.#runs
    this.#runs = []
    this.#open = new Map()
    for (const batch of scriptBatches(runs, keyOfRun, this.#cluster, MAX_BATCH)) {
      try {
        this.#send(batch)
      } catch (err) {
        for (const r of batch) for (const w of r.waiters) w.fail(err as Error)
      }
    }
  }

  #send (batch: Run[]): void {
    const args: Array<string | number> = [batch.length]
    for (const r of batch) args.push(r.key)
    for (const r of batch) args.push(r.periodMs, r.periodMs / r.requests, r.waiters.length)
    const run = (this.client as unknown as { meshgateGcraBatch: BatchCommand }).meshgateGcraBatch
    const sent = run.apply(this.client, args)
    this.#inFlight++
    sent.then(reply => {
      this.#landed()
      const now = Number(reply[0])
      for (let i = 0; i < batch.length; i++) {
        const r = batch[i]!
        const waiters = r.waiters
        replayGcraRun(Number(reply[2 * i + 1]), now, Number(reply[2 * i + 2]), waiters.length, r.periodMs, r.periodMs / r.requests, (j, result) => { waiters[j]!.settle(result) })
      }
    }, (err: Error) => {
      this.#landed()
      for (const r of batch) for (const w of r.waiters) w.fail(err)
    })
  }

  /** A script call came back (or failed): the checks asked for meanwhile leave at the end of this round. */
  #landed (): void {
    if (--this.#inFlight === 0 && this.#runs.length !== 0) this.#schedule()
  }
}
