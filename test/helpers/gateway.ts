// An in-process gateway on real sockets for integration tests: config written to
// a temp folder, real listeners on 127.0.0.1, real upstreams behind them.
// Placeholders `{{name}}` in the YAML are replaced from `vars` (ports, paths).
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino, { type Logger } from 'pino'
import { Gateway } from '../../src/gateway/runtime.js'
import { GatewayMetrics } from '../../src/plugins/metrics.js'
import type { Issue } from '../../src/gateway/validate/issues.js'
import type { ListenerLimits } from '../../src/gateway/dataplane/listener.js'
import type { TracingOptions } from '../../src/plugins/tracing.js'

export interface TestGateway {
  readonly gateway: Gateway
  readonly dir: string
  readonly file: string
  readonly metrics: GatewayMetrics
  /** Writes new YAML and reloads at once (no waiting for the file watcher). */
  update (yaml: string): Promise<void>
  stop (): Promise<void>
}

export function fill (yaml: string, vars: Readonly<Record<string, string | number>>): string {
  return yaml.replace(/\{\{(\w+)\}\}/g, (m, k: string) => vars[k] !== undefined ? String(vars[k]) : m)
}

export async function startGateway (yaml: string, opts: { vars?: Record<string, string | number>, watch?: boolean, credentialsDir?: string, gatewayLabels?: Record<string, string>, geoip?: string[], geoipPollMs?: number, jwks?: { refreshMs?: number, cooldownMs?: number }, limits?: ListenerLimits, tracing?: TracingOptions, redis?: string[], cacheMaxBytes?: number, identityDir?: string, identityPollMs?: number, accessLog?: Logger, namespace?: string } = {}): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-gw-'))
  const file = join(dir, 'config.yaml')
  const vars = opts.vars ?? {}
  await writeFile(file, fill(yaml, vars))
  const log = pino({ level: 'silent' })
  const metrics = new GatewayMetrics()
  const gateway = new Gateway({
    configPaths: [dir],
    host: '127.0.0.1',
    log,
    accessLog: opts.accessLog ?? null,
    metrics,
    gatewayLabels: opts.gatewayLabels ?? { istio: 'ingressgateway' },
    namespace: opts.namespace ?? null,
    credentialsDir: opts.credentialsDir ?? null,
    watch: opts.watch ?? false,
    reloadDelayMs: 50,
    geoip: opts.geoip ?? [],
    geoipPollMs: opts.geoipPollMs,
    jwks: opts.jwks,
    limits: opts.limits,
    tracing: opts.tracing,
    redis: opts.redis,
    cacheMaxBytes: opts.cacheMaxBytes,
    identityDir: opts.identityDir,
    identityPollMs: opts.identityPollMs
  })
  try {
    await gateway.start()
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    const issues = (err as { issues?: Issue[] }).issues
    if (issues !== undefined) throw new Error(`config refused:\n${issues.map(i => `${i.file}:${i.line}: ${i.severity}: ${i.kind}/${i.namespace}/${i.name}: ${i.field}: ${i.message}`).join('\n')}`)
    throw err
  }
  return {
    gateway,
    dir,
    file,
    metrics,
    async update (next: string): Promise<void> {
      await writeFile(file, fill(next, vars))
      await gateway.reload()
    },
    async stop (): Promise<void> {
      await gateway.drain(2_000)
      await rm(dir, { recursive: true, force: true })
    }
  }
}
