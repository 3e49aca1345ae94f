// Rate-limit state in this process: a TAT per key. Exact for one process; with
// --workers each worker counts for itself (use --redis for a shared count).
import { gcra, type GcraResult } from './gcra.js'

const MAX_KEYS = 200_000

export class MemoryStore {
  readonly #tat = new Map<string, number>()
  #lastSweep = 0

  take (key: string, requests: number, periodMs: number, now = Date.now()): GcraResult {
    const step = gcra(this.#tat.get(key) ?? null, now, requests, periodMs)
    if (step.tat !== null) {
      this.#tat.set(key, step.tat)
      if (this.#tat.size > MAX_KEYS) this.#sweep(now)
    }
    if (now - this.#lastSweep > 10_000) this.#sweep(now)
    return step.result
  }

  get size (): number { return this.#tat.size }

  /** Drops keys whose TAT has passed (their quota is whole again), then the first inserted if still too many. */
  #sweep (now: number): void {
    this.#lastSweep = now
    for (const [k, tat] of this.#tat) if (tat <= now) this.#tat.delete(k)
    if (this.#tat.size > MAX_KEYS) {
      let excess = this.#tat.size - MAX_KEYS
      for (const k of this.#tat.keys()) { if (excess-- <= 0) break; this.#tat.delete(k) }
    }
  }
}
