// Prometheus metrics. Label values come from the snapshot (VirtualService,
// route, destination names) and from status codes, so cardinality is bounded by
// the config, never by request data.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client'
import type { Exchange } from '../gateway/dataplane/exchange.js'

type RequestLabels = 'listener' | 'virtual_service' | 'route' | 'destination' | 'subset' | 'code' | 'flags'

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

interface Child { inc (): void }
interface HistChild { observe (v: number): void }

export class GatewayMetrics {
  readonly registry: Registry
  readonly requests: Counter<RequestLabels>
  readonly duration: Histogram<'virtual_service' | 'route'>
  readonly upstreamAttempts: Counter<'cluster' | 'result'>
  readonly configVersion: Gauge<'version'>
  readonly reloads: Counter<'result'>
  readonly lastReloadFailed: Gauge
  readonly #children = new Map<string, Child>()
  readonly #histChildren = new Map<string, HistChild>()
  readonly #attemptChildren = new Map<string, Child>()

  constructor () {
    this.registry = new Registry()
    collectDefaultMetrics({ register: this.registry, prefix: 'meshgate_process_' })
    this.requests = new Counter({ name: 'meshgate_requests_total', help: 'Requests by listener, VirtualService, route, destination, subset, status code and response flags', labelNames: ['listener', 'virtual_service', 'route', 'destination', 'subset', 'code', 'flags'], registers: [this.registry] })
    this.duration = new Histogram({ name: 'meshgate_request_duration_seconds', help: 'Time from request start to the end of the response', labelNames: ['virtual_service', 'route'], buckets: BUCKETS, registers: [this.registry] })
    this.upstreamAttempts = new Counter({ name: 'meshgate_upstream_attempts_total', help: 'Upstream attempts by cluster and result (including retries)', labelNames: ['cluster', 'result'], registers: [this.registry] })
    this.configVersion = new Gauge({ name: 'meshgate_config_version_info', help: 'The active config version (value 1)', labelNames: ['version'], registers: [this.registry] })
    this.reloads = new Counter({ name: 'meshgate_config_reloads_total', help: 'Config loads by result (applied, refused, unchanged)', labelNames: ['result'], registers: [this.registry] })
    this.lastReloadFailed = new Gauge({ name: 'meshgate_config_last_reload_failed', help: '1 when the newest config version was refused', registers: [this.registry] })
  }

  setVersion (version: string): void {
    this.configVersion.reset()
    this.configVersion.set({ version }, 1)
  }

  /** One upstream attempt; `result` is a status class (2xx…5xx) or a failure (connect, reset, timeout). */
  attempt (cluster: string, result: string): void {
    const key = `${cluster}|${result}`
    let c = this.#attemptChildren.get(key)
    if (c === undefined) {
      c = this.upstreamAttempts.labels({ cluster, result })
      if (this.#attemptChildren.size < 10_000) this.#attemptChildren.set(key, c)
    }
    c.inc()
  }

  observe (ex: Exchange): void {
    const route = ex.route
    const dest = ex.dest
    const vs = route?.vsLabel ?? ''
    const rl = route?.routeLabel ?? ''
    const key = `${ex.facts.port}|${vs}|${rl}|${dest?.statName ?? ''}|${ex.status}|${ex.flags}`
    let c = this.#children.get(key)
    if (c === undefined) {
      const labels: LabelValues<RequestLabels> = { listener: String(ex.facts.port), virtual_service: vs, route: rl, destination: dest?.host ?? '', subset: dest?.subset ?? '', code: String(ex.status), flags: ex.flags }
      c = this.requests.labels(labels)
      if (this.#children.size < 10_000) this.#children.set(key, c)
    }
    c.inc()
    const hk = `${vs}|${rl}`
    let h = this.#histChildren.get(hk)
    if (h === undefined) {
      h = this.duration.labels({ virtual_service: vs, route: rl })
      if (this.#histChildren.size < 10_000) this.#histChildren.set(hk, h)
    }
    h.observe((performance.now() - ex.startMs) / 1000)
  }
}

/** Admin-listener plugin: `GET /metrics`. */
export default fp(async function metricsRoute (app: FastifyInstance, opts: { metrics: GatewayMetrics, collect?: () => Promise<string> }) {
  app.get('/metrics', async (_req, reply) => {
    const text = opts.collect !== undefined ? await opts.collect() : await opts.metrics.registry.metrics()
    reply.header('content-type', opts.metrics.registry.contentType)
    return text
  })
}, { name: 'meshgate-metrics' })
