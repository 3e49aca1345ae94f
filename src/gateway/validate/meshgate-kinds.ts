// meshgate.io/v1alpha1 kinds (CONTRACT "meshgate.io/v1alpha1 kinds"):
// RateLimitPolicy, CachePolicy, ApiKeyPolicy, EdgeFacts. Each may have
// `targetRefs[]` ({kind: VirtualService | Gateway, name}) and `match`
// (an HTTPMatchRequest).
import { get, type Checker, type Obj, type Path } from './checker.js'
import { checkDuration, ipOrCidrProblem, isHeaderToken } from './common.js'
import type { ValidateContext } from './context.js'
import { validateMatch } from './http-match.js'
import { CODES } from './codes.js'

export const MESHGATE_KINDS = ['RateLimitPolicy', 'CachePolicy', 'ApiKeyPolicy', 'EdgeFacts'] as const

export interface MeshgateRef { index: number, kind: 'VirtualService' | 'Gateway', name: string, namespace: string }

const COMMON_FIELDS = ['targetRefs', 'match'] as const
const KIND_FIELDS: Readonly<Record<string, readonly string[]>> = {
  RateLimitPolicy: ['limits', 'failOpen'],
  CachePolicy: ['ttl', 'methods', 'vary', 'maxEntries', 'maxBodyBytes', 'staleWhileRevalidate'],
  ApiKeyPolicy: ['keys', 'in'],
  EdgeFacts: ['headers', 'trustedProxies', 'geoHeaders', 'forwardHeaders']
}
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'])
/** Facts EdgeFacts can expose, with their default headers. */
const FACTS = ['country', 'region', 'city', 'os', 'device', 'browser']
const GEO_FACTS = ['country', 'region', 'city']

export function validateMeshgateKind (c: Checker, kind: string, spec: Obj, ctx: ValidateContext): MeshgateRef[] {
  c.fields([], spec, [...COMMON_FIELDS, ...(KIND_FIELDS[kind] ?? [])])
  const refs = validateTargetRefs(c, spec)
  const match = c.map(['match'], get(spec, 'match'))
  if (match !== undefined) validateMatch(c, ['match'], match, { gatewayBound: true })
  switch (kind) {
    case 'RateLimitPolicy': validateRateLimit(c, spec); break
    case 'CachePolicy': validateCache(c, spec); break
    case 'ApiKeyPolicy': validateApiKeys(c, spec, ctx); break
    case 'EdgeFacts': validateEdgeFacts(c, spec); break
  }
  return refs
}

function validateTargetRefs (c: Checker, spec: Obj): MeshgateRef[] {
  const refs: MeshgateRef[] = []
  c.list(['targetRefs'], get(spec, 'targetRefs'))?.forEach((raw, i) => {
    const p = ['targetRefs', i]
    const t = c.item(p, raw, 'targetRef')
    if (t === undefined) return
    c.fields(p, t, ['kind', 'name', 'namespace', 'group'])
    const kind = c.str([...p, 'kind'], get(t, 'kind'))
    const name = c.str([...p, 'name'], get(t, 'name'))
    const ns = c.str([...p, 'namespace'], get(t, 'namespace'))
    if (kind === undefined) {
      if (get(t, 'kind') === undefined) c.error([...p, 'kind'], 'targetRef kind is required (VirtualService or Gateway)', CODES.REQUIRED)
    } else if (kind !== 'VirtualService' && kind !== 'Gateway') {
      c.error([...p, 'kind'], `targetRef kind must be VirtualService or Gateway, got ${JSON.stringify(kind)}`, CODES.INVALID)
    }
    if (name === undefined || name === '') {
      if (get(t, 'name') === undefined || name === '') c.error([...p, 'name'], 'targetRef name is required', CODES.REQUIRED)
    }
    if ((kind === 'VirtualService' || kind === 'Gateway') && name !== undefined && name !== '') {
      refs.push({ index: i, kind, name, namespace: ns ?? c.namespace })
    }
  })
  return refs
}

function checkPositiveInt (c: Checker, p: Path, v: unknown, required: boolean, what: string): number | undefined {
  if (v === undefined || v === null) {
    if (required) c.error(p, `${what} is required`, CODES.REQUIRED)
    return undefined
  }
  const n = c.int(p, v)
  if (n !== undefined && n < 1) c.error(p, `${what} must be a positive integer, got ${n}`, CODES.INVALID)
  return n
}

