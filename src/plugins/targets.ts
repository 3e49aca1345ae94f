// Does a meshgate.io policy cover this request? Its targetRefs name the
// VirtualService routing picked or a Gateway of the listener (none = every
// route), and its optional match holds.
import type { PolicyTargets } from '../gateway/snapshot.js'
import type { RequestFacts } from '../gateway/dataplane/request-facts.js'
import type { RouteSelection } from '../gateway/dataplane/route-request.js'
import { matchRequest } from '../gateway/compile/route-matcher.js'

export function covers (t: PolicyTargets, f: RequestFacts, sel: RouteSelection): boolean {
  if (t.gateways !== null || t.virtualServices !== null) {
    let hit = false
    if (t.virtualServices !== null && sel.route !== null) {
      const vs = sel.route.rule.virtualService
      hit = t.virtualServices.has(`${vs.namespace}/${vs.name}`)
    }
    if (!hit && t.gateways !== null && t.gateways.size > 0) {
      const names = sel.tlsServer !== null ? [`${sel.tlsServer.gateway.namespace}/${sel.tlsServer.gateway.name}`] : sel.listener?.gatewayNames ?? []
      for (const n of names) if (t.gateways.has(n)) { hit = true; break }
    }
    if (!hit) return false
  }
  return t.match === null || matchRequest(t.match, f)
}
