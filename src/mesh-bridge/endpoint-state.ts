// Runtime state of one endpoint inside one cluster. The data plane, the
// balancer and the outlier detector all read and write the same object, so its
// shape is fixed in the constructor and never changes.
import type { Endpoint } from '../gateway/snapshot.js'

export class EndpointState {
  readonly endpoint: Endpoint
  /** Requests in flight (Envoy's `rq_active`); LEAST_REQUEST balances on it. */
  active: number
  /** Set by the outlier detector; cleared by its sweep once `ejectedUntil` passes. */
  ejected: boolean
  /** ms epoch; only meaningful while `ejected`. */
  ejectedUntil: number
  /**
   * Envoy's ejection backoff: the next ejection lasts `baseEjectionTime` × this.
   * It grows by one per ejection (until the 300 s cap is reached) and shrinks by
   * one for each `interval` the endpoint then stays healthy.
   */
  ejectionCount: number
  consecutive5xx: number
  consecutiveGatewayErrors: number

  constructor (endpoint: Endpoint) {
    this.endpoint = endpoint
    this.active = 0
    this.ejected = false
    this.ejectedUntil = 0
    this.ejectionCount = 0
    this.consecutive5xx = 0
    this.consecutiveGatewayErrors = 0
  }
}

/**
 * Whether `state` is out of rotation at `now`. An ejection whose time has passed
 * no longer counts even before the detector's sweep clears the flag.
 */
export function isEjected (state: EndpointState, now: number): boolean {
  return state.ejected && now < state.ejectedUntil
}
