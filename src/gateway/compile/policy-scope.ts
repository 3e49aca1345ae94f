// Which RequestAuthentication / AuthorizationPolicy resources reach this
// gateway (CONTRACT "Which resources apply to this gateway"): no
// selector/targetRefs, a selector matching --gateway-labels, or targetRefs
// naming a Gateway this gateway serves; with --namespace, selector-less
// policies only from that namespace and the root namespace.
import type { SourceResource } from '../sources/yaml-documents.js'

export interface PolicyScope {
  readonly gatewayLabels: Readonly<Record<string, string>>
  /** `namespace/name` of the Gateways this gateway serves. */
  readonly servedGateways: ReadonlySet<string>
  readonly namespace: string | null
  readonly rootNamespace: string
}

export function policyApplies (r: SourceResource, scope: PolicyScope): boolean {
  const spec = (r.value.spec ?? {}) as Record<string, unknown>
  const refs = [...(Array.isArray(spec.targetRefs) ? spec.targetRefs : []), ...(isObject(spec.targetRef) ? [spec.targetRef] : [])]
  if (refs.length > 0) {
    return refs.some(t => isObject(t) && t.kind === 'Gateway' && typeof t.name === 'string' && scope.servedGateways.has(`${r.namespace}/${t.name}`))
  }
  const selector = isObject(spec.selector) ? spec.selector : undefined
  const labels = selector !== undefined && isObject(selector.matchLabels) ? selector.matchLabels : undefined
  if (labels !== undefined && Object.keys(labels).length > 0) {
    for (const [k, v] of Object.entries(labels)) if (scope.gatewayLabels[k] !== String(v)) return false
    return true
  }
  if (scope.namespace !== null && r.namespace !== scope.namespace && r.namespace !== scope.rootNamespace) return false
  return true
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
