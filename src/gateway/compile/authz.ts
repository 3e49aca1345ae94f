// AuthorizationPolicy → AuthzConfig (ISTIO-SEMANTICS §6). Pure and
// deterministic: every value is turned into a set lookup, a prefix/suffix test,
// a CIDR set or one RE2 here, so the request path only compares. Resources are
// already validated and scoped (policy-scope.ts); CUSTOM never gets this far
// without an admission error and is skipped if it does.
import RE2 from 're2'
import type { SourceResource } from '../sources/yaml-documents.js'
import type {
  AuthzAction, AuthzAttribute, AuthzCondition, AuthzConfig, AuthzDecision, AuthzHit, AuthzPattern, AuthzPolicy,
  AuthzReason, AuthzRequestPrincipal, AuthzRule, AuthzValues, ResourceRef
} from '../snapshot.js'
import { CidrSet } from '../../plugins/edge-facts/client-address.js'
import { fieldPath, makeIssue, type Issue } from '../validate/issues.js'
import { CODES } from '../errors.js'

export const DRY_RUN_ANNOTATION = 'istio.io/dry-run'

const NO_HITS: readonly AuthzHit[] = Object.freeze([])

function decisionOf (allowed: boolean, policy: string, action: AuthzDecision['action'], reason: AuthzReason): AuthzDecision {
  return Object.freeze({ allowed, policy, action, reason, shadow: NO_HITS })
}

/** No AuthorizationPolicy applies: every request passes. Shared so callers can compare by identity. */
export const NO_POLICY: AuthzDecision = decisionOf(true, '', '', 'no-policy')
/** Policies apply but none is an enforced ALLOW, and no DENY matched. */
export const NO_ALLOW_POLICY: AuthzDecision = decisionOf(true, '', '', 'no-allow-policy')
/** ALLOW policies apply and none matched: Istio denies. */
export const NO_ALLOW_MATCHED: AuthzDecision = decisionOf(false, '', 'ALLOW', 'no-allow-matched')

const NONE: readonly never[] = Object.freeze([])

export const EMPTY_AUTHZ: AuthzConfig = Object.freeze({
  deny: NONE,
  allow: NONE,
  audit: NONE,
  dryRun: NONE,
  fallback: NO_POLICY,
  empty: true
})

type Obj = Record<string, unknown>
type Path = Array<string | number>

/** Compile-time context of one resource: where to report and which namespace `serviceAccounts` default to. */
interface Ctx {
  readonly res: SourceResource
  readonly issues: Issue[]
}

export function compileAuthz (resources: readonly SourceResource[], issues: Issue[]): AuthzConfig {
  const policies: AuthzPolicy[] = []
  for (const r of resources) {
    if (r.kind !== 'AuthorizationPolicy') continue
    const p = compilePolicy({ res: r, issues })
    if (p !== null) policies.push(p)
  }
  if (policies.length === 0) return EMPTY_AUTHZ
  // Envoy keeps RBAC policies in a map ordered by id (`ns[..]-policy[..]`), so the
  // first match it reports is by namespace, then name; input order does not matter.
  policies.sort((a, b) => cmp(a.ref.namespace, b.ref.namespace) || cmp(a.ref.name, b.ref.name))
  const deny = policies.filter(p => p.action === 'DENY' && !p.dryRun)
  const allow = policies.filter(p => p.action === 'ALLOW' && !p.dryRun)
  return Object.freeze({
    deny: Object.freeze(deny),
    allow: Object.freeze(allow),
    audit: Object.freeze(policies.filter(p => p.action === 'AUDIT')),
    dryRun: Object.freeze(policies.filter(p => p.action !== 'AUDIT' && p.dryRun)),
    fallback: allow.length === 0 ? NO_ALLOW_POLICY : NO_ALLOW_MATCHED,
    empty: false
  })
}

