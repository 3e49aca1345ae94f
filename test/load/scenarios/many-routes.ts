// (b) 500 VirtualServices / 5,000 routes on one host, with header, regex, query
// and method matches, the request hitting route 2 of the last VirtualService
// (the 4,992nd route in evaluation order). All 500 share `bench.test`, so the
// in-vhost route index decides the cost, not the host map. Compared in the same
// rounds with meshgate on the plain config: route selection must not scan.
import { gatewayAndUpstream, type Scenario } from '../scenario.js'

const VIRTUAL_SERVICES = 500

function pad (i: number): string {
  return String(i).padStart(3, '0')
}

/** Ten rules under `/svc-NNN/`, one of each kind of match a real API gateway config has. */
function rules (n: string): string {
  const p = `/svc-${n}`
  const to = 'route: [{destination: {host: up}}]'
  return `  - name: api
    match: [{uri: {prefix: ${p}/api/}, headers: {x-tenant: {exact: t${n}}}}]
    ${to}
  - name: items
    match: [{uri: {regex: "${p}/items/[0-9]+"}, queryParams: {v: {exact: "1"}}}]
    ${to}
  - name: health
    match: [{uri: {exact: ${p}/health}}]
    ${to}
  - name: v2
    match: [{uri: {prefix: ${p}/v2/}, headers: {x-version: {regex: "v2\\\\..*"}}}]
    ${to}
  - name: orders
    match: [{uri: {regex: "${p}/users/[a-z]+/orders"}}]
    ${to}
  - name: search
    match: [{uri: {prefix: ${p}/search}, queryParams: {q: {regex: ".+"}}}]
    ${to}
  - name: upload
    match: [{uri: {prefix: ${p}/upload}, method: {exact: POST}}]
    ${to}
  - name: static
    match: [{uri: {prefix: ${p}/static/}, headers: {accept: {prefix: "text/"}}}]
    ${to}
  - name: special
    match: [{uri: {exact: ${p}/items/special}, headers: {x-debug: {exact: "1"}}}]
    ${to}
  - name: rest
    match: [{uri: {prefix: ${p}/}}]
    ${to}
`
}

function manyRoutesConfig (upstreamPort: number, listenPort: number): string {
  const docs: string[] = [gatewayAndUpstream(upstreamPort, listenPort)]
  for (let i = 0; i < VIRTUAL_SERVICES; i++) {
    const n = pad(i)
    docs.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-${n}, namespace: bench}
spec:
  hosts: [bench.test]
  gateways: [bench]
  http:
${rules(n)}`)
  }
  return docs.join('---\n')
}

const last = pad(VIRTUAL_SERVICES - 1)

export const manyRoutes: Scenario = {
  name: 'many-routes',
  description: `${VIRTUAL_SERVICES} VirtualServices / ${(VIRTUAL_SERVICES * 10).toLocaleString('en-US')} routes on one host (header, regex, query, method matches), the request hitting a late route`,
  meshgateConfig: manyRoutesConfig,
  request: { method: 'GET', path: `/svc-${last}/items/123?v=1`, headers: { accept: 'application/json' } },
  expectRoute: { virtualService: `bench/svc-${last}`, route: 'items' },
  comparePlain: true,
  goals: [
    { label: 'meshgate with 5,000 routes ≥ 0.9× meshgate with one route', metric: 'rps', of: 'meshgate', to: 'meshgate-plain', min: 0.9 }
  ]
}
