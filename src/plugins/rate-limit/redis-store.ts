// Rate-limit state in Redis: the GCRA step as one Lua script per key, so the
// count is exact across workers and replicas (and, with one key per call,
// works on Redis Cluster).
import type { RedisClient } from '../redis.js'
import { GCRA_LUA, remainingAfter, type GcraResult } from './gcra.js'

type GcraCommand = (key: string, period: number, interval: number) => Promise<[number, number, number]>

export class RedisStore {
  readonly client: RedisClient

  constructor (client: RedisClient) {
    this.client = client
    client.defineCommand('meshgateGcra', { numberOfKeys: 1, lua: GCRA_LUA })
  }

  async take (key: string, requests: number, periodMs: number): Promise<GcraResult> {
    const run = (this.client as unknown as { meshgateGcra: GcraCommand }).meshgateGcra
    const [allowed, backlog, retryAfter] = await run.call(this.client, key, periodMs, periodMs / requests)
    if (allowed === 1) return { allowed: true, remaining: remainingAfter(backlog, requests, periodMs), resetMs: backlog, retryAfterMs: 0 }
    return { allowed: false, remaining: 0, resetMs: backlog, retryAfterMs: retryAfter }
  }
}
