// The running gateway: loads config, publishes snapshots, keeps one listener per
// Gateway port, reloads on file changes, drains on shutdown.
import type { Logger } from 'pino'
import { loadConfig, type LoadOptions, type LoadResult, type PreviousVersion } from './config-loader.js'
import type { Snapshot } from './snapshot.js'
import { DataPlane } from './dataplane/data-plane.js'
import { GatewayListener, DEFAULT_LIMITS, type ListenerLimits } from './dataplane/listener.js'
import { FileWatcher } from './sources/file-watcher.js'
import { formatIssue, type Issue } from './validate/issues.js'
import type { GatewayMetrics } from '../plugins/metrics.js'
import { EdgeFactsEngine, GeoDatabase } from '../plugins/edge-facts/index.js'
import type { JwksStoreOptions } from '../plugins/authn-jwt/jwks-store.js'
import { Tracer, type TracingOptions } from '../plugins/tracing.js'
import { connectRedis, redisReady, type RedisClient } from '../plugins/redis.js'
import { WorkloadIdentity } from '../mesh-bridge/identity.js'

export interface GatewayOptions extends LoadOptions {
  readonly configPaths: readonly string[]
  readonly host: string
  readonly log: Logger
  readonly accessLog: Logger | null
  readonly metrics: GatewayMetrics | null
  readonly limits?: ListenerLimits
  readonly watch?: boolean
  /** Debounce for file events, ms. */
  readonly reloadDelayMs?: number
  /** `--geoip` files (mmdb), loaded at start and swapped when they change. */
  readonly geoip?: readonly string[]
  /** How often the geoip files are checked for changes, ms (default 5000). */
  readonly geoipPollMs?: number
  /** JWKS refresh and unknown-kid refetch timing (defaults: 5 min, 30 s). */
  readonly jwks?: JwksStoreOptions
  /** OpenTelemetry export (`--otlp-endpoint`); absent = no spans, trace headers pass through. */
  readonly tracing?: TracingOptions
  /** `--redis` URLs (several = Redis Cluster): shared rate-limit counters. */
  readonly redis?: readonly string[]
  /** Per-command Redis timeout, ms (default 100). */
  readonly redisCommandTimeoutMs?: number
  /** L1 cache bytes per CachePolicy (default 64 MiB). */
  readonly cacheMaxBytes?: number
  /** `--identity-dir`: the workload identity for ISTIO_MUTUAL (cert-chain.pem, key.pem, root-cert.pem). */
  readonly identityDir?: string
  /** How often the identity files are checked for rotation, ms (default 2000). */
  readonly identityPollMs?: number
}

export interface RefusedVersion {
  readonly version: string
  readonly at: string
  readonly issues: readonly Issue[]
}

export class Gateway {
  readonly opts: GatewayOptions
  plane: DataPlane | null
  readonly listeners = new Map<number, { listener: GatewayListener, fingerprint: string }>()
  lastRefused: RefusedVersion | null
  appliedAt: string
  ready: boolean
  draining: boolean
  #watcher: FileWatcher | null
  #reloading: Promise<void> | null
  #pending: boolean
  /** The last version loaded (applied or refused), so unchanged files are not parsed again. */
  #previous: PreviousVersion | null
  #redis: RedisClient | null = null

  constructor (opts: GatewayOptions) {
    this.opts = opts
    this.plane = null
    this.lastRefused = null
    this.appliedAt = ''
    this.ready = false
    this.draining = false
    this.#watcher = null
    this.#reloading = null
    this.#pending = false
    this.#previous = null
  }

  get snapshot (): Snapshot | null {
    return this.plane?.current ?? null
  }

