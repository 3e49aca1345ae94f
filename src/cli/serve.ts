// `meshgate serve`: one process, or a node:cluster primary with N workers that
// share the Gateway listeners. The primary owns the admin listener and
// aggregates the workers' metrics and readiness.
import cluster, { type Worker } from 'node:cluster'
import { availableParallelism } from 'node:os'
import pino, { type Logger } from 'pino'
import { AggregatorRegistry } from 'prom-client'
import { ArgError, flag, flagList, intFlag, parseArgs, type ParsedArgs } from './args.js'
import { Gateway, ConfigError } from '../gateway/runtime.js'
import { parseLabels } from '../gateway/config-loader.js'
import { GatewayMetrics } from '../plugins/metrics.js'
import { configDump, startAdmin } from '../gateway/admin.js'
import { formatIssue } from '../gateway/validate/issues.js'
import { geoipPaths, kubernetesFlags } from './config-flags.js'
import { DEFAULT_LIMITS, type ListenerLimits } from '../gateway/dataplane/listener.js'
import type { TracingOptions } from '../plugins/tracing.js'
import { parseRedisUrls } from '../plugins/redis.js'
import { DEFAULT_CACHE_MAX_BYTES } from '../plugins/cache/index.js'
import { workerExecArgv } from './node-flags.js'
import type { KubernetesProvider } from '../gateway/sources/kubernetes.js'

const SPEC = {
  config: 'multi',
  host: 'string',
  'admin-port': 'string',
  'admin-host': 'string',
  redis: 'string',
  geoip: 'multi',
  workers: 'string',
  'log-level': 'string',
  'gateway-labels': 'string',
  namespace: 'string',
  'root-namespace': 'string',
  'credentials-dir': 'string',
  'drain-timeout': 'string',
  'max-header-bytes': 'string',
  'max-headers': 'string',
  'max-url-bytes': 'string',
  'max-body-bytes': 'string',
  'headers-timeout': 'string',
  'request-timeout': 'string',
  'body-idle-timeout': 'string',
  'otlp-endpoint': 'string',
  'cache-max-bytes': 'string',
  'identity-dir': 'string',
  'trace-sampling': 'string',
  'access-log': 'string',
  kubernetes: 'boolean',
  kubeconfig: 'string',
  'watch-namespace': 'multi'
} as const

export const SERVE_USAGE = `usage: meshgate serve [--config PATH...] [--kubernetes [--kubeconfig FILE] [--watch-namespace NS]...]
                     [--host ADDR] [--admin-port N] [--admin-host ADDR]
                     [--workers N|auto] [--log-level L] [--gateway-labels k=v,...]
                     [--credentials-dir DIR] [--namespace NS] [--root-namespace NS] [--redis URL] [--geoip PATH[,PATH]]
                     [--drain-timeout SECONDS] [--access-log on|off]
                     [--max-header-bytes N] [--max-headers N] [--max-url-bytes N] [--max-body-bytes N]
                     [--headers-timeout SECONDS] [--request-timeout SECONDS] [--body-idle-timeout SECONDS]
                     [--otlp-endpoint URL] [--trace-sampling PERCENT] [--cache-max-bytes N]
                     [--identity-dir DIR]`

interface ServeConfig {
  configPaths: string[]
  host: string
  adminHost: string
  adminPort: number
  workers: number
  logLevel: string
  gatewayLabels: Record<string, string>
  credentialsDir: string | null
  namespace: string | null
  rootNamespace: string
  drainMs: number
  accessLog: boolean
  geoip: string[]
  limits: ListenerLimits
  tracing: TracingOptions | undefined
  redis: string[]
  cacheMaxBytes: number
  identityDir: string | undefined
  /** `--kubernetes` / `--kubeconfig`: null when config comes from files only. */
  kubernetes: { kubeconfig: string | null, namespaces: string[] } | null
  /** `--gateway-labels` given: it wins over the pod's own labels. */
  gatewayLabelsGiven: boolean
}

