// ApiKeyPolicy at the edge: a request a policy covers must carry one of its
// keys. The key is hashed (SHA-256) and compared with every stored digest in
// constant time, so neither the key nor how much of it matched leaks; the
// consumer becomes the request principal `apikey/<consumer>` for
// AuthorizationPolicy and rate limits. The key (header or query parameter)
// is not forwarded and not logged.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { ApiKeyConfig, ApiKeyPolicyRule } from '../gateway/snapshot.js'
import type { RequestFacts } from '../gateway/dataplane/request-facts.js'
import type { RouteSelection } from '../gateway/dataplane/route-request.js'
import { covers } from './targets.js'

export const API_KEY_MISSING = 'API key is missing'
export const API_KEY_INVALID = 'API key is not valid'

/** null: let through (no policy covers the request, or a valid key); else the 401 text. */
export function checkApiKeys (cfg: ApiKeyConfig, f: RequestFacts, sel: RouteSelection): string | null {
  const policies = cfg.policies
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i]!
    if (!covers(p.targets, f, sel)) continue
    const key = keyOf(p, f)
    if (key === undefined || key === '') return API_KEY_MISSING
    const consumer = consumerFor(p, key)
    if (consumer === null) return API_KEY_INVALID
    if (f.consumer === '') f.consumer = consumer
    if (f.requestPrincipal === '') f.requestPrincipal = `apikey/${consumer}`
    // The key never leaves the edge: not upstream, not in the access log.
    if (p.location.kind === 'header') {
      const sent = f.headers[p.location.name]
      if (typeof sent === 'string') f.tookCredential(p.location.name, sent)
      f.headers[p.location.name] = undefined
    }
    else f.removeQueryParam(p.location.name)
  }
  return null
}

function keyOf (p: ApiKeyPolicyRule, f: RequestFacts): string | undefined {
  if (p.location.kind === 'query') return f.queryParam(p.location.name)
  const v = f.headers[p.location.name]
  return typeof v === 'string' ? v.trim() : Array.isArray(v) ? v[0]?.trim() : undefined
}

/** Compares the key's digest with every stored one (no early exit), returns the consumer or null. */
function consumerFor (p: ApiKeyPolicyRule, key: string): string | null {
  const digest = createHash('sha256').update(key).digest()
  let found = -1
  for (let i = 0; i < p.digests.length; i++) {
    if (timingSafeEqual(digest, p.digests[i]!) && found === -1) found = i
  }
  return found === -1 ? null : p.consumers[found]!
}
