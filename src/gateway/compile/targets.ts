// `targetRefs` and `match` of the meshgate.io kinds (ApiKeyPolicy,
// RateLimitPolicy, CachePolicy): which requests a policy covers.
import type { SourceResource } from '../sources/yaml-documents.js'
import type { HTTPMatchRequest } from '../config-types.js'
import type { PolicyTargets } from '../snapshot.js'
import { buildMatch } from './route-matcher.js'

export function compileTargets (r: SourceResource): PolicyTargets {
  const spec = (r.value.spec ?? {}) as Record<string, unknown>
  const gateways = new Set<string>()
  const virtualServices = new Set<string>()
  for (const t of Array.isArray(spec.targetRefs) ? spec.targetRefs : []) {
    const ref = t as { kind?: unknown, name?: unknown, namespace?: unknown }
    if (typeof ref?.name !== 'string') continue
    const key = `${typeof ref.namespace === 'string' ? ref.namespace : r.namespace}/${ref.name}`
    if (ref.kind === 'Gateway') gateways.add(key)
    else if (ref.kind === 'VirtualService') virtualServices.add(key)
  }
  const targeted = gateways.size > 0 || virtualServices.size > 0
  return Object.freeze({
    gateways: targeted ? gateways : null,
    virtualServices: targeted ? virtualServices : null,
    match: typeof spec.match === 'object' && spec.match !== null ? buildMatch(spec.match as HTTPMatchRequest) : null
  })
}
