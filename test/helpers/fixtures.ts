// Config fragments most integration tests share. Placeholders `{{name}}` are
// filled by startGateway's `vars` (see gateway.ts `fill`).

/** Gateway `test/gw`: plain HTTP for every host on each given port (default `{{port}}`). */
export function gatewayYaml (ports: readonly string[] = ['{{port}}']): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: test}
spec:
  servers:
${ports.map((p, i) => `  - port: {number: ${p}, name: http-${i}, protocol: HTTP}\n    hosts: ["*"]`).join('\n')}
`
}

/**
 * ServiceEntry `app` (app.test.svc.cluster.local:80) with one endpoint per
 * subset name on 127.0.0.1:{{<name>}}, labelled version=<name>, and the
 * DestinationRule that defines those subsets (plus `extraSubsets`, which select nothing).
 */
export function appServiceYaml (subsets: readonly string[], extraSubsets: readonly string[] = []): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: test}
spec:
  hosts: [app.test.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
${subsets.map(s => `  - {address: 127.0.0.1, ports: {http: {{${s}}}}, labels: {version: ${s}}}`).join('\n')}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: app, namespace: test}
spec:
  host: app
  subsets:
${[...subsets, ...extraSubsets].map(s => `  - {name: ${s}, labels: {version: ${s}${extraSubsets.includes(s) ? '-none' : ''}}}`).join('\n')}
`
}

/** Gateway + app service: the usual start of a test config. */
export function appConfig (subsets: readonly string[], extraSubsets: readonly string[] = []): string {
  return `${gatewayYaml()}---\n${appServiceYaml(subsets, extraSubsets)}`
}

/** VirtualService `test/<name>` on `test/gw`: every request for `host` to subset `subset` of app (one route, named if `routeName`). */
export function routeYaml (name: string, host: string, subset: string, routeName?: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: test}
spec:
  hosts: [${host}]
  gateways: [gw]
  http: [{${routeName === undefined ? '' : `name: ${routeName}, `}route: [{destination: {host: app, subset: ${subset}}}]}]
`
}

export interface OneServiceOptions {
  /** Gateway `test/gw` servers: plain HTTP on `listen`, and GRPC on `grpcListen` when given. */
  listen: number
  grpcListen?: number
  /** ServiceEntry `default/<name>` for `<name>.default.svc.cluster.local`, one port, one endpoint on 127.0.0.1. */
  name: string
  port: number
  portName: string
  protocol: string
  endpointPort: number
  /** The DestinationRule's trafficPolicy as flow YAML; no DestinationRule without it. */
  trafficPolicy?: string
}

/** Gateway + ServiceEntry (+ DestinationRule) + a VirtualService sending every request to that one service. */
export function oneServiceConfig (o: OneServiceOptions): string {
  const host = `${o.name}.default.svc.cluster.local`
  const grpc = o.grpcListen === undefined ? '' : `\n  - port: {number: ${o.grpcListen}, name: grpc, protocol: GRPC}\n    hosts: ["*"]`
  const rule = o.trafficPolicy === undefined
    ? ''
    : `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${o.name}, namespace: default}
spec:
  host: ${host}
  trafficPolicy: ${o.trafficPolicy}
`
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: test}
spec:
  servers:
  - port: {number: ${o.listen}, name: http, protocol: HTTP}
    hosts: ["*"]${grpc}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${o.name}, namespace: default}
spec:
  hosts: [${host}]
  ports: [{number: ${o.port}, name: ${o.portName}, protocol: ${o.protocol}}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {${o.portName}: ${o.endpointPort}}}]
${rule}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${o.name}, namespace: test}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: {host: ${host}, port: {number: ${o.port}}}}]}]
`
}