function readConfig (argv: readonly string[]): ServeConfig {
  const p = parseArgs(argv, SPEC)
  const configPaths = [...flagList(p, 'config'), ...p.positionals]
  const kubernetes = kubernetesFlags(p)
  if (configPaths.length === 0 && kubernetes === null) throw new ArgError('serve needs --config PATH (or --kubernetes)')
  const w = flag(p, 'workers') ?? '1'
  let workers: number
  if (w === 'auto') workers = availableParallelism()
  else if (/^\d+$/.test(w) && Number(w) >= 1 && Number(w) <= 256) workers = Number(w)
  else throw new ArgError(`--workers must be a number from 1 to 256 or auto, got ${JSON.stringify(w)}`)
  const level = flag(p, 'log-level') ?? 'info'
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) throw new ArgError(`--log-level must be one of fatal|error|warn|info|debug|trace|silent, got ${JSON.stringify(level)}`)
  const accessLog = flag(p, 'access-log') ?? 'on'
  if (accessLog !== 'on' && accessLog !== 'off') throw new ArgError('--access-log must be on or off')
  return {
    configPaths,
    host: flag(p, 'host') ?? '0.0.0.0',
    adminHost: flag(p, 'admin-host') ?? '127.0.0.1',
    adminPort: intFlag(p, 'admin-port', 15000),
    workers,
    logLevel: level,
    gatewayLabels: parseLabels(flag(p, 'gateway-labels') ?? 'istio=ingressgateway'),
    credentialsDir: flag(p, 'credentials-dir') ?? null,
    namespace: flag(p, 'namespace') ?? null,
    rootNamespace: flag(p, 'root-namespace') ?? 'istio-system',
    drainMs: intFlag(p, 'drain-timeout', 30, 0, 3600) * 1000,
    accessLog: accessLog === 'on',
    geoip: geoipPaths(flagList(p, 'geoip')),
    limits: {
      ...DEFAULT_LIMITS,
      maxHeaderBytes: intFlag(p, 'max-header-bytes', DEFAULT_LIMITS.maxHeaderBytes, 1024, 1024 * 1024),
      maxHeadersCount: intFlag(p, 'max-headers', DEFAULT_LIMITS.maxHeadersCount, 1, 10_000),
      maxUrlBytes: intFlag(p, 'max-url-bytes', DEFAULT_LIMITS.maxUrlBytes, 256, 1024 * 1024),
      maxBodyBytes: intFlag(p, 'max-body-bytes', DEFAULT_LIMITS.maxBodyBytes, 0, Number.MAX_SAFE_INTEGER),
      headersTimeoutMs: intFlag(p, 'headers-timeout', DEFAULT_LIMITS.headersTimeoutMs / 1000, 1, 3600) * 1000,
      requestTimeoutMs: intFlag(p, 'request-timeout', 0, 0, 86_400) * 1000,
      bodyIdleTimeoutMs: intFlag(p, 'body-idle-timeout', DEFAULT_LIMITS.bodyIdleTimeoutMs / 1000, 0, 86_400) * 1000
    },
    tracing: tracingFrom(p),
    redis: redisUrlsFrom(flag(p, 'redis')),
    cacheMaxBytes: intFlag(p, 'cache-max-bytes', DEFAULT_CACHE_MAX_BYTES, 1024, Number.MAX_SAFE_INTEGER),
    identityDir: flag(p, 'identity-dir'),
    kubernetes,
    gatewayLabelsGiven: flag(p, 'gateway-labels') !== undefined
  }
}

function redisUrlsFrom (value: string | undefined): string[] {
  if (value === undefined) return []
  const urls = parseRedisUrls(value)
  for (const u of urls) {
    let x: URL
    try { x = new URL(u) } catch { throw new ArgError(`--redis must be redis://HOST:PORT (comma-separated for a cluster), got ${JSON.stringify(u)}`) }
    if (x.protocol !== 'redis:' && x.protocol !== 'rediss:') throw new ArgError(`--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(u)}`)
  }
  if (urls.length === 0) throw new ArgError('--redis needs a URL')
  return urls
}

function tracingFrom (p: ParsedArgs): TracingOptions | undefined {
  const endpoint = flag(p, 'otlp-endpoint')
  const sampling = flag(p, 'trace-sampling')
  if (endpoint === undefined) {
    if (sampling !== undefined) throw new ArgError('--trace-sampling needs --otlp-endpoint')
    return undefined
  }
  let url: URL
  try { url = new URL(endpoint) } catch { throw new ArgError(`--otlp-endpoint must be a URL, got ${JSON.stringify(endpoint)}`) }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ArgError('--otlp-endpoint must be http:// or https://')
  const percent = sampling === undefined ? 1 : Number(sampling)
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) throw new ArgError(`--trace-sampling must be a percentage from 0 to 100, got ${JSON.stringify(sampling)}`)
  return { endpoint, samplingPercent: percent }
}

