// DestinationRule `trafficPolicy.outlierDetection`: passive health checking
// from the results of real requests, as Envoy's consecutive-5xx and
// consecutive-gateway-failure detectors do. Istio never configures Envoy's
// success-rate ejection, so there is none here.
import type { OutlierPolicy } from '../gateway/snapshot.js'
import type { EndpointState } from './endpoint-state.js'

/**
 * The result of one upstream attempt. `local-failure` is a failure on our side
 * of the wire (connect failure, timeout, reset); without Istio's
 * `splitExternalLocalOriginErrors` Envoy counts it as a gateway error, so it
 * feeds both counters.
 */
export type Outcome = 'success' | 'local-failure' | number

/** Envoy's `max_ejection_time` default: backoff never ejects for longer. */
export const MAX_EJECTION_MS = 300_000

export class OutlierDetector {
  readonly #policy: OutlierPolicy
  readonly #states: readonly EndpointState[]
  readonly #now: () => number
  /** When each endpoint was last returned to service, for the backoff decay. */
  readonly #unejectedAt: Float64Array
  readonly #ejectionCapMs: number
  readonly #onInterval: () => void
  #ejectedCount: number
  /** Earliest `ejectedUntil` among ejected endpoints; Infinity when none. */
  #nextExpiry: number
  #timer: NodeJS.Timeout | null

  constructor (policy: OutlierPolicy, states: readonly EndpointState[], now: () => number = Date.now) {
    this.#policy = policy
    this.#states = states
    this.#now = now
    this.#unejectedAt = new Float64Array(states.length)
    // Envoy: ejection time = min(base × backoff, max(base, max_ejection_time)).
    this.#ejectionCapMs = Math.max(policy.baseEjectionMs, MAX_EJECTION_MS)
    this.#onInterval = () => { this.#onTick() }
    this.#ejectedCount = 0
    this.#nextExpiry = Infinity
    this.#timer = null
    // States may come from an earlier runtime with ejections still running.
    for (const s of states) {
      if (s.ejected) {
        this.#ejectedCount++
        if (s.ejectedUntil < this.#nextExpiry) this.#nextExpiry = s.ejectedUntil
      }
    }
  }

  /** Endpoints currently marked ejected (including ones whose time is up but not yet swept). */
  get ejectedCount (): number {
    return this.#ejectedCount
  }

  record (state: EndpointState, outcome: Outcome): void {
    if (this.#ejectedCount > 0 && this.#now() >= this.#nextExpiry) this.sweep()
    let gatewayError: boolean
    if (outcome === 'success') {
      state.consecutive5xx = 0
      state.consecutiveGatewayErrors = 0
      return
    } else if (outcome === 'local-failure') {
      gatewayError = true
    } else if (outcome >= 500 && outcome <= 599) {
      gatewayError = outcome >= 502 && outcome <= 504
    } else {
      // Envoy counts every non-5xx answer (4xx included) as a success.
      state.consecutive5xx = 0
      state.consecutiveGatewayErrors = 0
      return
    }
    // As in Envoy, any other 5xx breaks a run of gateway errors.
    state.consecutiveGatewayErrors = gatewayError ? state.consecutiveGatewayErrors + 1 : 0
    state.consecutive5xx++
    const policy = this.#policy
    if (policy.consecutiveGatewayErrors > 0 && state.consecutiveGatewayErrors >= policy.consecutiveGatewayErrors) {
      // Envoy restarts the count whether or not the ejection is allowed, so a
      // refused endpoint needs a fresh run of errors before the next try.
      state.consecutiveGatewayErrors = 0
      this.#eject(state)
    }
    if (policy.consecutive5xx > 0 && state.consecutive5xx >= policy.consecutive5xx) {
      state.consecutive5xx = 0
      this.#eject(state)
    }
  }

  /** Returns to service every endpoint whose ejection time has passed. */
  sweep (): void {
    if (this.#ejectedCount === 0) return
    const now = this.#now()
    const states = this.#states
    let next = Infinity
    for (let i = 0; i < states.length; i++) {
      const s = states[i]!
      if (!s.ejected) continue
      if (now >= s.ejectedUntil) {
        s.ejected = false
        this.#unejectedAt[i] = now
        this.#ejectedCount--
      } else if (s.ejectedUntil < next) {
        next = s.ejectedUntil
      }
    }
    this.#nextExpiry = next
  }

  /** Sweeps every `intervalMs` (Istio `interval`) until stop(); never keeps the process alive. */
  start (): void {
    if (this.#timer !== null || !(this.#policy.intervalMs > 0)) return
    this.#timer = setInterval(this.#onInterval, this.#policy.intervalMs)
    this.#timer.unref()
  }

  stop (): void {
    if (this.#timer === null) return
    clearInterval(this.#timer)
    this.#timer = null
  }

  /**
   * The interval tick. Besides un-ejecting, Envoy forgives one step of backoff
   * for each interval an endpoint has stayed healthy since it came back, so an
   * endpoint that recovered for good is not punished for old ejections forever.
   * Only the tick does this: sweeps from record() run at request rate.
   */
  #onTick (): void {
    this.sweep()
    const now = this.#now()
    const states = this.#states
    const intervalMs = this.#policy.intervalMs
    for (let i = 0; i < states.length; i++) {
      const s = states[i]!
      if (!s.ejected && s.ejectionCount > 0 && now - this.#unejectedAt[i]! >= intervalMs) {
        s.ejectionCount--
        // Restart the clock so a late or doubled tick never forgives two steps at once.
        this.#unejectedAt[i] = now
      }
    }
  }

  #eject (state: EndpointState): void {
    const now = this.#now()
    if (state.ejected) {
      if (now < state.ejectedUntil) return
      this.sweep()
    }
    // Envoy's maxEjectionPercent check counts the candidate:
    // (ejected + 1) / endpoints ≤ max%. The first ejection in a cluster is
    // always allowed (ISTIO-SEMANTICS §3.4), so with the default 10% a cluster
    // of fewer than ten endpoints can still lose one bad endpoint.
    if (this.#ejectedCount > 0) {
      if (now >= this.#nextExpiry) this.sweep()
      if (this.#ejectedCount > 0 && (this.#ejectedCount + 1) * 100 > this.#policy.maxEjectionPercent * this.#states.length) return
    }
    const base = this.#policy.baseEjectionMs
    if (state.ejectionCount * base < this.#ejectionCapMs) state.ejectionCount++
    state.ejected = true
    state.ejectedUntil = now + Math.min(base * state.ejectionCount, this.#ejectionCapMs)
    state.consecutive5xx = 0
    state.consecutiveGatewayErrors = 0
    this.#ejectedCount++
    if (state.ejectedUntil < this.#nextExpiry) this.#nextExpiry = state.ejectedUntil
  }
}
