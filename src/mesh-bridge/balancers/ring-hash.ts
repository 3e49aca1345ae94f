// DestinationRule `loadBalancer.consistentHash` with a ring (Istio's default
// consistent-hash balancer; Envoy RING_HASH). Ketama-style: every endpoint owns
// many points on a 32-bit ring, a key goes to the first point at or after its
// hash, so when an endpoint leaves only the keys it owned move.
import type { EndpointState } from '../endpoint-state.js'
import type { Balancer } from './index.js'
import { hashString } from '../hash.js'
import { hasUsable, isPanic, isUsable, randomUint32, weightOf, type Clock } from './health.js'

/** Istio's `minimumRingSize` default. */
export const DEFAULT_MIN_RING_SIZE = 1024
/** Envoy's `maximum_ring_size` default. */
export const MAX_RING_SIZE = 8 * 1024 * 1024

/** Ring entries are sorted as one float: hash × OWNER_SPACE + endpoint index, exact up to 2^53. */
const OWNER_SPACE = 2 ** 21

export class RingHashBalancer implements Balancer {
  readonly #states: readonly EndpointState[]
  readonly #minHealthPercent: number
  readonly #now: Clock
  /** Sorted ring positions; `#owners[i]` is the endpoint index owning `#hashes[i]`. */
  readonly #hashes: Uint32Array
  readonly #owners: Uint32Array

  constructor (states: readonly EndpointState[], minRingSize: number, minHealthPercent: number, now: Clock) {
    this.#states = states
    this.#minHealthPercent = minHealthPercent
    this.#now = now
    const counts = entriesPerEndpoint(states, minRingSize)
    let size = 0
    for (let i = 0; i < counts.length; i++) size += counts[i]!
    const packed = new Float64Array(size)
    let p = 0
    for (let i = 0; i < states.length && i < OWNER_SPACE; i++) {
      // Envoy names ring points `<address>_<n>`, so points depend only on the
      // endpoint itself and survive changes to the rest of the cluster.
      const key = states[i]!.endpoint.key
      for (let j = 0; j < counts[i]!; j++) packed[p++] = hashString(`${key}_${j}`) * OWNER_SPACE + i
    }
    packed.sort()
    this.#hashes = new Uint32Array(size)
    this.#owners = new Uint32Array(size)
    for (let k = 0; k < size; k++) {
      const v = packed[k]!
      const h = Math.floor(v / OWNER_SPACE)
      this.#hashes[k] = h
      this.#owners[k] = v - h * OWNER_SPACE
    }
  }

  /** Number of points on the ring (for tests and config dumps). */
  get ringSize (): number {
    return this.#hashes.length
  }

  pick (hashKey: string | null, _attempted: EndpointState | null): EndpointState | null {
    const hashes = this.#hashes
    const owners = this.#owners
    const states = this.#states
    const size = hashes.length
    if (size === 0) return null
    // Envoy hashes a random value when the request lacks the hash key.
    const h = hashKey === null ? randomUint32() : hashString(hashKey)
    let lo = 0
    let hi = size
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (hashes[mid]! < h) lo = mid + 1
      else hi = mid
    }
    let i = lo === size ? 0 : lo
    const owner = states[owners[i]!]!
    if (isUsable(owner, this.#now) || isPanic(states, this.#minHealthPercent, this.#now)) return owner
    if (!hasUsable(states, this.#now)) return null
    // Envoy rebuilds its ring over the healthy hosts; walking on to the next
    // usable point gives the same answer for the ejected endpoint's keys and
    // leaves every other key where it was.
    for (let k = 1; k < size; k++) {
      i = i + 1 === size ? 0 : i + 1
      const s = states[owners[i]!]!
      if (isUsable(s, this.#now)) return s
    }
    return null
  }
}

/**
 * Points per endpoint: `minRingSize` per unit of weight (weights divided by
 * their greatest common divisor), so every endpoint alone already meets the
 * minimum. Envoy instead scales the counts so the whole ring is just over the
 * minimum; that changes every endpoint's count whenever one joins or leaves and
 * moves about a third of the keys when 1 of 5 endpoints goes (rounding the scale
 * to powers of two only moves the problem to every doubling). Counts that
 * depend on nothing but the endpoint's own weight keep every surviving point in
 * place, so a departing endpoint moves just its own keys (~1/N), at the price of
 * a ring N times larger than Envoy's (8 KiB per endpoint at the default 1024).
 * Past Envoy's maximum ring size the counts are scaled down to fit.
 */
function entriesPerEndpoint (states: readonly EndpointState[], minRingSize: number): Float64Array {
  const n = Math.min(states.length, OWNER_SPACE)
  const counts = new Float64Array(n)
  if (n === 0) return counts
  const perUnit = Math.min(Math.max(1, Math.ceil(minRingSize)), MAX_RING_SIZE)
  let divisor = 0
  for (let i = 0; i < n; i++) divisor = gcd(divisor, weightOf(states[i]!))
  let size = 0
  for (let i = 0; i < n; i++) {
    counts[i] = Math.ceil(perUnit * weightOf(states[i]!) / divisor)
    size += counts[i]!
  }
  if (size > MAX_RING_SIZE) {
    const scale = MAX_RING_SIZE / size
    for (let i = 0; i < n; i++) counts[i] = Math.max(1, Math.floor(counts[i]! * scale))
  }
  return counts
}

/** Integer weights reduce exactly; fractional ones fall back to 1 (no reduction). */
function gcd (a: number, b: number): number {
  if (!Number.isInteger(a) || !Number.isInteger(b)) return 1
  while (b !== 0) {
    const t = a % b
    a = b
    b = t
  }
  return a
}
