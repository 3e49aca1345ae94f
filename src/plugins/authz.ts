// AuthorizationPolicy on the request path (ISTIO-SEMANTICS §0, §6): runs after
// authn (the JWT and API-key principals are on the facts) and before fault,
// CORS and routing, on the pre-rewrite path and Host. Any matching DENY → 403;
// no enforced ALLOW policy → allow; a matching ALLOW → allow; otherwise 403.
// AUDIT and dry-run policies are evaluated for the logs and never decide.
//
// Everything here only compares: values were compiled into sets, prefixes,
// CIDR sets and RE2 objects by compile/authz.ts. Decisions without shadow hits
// are frozen objects from the snapshot, so the common path allocates nothing.
import type { RequestFacts } from '../gateway/dataplane/request-facts.js'
import type {
  AuthzAction, AuthzCondition, AuthzConfig, AuthzDecision, AuthzHit, AuthzPattern, AuthzPolicy, AuthzRule, AuthzValues
} from '../gateway/snapshot.js'
import { NO_POLICY } from '../gateway/compile/authz.js'
import { regexTest } from '../gateway/compile/string-matcher.js'

export { NO_POLICY, NO_ALLOW_POLICY, NO_ALLOW_MATCHED } from '../gateway/compile/authz.js'
export type { AuthzDecision, AuthzHit } from '../gateway/snapshot.js'

/** Envoy's RBAC local reply (ISTIO-SEMANTICS §7), sent with `content-type: text/plain`. */
export const RBAC_DENIED_STATUS = 403
export const RBAC_DENIED = 'RBAC: access denied'

export function authorize (cfg: AuthzConfig, f: RequestFacts): AuthzDecision {
  if (cfg.empty) return NO_POLICY
  let d = cfg.fallback
  const deny = cfg.deny
  let decided = false
  for (let i = 0; i < deny.length; i++) {
    const p = deny[i]!
    if (matchPolicy(p, f)) {
      d = p.decision!
      decided = true
      break
    }
  }
  if (!decided) {
    const allow = cfg.allow
    for (let i = 0; i < allow.length; i++) {
      const p = allow[i]!
      if (matchPolicy(p, f)) {
        d = p.decision!
        break
      }
    }
  }
  if (cfg.audit.length === 0 && cfg.dryRun.length === 0) return d
  const hits = shadowHits(cfg.dryRun, f, shadowHits(cfg.audit, f, null))
  if (hits === null) return d
  return { allowed: d.allowed, policy: d.policy, action: d.action, reason: d.reason, shadow: hits }
}

/** Hits of the shadow policies that match, appended to `into`; null while none did (no allocation). */
function shadowHits (policies: readonly AuthzPolicy[], f: RequestFacts, into: AuthzHit[] | null): AuthzHit[] | null {
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i]!
    if (!matchPolicy(p, f)) continue
    if (into === null) into = []
    into.push(p.hit!)
  }
  return into
}

/** A policy matches when any rule does; `rules` absent = an empty list = no match. */
export function matchPolicy (p: AuthzPolicy, f: RequestFacts): boolean {
  return matchingRule(p, f) !== -1
}

/** Index of the first matching rule, -1 for none. */
export function matchingRule (p: AuthzPolicy, f: RequestFacts): number {
  const rules = p.rules
  for (let i = 0; i < rules.length; i++) if (matchRule(rules[i]!, f)) return i
  return -1
}

function matchRule (r: AuthzRule, f: RequestFacts): boolean {
  const when = r.when
  for (let i = 0; i < when.length; i++) if (!matchCondition(when[i]!, f)) return false
  return matchAny(r.from, f) && matchAny(r.to, f)
}

/** Any of the blocks (all of its conditions); no blocks = no constraint. */
function matchAny (blocks: ReadonlyArray<readonly AuthzCondition[]>, f: RequestFacts): boolean {
  if (blocks.length === 0) return true
  for (let i = 0; i < blocks.length; i++) if (matchAll(blocks[i]!, f)) return true
  return false
}

function matchAll (conditions: readonly AuthzCondition[], f: RequestFacts): boolean {
  for (let i = 0; i < conditions.length; i++) if (!matchCondition(conditions[i]!, f)) return false
  return true
}

/** X and notX both apply: one of `values` must match and none of `notValues` may. */
export function matchCondition (c: AuthzCondition, f: RequestFacts): boolean {
  if (c.values !== null && !hasMatch(c, c.values, f)) return false
  return c.notValues === null || !hasMatch(c, c.notValues, f)
}

/** Whether the request's attribute matches any of `vs`. A missing attribute matches nothing. */
function hasMatch (c: AuthzCondition, vs: AuthzValues, f: RequestFacts): boolean {
  switch (c.attribute) {
    case 'request.path': return matchValue(vs, f.path)
    case 'request.method': return matchValue(vs, f.method)
    case 'request.host': return matchValue(vs, lowerAscii(f.authority))
    case 'destination.port': return vs.ports.has(f.port)
    case 'source.ip': return vs.cidrs !== null && vs.cidrs.has(f.peerIp)
    case 'remote.ip': return vs.cidrs !== null && vs.cidrs.has(f.clientIp)
    // The peer identity is '' without a verified client certificate: no principal.
    case 'source.principal':
    case 'source.namespace':
    case 'source.serviceAccount':
    case 'source.trustDomain':
      return f.peerPrincipal !== '' && matchValue(vs, f.peerPrincipal)
    case 'request.auth.principal': return matchRequestPrincipal(vs, f)
    case 'request.auth.audiences': return matchList(vs, f.authAudiences)
    case 'request.auth.presenter': return f.authPresenter !== '' && matchValue(vs, f.authPresenter)
    case 'request.auth.claims': return matchClaim(vs, c.claimPath, f.claims)
    case 'request.headers':
    case 'request.inlineHeaders':
      return matchValue(vs, f.header(c.name))
    case 'connection.sni': return f.sni !== '' && matchValue(vs, f.sni)
    default: return false // 'unavailable'
  }
}

