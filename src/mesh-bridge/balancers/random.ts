// DestinationRule `loadBalancer.simple: RANDOM`. Like Envoy's random balancer
// it ignores endpoint weights: each usable endpoint is equally likely.
import type { EndpointState } from '../endpoint-state.js'
import type { Balancer } from './index.js'
import { MAX_HOST_REPICKS, sampleUsable, type Clock } from './health.js'

export class RandomBalancer implements Balancer {
  readonly #states: readonly EndpointState[]
  readonly #minHealthPercent: number
  readonly #now: Clock

  constructor (states: readonly EndpointState[], minHealthPercent: number, now: Clock) {
    this.#states = states
    this.#minHealthPercent = minHealthPercent
    this.#now = now
  }

  pick (_hashKey: string | null, attempted: EndpointState | null): EndpointState | null {
    let s = this.#pickOnce()
    for (let r = 0; r < MAX_HOST_REPICKS && s !== null && s === attempted; r++) s = this.#pickOnce()
    return s
  }

  #pickOnce (): EndpointState | null {
    const i = sampleUsable(this.#states, -1, this.#minHealthPercent, this.#now)
    return i < 0 ? null : this.#states[i]!
  }
}
