// Smooth weighted round robin (nginx's scheme), shared by ROUND_ROBIN and
// LEAST_REQUEST when endpoint weights differ. Envoy uses an EDF scheduler here;
// both give each endpoint its weight's share, but EDF sends a heavy endpoint its
// picks in bursts (weights 5,1,1: four a in a row, then b and c) while this
// interleaves them (a a b a c a a). It is O(endpoints) per pick, with no allocation.
import type { EndpointState } from '../endpoint-state.js'
import { isUsable, weightOf, type Clock } from './health.js'

export class SmoothWeighted {
  readonly #states: readonly EndpointState[]
  readonly #weights: Float64Array
  readonly #current: Float64Array
  /**
   * LEAST_REQUEST's weighted mode: Envoy divides each weight by
   * (active requests + 1)^active_request_bias, and Istio keeps the bias at 1.
   */
  readonly #loadAware: boolean

  constructor (states: readonly EndpointState[], loadAware: boolean) {
    this.#states = states
    this.#weights = new Float64Array(states.length)
    this.#current = new Float64Array(states.length)
    this.#loadAware = loadAware
    for (let i = 0; i < states.length; i++) this.#weights[i] = weightOf(states[i]!)
  }

  /**
   * Index of the next endpoint, or -1 when none is usable. Ejected endpoints sit
   * out of the round entirely, so the others keep their relative shares, as in
   * Envoy's scheduler rebuilt over the healthy hosts.
   */
  pick (ignoreHealth: boolean, now: Clock): number {
    const states = this.#states
    const weights = this.#weights
    const current = this.#current
    let total = 0
    let best = -1
    let bestValue = -Infinity
    for (let i = 0; i < states.length; i++) {
      const s = states[i]!
      if (!ignoreHealth && !isUsable(s, now)) continue
      const w = this.#loadAware ? weights[i]! / (s.active + 1) : weights[i]!
      const c = current[i]! + w
      current[i] = c
      total += w
      if (c > bestValue) {
        bestValue = c
        best = i
      }
    }
    if (best >= 0) current[best] = bestValue - total
    return best
  }
}
