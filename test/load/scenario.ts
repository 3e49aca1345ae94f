// What a benchmark scenario is: one small file under test/load/scenarios/ that
// says how meshgate (and nginx) are configured, what request the load tool
// sends, what the upstream answers, and which goals of the benchmark issue
// apply. The harness (bench.ts) does the rest: processes, pinning, rounds,
// tables, JSON and the SVG chart.

/** The proxies and baselines a scenario can run; ids are stable (JSON, goals). */
export type ContestantId = 'direct' | 'nginx' | 'floor' | 'meshgate' | 'meshgate-plain' | 'meshgate-tuned'

export interface BenchRequest {
  readonly method: string
  /** Path and query, as sent on the request line. */
  readonly path: string
  /** Request headers besides `host` (which is always `bench.test`). */
  readonly headers: Readonly<Record<string, string>>
  /**
   * Headers that change from request to request: request i also carries
   * `variants[i % n]` (over `headers`), so one keep-alive connection brings
   * many callers, as behind a load balancer.
   */
  readonly variants?: ReadonlyArray<Readonly<Record<string, string>>>
}

/**
 * A goal from the benchmark issue, as a ratio `of / to` of one metric, measured
 * in the same run. Goals are printed as pass/fail; they never fail the process.
 */
export interface Goal {
  readonly label: string
  /** `rps`: median req/s; `peakRss`: highest RSS of the process tree; `p99AtHalfLoad`: p99 with both paced at half of meshgate's req/s. */
  readonly metric: 'rps' | 'peakRss' | 'p99AtHalfLoad'
  readonly of: ContestantId
  readonly to: ContestantId
  readonly min?: number
  readonly max?: number
}

export interface Scenario {
  /** Command-line name, and the file name under bench/results/. */
  readonly name: string
  /** One line: what the scenario measures. */
  readonly description: string
  /** Istio YAML for `meshgate serve`: a Gateway on `listenPort`, the upstream on 127.0.0.1:`upstreamPort`. */
  meshgateConfig (upstreamPort: number, listenPort: number): string
  /** The nginx `http {}` contents for the nginx contestant; default: `nginxProxyConfig`. */
  nginxConfig? (upstreamPort: number, listenPort: number): string
  readonly request: BenchRequest
  /** Body size of the upstream's answer (default 100 bytes). */
  readonly upstreamResponse?: { readonly bytes: number }
  /**
   * Processes per proxy: meshgate `--workers N`, nginx `worker_processes N`, the
   * Node floor on node:cluster. Above 1 nothing is pinned: every process shares every core.
   */
  readonly workers?: number
  /** The route `meshgate explain` must pick for `request` before any load is sent. */
  readonly expectRoute?: { readonly virtualService: string, readonly route: string }
  /**
   * meshgate reaches the upstream over mTLS (ISTIO_MUTUAL): the harness makes a
   * dev CA, serves the same file on a TLS port that verifies client
   * certificates, gives meshgate `--identity-dir`, and passes that port to
   * meshgateConfig. The other contestants use the plain port.
   */
  readonly upstreamMtls?: boolean
  /** Start a redis-server for the run and give meshgate `--redis` (serve only). */
  readonly redis?: boolean
  /** Extra flags for `meshgate serve` and `meshgate explain` (e.g. `--geoip FILE`). */
  readonly meshgateArgs?: readonly string[]
  /** Also runs meshgate with the `plain` config in the same rounds, for goals relative to it. */
  readonly comparePlain?: boolean
  readonly goals: readonly Goal[]
}

export const BENCH_HOST = 'bench.test'
export const DEFAULT_RESPONSE_BYTES = 100

/** The Gateway and the upstream's ServiceEntry (`up` in namespace `bench`), shared by every scenario. */
export function gatewayAndUpstream (upstreamPort: number, listenPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bench, namespace: bench}
spec:
  servers:
  - port: {number: ${listenPort}, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: up, namespace: bench}
spec:
  hosts: [up.bench.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${upstreamPort}}}]
`
}

/**
 * nginx as a reverse proxy the way one would tune it for this: keep-alive to the
 * upstream (`keepalive` in the upstream block needs HTTP/1.1 and an empty
 * Connection header), no access log, keep-alive connections never recycled
 * during a run (nginx closes one after 1,000 requests by default).
 */
export function nginxProxyConfig (upstreamPort: number, listenPort: number): string {
  return `upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${listenPort} backlog=4096;
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`
}
