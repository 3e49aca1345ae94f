// CachePolicy → CacheConfig. Defaults: methods GET and HEAD, ttl 60 s for
// responses that carry no freshness of their own, 1 MiB bodies, 10,000 entries.
import type { SourceResource } from '../sources/yaml-documents.js'
import type { CacheConfig, CachePolicyRule } from '../snapshot.js'
import { parseDurationMs } from '../durations.js'
import { compileTargets } from './targets.js'

export const NO_CACHE: CacheConfig = Object.freeze({ policies: Object.freeze([]) })

const DEFAULT_TTL_MS = 60_000
const DEFAULT_MAX_BODY = 1024 * 1024
const DEFAULT_MAX_ENTRIES = 10_000

export function compileCache (ordered: readonly SourceResource[]): CacheConfig {
  const policies: CachePolicyRule[] = []
  for (const r of ordered) {
    if (r.kind !== 'CachePolicy') continue
    const spec = (r.value.spec ?? {}) as Record<string, unknown>
    const ttl = parseDurationMs(spec.ttl)
    const swr = parseDurationMs(spec.staleWhileRevalidate)
    const methods = Array.isArray(spec.methods) ? spec.methods.filter((m): m is string => typeof m === 'string').map(m => m.toUpperCase()) : ['GET', 'HEAD']
    const vary = Array.isArray(spec.vary) ? spec.vary.filter((h): h is string => typeof h === 'string').map(h => h.toLowerCase()) : []
    policies.push(Object.freeze({
      ref: Object.freeze({ kind: r.kind, namespace: r.namespace, name: r.name, file: r.file, line: r.line }),
      id: `${r.namespace}/${r.name}`,
      targets: compileTargets(r),
      rules: Object.freeze({
        ttlMs: Number.isFinite(ttl) && ttl > 0 ? ttl : DEFAULT_TTL_MS,
        methods: new Set(methods),
        vary: Object.freeze(vary),
        maxBodyBytes: typeof spec.maxBodyBytes === 'number' && spec.maxBodyBytes > 0 ? spec.maxBodyBytes : DEFAULT_MAX_BODY,
        staleWhileRevalidateMs: Number.isFinite(swr) && swr > 0 ? swr : 0
      }),
      maxEntries: typeof spec.maxEntries === 'number' && spec.maxEntries > 0 ? spec.maxEntries : DEFAULT_MAX_ENTRIES
    }))
  }
  return policies.length === 0 ? NO_CACHE : Object.freeze({ policies: Object.freeze(policies) })
}