function cmp (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function compilePolicy (ctx: Ctx): AuthzPolicy | null {
  const r = ctx.res
  const spec = isObj(r.value.spec) ? r.value.spec : {}
  const rawAction = spec.action ?? 'ALLOW'
  if (rawAction !== 'ALLOW' && rawAction !== 'DENY' && rawAction !== 'AUDIT') return null
  const action: AuthzAction = rawAction
  // The validator refuses dry-run on AUDIT; an AUDIT policy is a shadow anyway.
  const dryRun = action !== 'AUDIT' && annotation(r.value, DRY_RUN_ANNOTATION) === 'true'
  const ref: ResourceRef = Object.freeze({ kind: r.kind, namespace: r.namespace, name: r.name, file: r.file, line: r.line })
  const id = `${r.namespace}/${r.name}`
  const rules: AuthzRule[] = []
  const rawRules = Array.isArray(spec.rules) ? spec.rules : []
  rawRules.forEach((raw, i) => { if (isObj(raw)) rules.push(compileRule(ctx, raw, ['rules', i])) })
  const shadow = action === 'AUDIT' || dryRun
  return Object.freeze({
    ref,
    id,
    action,
    dryRun,
    rules: Object.freeze(rules),
    decision: shadow ? null : decisionOf(action === 'ALLOW', id, action === 'ALLOW' ? 'ALLOW' : 'DENY', action === 'ALLOW' ? 'allow-matched' : 'deny-matched'),
    hit: shadow ? Object.freeze({ policy: id, action, dryRun }) : null
  })
}

function annotation (doc: Obj, key: string): string | undefined {
  const md = doc.metadata
  if (!isObj(md) || !isObj(md.annotations)) return undefined
  const v = md.annotations[key]
  return typeof v === 'string' ? v : undefined
}

// Fields in the order they are tested: cheap comparisons first. The order never
// changes the result (fields AND), only how soon a non-match is found.
const SOURCE_FIELDS: ReadonlyArray<readonly [string, AuthzAttribute]> = [
  ['ipBlocks', 'source.ip'],
  ['remoteIpBlocks', 'remote.ip'],
  ['principals', 'source.principal'],
  ['namespaces', 'source.namespace'],
  ['serviceAccounts', 'source.serviceAccount'],
  ['requestPrincipals', 'request.auth.principal']
]
const OPERATION_FIELDS: ReadonlyArray<readonly [string, AuthzAttribute]> = [
  ['ports', 'destination.port'],
  ['methods', 'request.method'],
  ['hosts', 'request.host'],
  ['paths', 'request.path']
]

function compileRule (ctx: Ctx, rule: Obj, p: Path): AuthzRule {
  const from: Array<readonly AuthzCondition[]> = []
  listOf(rule.from).forEach((f, j) => {
    if (isObj(f) && isObj(f.source)) from.push(compileFields(ctx, f.source, SOURCE_FIELDS, [...p, 'from', j, 'source']))
  })
  const to: Array<readonly AuthzCondition[]> = []
  listOf(rule.to).forEach((t, j) => {
    if (isObj(t) && isObj(t.operation)) to.push(compileFields(ctx, t.operation, OPERATION_FIELDS, [...p, 'to', j, 'operation']))
  })
  const when: AuthzCondition[] = []
  listOf(rule.when).forEach((w, j) => {
    if (isObj(w)) when.push(compileWhen(ctx, w, [...p, 'when', j]))
  })
  return Object.freeze({ from: Object.freeze(from), to: Object.freeze(to), when: Object.freeze(when) })
}

/** One source or operation: each field and its `not` form become one condition; empty fields are no constraint. */
function compileFields (ctx: Ctx, block: Obj, fields: ReadonlyArray<readonly [string, AuthzAttribute]>, p: Path): readonly AuthzCondition[] {
  const out: AuthzCondition[] = []
  for (const [field, attribute] of fields) {
    const notField = `not${field[0]!.toUpperCase()}${field.slice(1)}`
    const values = compileValues(ctx, attribute, strings(block[field]))
    const notValues = compileValues(ctx, attribute, strings(block[notField]))
    if (values === null && notValues === null) continue
    const where = values !== null ? field : notField
    out.push(condition(attribute, '', NONE, values, notValues, fieldPath([...p, where])))
  }
  return Object.freeze(out)
}

const WHEN_KEYS: ReadonlyMap<string, AuthzAttribute> = new Map<string, AuthzAttribute>([
  ['source.ip', 'source.ip'],
  ['remote.ip', 'remote.ip'],
  ['source.namespace', 'source.namespace'],
  ['source.principal', 'source.principal'],
  ['source.serviceAccount', 'source.serviceAccount'],
  ['source.trustDomain', 'source.trustDomain'],
  ['request.auth.principal', 'request.auth.principal'],
  ['request.auth.audiences', 'request.auth.audiences'],
  ['request.auth.presenter', 'request.auth.presenter'],
  ['destination.port', 'destination.port'],
  ['connection.sni', 'connection.sni']
])

function compileWhen (ctx: Ctx, w: Obj, p: Path): AuthzCondition {
  const key = typeof w.key === 'string' ? w.key : ''
  let attribute: AuthzAttribute = 'unavailable'
  let name = ''
  let claimPath: readonly string[] = NONE
  const direct = WHEN_KEYS.get(key)
  if (direct !== undefined) {
    attribute = direct
  } else if (key.startsWith('request.headers[')) {
    attribute = 'request.headers'
    name = bracketNames(key.slice('request.headers'.length))[0]?.toLowerCase() ?? ''
  } else if (key.startsWith('request.experimental.inline.headers[')) {
    attribute = 'request.inlineHeaders'
    name = bracketNames(key.slice('request.experimental.inline.headers'.length))[0]?.toLowerCase() ?? ''
  } else if (key.startsWith('request.auth.claims[')) {
    attribute = 'request.auth.claims'
    claimPath = Object.freeze(bracketNames(key.slice('request.auth.claims'.length)))
  }
  if (attribute === 'unavailable') {
    // destination.ip would be the gateway's own socket address and
    // experimental.envoy.filters.* Envoy filter metadata: neither is a request
    // fact here. Said loudly because a DENY on them never fires.
    name = key
    report(ctx, [...p, 'key'], `${JSON.stringify(key)} has no value at this gateway: its values never match and its notValues always hold`)
  }
  const values = compileValues(ctx, attribute, strings(w.values))
  const notValues = compileValues(ctx, attribute, strings(w.notValues))
  return condition(attribute, name, claimPath, values, notValues, fieldPath(p))
}

function condition (attribute: AuthzAttribute, name: string, claimPath: readonly string[], values: AuthzValues | null, notValues: AuthzValues | null, field: string): AuthzCondition {
  return Object.freeze({ attribute, name, claimPath, values, notValues, field })
}

function report (ctx: Ctx, p: Path, message: string): void {
  const r = ctx.res
  let line = r.line
  try {
    line = r.lineOf(['spec', ...p])
  } catch {}
  ctx.issues.push(makeIssue({ severity: 'warning', admission: false, code: CODES.NOT_ENFORCED, file: r.file, line, kind: r.kind, namespace: r.namespace, name: r.name, field: fieldPath(p), message }))
}

/** `[a][b]` → ['a', 'b']. */
function bracketNames (s: string): string[] {
  const out: string[] = []
  const re = /\[([^\]]*)\]/g
  let m: RegExpExecArray | null
  while ((m = re.exec(s)) !== null) out.push(m[1]!)
  return out
}

