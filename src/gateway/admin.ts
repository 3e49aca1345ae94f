// The admin listener (127.0.0.1 by default): readiness, Prometheus metrics and
// the active config. Kept apart from the Gateway listeners so that no route
// config can shadow it.
import Fastify, { type FastifyInstance } from 'fastify'
import metricsPlugin, { type GatewayMetrics } from '../plugins/metrics.js'
import type { Gateway } from './runtime.js'
import { formatIssue } from './validate/issues.js'

export interface AdminOptions {
  readonly gateway: () => Gateway | null
  readonly metrics: GatewayMetrics
  /** Overrides readiness and metrics collection (the cluster primary aggregates its workers). */
  readonly isReady?: () => boolean
  readonly collect?: () => Promise<string>
  readonly configDump?: () => Promise<unknown>
  /** Overrides the cache purge (the cluster primary asks every worker). */
  readonly purge?: (prefix: string) => Promise<unknown>
}

export async function startAdmin (host: string, port: number, opts: AdminOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(metricsPlugin, { metrics: opts.metrics, collect: opts.collect })
  app.get('/healthz/ready', async (_req, reply) => {
    const ready = opts.isReady !== undefined ? opts.isReady() : opts.gateway()?.ready === true
    reply.code(ready ? 200 : 503).header('content-type', 'text/plain')
    return ready ? 'ready\n' : 'not ready\n'
  })
  app.get('/config_dump', async () => {
    if (opts.configDump !== undefined) return await opts.configDump()
    return configDump(opts.gateway())
  })
  // DELETE /cache?prefix=/path: drops cached answers whose path starts with prefix, in memory and in Redis.
  app.delete('/cache', async (req, reply) => {
    const prefix = (req.query as { prefix?: unknown }).prefix
    if (typeof prefix !== 'string' || !prefix.startsWith('/')) {
      reply.code(400)
      return { error: 'give the path prefix to purge: DELETE /cache?prefix=/path' }
    }
    if (opts.purge !== undefined) return await opts.purge(prefix)
    const gw = opts.gateway()
    if (gw?.plane === null || gw === null) { reply.code(503); return { error: 'not running' } }
    return { prefix, ...(await gw.plane.cache.purge(prefix)) }
  })
  await app.listen({ host, port })
  return app
}

export function configDump (gw: Gateway | null): unknown {
  const snap = gw?.snapshot ?? null
  return {
    active: snap === null
      ? null
      : {
          version: snap.version,
          appliedAt: gw!.appliedAt,
          listeners: [...snap.listeners.values()].map(l => ({
            port: l.port,
            ...(l.listenPort !== l.port ? { listenPort: l.listenPort } : {}),
            tls: l.tls,
            gateways: l.gatewayNames,
            virtualHosts: l.tls
              ? l.tlsServers.flatMap(s => vhostsOf(s.routes, s.hosts))
              : l.plain === null ? [] : vhostsOf(l.plain, null)
          })),
          clusters: [...snap.clusters.values()].map(c => ({ name: c.key, endpoints: c.endpoints.map(e => e.key), lb: c.hash === null ? c.lb : `consistentHash(${c.hash.kind})`, outlierDetection: c.outlier !== null })),
          resources: snap.resources.map(r => ({ kind: r.kind, namespace: r.namespace, name: r.name, file: r.file, line: r.line, apiVersion: r.apiVersion, spec: r.spec })),
          findings: snap.issues.map(formatIssue)
        },
    kubernetes: gw?.opts.provider?.status?.() ?? undefined,
    lastRefused: gw?.lastRefused === null || gw?.lastRefused === undefined
      ? null
      : { version: gw.lastRefused.version, at: gw.lastRefused.at, errors: gw.lastRefused.issues.map(i => ({ ...i, text: formatIssue(i) })) }
  }
}

function vhostsOf (table: import('./snapshot.js').RouteTable, sni: readonly string[] | null): unknown[] {
  const seen = new Set<unknown>()
  const out: unknown[] = []
  const all = [...table.exact.values(), ...table.suffixes.map(s => s.vhost), ...(table.star === null ? [] : [table.star])]
  for (const vh of all) {
    if (seen.has(vh)) continue
    seen.add(vh)
    out.push({ name: vh.name, sni, domains: vh.domains, requireTls: vh.requireTls, routes: vh.routes.map(r => ({ name: r.routeLabel, virtualService: r.vsLabel, rule: r.rule.index, match: r.matchIndex, action: r.rule.action })) })
  }
  return out
}
