// (c) The full stack on one request: edge facts (geo from DB-IP, device from
// the user agent), a JWT checked by RequestAuthentication, two
// AuthorizationPolicies, a rate limit counted in Redis, and a CachePolicy that
// stores the answer again on every request (the client sends
// `cache-control: no-cache`, so each request goes upstream and its answer is
// captured: the cost of a miss). Next to meshgate's plain-proxy figure in the
// same rounds.
import type { Scenario } from '../scenario.js'
import { auth, authConfig } from './auth.js'
import { dbipCityIpv4 } from './edge-facts.js'

export function fullStackConfig (upstreamPort: number, listenPort: number): string {
  return `${authConfig(upstreamPort, listenPort)}---
apiVersion: meshgate.io/v1alpha1
kind: EdgeFacts
metadata: {name: edge, namespace: bench}
spec:
  trustedProxies: [127.0.0.1/32]
---
apiVersion: meshgate.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: users, namespace: bench}
spec:
  limits:
  - {name: per-user, requests: 1000000000, per: 1s, key: "claim:sub"}
---
apiVersion: meshgate.io/v1alpha1
kind: CachePolicy
metadata: {name: items, namespace: bench}
spec:
  ttl: 1m
  vary: [authorization]
`
}

export const fullStack: Scenario = {
  name: 'full-stack',
  description: 'edge facts + JWT + AuthorizationPolicy + Redis rate limit + cache miss on every request, vs the plain config',
  meshgateConfig: fullStackConfig,
  meshgateArgs: ['--geoip', dbipCityIpv4()],
  redis: true,
  request: {
    method: 'GET',
    path: '/api/items/42',
    headers: {
      ...auth.request.headers,
      'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      'x-forwarded-for': '5.224.0.10',
      'cache-control': 'no-cache'
    }
  },
  expectRoute: { virtualService: 'bench/plain', route: 'all' },
  comparePlain: true,
  goals: [{ label: 'full stack ≥ 0.7× meshgate\'s plain-proxy req/s', metric: 'rps', of: 'meshgate', to: 'meshgate-plain', min: 0.7 }]
}
