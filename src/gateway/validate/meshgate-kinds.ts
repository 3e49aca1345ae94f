// meshgate.io/v1alpha1 kinds (CONTRACT "meshgate.io/v1alpha1 kinds"):
// RateLimitPolicy, CachePolicy, ApiKeyPolicy, EdgeFacts. Each may have
// `targetRefs[]` ({kind: VirtualService | Gateway, name}) and `match`
// (an HTTPMatchRequest).
//
// Two passes. The structural one walks the spec along its schema
// (meshgate-schema.ts, which the CRDs are generated from): unknown fields,
// types, required fields, enums and bounds. The semantic one reads the values
// the schema cannot judge: durations, key forms, header names, CIDRs,
// duplicates, key files and the targets that cross-resource analysis resolves.
import { get, isObj, typeName, type Checker, type Obj, type Path } from './checker.js'
import { checkDuration, ipOrCidrProblem, isHeaderToken } from './common.js'
import type { ValidateContext } from './context.js'
import { validateMatch } from './http-match.js'
import { CODES } from './codes.js'
import { COMMON_PROPERTIES, MESHGATE_SCHEMAS, fieldNames, kindSchema, schemaAt, type ObjectSchema, type Schema, type TypedSchema } from './meshgate-schema.js'

export const MESHGATE_KINDS: readonly string[] = MESHGATE_SCHEMAS.map(k => k.kind)

export interface MeshgateRef { index: number, kind: 'VirtualService' | 'Gateway', name: string, namespace: string }

const COMMON_SPEC: ObjectSchema = { type: 'object', description: '', properties: COMMON_PROPERTIES }

export function validateMeshgateKind (c: Checker, kind: string, spec: Obj, ctx: ValidateContext): MeshgateRef[] {
  const schema = kindSchema(kind)?.spec ?? COMMON_SPEC
  walkObject(c, [], schema, spec, '')
  switch (kind) {
    case 'RateLimitPolicy': checkRateLimit(c, spec); break
    case 'CachePolicy': checkCache(c, spec, schema); break
    case 'ApiKeyPolicy': checkApiKeys(c, spec, ctx); break
    case 'EdgeFacts': checkEdgeFacts(c, spec); break
  }
  return targetRefs(c, spec, schema)
}

// ---- the structural pass ----

/** How the structural pass words a finding at a schema pointer, where it differs from the default. */
interface Wording {
  /** A required field that is missing (and, with minLength/minItems, empty). */
  required?: string
  /** An empty string or list where the schema asks for at least one character or item. */
  empty?: string
  /** A value outside the schema's enum. */
  notInEnum?: (value: string) => string
  /** What a list calls its items: "limit may not be null". */
  item?: string
}

const WORDING: Readonly<Record<string, Wording>> = {
  targetRefs: { item: 'targetRef' },
  'targetRefs.*.kind': {
    required: 'targetRef kind is required (VirtualService or Gateway)',
    notInEnum: v => `targetRef kind must be VirtualService or Gateway, got ${JSON.stringify(v)}`
  },
  'targetRefs.*.name': { required: 'targetRef name is required' },
  limits: { item: 'limit', required: 'a RateLimitPolicy needs at least one limit' },
  'limits.*.name': { required: 'limit name is required' },
  'limits.*.per': { required: 'per (the window, e.g. 1s, 1m, 1h) is required' },
  'methods.*': { notInEnum: v => `${JSON.stringify(v)} is not an HTTP method (use upper case, e.g. GET)` },
  keys: { item: 'key', required: 'an ApiKeyPolicy needs at least one key' },
  'keys.*.name': { required: 'key name (the consumer) is required' },
  'keys.*.valueFrom': { empty: 'valueFrom must name a file' },
  'keys.*.valueFrom.file': { required: 'valueFrom.file is required', empty: 'valueFrom must name a file' }
}

/** Nodes whose type and value a check of their own reads (instead of the structural pass). */
type Reader = (c: Checker, p: Path, v: unknown, node: Schema) => void

const READERS: Readonly<Record<string, Reader>> = {
  match: (c, p, v) => {
    const m = c.map(p, v)
    if (m !== undefined) validateMatch(c, p, m, { gatewayBound: true })
  },
  ttl: duration(),
  staleWhileRevalidate: duration({ allowZero: true }),
  'limits.*.per': duration(),
  headers: factHeaders,
  geoHeaders: factHeaders
}