  /** Initial load. Throws a ConfigError when the config is refused (exit code 1). */
  async start (): Promise<void> {
    const result = await loadConfig(this.opts.configPaths, this.opts)
    this.#logIssues(result)
    if (result.snapshot === null) throw new ConfigError(result.issues)
    this.#previous = { version: result.version, refs: result.refs }
    const identity = this.opts.identityDir === undefined ? null : await WorkloadIdentity.load(this.opts.identityDir)
    if (identity !== null) this.opts.log.info({ identity: identity.current.spiffeId, serial: identity.current.serial, notAfter: identity.current.notAfter.toISOString() }, 'workload identity loaded')
    const redisUrls = this.opts.redis ?? []
    this.#redis = redisUrls.length === 0 ? null : await connectRedis(redisUrls, this.opts.log, { commandTimeoutMs: this.opts.redisCommandTimeoutMs })
    // Counting starts with Redis: wait for it briefly, then serve anyway (policies fail open or closed until it comes).
    if (this.#redis !== null && !(await redisReady(this.#redis, 3_000))) this.opts.log.warn({ redis: redisUrls.length }, 'redis not reachable at start; serving, and connecting in the background')
    const geoip = this.opts.geoip ?? []
    const geo = geoip.length === 0 ? null : await GeoDatabase.open(geoip)
    if (geo !== null) {
      if (this.opts.watch !== false) geo.watch(this.opts.log, this.opts.geoipPollMs ?? 5_000)
      this.opts.log.info({ geoip: geo.files }, 'geoip database loaded')
    }
    this.plane = new DataPlane(result.snapshot, { log: this.opts.log, accessLog: this.opts.accessLog, metrics: this.opts.metrics, edge: new EdgeFactsEngine(geo), jwks: this.opts.jwks, limits: this.opts.limits, tracer: this.opts.tracing === undefined ? null : new Tracer(this.opts.tracing, this.opts.log), redis: this.#redis, cacheMaxBytes: this.opts.cacheMaxBytes })
    const plane = this.plane
    this.opts.metrics?.watchCache(() => plane.cache.stats())
    if (identity !== null) {
      plane.upstreams.pools.identity = identity
      // Rotation is how identities stay valid: always watched, whatever --config watching does.
      identity.watch(this.opts.log, this.opts.identityPollMs ?? 2_000)
      this.opts.metrics?.watchCertExpiry(() => identity.secondsLeft())
    }
    this.appliedAt = new Date().toISOString()
    this.opts.metrics?.setVersion(result.version)
    this.opts.metrics?.reloads.inc({ result: 'applied' })
    await this.#syncListeners(result.snapshot)
    this.ready = true
    this.opts.log.info({ version: result.version, listeners: [...this.listeners.keys()] }, 'config applied')
    this.opts.provider?.onChange?.(() => { void this.reload() })
    if (this.opts.watch !== false && this.opts.configPaths.length > 0) {
      this.#watcher = new FileWatcher(this.opts.configPaths, result.watched, this.opts.reloadDelayMs ?? 100, () => { void this.reload() })
      this.#watcher.start()
    }
  }

  /** Builds the next snapshot off the request path and swaps it in; a refused version leaves the current one serving. */
  async reload (): Promise<void> {
    if (this.#reloading !== null) { this.#pending = true; return this.#reloading }
    this.#reloading = this.#doReload().finally(() => { this.#reloading = null })
    await this.#reloading
    if (this.#pending) { this.#pending = false; await this.reload() }
  }

  async #doReload (): Promise<void> {
    if (this.draining || this.plane === null) return
    let result: LoadResult
    try {
      result = await loadConfig(this.opts.configPaths, this.opts, this.#previous)
    } catch (err) {
      this.opts.log.error({ err }, 'config reload failed')
      return
    }
    this.#watcher?.setFiles(result.watched)
    if (result.unchanged || (result.snapshot !== null && result.version === this.plane.current.version)) {
      this.opts.metrics?.reloads.inc({ result: 'unchanged' })
      return
    }
    this.#previous = { version: result.version, refs: result.refs }
    this.#logIssues(result)
    if (result.snapshot === null) {
      this.lastRefused = { version: result.version, at: new Date().toISOString(), issues: result.issues }
      this.opts.metrics?.reloads.inc({ result: 'refused' })
      this.opts.metrics?.lastReloadFailed.set(1)
      this.opts.log.error({ version: result.version, errors: result.issues.filter(i => i.admission && i.severity === 'error').length }, 'config version refused; the last good version keeps serving')
      return
    }
    this.plane.publish(result.snapshot)
    this.appliedAt = new Date().toISOString()
    this.opts.metrics?.setVersion(result.version)
    this.opts.metrics?.reloads.inc({ result: 'applied' })
    this.opts.metrics?.lastReloadFailed.set(0)
    await this.#syncListeners(result.snapshot)
    this.opts.log.info({ version: result.version, listeners: [...this.listeners.keys()] }, 'config applied')
  }

  /** Opens listeners for new ports, closes those whose Gateway server is gone, updates the rest in place. */
  async #syncListeners (snapshot: Snapshot): Promise<void> {
    const limits = this.opts.limits ?? DEFAULT_LIMITS
    for (const [port, entry] of [...this.listeners]) {
      const l = snapshot.listeners.get(port)
      if (l === undefined || l.tls !== entry.listener.tls || `${l.tls}|${l.bind}|${l.listenPort}` !== entry.fingerprint) {
        this.listeners.delete(port)
        await entry.listener.close(5_000)
        this.opts.log.info({ port }, 'listener closed')
      } else {
        entry.listener.update(l)
      }
    }
    for (const [port, l] of snapshot.listeners) {
      if (this.listeners.has(port)) continue
      const gl = new GatewayListener(l, this.plane!, limits)
      try {
        await gl.listen(l.bind !== '' ? l.bind : this.opts.host)
        this.listeners.set(port, { listener: gl, fingerprint: `${l.tls}|${l.bind}|${l.listenPort}` })
        this.opts.log.info(l.listenPort === port ? { port, tls: l.tls } : { port, listenPort: l.listenPort, tls: l.tls }, 'listener open')
      } catch (err) {
        this.opts.log.error({ port, err: (err as Error).message }, 'cannot open listener')
        await gl.app.close().catch(() => {})
        if (!this.ready) throw err
      }
    }
  }

  #logIssues (result: LoadResult): void {
    for (const i of result.issues) {
      const line = formatIssue(i)
      if (i.severity === 'error') this.opts.log.error({ code: i.code, admission: i.admission }, line)
      else this.opts.log.warn({ code: i.code }, line)
    }
  }

  /** SIGTERM/SIGINT: not ready, stop accepting, let in-flight requests finish up to `graceMs`. */
  async drain (graceMs: number): Promise<void> {
    this.draining = true
    this.ready = false
    this.#watcher?.stop()
    await this.opts.provider?.stop?.()
    await Promise.all([...this.listeners.values()].map(e => e.listener.close(graceMs)))
    this.listeners.clear()
    this.plane?.edge.geo?.close()
    this.plane?.upstreams.pools.identity?.close()
    await this.plane?.close()
    this.#redis?.disconnect()
  }
}

export class ConfigError extends Error {
  readonly issues: readonly Issue[]
  constructor (issues: readonly Issue[]) {
    super('config refused')
    this.issues = issues
  }
}
