// (j) Rate limits: a RateLimitPolicy checked on every request (per client
// address, a limit high enough never to refuse), next to meshgate's plain-proxy
// figure in the same rounds: counters in the process, and in Redis (one Lua
// script per request on a redis-server the harness starts).
import type { Scenario } from '../scenario.js'
import { plainConfig } from './plain.js'

export function rateLimitConfig (upstreamPort: number, listenPort: number): string {
  return `${plainConfig(upstreamPort, listenPort)}---
apiVersion: meshgate.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: clients, namespace: bench}
spec:
  limits:
  - {name: per-client, requests: 1000000000, per: 1s, key: ip}
`
}

const request = { method: 'GET', path: '/api/items/42', headers: { accept: 'application/json' } }

export const rateLimit: Scenario = {
  name: 'rate-limit',
  description: 'a per-client RateLimitPolicy on every request, counters in the process, vs the plain config',
  meshgateConfig: rateLimitConfig,
  request,
  expectRoute: { virtualService: 'bench/plain', route: 'all' },
  comparePlain: true,
  goals: [{ label: 'in-process rate limiting costs ≤ 10 % of the plain proxy\'s req/s', metric: 'rps', of: 'meshgate', to: 'meshgate-plain', min: 0.9 }]
}

export const rateLimitRedis: Scenario = {
  name: 'rate-limit-redis',
  description: 'the same RateLimitPolicy with counters in Redis (one script per request), vs the plain config',
  meshgateConfig: rateLimitConfig,
  redis: true,
  request,
  expectRoute: { virtualService: 'bench/plain', route: 'all' },
  comparePlain: true,
  goals: []
}

