// What every balancer needs to know about endpoint health, in one place: which
// endpoints may take traffic, Envoy's panic mode, and uniform sampling over the
// usable endpoints.
import type { EndpointState } from '../endpoint-state.js'

export type Clock = () => number

/**
 * Istio's `host_selection_retry_max_attempts`: on a retry Envoy picks again up to
 * this many times while the pick is the host the previous attempt used
 * (`previous_hosts` predicate), then takes whatever it got.
 */
export const MAX_HOST_REPICKS = 5

/**
 * Only ejected endpoints cost a clock read, so the common case is one field test.
 * An ejection past its time counts as over even before the detector's sweep runs.
 */
export function isUsable (state: EndpointState, now: Clock): boolean {
  return !state.ejected || now() >= state.ejectedUntil
}

/**
 * Envoy's panic mode. Istio writes `outlierDetection.minHealthPercent` as the
 * cluster's healthy-panic threshold: below that share of healthy endpoints Envoy
 * balances over all endpoints, ejected or not. Istio's default is 0, which turns
 * panic off, so a fully ejected cluster answers 503 "no healthy upstream".
 */
export function isPanic (states: readonly EndpointState[], minHealthPercent: number, now: Clock): boolean {
  if (minHealthPercent <= 0) return false
  const needed = minHealthPercent * states.length
  let healthy = 0
  for (let i = 0; i < states.length; i++) {
    if (isUsable(states[i]!, now) && ++healthy * 100 >= needed) return false
  }
  return true
}

export function hasUsable (states: readonly EndpointState[], now: Clock): boolean {
  for (let i = 0; i < states.length; i++) {
    if (isUsable(states[i]!, now)) return true
  }
  return false
}

/** Uniform in [0, n). */
export function randomIndex (n: number): number {
  return Math.floor(Math.random() * n)
}

/** Uniform unsigned 32-bit value: the hash Envoy substitutes when a request has no hash key. */
export function randomUint32 (): number {
  return Math.floor(Math.random() * 4294967296)
}

const REDRAWS = 4

/**
 * Index of a uniformly random usable endpoint other than `exclude` (-1: none
 * excluded), or -1 when there is none. Envoy draws from its list of healthy
 * hosts; we draw from all and redraw on an ejected one, which is uniform over
 * the usable set and almost always succeeds at once because few endpoints are
 * ejected together (`maxEjectionPercent` defaults to 10). The first draw that
 * lands on an ejected endpoint checks panic mode, where every endpoint is usable.
 */
export function sampleUsable (states: readonly EndpointState[], exclude: number, minHealthPercent: number, now: Clock): number {
  const n = states.length
  const choices = exclude < 0 ? n : n - 1
  if (choices <= 0) return -1
  let i = randomIndex(choices)
  if (exclude >= 0 && i >= exclude) i++
  if (isUsable(states[i]!, now) || isPanic(states, minHealthPercent, now)) return i
  for (let r = 0; r < REDRAWS; r++) {
    i = randomIndex(choices)
    if (exclude >= 0 && i >= exclude) i++
    if (isUsable(states[i]!, now)) return i
  }
  // Many ejected: count the usable ones and take a random one of them.
  let usable = 0
  for (let j = 0; j < n; j++) {
    if (j !== exclude && isUsable(states[j]!, now)) usable++
  }
  if (usable === 0) return -1
  let k = randomIndex(usable)
  for (let j = 0; j < n; j++) {
    if (j !== exclude && isUsable(states[j]!, now) && k-- === 0) return j
  }
  return -1
}

/** Envoy requires endpoint weights ≥ 1; a missing or zero weight counts as 1. */
export function weightOf (state: EndpointState): number {
  const w = state.endpoint.weight
  return w >= 1 ? w : 1
}

export function hasUnequalWeights (states: readonly EndpointState[]): boolean {
  for (let i = 1; i < states.length; i++) {
    if (weightOf(states[i]!) !== weightOf(states[0]!)) return true
  }
  return false
}
