// DestinationRule `loadBalancer.consistentHash.maglev` (Envoy MAGLEV): a
// lookup table filled from per-endpoint permutations (Eisenbud et al., NSDI
// 2016). O(1) lookup, even spread, and little disruption when endpoints change.
import type { EndpointState } from '../endpoint-state.js'
import type { Balancer } from './index.js'
import { hashString, hashStringSeeded } from '../hash.js'
import { hasUsable, isPanic, isUsable, randomUint32, weightOf, type Clock } from './health.js'

/** Istio's `maglev.tableSize` default (Envoy's too). */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537
/** Istio requires a prime below 5000011. */
export const MAX_MAGLEV_TABLE_SIZE = 5000011

export class MaglevBalancer implements Balancer {
  readonly #states: readonly EndpointState[]
  readonly #minHealthPercent: number
  readonly #now: Clock
  /** Slot → endpoint index. */
  readonly #table: Int32Array

  constructor (states: readonly EndpointState[], tableSize: number, minHealthPercent: number, now: Clock) {
    this.#states = states
    this.#minHealthPercent = minHealthPercent
    this.#now = now
    this.#table = buildTable(states, usableTableSize(tableSize))
  }

  get tableSize (): number {
    return this.#table.length
  }

  pick (hashKey: string | null, _attempted: EndpointState | null): EndpointState | null {
    const table = this.#table
    const states = this.#states
    const size = table.length
    if (states.length === 0) return null
    // Envoy hashes a random value when the request lacks the hash key.
    const h = hashKey === null ? randomUint32() : hashString(hashKey)
    let i = h % size
    const owner = states[table[i]!]!
    if (isUsable(owner, this.#now) || isPanic(states, this.#minHealthPercent, this.#now)) return owner
    if (!hasUsable(states, this.#now)) return null
    // The table has no notion of order, so the ejected endpoint's keys go to
    // the next slots, which belong to the other endpoints in proportion to their
    // share; a key keeps the same fallback for as long as the ejection lasts,
    // and every key of a healthy endpoint stays where it is.
    for (let k = 1; k < size; k++) {
      i = i + 1 === size ? 0 : i + 1
      const s = states[table[i]!]!
      if (isUsable(s, this.#now)) return s
    }
    return null
  }
}

/**
 * Istio's admission rejects a non-prime size. The fill needs a prime: with a
 * composite size some skips do not visit every slot, and the fill loop would
 * never end, so anything else is moved up to the next prime.
 */
function usableTableSize (requested: number): number {
  if (!(requested >= 2)) return DEFAULT_MAGLEV_TABLE_SIZE
  let m = Math.min(Math.floor(requested), MAX_MAGLEV_TABLE_SIZE)
  while (!isPrime(m)) m++
  return m
}

function isPrime (m: number): boolean {
  if (m < 2) return false
  if (m % 2 === 0) return m === 2
  for (let d = 3; d * d <= m; d += 2) if (m % d === 0) return false
  return true
}

/**
 * Each endpoint walks its own permutation of the slots — start `offset`, step
 * `skip`, both from hashes of its `address:port` — and takes the next free slot
 * when its turn comes. Weights set how often the turn comes: an endpoint with
 * half the largest weight takes a slot every second round (Envoy's weighted Maglev).
 */
function buildTable (states: readonly EndpointState[], size: number): Int32Array {
  const table = new Int32Array(size).fill(-1)
  const n = states.length
  if (n === 0) return table
  const next = new Float64Array(n)
  const skip = new Float64Array(n)
  const weight = new Float64Array(n)
  const credit = new Float64Array(n)
  let maxWeight = 0
  for (let i = 0; i < n; i++) {
    const key = states[i]!.endpoint.key
    next[i] = hashStringSeeded(key, 1) % size
    skip[i] = hashStringSeeded(key, 2) % (size - 1) + 1
    weight[i] = weightOf(states[i]!)
    if (weight[i]! > maxWeight) maxWeight = weight[i]!
  }
  let filled = 0
  while (filled < size) {
    for (let i = 0; i < n && filled < size; i++) {
      credit[i] = credit[i]! + weight[i]!
      if (credit[i]! < maxWeight) continue
      credit[i] = credit[i]! - maxWeight
      const step = skip[i]!
      let p = next[i]!
      while (table[p] !== -1) {
        p += step
        if (p >= size) p -= size
      }
      table[p] = i
      p += step
      next[i] = p >= size ? p - size : p
      filled++
    }
  }
  return table
}