function makeLogger (level: string): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: false, minLength: 4096 }))
}

/** Access logs are buffered; write them out before the process exits. */
function flushThen (log: Logger, done: () => void): void {
  log.flush(() => done())
}

export async function runServe (argv: readonly string[]): Promise<number> {
  const cfg = readConfig(argv)
  if (cfg.workers > 1 && cluster.isPrimary) return await runPrimary(cfg)
  return await runSingle(cfg, cluster.isWorker)
}

async function runSingle (cfg: ServeConfig, isWorker: boolean): Promise<number> {
  const log = makeLogger(cfg.logLevel)
  const metrics = new GatewayMetrics()
  if (isWorker) {
    AggregatorRegistry.setRegistries([metrics.registry])
    // prom-client installs the worker's answer to the primary's metrics request
    // only when an AggregatorRegistry is constructed.
    void new AggregatorRegistry()
  }
  let provider: KubernetesProvider | null = null
  if (cfg.kubernetes !== null) {
    try {
      // Loaded only here: the Kubernetes client and its API models add ~80 MB to the process.
      const { KubernetesProvider } = await import('../gateway/sources/kubernetes.js')
      provider = new KubernetesProvider({
        kubeconfig: cfg.kubernetes.kubeconfig,
        namespaces: cfg.kubernetes.namespaces,
        log,
        podName: process.env.POD_NAME ?? null,
        // Outside a pod, --namespace says which namespace the gateway is in.
        podNamespace: process.env.POD_NAMESPACE ?? cfg.namespace
      })
      await provider.start()
    } catch (err) {
      process.stderr.write(`meshgate: cannot reach Kubernetes: ${(err as Error).message}\n`)
      await provider?.stop()
      await new Promise<void>(resolve => flushThen(log, resolve))
      return 1
    }
  }
  // In a pod, the pod's own labels and namespace decide which Gateways and policies apply, as for Istio's gateways.
  const gatewayLabels = !cfg.gatewayLabelsGiven && provider?.ownLabels != null ? provider.ownLabels : cfg.gatewayLabels
  const gateway = new Gateway({
    configPaths: cfg.configPaths,
    host: cfg.host,
    log,
    accessLog: cfg.accessLog ? log : null,
    metrics,
    gatewayLabels,
    credentialsDir: cfg.credentialsDir,
    provider,
    namespace: cfg.namespace ?? (provider?.workloadNamespace ?? null),
    rootNamespace: cfg.rootNamespace,
    geoip: cfg.geoip,
    limits: cfg.limits,
    tracing: cfg.tracing,
    redis: cfg.redis,
    cacheMaxBytes: cfg.cacheMaxBytes,
    identityDir: cfg.identityDir
  })
  let admin: Awaited<ReturnType<typeof startAdmin>> | null = null
  try {
    if (!isWorker) admin = await startAdmin(cfg.adminHost, cfg.adminPort, { gateway: () => gateway, metrics })
    await gateway.start()
  } catch (err) {
    await admin?.close()
    await provider?.stop()
    if (err instanceof ConfigError) {
      const errors = err.issues.filter(i => i.severity === 'error')
      process.stderr.write(errors.map(formatIssue).join('\n') + `\nmeshgate: config refused: ${errors.length} error(s)\n`)
      await new Promise<void>(resolve => flushThen(log, resolve))
      return 1
    }
    process.stderr.write(`meshgate: cannot start: ${(err as Error).message}\n`)
    await new Promise<void>(resolve => flushThen(log, resolve))
    return 1
  }
  if (isWorker) {
    // Without Redis, a worker's invalidation after an unsafe request reaches its siblings through the primary.
    if (gateway.plane !== null) gateway.plane.cache.relay = (key: string) => { process.send?.({ type: 'cache_invalidate', key }) }
    process.send?.({ type: 'ready' })
    process.on('message', (m: { type?: string, id?: number }) => {
      if (m?.type === 'config_dump') process.send?.({ type: 'config_dump', id: m.id, dump: configDump(gateway) })
      if (m?.type === 'cache_invalidate') {
        const key = (m as { key?: unknown }).key
        if (typeof key === 'string') gateway.plane?.cache.invalidateLocal(key)
      }
      if (m?.type === 'cache_purge') {
        const prefix = (m as { prefix?: string }).prefix ?? '/'
        void (gateway.plane?.cache.purge(prefix) ?? Promise.resolve({ local: 0, shared: 0, sharedError: null }))
          .then(r => process.send?.({ type: 'cache_purge', id: m.id, result: r }))
      }
    })
  }
  return await new Promise<number>(resolve => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      log.info({ signal, graceMs: cfg.drainMs }, 'draining')
      gateway.drain(cfg.drainMs)
        .then(async () => { await admin?.close() })
        .catch(err => log.error({ err }, 'drain failed'))
        .finally(() => { log.info('stopped'); flushThen(log, () => resolve(0)) })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
    if (isWorker) process.once('disconnect', () => stop('disconnect'))
  })
}