/** Pointers the wording and readers above refer to, for the tests: each must exist in some kind's schema. */
export const STRUCTURE_POINTERS: readonly string[] = [...Object.keys(WORDING), ...Object.keys(READERS)]

function duration (opts: { allowZero?: boolean } = {}): Reader {
  return (c, p, v) => { checkDuration(c, p, v, opts) }
}

/** EdgeFacts `headers`/`geoHeaders`: fact → header; an unknown fact is named as one. */
function factHeaders (c: Checker, p: Path, v: unknown, node: Schema): void {
  const facts = fieldNames(node)
  const m = c.strMap(p, v)
  if (m === undefined) return
  for (const fact of Object.keys(v as Obj)) {
    if (!facts.includes(fact)) c.warn([...p, fact], `unknown fact ${JSON.stringify(fact)}, expected one of ${facts.join(', ')}`, CODES.UNKNOWN_FIELD)
    const header = m[fact]
    if (header !== undefined && !isHeaderToken(header)) c.error([...p, fact], `${JSON.stringify(header)} is not a valid header name`, CODES.HEADER_NAME)
  }
}

const TYPE_WORDS: Readonly<Record<TypedSchema['type'], string>> = {
  object: 'a mapping', array: 'a list', string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false'
}

function join (at: string, step: string): string {
  return at === '' ? step : `${at}.${step}`
}

/** The field a pointer ends at, for default messages (`maxEntries`, not `*`). */
function fieldOf (at: string): string {
  return at.split('.').filter(s => s !== '*').pop() ?? 'value'
}

function emptyMessage (at: string): string {
  return WORDING[at]?.empty ?? WORDING[at]?.required ?? `${fieldOf(at)} must not be empty`
}

function fits (s: TypedSchema, v: unknown): boolean {
  switch (s.type) {
    case 'object': return isObj(v)
    case 'array': return Array.isArray(v)
    case 'string': return typeof v === 'string'
    case 'integer': return typeof v === 'number' && Number.isInteger(v)
    case 'number': return typeof v === 'number' && Number.isFinite(v)
    case 'boolean': return typeof v === 'boolean'
  }
}

/** A value that is set (not absent, not null) at `p`. */
function walk (c: Checker, p: Path, node: Schema, v: unknown, at: string): void {
  const reader = READERS[at]
  if (reader !== undefined) {
    reader(c, p, v, node)
    return
  }
  const s = node.type === undefined ? node.oneOf.find(variant => fits(variant, v)) : node
  if (s === undefined) {
    const words = node.type === undefined ? node.oneOf.map(variant => TYPE_WORDS[variant.type]).join(' or ') : ''
    c.error(p, `expected ${words}, got ${typeName(v)}`, CODES.TYPE)
    return
  }
  switch (s.type) {
    case 'object': {
      const o = c.map(p, v)
      if (o !== undefined) walkObject(c, p, s, o, at)
      return
    }
    case 'array': {
      const l = c.list(p, v)
      if (l === undefined) return
      if (l.length < (s.minItems ?? 0)) c.error(p, emptyMessage(at), CODES.REQUIRED)
      l.forEach((item, i) => { walkMember(c, [...p, i], s.items, item, join(at, '*'), WORDING[at]?.item ?? 'item') })
      return
    }
    case 'string': {
      const str = c.str(p, v)
      if (str === undefined) return
      if (str.length < (s.minLength ?? 0)) c.error(p, emptyMessage(at), CODES.REQUIRED)
      else if (s.enum !== undefined && !s.enum.includes(str)) {
        c.error(p, WORDING[at]?.notInEnum?.(str) ?? `${JSON.stringify(str)} is not one of ${s.enum.join(', ')}`, CODES.INVALID)
      }
      return
    }
    case 'integer':
    case 'number': {
      const n = s.type === 'integer' ? c.int(p, v) : c.num(p, v)
      if (n === undefined) return
      if (s.minimum !== undefined && n < s.minimum) {
        c.error(p, s.minimum === 1 && s.type === 'integer'
          ? `${fieldOf(at)} must be a positive integer, got ${n}`
          : `${fieldOf(at)} must be at least ${s.minimum}, got ${n}`, CODES.INVALID)
      } else if (s.maximum !== undefined && n > s.maximum) {
        c.error(p, `${fieldOf(at)} must be at most ${s.maximum}, got ${n}`, CODES.INVALID)
      }
      return
    }
    case 'boolean':
      c.bool(p, v)
  }
}