/** `ip` | `header:NAME` | `claim:NAME` | `apiKey` | `global`. */
export function rateLimitKeyProblem (key: string): string | null {
  if (key === 'ip' || key === 'apiKey' || key === 'global') return null
  const colon = key.indexOf(':')
  const kind = colon === -1 ? key : key.slice(0, colon)
  const name = colon === -1 ? '' : key.slice(colon + 1)
  if (kind === 'header') return isHeaderToken(name) ? null : `key ${JSON.stringify(key)}: ${JSON.stringify(name)} is not a valid header name`
  if (kind === 'claim') return name !== '' ? null : `key ${JSON.stringify(key)}: the claim name is missing`
  return `unknown key ${JSON.stringify(key)}, expected ip, header:NAME, claim:NAME, apiKey or global`
}

function validateRateLimit (c: Checker, spec: Obj): void {
  if (get(spec, 'failOpen') !== undefined) c.bool(['failOpen'], get(spec, 'failOpen'))
  const raw = get(spec, 'limits')
  const limits = c.list(['limits'], raw)
  if ((limits === undefined && raw === undefined) || limits?.length === 0) c.error(['limits'], 'a RateLimitPolicy needs at least one limit', CODES.REQUIRED)
  const names = new Map<string, number>()
  limits?.forEach((rawLimit, i) => {
    const p = ['limits', i]
    const l = c.item(p, rawLimit, 'limit')
    if (l === undefined) return
    c.fields(p, l, ['name', 'requests', 'per', 'key'])
    const name = c.str([...p, 'name'], get(l, 'name'))
    if (name === undefined || name === '') {
      if (get(l, 'name') === undefined || name === '') c.error([...p, 'name'], 'limit name is required', CODES.REQUIRED)
    } else {
      const first = names.get(name)
      if (first !== undefined) c.error([...p, 'name'], `limit name ${JSON.stringify(name)} is already used by limits[${first}]`, CODES.CONFLICT)
      else names.set(name, i)
    }
    checkPositiveInt(c, [...p, 'requests'], get(l, 'requests'), true, 'requests')
    if (get(l, 'per') === undefined) c.error([...p, 'per'], 'per (the window, e.g. 1s, 1m, 1h) is required', CODES.REQUIRED)
    else checkDuration(c, [...p, 'per'], get(l, 'per'))
    const key = c.str([...p, 'key'], get(l, 'key'))
    if (key !== undefined) {
      const problem = rateLimitKeyProblem(key)
      if (problem !== null) c.error([...p, 'key'], problem, CODES.INVALID)
    }
  })
}

function validateCache (c: Checker, spec: Obj): void {
  checkDuration(c, ['ttl'], get(spec, 'ttl'))
  checkDuration(c, ['staleWhileRevalidate'], get(spec, 'staleWhileRevalidate'), { allowZero: true })
  c.strList(['methods'], get(spec, 'methods'))?.forEach((m, i) => {
    if (!HTTP_METHODS.has(m)) c.error(['methods', i], `${JSON.stringify(m)} is not an HTTP method (use upper case, e.g. GET)`, CODES.INVALID)
    else if (m !== 'GET' && m !== 'HEAD') c.warn(['methods', i], `caching ${m} responses is unusual: ${m} is not a safe method`, CODES.RUNTIME_HINT)
  })
  c.strList(['vary'], get(spec, 'vary'))?.forEach((h, i) => {
    if (!isHeaderToken(h)) c.error(['vary', i], `${JSON.stringify(h)} is not a valid header name`, CODES.HEADER_NAME)
  })
  checkPositiveInt(c, ['maxEntries'], get(spec, 'maxEntries'), false, 'maxEntries')
  checkPositiveInt(c, ['maxBodyBytes'], get(spec, 'maxBodyBytes'), false, 'maxBodyBytes')
}

