// HTTPMatchRequest → CompiledMatch at config time; matchRequest() per request.
// Fields inside one match block are ANDed; blocks of one rule are ORed by the
// route list (each block is its own route, as in Envoy).
import type { HTTPMatchRequest, StringMatch } from '../config-types.js'
import type { ClaimCondition, CompiledMatch, HeaderCondition, StringMatcher } from '../snapshot.js'
import type { RequestFacts } from '../dataplane/request-facts.js'
import { buildStringMatcher, matchString } from './string-matcher.js'

const CLAIM_DOT = '@request.auth.claims.'
const CLAIM_BRACKET = '@request.auth.claims['

export function buildMatch (block: HTTPMatchRequest): CompiledMatch {
  const ignoreCase = block.ignoreUriCase === true
  const headers: HeaderCondition[] = []
  const claims: ClaimCondition[] = []
  let broken = false
  for (const [rawName, m] of entries(block.headers)) {
    const name = rawName.toLowerCase()
    const matcher = buildStringMatcher(m, false, true)
    if (matcher === null) { broken = true; continue }
    if (rawName.startsWith(CLAIM_DOT) || rawName.startsWith(CLAIM_BRACKET)) {
      claims.push(Object.freeze({ path: claimPath(rawName), matcher }))
    } else {
      headers.push(Object.freeze({ name, matcher }))
    }
  }
  const withoutHeaders: HeaderCondition[] = []
  for (const [rawName, m] of entries(block.withoutHeaders)) {
    const matcher = buildStringMatcher(m, false, true)
    if (matcher === null) { broken = true; continue }
    withoutHeaders.push(Object.freeze({ name: rawName.toLowerCase(), matcher }))
  }
  const queryParams: HeaderCondition[] = []
  for (const [name, m] of entries(block.queryParams)) {
    const matcher = buildStringMatcher(m)
    if (matcher === null) { broken = true; continue }
    queryParams.push(Object.freeze({ name, matcher }))
  }
  const uri = optional(block.uri, ignoreCase)
  const scheme = optional(block.scheme)
  const method = optional(block.method)
  const authority = optional(block.authority)
  broken ||= uri === null || scheme === null || method === null || authority === null
  const never = broken || (block.sourceLabels !== undefined && block.sourceLabels !== null && Object.keys(block.sourceLabels).length > 0) ||
    (typeof block.sourceNamespace === 'string' && block.sourceNamespace !== '')
  return Object.freeze({
    name: typeof block.name === 'string' ? block.name : '',
    uri: uri ?? null,
    scheme: scheme ?? null,
    method: method ?? null,
    authority: authority ?? null,
    headers: frozenList(headers),
    withoutHeaders: frozenList(withoutHeaders),
    queryParams: frozenList(queryParams),
    claims: frozenList(claims),
    port: typeof block.port === 'number' ? block.port : 0,
    never
  })
}

const NONE: readonly never[] = Object.freeze([])

/** Most match blocks leave most lists empty: those share one array (10,000 routes, 40,000 arrays fewer). */
export function frozenList<T> (list: T[]): readonly T[] {
  // slice(): an array grown by push() keeps room for 17 elements; a snapshot
  // with 10,000 routes holds tens of thousands of these lists.
  return list.length === 0 ? NONE : Object.freeze(list.slice())
}

/** undefined = field absent; null = present but unusable (the block never matches). */
function optional (m: StringMatch | undefined, ignoreCase = false): StringMatcher | null | undefined {
  if (m === undefined || m === null) return undefined
  return buildStringMatcher(m, ignoreCase)
}

function entries (rec: Record<string, StringMatch> | undefined): Array<[string, StringMatch]> {
  if (rec === undefined || rec === null || typeof rec !== 'object') return []
  return Object.entries(rec)
}

/** `@request.auth.claims.groups` → ['groups']; `@request.auth.claims[a][b]` → ['a', 'b']. */
export function claimPath (key: string): string[] {
  if (key.startsWith(CLAIM_DOT)) return key.slice(CLAIM_DOT.length).split('.')
  const out: string[] = []
  const re = /\[([^\]]*)\]/g
  let m: RegExpExecArray | null
  while ((m = re.exec(key.slice('@request.auth.claims'.length))) !== null) out.push(m[1]!)
  return out
}

export function matchRequest (m: CompiledMatch, f: RequestFacts): boolean {
  if (m.never) return false
  if (m.port !== 0 && m.port !== f.port) return false
  if (m.uri !== null && !matchString(m.uri, f.path)) return false
  if (m.method !== null && !matchString(m.method, f.method)) return false
  if (m.authority !== null && !matchString(m.authority, f.authority)) return false
  if (m.scheme !== null && !matchString(m.scheme, f.scheme)) return false
  const hs = m.headers
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!
    if (!matchString(h.matcher, f.header(h.name))) return false
  }
  const wh = m.withoutHeaders
  for (let i = 0; i < wh.length; i++) {
    const h = wh[i]!
    const v = f.header(h.name)
    // `{}` means "must be absent"; for value matchers a missing header counts as "".
    if (h.matcher.kind === 'present' ? v !== undefined : matchString(h.matcher, v ?? '')) return false
  }
  const qs = m.queryParams
  for (let i = 0; i < qs.length; i++) {
    const q = qs[i]!
    if (!matchString(q.matcher, f.queryParam(q.name))) return false
  }
  const cs = m.claims
  for (let i = 0; i < cs.length; i++) {
    if (!matchClaim(cs[i]!, f.claims)) return false
  }
  return true
}

function matchClaim (c: ClaimCondition, claims: Record<string, unknown> | null): boolean {
  if (claims === null) return false
  let v: unknown = claims
  for (const key of c.path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
    v = (v as Record<string, unknown>)[key]
  }
  if (Array.isArray(v)) return v.some(e => matchString(c.matcher, scalar(e)))
  return matchString(c.matcher, scalar(v))
}

function scalar (v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  return undefined
}

/**
 * Istio's catch-all test used when merging VirtualServices: no match, or a uri of
 * prefix `/` or regex `.*`/`*` with no other condition.
 */
export function isCatchAll (block: HTTPMatchRequest | null): boolean {
  if (block === null) return true
  const uri = block.uri
  const otherKeys = ['scheme', 'method', 'authority', 'headers', 'withoutHeaders', 'queryParams', 'port', 'sourceLabels', 'sourceNamespace']
  for (const k of otherKeys) {
    const v = (block as Record<string, unknown>)[k]
    if (v !== undefined && v !== null && !(typeof v === 'object' && Object.keys(v).length === 0)) return false
  }
  if (uri === undefined || uri === null) return true
  return uri.prefix === '/' || uri.regex === '.*' || uri.regex === '*'
}