// ---- values ----

/** null for an absent or empty list: no constraint. */
function compileValues (ctx: Ctx, attribute: AuthzAttribute, list: readonly string[]): AuthzValues | null {
  if (list.length === 0) return null
  const exact = new Set<string>()
  const patterns: AuthzPattern[] = []
  const ports = new Set<number>()
  const requestPrincipals: AuthzRequestPrincipal[] = []
  let cidrs: CidrSet | null = null
  switch (attribute) {
    case 'source.ip':
    case 'remote.ip':
      cidrs = cidrSetOf(list)
      break
    case 'destination.port':
      for (const v of list) if (/^\d+$/.test(v)) ports.add(Number(v))
      break
    case 'request.auth.principal':
      for (const v of list) requestPrincipals.push(requestPrincipalOf(v))
      break
    case 'source.principal':
      for (const v of list) addPrincipal(v, exact, patterns)
      break
    case 'source.namespace':
      for (const v of list) patterns.push(namespacePattern(v))
      break
    case 'source.serviceAccount':
      for (const v of list) patterns.push(regex(serviceAccountRegex(ctx.res.namespace, v)))
      break
    case 'source.trustDomain':
      // The SPIFFE ID's authority: `spiffe://<td>/...`; `*` = any identity.
      for (const v of list) patterns.push(v === '*' ? NON_EMPTY : pattern('prefix', `${SPIFFE}${v}/`))
      break
    case 'request.path':
      for (const v of list) {
        if (v.includes('{*}') || v.includes('{**}')) patterns.push(regex(pathTemplateRegex(v)))
        else addValue(v, 'nonEmpty', exact, patterns)
      }
      break
    case 'request.host':
      // Envoy's host matcher ignores case and treats `*` as present_match.
      for (const v of list) addValue(v.toLowerCase(), 'present', exact, patterns)
      break
    case 'request.method':
    case 'request.headers':
      // Istio builds these as Envoy header matchers: `*` is present_match.
      for (const v of list) addValue(v, 'present', exact, patterns)
      break
    case 'request.inlineHeaders':
      for (const v of list) patterns.push(v === '*' ? PRESENT : regex(inlineHeaderRegex(v)))
      break
    case 'unavailable':
      break
    default:
      // request.auth.audiences / presenter / claims, connection.sni: Istio's StringMatcher, `*` = `.+`.
      for (const v of list) addValue(v, 'nonEmpty', exact, patterns)
  }
  return Object.freeze({
    source: Object.freeze([...list]),
    exact,
    patterns: Object.freeze(patterns),
    cidrs,
    ports,
    requestPrincipals: Object.freeze(requestPrincipals)
  })
}

