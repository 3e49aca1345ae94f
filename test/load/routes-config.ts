// The config of the route-selection micro-benchmark and of its served-memory
// measurement: one virtual host with `routes` routes, cycling through header,
// regex, query and method matches, named r0, r1, ...
import { gatewayAndUpstream } from './scenario.js'

export function manyRoutesConfig (routes: number, upstreamPort: number, listenPort: number): string {
  const rules: string[] = []
  for (let i = 0; i < routes; i++) {
    const kind = i % 4
    const match = kind === 0
      ? `{uri: {prefix: /svc-${i}/}, headers: {x-tenant: {exact: t${i}}}}`
      : kind === 1
        ? `{uri: {regex: "/re-${i}/[0-9]+"}}`
        : kind === 2
          ? `{uri: {exact: /exact-${i}}, queryParams: {v: {exact: "${i}"}}}`
          : `{uri: {prefix: /p-${i}}, method: {exact: POST}}`
    rules.push(`  - name: r${i}\n    match: [${match}]\n    route: [{destination: {host: up}}]`)
  }
  return `${gatewayAndUpstream(upstreamPort, listenPort)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: many, namespace: bench}
spec:
  hosts: [bench.test]
  gateways: [bench]
  http:
${rules.join('\n')}
`
}
