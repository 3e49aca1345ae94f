// DestinationRule `loadBalancer.simple: LEAST_REQUEST` (alias LEAST_CONN), the
// Istio default.
import type { EndpointState } from '../endpoint-state.js'
import type { Balancer } from './index.js'
import { MAX_HOST_REPICKS, hasUnequalWeights, isPanic, sampleUsable, type Clock } from './health.js'
import { SmoothWeighted } from './smooth-weighted.js'

export class LeastRequestBalancer implements Balancer {
  readonly #states: readonly EndpointState[]
  readonly #minHealthPercent: number
  readonly #now: Clock
  /** Non-null when endpoint weights differ. */
  readonly #weighted: SmoothWeighted | null

  constructor (states: readonly EndpointState[], minHealthPercent: number, now: Clock) {
    this.#states = states
    this.#minHealthPercent = minHealthPercent
    this.#now = now
    this.#weighted = hasUnequalWeights(states) ? new SmoothWeighted(states, true) : null
  }

  pick (_hashKey: string | null, attempted: EndpointState | null): EndpointState | null {
    let s = this.#pickOnce()
    for (let r = 0; r < MAX_HOST_REPICKS && s !== null && s === attempted; r++) s = this.#pickOnce()
    return s
  }

  /**
   * Equal weights: Envoy's power of two choices (choice_count 2) — draw two
   * endpoints, keep the one with fewer requests in flight. Envoy draws with
   * replacement; we draw two distinct endpoints, so with two endpoints the
   * idle one always wins instead of three times in four. Ties keep the first
   * draw, which keeps an idle cluster uniformly random.
   */
  #pickOnce (): EndpointState | null {
    const states = this.#states
    if (this.#weighted !== null) {
      const i = this.#weighted.pick(isPanic(states, this.#minHealthPercent, this.#now), this.#now)
      return i < 0 ? null : states[i]!
    }
    const a = sampleUsable(states, -1, this.#minHealthPercent, this.#now)
    if (a < 0) return null
    const first = states[a]!
    const b = sampleUsable(states, a, this.#minHealthPercent, this.#now)
    if (b < 0) return first
    const second = states[b]!
    return second.active < first.active ? second : first
  }
}