/** `null` in a mapping field means "not set"; a list item or map value must be a value (unless nullable). */
function walkMember (c: Checker, p: Path, node: Schema, v: unknown, at: string, noun: string): void {
  if (v !== null && v !== undefined) {
    walk(c, p, node, v, at)
  } else if (node.nullable !== true) {
    if (node.type === 'object') c.error(p, `${noun} may not be null`, CODES.REQUIRED)
    else c.error(p, `expected ${node.type === undefined ? 'a value' : TYPE_WORDS[node.type]}, got ${typeName(v)}`, CODES.TYPE)
  }
}

function walkObject (c: Checker, p: Path, node: ObjectSchema, o: Obj, at: string): void {
  if (node.properties !== undefined) {
    c.fields(p, o, Object.keys(node.properties))
    for (const [k, sub] of Object.entries(node.properties)) {
      const v = get(o, k)
      const kp = join(at, k)
      if (v !== undefined) walk(c, [...p, k], sub, v, kp)
      else if (node.required?.includes(k) === true) c.error([...p, k], WORDING[kp]?.required ?? `${k} is required`, CODES.REQUIRED)
    }
  }
  const values = node.additionalProperties
  if (values !== undefined) {
    for (const [k, v] of Object.entries(o)) {
      if (node.properties === undefined || !Object.hasOwn(node.properties, k)) walkMember(c, [...p, k], values, v, join(at, '*'), 'value')
    }
  }
}

// ---- the semantic pass: values are read without reporting their types again ----

function listAt (o: Obj, key: string): unknown[] {
  const v = get(o, key)
  return Array.isArray(v) ? v : []
}

