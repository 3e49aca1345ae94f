// (e) mTLS upstream: DestinationRule ISTIO_MUTUAL to an upstream that verifies
// client certificates (the harness's dev CA and --identity-dir), next to
// meshgate proxying plain HTTP to the same file in the same rounds.
import type { Scenario } from '../scenario.js'
import { plainConfig } from './plain.js'

export function mtlsConfig (upstreamPort: number, listenPort: number): string {
  return `${plainConfig(upstreamPort, listenPort)}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: up, namespace: bench}
spec:
  host: up.bench.svc.cluster.local
  trafficPolicy:
    tls:
      mode: ISTIO_MUTUAL
      subjectAltNames: ["spiffe://cluster.local/ns/bench/sa/upstream"]
`
}

export const mtls: Scenario = {
  name: 'mtls',
  description: 'ISTIO_MUTUAL to an upstream that verifies client certificates, vs plain HTTP to the same upstream',
  meshgateConfig: mtlsConfig,
  upstreamMtls: true,
  request: { method: 'GET', path: '/api/items/42', headers: { accept: 'application/json' } },
  expectRoute: { virtualService: 'bench/plain', route: 'all' },
  comparePlain: true,
  goals: [{ label: 'mTLS proxying vs plain-HTTP proxying (reported)', metric: 'rps', of: 'meshgate', to: 'meshgate-plain', min: 0 }]
}