function validateApiKeys (c: Checker, spec: Obj, ctx: ValidateContext): void {
  const where = c.str(['in'], get(spec, 'in'))
  if (where !== undefined) {
    const m = /^(header|query):(.+)$/.exec(where)
    if (m === null) c.error(['in'], `in must be header:NAME or query:NAME, got ${JSON.stringify(where)}`, CODES.INVALID)
    else if (m[1] === 'header' && !isHeaderToken(m[2]!)) c.error(['in'], `${JSON.stringify(m[2])} is not a valid header name`, CODES.HEADER_NAME)
  }
  const raw = get(spec, 'keys')
  const keys = c.list(['keys'], raw)
  if ((keys === undefined && raw === undefined) || keys?.length === 0) c.error(['keys'], 'an ApiKeyPolicy needs at least one key', CODES.REQUIRED)
  const hashes = new Map<string, number>()
  keys?.forEach((rawKey, i) => {
    const p = ['keys', i]
    const k = c.item(p, rawKey, 'key')
    if (k === undefined) return
    c.fields(p, k, ['name', 'valueSha256', 'valueFrom'])
    const name = c.str([...p, 'name'], get(k, 'name'))
    if (name === undefined || name === '') {
      if (get(k, 'name') === undefined || name === '') c.error([...p, 'name'], 'key name (the consumer) is required', CODES.REQUIRED)
    }
    const hasSha = get(k, 'valueSha256') !== undefined
    const hasFrom = get(k, 'valueFrom') !== undefined
    if (hasSha === hasFrom) c.error(p, 'set exactly one of valueSha256 and valueFrom', hasSha ? CODES.CONFLICT : CODES.REQUIRED)
    const sha = c.str([...p, 'valueSha256'], get(k, 'valueSha256'))
    if (sha !== undefined) {
      if (!/^[0-9a-fA-F]{64}$/.test(sha)) c.error([...p, 'valueSha256'], 'valueSha256 must be 64 hex characters (the SHA-256 of the key)', CODES.INVALID)
      const first = hashes.get(sha.toLowerCase())
      if (first !== undefined) c.error([...p, 'valueSha256'], `the same key is already given to keys[${first}]`, CODES.CONFLICT)
      else hashes.set(sha.toLowerCase(), i)
    }
    checkValueFrom(c, [...p, 'valueFrom'], get(k, 'valueFrom'), ctx)
  })
}

/** `valueFrom: PATH` or `valueFrom: {file: PATH}`; the file holds the key itself. */
function checkValueFrom (c: Checker, p: Path, v: unknown, ctx: ValidateContext): void {
  if (v === undefined || v === null) return
  let file: string | undefined
  let fp = p
  if (typeof v === 'string') {
    file = v
  } else {
    const m = c.map(p, v)
    if (m === undefined) return
    c.fields(p, m, ['file'])
    fp = [...p, 'file']
    file = c.str(fp, get(m, 'file'))
    if (file === undefined && get(m, 'file') === undefined) c.error(fp, 'valueFrom.file is required', CODES.REQUIRED)
  }
  if (file === undefined) return
  if (file === '') {
    c.error(fp, 'valueFrom must name a file', CODES.REQUIRED)
    return
  }
  const text = ctx.readFile(file)
  if (text === null) c.finding(fp, `key file ${JSON.stringify(file)} cannot be read`, CODES.FILE_MISSING)
  else if (text.trim() === '') c.finding(fp, `key file ${JSON.stringify(file)} is empty`, CODES.FILE_MISSING)
}

function validateEdgeFacts (c: Checker, spec: Obj): void {
  for (const [field, facts] of [['headers', FACTS], ['geoHeaders', GEO_FACTS]] as const) {
    const m = c.strMap([field], get(spec, field))
    if (m === undefined) continue
    for (const [fact, header] of Object.entries(m)) {
      if (!facts.includes(fact)) c.warn([field, fact], `unknown fact ${JSON.stringify(fact)}, expected one of ${facts.join(', ')}`, CODES.UNKNOWN_FIELD)
      if (!isHeaderToken(header)) c.error([field, fact], `${JSON.stringify(header)} is not a valid header name`, CODES.HEADER_NAME)
    }
  }
  const trusted = c.strList(['trustedProxies'], get(spec, 'trustedProxies'))
  trusted?.forEach((cidr, i) => {
    const problem = ipOrCidrProblem(cidr)
    if (problem !== null) c.error(['trustedProxies', i], problem, CODES.IP)
  })
  const geo = get(spec, 'geoHeaders')
  if (geo !== undefined && geo !== null && typeof geo === 'object' && Object.keys(geo).length > 0 && (trusted === undefined || trusted.length === 0)) {
    c.warn(['geoHeaders'], 'geo headers are believed only from trustedProxies, and none are listed: they are never used', CODES.INVALID)
  }
  const fwd = get(spec, 'forwardHeaders')
  if (fwd !== undefined) c.bool(['forwardHeaders'], fwd)
  // Two facts exposed as one header would overwrite each other.
  const h = get(spec, 'headers')
  if (h !== undefined && h !== null && typeof h === 'object') {
    const seen = new Map<string, string>()
    for (const [fact, name] of Object.entries(h as Record<string, unknown>)) {
      if (typeof name !== 'string') continue
      const prev = seen.get(name.toLowerCase())
      if (prev !== undefined) c.error(['headers', fact], `header ${JSON.stringify(name)} is already used for ${prev}`, CODES.INVALID)
      else seen.set(name.toLowerCase(), fact)
    }
  }
}
