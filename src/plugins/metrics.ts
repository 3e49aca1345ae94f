// Prometheus metrics. Label values come from the snapshot (VirtualService,
// route, destination names) and from status codes, so cardinality is bounded by
// the config, never by request data.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import { FastCounter, FastHistogram, type CounterSeries, type HistogramSeries, type Labels } from './fast-metrics.js'
import type { Exchange } from '../gateway/dataplane/exchange.js'
import type { Cluster, Route, RouteDestination } from '../gateway/snapshot.js'

const rateLimitLabels = (limit: string, allowed: string): Labels => ({ limit, decision: allowed === '1' ? 'allow' : 'deny' })
const authzLabels = (policy: string, allowed: string): Labels => ({ policy: policy === '' ? '(no ALLOW matched)' : policy, decision: allowed === '1' ? 'allow' : 'deny' })
const cacheLabels = (policy: string, result: string): Labels => ({ policy, result })

/** The request counters of one destination of one route, by listener port and status (no response flags). */
interface DestinationSeries { readonly route: Route, readonly byCode: Map<number, CounterSeries> }

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export class GatewayMetrics {
  readonly registry: Registry
  readonly requests: FastCounter
  readonly duration: FastHistogram
  readonly upstreamAttempts: FastCounter
  readonly stickyFallbacks: FastCounter
  readonly consumerRequests: FastCounter
  readonly authzDecisions: FastCounter
  readonly rateLimitDecisions: FastCounter
  readonly rateLimitStoreErrors: FastCounter
  readonly cacheResults: FastCounter
  readonly cacheBytes: Gauge
  readonly cacheEntries: Gauge
  readonly cacheEvictions: Counter
  #cacheStats: (() => { bytes: number, entries: number, evictions: number }) | null = null
  readonly certExpiry: Gauge<'cert'>
  #certSecondsLeft: (() => number) | null = null
  /** Consumers with a series of their own (at most #maxConsumers); the rest are counted as `other`. */
  readonly #consumers = new Set<string>()
  readonly #maxConsumers: number
  /**
   * Requests per consumer, for choosing the top N: at most 10 × N consumers;
   * when full, the less busy half is forgotten (a space-saving estimate: the
   * busy ones stay, a newcomer starts from scratch).
   */
  #consumerCounts = new Map<string, number>()
  readonly configVersion: Gauge<'version'>
  readonly reloads: Counter<'result'>
  readonly lastReloadFailed: Gauge
  /** Series found through the snapshot's own objects, so a plain answer builds no label key. */
  readonly #byDestination = new WeakMap<RouteDestination, DestinationSeries>()
  readonly #durationByRoute = new WeakMap<Route, HistogramSeries>()
  readonly #attemptsByCluster = new WeakMap<Cluster, Map<string, CounterSeries>>()

  constructor (opts: { maxConsumers?: number } = {}) {
    this.#maxConsumers = opts.maxConsumers ?? 100
    this.registry = new Registry()
    collectDefaultMetrics({ register: this.registry, prefix: 'meshgate_' })
    this.requests = new FastCounter('meshgate_requests_total', 'Requests by listener, VirtualService, route, destination, subset, status code and response flags')
    this.duration = new FastHistogram('meshgate_request_duration_seconds', 'Time from request start to the end of the response', BUCKETS)
    this.upstreamAttempts = new FastCounter('meshgate_upstream_attempts_total', 'Upstream attempts by cluster and result (including retries)')
    this.stickyFallbacks = new FastCounter('meshgate_sticky_split_fallback_total', 'Requests to a sticky split that lacked the key, so the side was chosen at random, by VirtualService')
    this.consumerRequests = new FastCounter('meshgate_consumer_requests_total', 'Requests by API consumer (ApiKeyPolicy) and status class; the busiest consumers (top N, chosen again at each scrape) get a series each, the rest count as other')
    this.authzDecisions = new FastCounter('meshgate_authz_decisions_total', 'AuthorizationPolicy decisions by deciding policy and decision')
    this.rateLimitDecisions = new FastCounter('meshgate_ratelimit_decisions_total', 'Rate-limit checks by limit (namespace/policy/limit) and decision')
    this.rateLimitStoreErrors = new FastCounter('meshgate_ratelimit_store_errors_total', 'Rate-limit checks the shared store (Redis) could not answer, by policy')
    this.cacheResults = new FastCounter('meshgate_cache_requests_total', 'Requests a CachePolicy covers, by policy and x-cache result (HIT, MISS, STALE, BYPASS)')
    // Gauges read at scrape time from the cache's own accounting.
    const read = (): { bytes: number, entries: number, evictions: number } | undefined => this.#cacheStats?.()
    const stat = (pick: (s: { bytes: number, entries: number, evictions: number }) => number) => function (this: Gauge): void {
      const s = read()
      if (s !== undefined) this.set(pick(s))
    }
    this.cacheBytes = new Gauge({ name: 'meshgate_cache_bytes', help: 'Bytes held by the in-process cache (its own accounting)', registers: [this.registry], collect: stat(s => s.bytes) })
    this.cacheEntries = new Gauge({ name: 'meshgate_cache_entries', help: 'Entries held by the in-process cache', registers: [this.registry], collect: stat(s => s.entries) })
    const certLeft = (): number | undefined => this.#certSecondsLeft?.()
    this.certExpiry = new Gauge({
      name: 'meshgate_cert_expiry_seconds',
      help: 'Seconds until a certificate meshgate presents expires (identity: the --identity-dir workload certificate)',
      labelNames: ['cert'],
      registers: [this.registry],
      collect () {
        const s = certLeft()
        if (s !== undefined) this.set({ cert: 'identity' }, s)
      }
    })
    // A counter: the cache keeps the evictions of stores a reload dropped, so its total never goes down.
    let evictionsSeen = 0
    this.cacheEvictions = new Counter({
      name: 'meshgate_cache_evictions_total',
      help: 'Entries the in-process cache evicted to stay within its bounds',
      registers: [this.registry],
      collect () {
        const s = read()
        if (s !== undefined && s.evictions > evictionsSeen) { this.inc(s.evictions - evictionsSeen); evictionsSeen = s.evictions }
      }
    })
    // The Registry calls get(); ours is named collect() so that get(key) can look up a series.
    for (const m of [this.requests, this.duration, this.upstreamAttempts, this.stickyFallbacks, this.authzDecisions, this.rateLimitDecisions, this.rateLimitStoreErrors, this.cacheResults]) {
      this.registry.registerMetric({ name: m.name, get: () => m.collect() } as unknown as Metric)
    }
    this.registry.registerMetric({ name: this.consumerRequests.name, get: () => { this.#chooseTopConsumers(); return this.consumerRequests.collect() } } as unknown as Metric)
    this.configVersion = new Gauge({ name: 'meshgate_config_version_info', help: 'The active config version (value 1)', labelNames: ['version'], registers: [this.registry] })
    this.reloads = new Counter({ name: 'meshgate_config_reloads_total', help: 'Config loads by result (applied, refused, unchanged)', labelNames: ['result'], registers: [this.registry] })
    this.lastReloadFailed = new Gauge({ name: 'meshgate_config_last_reload_failed', help: '1 when the newest config version was refused', registers: [this.registry] })
  }

  setVersion (version: string): void {
    this.configVersion.reset()
    this.configVersion.set({ version }, 1)
  }

  /** One upstream attempt; `result` is a status class (2xx…5xx) or a failure (connect, reset, timeout). */
  attempt (cluster: Cluster, result: string): void {
    let byResult = this.#attemptsByCluster.get(cluster)
    if (byResult === undefined) { byResult = new Map(); this.#attemptsByCluster.set(cluster, byResult) }
    let s = byResult.get(result)
    if (s === undefined) {
      const key = `${cluster.key}|${result}`
      s = this.upstreamAttempts.get(key) ?? this.upstreamAttempts.add(key, { cluster: cluster.key, result })
      byResult.set(result, s)
    }
    s.inc()
  }

  /** A request to a `meshgate.io/sticky-split` route without the key. */
  stickyFallback (virtualService: string): void {
    const s = this.stickyFallbacks.get(virtualService) ?? this.stickyFallbacks.add(virtualService, { virtual_service: virtualService })
    s.inc()
  }

  watchCertExpiry (secondsLeft: () => number): void {
    this.#certSecondsLeft = secondsLeft
  }

  /** Where the cache gauges read from (the data plane's cache). */
  watchCache (stats: () => { bytes: number, entries: number, evictions: number }): void {
    this.#cacheStats = stats
  }

  rateLimitDecision (limit: string, allowed: boolean): void {
    this.rateLimitDecisions.pair(limit, allowed ? '1' : '0', rateLimitLabels).inc()
  }

  rateLimitStoreError (policy: string): void {
    const s = this.rateLimitStoreErrors.get(policy) ?? this.rateLimitStoreErrors.add(policy, { policy })
    s.inc()
  }

  /** One answered request of an API consumer (called per request by `observe`). */
  countConsumer (consumer: string, status: number): void {
    const counts = this.#consumerCounts
    const seen = counts.get(consumer)
    if (seen !== undefined) counts.set(consumer, seen + 1)
    else {
      if (counts.size >= this.#maxConsumers * 10) this.#forgetQuietConsumers()
      counts.set(consumer, 1)
    }
    let name = consumer
    if (!this.#consumers.has(name)) {
      if (this.#consumers.size < this.#maxConsumers) this.#consumers.add(name)
      else name = 'other'
    }
    const cls = statusClass(status)
    const key = `${name}|${cls}`
    const s = this.consumerRequests.get(key) ?? this.consumerRequests.add(key, { consumer: name, code: cls })
    s.inc()
  }

  /** Consumers whose requests are being counted (bounded by 10 × the series limit). */
  get consumerCount (): number { return this.#consumerCounts.size }

  /** Keeps the busier half of the consumer counts (promoted consumers always stay). */
  #forgetQuietConsumers (): void {
    const sorted = [...this.#consumerCounts].sort((a, b) => b[1] - a[1])
    const kept = new Map<string, number>()
    for (const [c, n] of sorted.slice(0, Math.ceil(sorted.length / 2))) kept.set(c, n)
    for (const c of this.#consumers) kept.set(c, this.#consumerCounts.get(c) ?? 0)
    this.#consumerCounts = kept
  }

  /**
   * At each scrape: the N busiest consumers get (or keep) a series. One that
   * drops out of the top N has its series folded into `other` (its counts are
   * added there, so every sum over consumers only grows), and one that enters
   * starts its series from zero (its earlier requests stay in `other`).
   */
  #chooseTopConsumers (): void {
    if (this.#consumerCounts.size <= this.#consumers.size) return
    const top = new Set([...this.#consumerCounts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, this.#maxConsumers).map(e => e[0]))
    const leaving = [...this.#consumers].filter(c => !top.has(c))
    if (leaving.length === 0) return
    for (const c of leaving) {
      this.#consumers.delete(c)
      for (const [key, s] of [...this.consumerRequests.entries()]) {
        if (s.labels.consumer !== c) continue
        this.consumerRequests.remove(key)
        const otherKey = `other|${s.labels.code!}`
        const other = this.consumerRequests.get(otherKey) ?? this.consumerRequests.add(otherKey, { consumer: 'other', code: s.labels.code! })
        other.value += s.value
      }
    }
    for (const c of top) if (this.#consumers.size < this.#maxConsumers) this.#consumers.add(c)
  }

  observe (ex: Exchange): void {
    const route = ex.route
    const dest = ex.dest
    const vs = route?.vsLabel ?? ''
    const rl = route?.routeLabel ?? ''
    const port = ex.facts.port
    const status = ex.status
    const flags = ex.flags
    let r: CounterSeries | undefined
    if (flags === '' && route !== null && dest !== null) {
      let d = this.#byDestination.get(dest)
      if (d === undefined || d.route !== route) { d = { route, byCode: new Map() }; this.#byDestination.set(dest, d) }
      const code = port * 1000 + status
      r = d.byCode.get(code)
      if (r === undefined) { r = this.#requestSeries(ex, vs, rl); d.byCode.set(code, r) }
    } else {
      r = this.#requestSeries(ex, vs, rl)
    }
    r.inc()
    if (ex.cacheStatus !== '') {
      this.cacheResults.pair(ex.cachePolicy?.id ?? '', ex.cacheStatus, cacheLabels).inc()
    }
    const consumer = ex.facts.consumer
    if (consumer !== '') this.countConsumer(consumer, status)
    const az = ex.authz
    if (az !== null && az.reason !== 'no-policy') {
      this.authzDecisions.pair(az.policy, az.allowed ? '1' : '0', authzLabels).inc()
    }
    let h = route === null ? undefined : this.#durationByRoute.get(route)
    if (h === undefined) {
      const hkey = `${vs}|${rl}`
      h = this.duration.get(hkey) ?? this.duration.add(hkey, { virtual_service: vs, route: rl })
      if (route !== null) this.#durationByRoute.set(route, h)
    }
    h.observe((performance.now() - ex.startMs) / 1000)
  }

  #requestSeries (ex: Exchange, vs: string, rl: string): CounterSeries {
    const dest = ex.dest
    const port = ex.facts.port
    const status = ex.status
    const flags = ex.flags
    const key = `${port}|${vs}|${rl}|${dest?.statName ?? ''}|${status}|${flags}`
    return this.requests.get(key) ?? this.requests.add(key, { listener: String(port), virtual_service: vs, route: rl, destination: dest?.host ?? '', subset: dest?.subset ?? '', code: String(status), flags })
  }
}

/** Status class label: 2xx … 5xx, or 0 when no response was sent. */
function statusClass (status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : '0'
}

/** Admin-listener plugin: `GET /metrics`. */
export default fp(async function metricsRoute (app: FastifyInstance, opts: { metrics: GatewayMetrics, collect?: () => Promise<string> }) {
  app.get('/metrics', async (_req, reply) => {
    const text = opts.collect !== undefined ? await opts.collect() : await opts.metrics.registry.metrics()
    reply.header('content-type', opts.metrics.registry.contentType)
    return text
  })
}, { name: 'meshgate-metrics' })
