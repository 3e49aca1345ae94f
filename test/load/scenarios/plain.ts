// (a) Plain proxy: one VirtualService with one route, ~100-byte answers. The
// figure every other scenario is compared with.
import { gatewayAndUpstream, type Scenario } from '../scenario.js'

export function plainConfig (upstreamPort: number, listenPort: number): string {
  return `${gatewayAndUpstream(upstreamPort, listenPort)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: plain, namespace: bench}
spec:
  hosts: [bench.test]
  gateways: [bench]
  http:
  - name: all
    route: [{destination: {host: up}}]
`
}

export const plain: Scenario = {
  name: 'plain',
  description: 'plain proxy: one route, GET, ~100-byte answers',
  meshgateConfig: plainConfig,
  request: { method: 'GET', path: '/api/items/42', headers: { accept: 'application/json' } },
  expectRoute: { virtualService: 'bench/plain', route: 'all' },
  goals: [
    { label: 'meshgate ≥ 0.9× the Node floor', metric: 'rps', of: 'meshgate', to: 'floor', min: 0.9 },
    { label: 'meshgate ≥ 0.33× nginx', metric: 'rps', of: 'meshgate', to: 'nginx', min: 0.33 },
    { label: 'meshgate peak RSS ≤ the Node floor\'s', metric: 'peakRss', of: 'meshgate', to: 'floor', max: 1 },
    { label: 'meshgate p99 ≤ 2× nginx p99, both at half of meshgate\'s req/s', metric: 'p99AtHalfLoad', of: 'meshgate', to: 'nginx', max: 2 }
  ]
}
