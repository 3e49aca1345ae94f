// RateLimitPolicy → RateLimitConfig. A limit without `key` counts per client
// address (`ip`).
import type { SourceResource } from '../sources/yaml-documents.js'
import type { RateLimit, RateLimitConfig, RateLimitKeyKind, RateLimitPolicyRule } from '../snapshot.js'
import { parseDurationMs } from '../durations.js'
import { compileTargets } from './targets.js'

export const NO_RATE_LIMITS: RateLimitConfig = Object.freeze({ policies: Object.freeze([]) })

export function compileRateLimits (ordered: readonly SourceResource[]): RateLimitConfig {
  const policies: RateLimitPolicyRule[] = []
  for (const r of ordered) {
    if (r.kind !== 'RateLimitPolicy') continue
    const spec = (r.value.spec ?? {}) as Record<string, unknown>
    const id = `${r.namespace}/${r.name}`
    const limits: RateLimit[] = []
    for (const raw of Array.isArray(spec.limits) ? spec.limits : []) {
      const l = raw as { name?: unknown, requests?: unknown, per?: unknown, key?: unknown }
      const periodMs = parseDurationMs(l?.per)
      if (typeof l?.name !== 'string' || typeof l.requests !== 'number' || l.requests < 1 || !(periodMs > 0)) continue
      const requests = Math.floor(l.requests)
      limits.push(Object.freeze({ id: `${id}/${l.name}`, name: l.name, requests, requestsText: String(requests), periodMs: Math.round(periodMs), key: keyOf(l.key), keyPrefix: `mg:rl:${id}/${l.name}:` }))
    }
    if (limits.length === 0) continue
    policies.push(Object.freeze({
      ref: Object.freeze({ kind: r.kind, namespace: r.namespace, name: r.name, file: r.file, line: r.line }),
      id,
      targets: compileTargets(r),
      limits: Object.freeze(limits),
      failOpen: spec.failOpen !== false
    }))
  }
  return policies.length === 0 ? NO_RATE_LIMITS : Object.freeze({ policies: Object.freeze(policies) })
}

function keyOf (key: unknown): { kind: RateLimitKeyKind, name: string } {
  if (typeof key !== 'string' || key === 'ip') return Object.freeze({ kind: 'ip', name: '' })
  if (key === 'apiKey' || key === 'global') return Object.freeze({ kind: key, name: '' })
  const colon = key.indexOf(':')
  const kind = key.slice(0, colon)
  const name = key.slice(colon + 1)
  return Object.freeze({ kind: kind === 'claim' ? 'claim' : 'header', name: kind === 'claim' ? name : name.toLowerCase() })
}