function targetRefs (c: Checker, spec: Obj, schema: ObjectSchema): MeshgateRef[] {
  const kindNode = schemaAt(schema, 'targetRefs.*.kind')
  const kinds = kindNode?.type === 'string' ? kindNode.enum ?? [] : []
  const refs: MeshgateRef[] = []
  listAt(spec, 'targetRefs').forEach((t, index) => {
    if (!isObj(t)) return
    const kind = get(t, 'kind')
    const name = get(t, 'name')
    const ns = get(t, 'namespace')
    if (typeof kind === 'string' && kinds.includes(kind) && typeof name === 'string' && name !== '') {
      refs.push({ index, kind: kind as MeshgateRef['kind'], name, namespace: typeof ns === 'string' ? ns : c.namespace })
    }
  })
  return refs
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

function checkRateLimit (c: Checker, spec: Obj): void {
  const names = new Map<string, number>()
  listAt(spec, 'limits').forEach((l, i) => {
    if (!isObj(l)) return
    const p = ['limits', i]
    const name = get(l, 'name')
    if (typeof name === 'string' && name !== '') {
      const first = names.get(name)
      if (first !== undefined) c.error([...p, 'name'], `limit name ${JSON.stringify(name)} is already used by limits[${first}]`, CODES.CONFLICT)
      else names.set(name, i)
    }
    const key = get(l, 'key')
    if (typeof key === 'string') {
      const problem = rateLimitKeyProblem(key)
      if (problem !== null) c.error([...p, 'key'], problem, CODES.INVALID)
    }
  })
}

/** Methods whose answers are safe to cache; the others are allowed with a warning. */
const SAFE_METHODS = new Set(['GET', 'HEAD'])

function checkCache (c: Checker, spec: Obj, schema: ObjectSchema): void {
  const methodNode = schemaAt(schema, 'methods.*')
  const methods = methodNode?.type === 'string' ? methodNode.enum ?? [] : []
  listAt(spec, 'methods').forEach((m, i) => {
    if (typeof m === 'string' && methods.includes(m) && !SAFE_METHODS.has(m)) {
      c.warn(['methods', i], `caching ${m} responses is unusual: ${m} is not a safe method`, CODES.RUNTIME_HINT)
    }
  })
  listAt(spec, 'vary').forEach((h, i) => {
    if (typeof h === 'string' && !isHeaderToken(h)) c.error(['vary', i], `${JSON.stringify(h)} is not a valid header name`, CODES.HEADER_NAME)
  })
}

function checkApiKeys (c: Checker, spec: Obj, ctx: ValidateContext): void {
  const where = get(spec, 'in')
  if (typeof where === 'string') {
    const m = /^(header|query):(.+)$/.exec(where)
    if (m === null) c.error(['in'], `in must be header:NAME or query:NAME, got ${JSON.stringify(where)}`, CODES.INVALID)
    else if (m[1] === 'header' && !isHeaderToken(m[2]!)) c.error(['in'], `${JSON.stringify(m[2])} is not a valid header name`, CODES.HEADER_NAME)
  }
  const hashes = new Map<string, number>()
  listAt(spec, 'keys').forEach((k, i) => {
    if (!isObj(k)) return
    const p = ['keys', i]
    const hasSha = get(k, 'valueSha256') !== undefined
    const hasFrom = get(k, 'valueFrom') !== undefined
    if (hasSha === hasFrom) c.error(p, 'set exactly one of valueSha256 and valueFrom', hasSha ? CODES.CONFLICT : CODES.REQUIRED)
    const sha = get(k, 'valueSha256')
    if (typeof sha === 'string') {
      if (!/^[0-9a-fA-F]{64}$/.test(sha)) c.error([...p, 'valueSha256'], 'valueSha256 must be 64 hex characters (the SHA-256 of the key)', CODES.INVALID)
      const first = hashes.get(sha.toLowerCase())
      if (first !== undefined) c.error([...p, 'valueSha256'], `the same key is already given to keys[${first}]`, CODES.CONFLICT)
      else hashes.set(sha.toLowerCase(), i)
    }
    checkKeyFile(c, [...p, 'valueFrom'], get(k, 'valueFrom'), ctx)
  })
}

/** `valueFrom: PATH` or `valueFrom: {file: PATH}`; the file holds the key itself. */
function checkKeyFile (c: Checker, p: Path, v: unknown, ctx: ValidateContext): void {
  const file = typeof v === 'string' ? v : isObj(v) ? get(v, 'file') : undefined
  if (typeof file !== 'string' || file === '') return
  const fp = typeof v === 'string' ? p : [...p, 'file']
  const text = ctx.readFile(file)
  if (text === null) c.finding(fp, `key file ${JSON.stringify(file)} cannot be read`, CODES.FILE_MISSING)
  else if (text.trim() === '') c.finding(fp, `key file ${JSON.stringify(file)} is empty`, CODES.FILE_MISSING)
}

function checkEdgeFacts (c: Checker, spec: Obj): void {
  const rawTrusted = get(spec, 'trustedProxies')
  const trusted = Array.isArray(rawTrusted) ? rawTrusted : undefined
  trusted?.forEach((cidr, i) => {
    if (typeof cidr !== 'string') return
    const problem = ipOrCidrProblem(cidr)
    if (problem !== null) c.error(['trustedProxies', i], problem, CODES.IP)
  })
  const geo = get(spec, 'geoHeaders')
  if (typeof geo === 'object' && geo !== null && Object.keys(geo).length > 0 && (trusted === undefined || !trusted.some(t => typeof t === 'string'))) {
    c.warn(['geoHeaders'], 'geo headers are believed only from trustedProxies, and none are listed: they are never used', CODES.INVALID)
  }
  // Two facts exposed as one header would overwrite each other.
  const h = get(spec, 'headers')
  if (typeof h === 'object' && h !== null) {
    const seen = new Map<string, string>()
    for (const [fact, name] of Object.entries(h as Record<string, unknown>)) {
      if (typeof name !== 'string') continue
      const prev = seen.get(name.toLowerCase())
      if (prev !== undefined) c.error(['headers', fact], `header ${JSON.stringify(name)} is already used for ${prev}`, CODES.INVALID)
      else seen.set(name.toLowerCase(), fact)
    }
  }
}