async function runPrimary (cfg: ServeConfig): Promise<number> {
  const log = makeLogger(cfg.logLevel)
  const metrics = new GatewayMetrics()
  const aggregator = new AggregatorRegistry()
  const workers = new Set<Worker>()
  const ready = new Set<number>()
  let stopping = false
  let failedStart = false
  let dumpId = 0
  const pendingDumps = new Map<number, (d: unknown) => void>()
  cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv) })
  const fork = (): Worker => {
    const w = cluster.fork()
    workers.add(w)
    w.on('message', (m: { type?: string, id?: number, dump?: unknown, result?: unknown }) => {
      if (m?.type === 'ready') ready.add(w.id)
      if (m?.type === 'config_dump' && m.id !== undefined) pendingDumps.get(m.id)?.(m.dump)
      if (m?.type === 'cache_purge' && m.id !== undefined) pendingDumps.get(m.id)?.(m.result)
      if (m?.type === 'cache_invalidate') for (const other of workers) if (other !== w && ready.has(other.id)) other.send(m)
    })
    w.on('exit', (code) => {
      workers.delete(w)
      ready.delete(w.id)
      if (!stopping) {
        if (code === 1 && !ready.size) { failedStart = true; return }
        log.warn({ worker: w.id, code }, 'worker exited; starting another')
        fork()
      }
    })
    return w
  }
  for (let i = 0; i < cfg.workers; i++) fork()
  const admin = await startAdmin(cfg.adminHost, cfg.adminPort, {
    gateway: () => null,
    metrics,
    isReady: () => !stopping && ready.size === cfg.workers,
    collect: async () => (await aggregator.clusterMetrics()) + (await metrics.registry.metrics()),
    purge: async (prefix: string) => {
      // Every worker holds its own first level; Redis is purged by each, counted once.
      const answers = await Promise.all([...workers].filter(x => ready.has(x.id)).map(w => {
        const id = ++dumpId
        return new Promise<{ local?: number, shared?: number, sharedError?: string | null } | null>(resolve => {
          const t = setTimeout(() => { pendingDumps.delete(id); resolve(null) }, 5000)
          pendingDumps.set(id, d => { clearTimeout(t); pendingDumps.delete(id); resolve(d as { local: number, shared: number }) })
          w.send({ type: 'cache_purge', id, prefix })
        })
      }))
      const ok = answers.filter(a => a !== null)
      return { prefix, workers: ok.length, local: ok.reduce((n, a) => n + (a!.local ?? 0), 0), shared: Math.max(0, ...ok.map(a => a!.shared ?? 0)), sharedError: ok.find(a => a!.sharedError)?.sharedError ?? null }
    },
    configDump: async () => {
      const w = [...workers].find(x => ready.has(x.id))
      if (w === undefined) return { active: null, lastRefused: null }
      const id = ++dumpId
      return await new Promise(resolve => {
        const t = setTimeout(() => { pendingDumps.delete(id); resolve({ error: 'worker did not answer' }) }, 2000)
        pendingDumps.set(id, d => { clearTimeout(t); pendingDumps.delete(id); resolve(d) })
        w.send({ type: 'config_dump', id })
      })
    }
  })
  return await new Promise<number>(resolve => {
    const stop = (): void => {
      if (stopping) return
      stopping = true
      for (const w of workers) w.process.kill('SIGTERM')
      const check = setInterval(() => {
        if (workers.size === 0) {
          clearInterval(check)
          void admin.close().finally(() => { flushThen(log, () => resolve(failedStart ? 1 : 0)) })
        }
      }, 50)
    }
    const startWatch = setInterval(() => {
      if (failedStart) { clearInterval(startWatch); stop() }
      if (ready.size === cfg.workers) clearInterval(startWatch)
    }, 50)
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
}