function matchValue (vs: AuthzValues, v: string | undefined): boolean {
  if (v === undefined) return false
  if (vs.exact.size !== 0 && vs.exact.has(v)) return true
  const ps = vs.patterns
  for (let i = 0; i < ps.length; i++) if (matchPattern(ps[i]!, v)) return true
  return false
}

function matchPattern (p: AuthzPattern, v: string): boolean {
  switch (p.kind) {
    case 'prefix': return v.startsWith(p.value)
    case 'suffix': return v.endsWith(p.value)
    case 'present': return true
    case 'nonEmpty': return v !== ''
    case 'contains': return v.includes(p.value)
    default: return regexTest(p.re!, v)
  }
}

function matchList (vs: AuthzValues, list: readonly string[]): boolean {
  for (let i = 0; i < list.length; i++) if (matchValue(vs, list[i])) return true
  return false
}

/**
 * `iss/sub` split as Istio does: at the issuer the token named when its claims
 * say so (a `/` inside `sub` stays in `sub`), else at the last `/`; API-key
 * principals `apikey/<consumer>` split the same way.
 */
function matchRequestPrincipal (vs: AuthzValues, f: RequestFacts): boolean {
  const rp = f.requestPrincipal
  if (rp === '') return false
  let cut = rp.lastIndexOf('/')
  const iss = f.claims?.iss
  if (typeof iss === 'string' && rp.length > iss.length && rp.charCodeAt(iss.length) === 47 /* / */ && rp.startsWith(iss)) cut = iss.length
  const issuer = cut === -1 ? rp : rp.slice(0, cut)
  const subject = cut === -1 ? '' : rp.slice(cut + 1)
  const list = vs.requestPrincipals
  for (let i = 0; i < list.length; i++) {
    const m = list[i]!
    if (m.iss !== null ? m.iss !== issuer : !matchPattern(m.issPattern!, issuer)) continue
    if (m.sub !== null ? m.sub !== subject : !matchPattern(m.subPattern!, subject)) continue
    return true
  }
  return false
}

/**
 * A claim at `path` (nested objects). A list claim matches when any string
 * element does; top-level `scope` and `permission` strings are space-separated
 * lists (Envoy jwt_authn's default space-delimited claims). Only strings match:
 * Envoy compares claims with string matchers, so numbers and booleans never do.
 */
function matchClaim (vs: AuthzValues, path: readonly string[], claims: Record<string, unknown> | null): boolean {
  if (claims === null || path.length === 0) return false
  let v: unknown = claims
  for (let i = 0; i < path.length; i++) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
    v = (v as Record<string, unknown>)[path[i]!]
  }
  if (typeof v === 'string') {
    if (path.length === 1 && (path[0] === 'scope' || path[0] === 'permission')) return matchSpaceList(vs, v)
    return matchValue(vs, v)
  }
  if (!Array.isArray(v)) return false
  for (let i = 0; i < v.length; i++) {
    const e: unknown = v[i]
    if (typeof e === 'string' && matchValue(vs, e)) return true
  }
  return false
}

function matchSpaceList (vs: AuthzValues, s: string): boolean {
  let start = 0
  while (start <= s.length) {
    let end = s.indexOf(' ', start)
    if (end === -1) end = s.length
    if (end > start && matchValue(vs, s.slice(start, end))) return true
    start = end + 1
  }
  return false
}

/** Lowercases only when needed: Host headers are nearly always lowercase already. */
function lowerAscii (s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 65 && c <= 90) return s.toLowerCase()
  }
  return s
}

// ---- for logs and `meshgate explain` (not the request path) ----

/** One line for access logs and explain, e.g. `denied by DENY default/block-admin (audit: ns/a)`. */
export function describeDecision (d: AuthzDecision): string {
  let s: string
  switch (d.reason) {
    case 'no-policy': s = 'allowed: no AuthorizationPolicy applies'; break
    case 'no-allow-policy': s = 'allowed: no DENY policy matched and no ALLOW policy applies'; break
    case 'allow-matched': s = `allowed by ALLOW ${d.policy}`; break
    case 'deny-matched': s = `denied by DENY ${d.policy}`; break
    default: s = 'denied: no ALLOW policy matched'
  }
  if (d.shadow.length === 0) return s
  return `${s} (${d.shadow.map(h => h.dryRun ? `dry-run ${h.action} ${h.policy}` : `audit ${h.policy}`).join(', ')} matched)`
}

export interface AuthzPolicyResult {
  /** `namespace/name`. */
  readonly policy: string
  readonly action: AuthzAction
  readonly dryRun: boolean
  /** Index of the first matching rule, -1 when the policy does not match. */
  readonly rule: number
}

/** Every policy in scope with the rule that matched, in evaluation order: DENY, ALLOW, AUDIT, dry-run. */
export function explainAuthz (cfg: AuthzConfig, f: RequestFacts): { decision: AuthzDecision, summary: string, policies: AuthzPolicyResult[] } {
  const decision = authorize(cfg, f)
  const policies: AuthzPolicyResult[] = []
  for (const list of [cfg.deny, cfg.allow, cfg.audit, cfg.dryRun]) {
    for (const p of list) policies.push({ policy: p.id, action: p.action, dryRun: p.dryRun, rule: matchingRule(p, f) })
  }
  return { decision, summary: describeDecision(decision), policies }
}