const PRESENT: AuthzPattern = Object.freeze({ kind: 'present', value: '', re: null })
const NON_EMPTY: AuthzPattern = Object.freeze({ kind: 'nonEmpty', value: '', re: null })

function pattern (kind: AuthzPattern['kind'], value: string): AuthzPattern {
  return Object.freeze({ kind, value, re: null })
}

function regex (source: string): AuthzPattern {
  return Object.freeze({ kind: 'regex', value: source, re: new RE2(source) })
}

/** Istio's value forms: `*`, `*suffix`, `prefix*`, exact (a `*` elsewhere is literal). */
function addValue (v: string, star: 'present' | 'nonEmpty', exact: Set<string>, patterns: AuthzPattern[]): void {
  if (v === '*') patterns.push(star === 'present' ? PRESENT : NON_EMPTY)
  else if (v.startsWith('*')) patterns.push(pattern('suffix', v.slice(1)))
  else if (v.endsWith('*')) patterns.push(pattern('prefix', v.slice(0, -1)))
  else exact.add(v)
}

const SPIFFE = 'spiffe://'

/**
 * Istio compares `spiffe://` + value with the peer identity (`*suffix` without
 * the scheme, `*` = any identity). A value already written with `spiffe://` is
 * taken as the same identity rather than never matching. A client certificate
 * without a SPIFFE ID is known by its other URI SAN or its subject, never
 * starting with `spiffe://`, so the value as written also names it
 * (`CN=partner,O=Acme`); the two forms cannot meet.
 */
function addPrincipal (raw: string, exact: Set<string>, patterns: AuthzPattern[]): void {
  const spiffe = raw.startsWith(SPIFFE)
  const v = spiffe ? raw.slice(SPIFFE.length) : raw
  if (v === '*') patterns.push(NON_EMPTY)
  else if (v.startsWith('*')) patterns.push(pattern('suffix', v.slice(1)))
  else if (v.endsWith('*')) {
    patterns.push(pattern('prefix', SPIFFE + v.slice(0, -1)))
    if (!spiffe) patterns.push(pattern('prefix', v.slice(0, -1)))
  } else {
    exact.add(SPIFFE + v)
    if (!spiffe) exact.add(v)
  }
}

