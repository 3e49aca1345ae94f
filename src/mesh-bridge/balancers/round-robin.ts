// DestinationRule `loadBalancer.simple: ROUND_ROBIN`.
import type { EndpointState } from '../endpoint-state.js'
import type { Balancer } from './index.js'
import { MAX_HOST_REPICKS, hasUnequalWeights, isPanic, isUsable, randomIndex, type Clock } from './health.js'
import { SmoothWeighted } from './smooth-weighted.js'

/** Longest random warm-up of the weighted schedule; the picks are cheap but not free. */
const MAX_WARMUP_PICKS = 64

export class RoundRobinBalancer implements Balancer {
  readonly #states: readonly EndpointState[]
  readonly #minHealthPercent: number
  readonly #now: Clock
  /** Non-null when endpoint weights differ. */
  readonly #weighted: SmoothWeighted | null
  #next: number

  constructor (states: readonly EndpointState[], minHealthPercent: number, now: Clock) {
    this.#states = states
    this.#minHealthPercent = minHealthPercent
    this.#now = now
    this.#weighted = hasUnequalWeights(states) ? new SmoothWeighted(states, false) : null
    // Envoy starts each round robin at a random point so that workers and
    // replicas restarted together do not all send their first requests to the
    // same endpoint.
    this.#next = states.length === 0 ? 0 : randomIndex(states.length)
    if (this.#weighted !== null) {
      for (let i = Math.min(randomIndex(states.length), MAX_WARMUP_PICKS); i > 0; i--) this.#weighted.pick(true, now)
    }
  }

  pick (_hashKey: string | null, attempted: EndpointState | null): EndpointState | null {
    let s = this.#pickOnce()
    for (let r = 0; r < MAX_HOST_REPICKS && s !== null && s === attempted; r++) s = this.#pickOnce()
    return s
  }

  #pickOnce (): EndpointState | null {
    const states = this.#states
    if (this.#weighted !== null) {
      const i = this.#weighted.pick(isPanic(states, this.#minHealthPercent, this.#now), this.#now)
      return i < 0 ? null : states[i]!
    }
    const n = states.length
    let checkedPanic = false
    // Skipping an ejected endpoint also moves the cursor past it, so the
    // remaining endpoints keep equal shares.
    for (let k = 0; k < n; k++) {
      const i = this.#next
      this.#next = i + 1 === n ? 0 : i + 1
      const s = states[i]!
      if (isUsable(s, this.#now)) return s
      if (!checkedPanic) {
        checkedPanic = true
        if (isPanic(states, this.#minHealthPercent, this.#now)) return s
      }
    }
    return null
  }
}
