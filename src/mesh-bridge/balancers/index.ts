// Endpoint selection inside one cluster. One balancer per cluster runtime,
// built when the cluster is (re)created; `pick` is the only per-request call.
import type { Cluster } from '../../gateway/snapshot.js'
import type { EndpointState } from '../endpoint-state.js'
import type { Clock } from './health.js'
import { LeastRequestBalancer } from './least-request.js'
import { RoundRobinBalancer } from './round-robin.js'
import { RandomBalancer } from './random.js'
import { DEFAULT_MIN_RING_SIZE, RingHashBalancer } from './ring-hash.js'
import { DEFAULT_MAGLEV_TABLE_SIZE, MaglevBalancer } from './maglev.js'

export { hashString } from '../hash.js'
export { LeastRequestBalancer, RoundRobinBalancer, RandomBalancer, RingHashBalancer, MaglevBalancer }

export interface Balancer {
  /**
   * The endpoint for this attempt, or null when no endpoint may take traffic
   * (→ 503 `no healthy upstream`, flag UH).
   * @param hashKey consistent-hash input; null when the request lacks it, and
   *   then hash balancers pick at random, as Envoy does.
   * @param attempted the endpoint this request's previous attempt used; a retry
   *   avoids it if it can (Envoy's `previous_hosts` with up to 5 re-picks). Hash
   *   balancers ignore it: the key decides.
   */
  pick (hashKey: string | null, attempted: EndpointState | null): EndpointState | null
}

const NO_ENDPOINTS: Balancer = Object.freeze({
  pick (): null { return null }
})

/**
 * `cluster.hash` (DestinationRule `consistentHash`) wins over `cluster.lb`, as in
 * Istio, where the two are one oneof. `now` is for tests that fake the clock the
 * outlier detector uses.
 */
export function createBalancer (cluster: Cluster, states: readonly EndpointState[], now: Clock = Date.now): Balancer {
  if (states.length === 0) return NO_ENDPOINTS
  const minHealthPercent = cluster.outlier === null ? 0 : cluster.outlier.minHealthPercent
  const hash = cluster.hash
  if (hash !== null) {
    if (hash.maglev) {
      return new MaglevBalancer(states, hash.tableSize > 0 ? hash.tableSize : DEFAULT_MAGLEV_TABLE_SIZE, minHealthPercent, now)
    }
    return new RingHashBalancer(states, hash.tableSize > 0 ? hash.tableSize : DEFAULT_MIN_RING_SIZE, minHealthPercent, now)
  }
  switch (cluster.lb) {
    case 'ROUND_ROBIN': return new RoundRobinBalancer(states, minHealthPercent, now)
    case 'RANDOM': return new RandomBalancer(states, minHealthPercent, now)
    default: return new LeastRequestBalancer(states, minHealthPercent, now)
  }
}