// Istio matches namespaces with the regex `.*/ns/<ns>/.*` (`*` → `.*`);
// without a wildcard that is a substring test.
function namespacePattern (v: string): AuthzPattern {
  if (!v.includes('*')) return pattern('contains', `/ns/${v}/`)
  return regex(`^.*/ns/${v.split('*').map(escapeRegex).join('.*')}/.*$`)
}

/** Istio's serviceAccountRegex: `sa` or `ns/sa` (ns defaults to the policy's namespace). */
function serviceAccountRegex (policyNamespace: string, v: string): string {
  const slash = v.indexOf('/')
  const ns = slash === -1 ? policyNamespace : v.slice(0, slash)
  const sa = slash === -1 ? v : v.slice(slash + 1)
  return `^spiffe://.+/ns/${escapeRegex(ns)}/(.+/|)sa/${escapeRegex(sa)}(/.+)?$`
}

/**
 * Istio splits a request principal at its last `/` (issuers are often URLs) and
 * matches `iss` and `sub` separately; a leading or trailing `*` applies to the
 * part it is attached to (`*` alone = any issuer and any subject).
 */
function requestPrincipalOf (v: string): AuthzRequestPrincipal {
  const idx = v.lastIndexOf('/')
  const found = idx !== -1
  const iss = found ? v.slice(0, idx) : v
  const sub = found ? v.slice(idx + 1) : ''
  if (v === '*') return rp(null, NON_EMPTY, null, NON_EMPTY)
  if (v.startsWith('*')) {
    if (!found) return rp(null, NON_EMPTY, null, pattern('suffix', v.slice(1)))
    return rp(null, iss === '*' ? NON_EMPTY : pattern('suffix', iss.slice(1)), sub, null)
  }
  if (v.endsWith('*')) {
    if (!found) return rp(null, pattern('prefix', v.slice(0, -1)), null, NON_EMPTY)
    return rp(iss, null, null, sub === '*' ? NON_EMPTY : pattern('prefix', sub.slice(0, -1)))
  }
  return rp(iss, null, sub, null)
}

function rp (iss: string | null, issPattern: AuthzPattern | null, sub: string | null, subPattern: AuthzPattern | null): AuthzRequestPrincipal {
  return Object.freeze({ iss, issPattern, sub, subPattern })
}

// Envoy's uri_template: `*` is one segment of RFC 3986 pchars (without `=` and
// `*`), `**` any number of them including `/`; literals match as written.
const PCHAR = "[a-zA-Z0-9\\-._~%!$&'()+,;:@]"
const ONE_SEGMENT = `${PCHAR}+`
const REST = `(?:${PCHAR}|/)*`

function pathTemplateRegex (path: string): string {
  const parts = path.split('/').map(seg => seg === '{**}' ? REST : seg === '{*}' ? ONE_SEGMENT : escapeRegex(seg))
  return `^${parts.join('/')}$`
}

/** Istio's inline-header matcher: the value is one element of a comma-separated header. */
function inlineHeaderRegex (v: string): string {
  const body = v.startsWith('*') ? `.*${escapeRegex(v.slice(1))}` : v.endsWith('*') ? `${escapeRegex(v.slice(0, -1))}.*` : escapeRegex(v)
  return `^(?:${body}|${body},.*|.*,${body},.*|.*,${body})$`
}

function escapeRegex (s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&')
}

/** Validation has checked every entry; a bad one is dropped rather than failing the whole set. */
function cidrSetOf (list: readonly string[]): CidrSet {
  try {
    return new CidrSet(list)
  } catch {
    const ok = list.filter(c => { try { return new CidrSet([c]) !== null } catch { return false } })
    return new CidrSet(ok)
  }
}

function listOf (v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : NONE
}

function strings (v: unknown): readonly string[] {
  if (!Array.isArray(v)) return NONE
  return v.filter((s): s is string => typeof s === 'string' && s !== '')
}

function isObj (v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
