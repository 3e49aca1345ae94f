// (d) Cache hit: a CachePolicy over the plain route and an upstream answer
// with `cache-control: max-age`, so after the first request every answer comes
// from the gateway's memory; next to meshgate's plain-proxy figure (which
// forwards every request) in the same rounds.
import type { Scenario } from '../scenario.js'
import { plainConfig } from './plain.js'

export function cacheConfig (upstreamPort: number, listenPort: number): string {
  return `${plainConfig(upstreamPort, listenPort)}---
apiVersion: meshgate.io/v1alpha1
kind: CachePolicy
metadata: {name: items, namespace: bench}
spec:
  ttl: 1h
`
}

export const cacheHit: Scenario = {
  name: 'cache-hit',
  description: 'CachePolicy: every request a HIT from memory (the upstream sees the first), vs the plain config',
  meshgateConfig: cacheConfig,
  request: { method: 'GET', path: '/api/items/42', headers: { accept: 'application/json' } },
  expectRoute: { virtualService: 'bench/plain', route: 'all' },
  comparePlain: true,
  goals: [
    { label: 'cache hit ≥ 1.3× meshgate\'s plain-proxy req/s', metric: 'rps', of: 'meshgate', to: 'meshgate-plain', min: 1.3 },
    { label: 'cache hit vs the upstream directly (reported)', metric: 'rps', of: 'meshgate', to: 'direct', min: 0 }
  ]
}
