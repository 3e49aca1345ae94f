// CachePolicy's HTTP semantics, as a shared cache (RFC 9111) sees them: which
// requests may be answered from the cache, which responses may be stored and
// for how long, and how keys are made. Pure functions: no I/O, and the clock is
// always the caller's `now`, so the same answers hold in tests and in `explain`.
import { hash } from 'node:crypto'
import type { CacheEntry } from './entry.js'

/** Request or response headers as Node gives them: lowercase names. */
export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>

/**
 * A request's headers with the credentials its client sent that the gateway
 * took off the request before the cache looks (a JWT RequestAuthentication
 * does not forward, an ApiKeyPolicy key): a policy that varies on such a
 * header keys on the credential as sent. `sent` is flat: name, value, ...
 * Reads the request's own headers for every other name: no copy of them.
 */
export class WithCredentials {
  readonly headers: HeaderMap
  readonly sent: readonly string[]
  constructor (headers: HeaderMap, sent: readonly string[]) {
    this.headers = headers
    this.sent = sent
  }
}

/** The request headers the cache decides and keys on. */
export type RequestHeaders = HeaderMap | WithCredentials

/** One request header by lowercase name. */
export function requestHeader (h: RequestHeaders, name: string): string | string[] | undefined {
  if (h instanceof WithCredentials) {
    for (let i = 0; i < h.sent.length; i += 2) if (h.sent[i] === name) return h.sent[i + 1]
    return h.headers[name]
  }
  return h[name]
}

/**
 * A request with a principal may use the cache only when the policy keys on
 * the credential behind it: every credential header the gateway took off is
 * in `vary` (or, when none was taken off, `authorization` is there and named).
 */
function keyedOnCredential (h: RequestHeaders, vary: readonly string[], authorizationKeyed: boolean): boolean {
  if (!(h instanceof WithCredentials)) return authorizationKeyed
  for (let i = 0; i < h.sent.length; i += 2) if (!vary.includes(h.sent[i]!)) return false
  return true
}

export interface CacheRules {
  /** The policy's `ttl`: the freshness of a response that carries none of its own, ms. */
  readonly ttlMs: number
  /** Upper-case methods answered from the cache (policy `methods`, default GET, HEAD). */
  readonly methods: ReadonlySet<string>
  /** The policy's extra `vary` request headers, lowercase. */
  readonly vary: readonly string[]
  readonly maxBodyBytes: number
  /** The policy's `staleWhileRevalidate`, ms; a response's own `stale-while-revalidate` wins. */
  readonly staleWhileRevalidateMs: number
}

/**
 * - `lookup`: answer from the cache when it can; on a miss fetch and store.
 *   HEAD is looked up as GET: a HEAD request uses the GET entry (the key has
 *   no method) and is answered with its status and headers; on a miss the
 *   caller forwards the HEAD but must not store its bodiless answer.
 * - `refresh`: the client asked not to be served from the cache (`no-cache`,
 *   `max-age=0`, `pragma: no-cache`): go to the upstream, but its answer may
 *   be stored for the next client.
 * - `bypass`: the cache plays no part, neither lookup nor store.
 */
export type RequestDecision =
  | { readonly kind: 'lookup' }
  | { readonly kind: 'refresh', readonly reason: string }
  | { readonly kind: 'bypass', readonly reason: string }

export type ResponseDecision =
  | { readonly store: false, readonly reason: string }
  | {
    readonly store: true
    readonly freshMs: number
    readonly staleWhileRevalidateMs: number
    readonly staleIfErrorMs: number
    /** Sorted, deduplicated: the response's `Vary` plus the policy's `vary` (shared: never modify). */
    readonly vary: readonly string[]
    readonly initialAgeMs: number
  }

export type Freshness = 'fresh' | 'stale-revalidate' | 'stale-if-error-only' | 'expired'

// Decisions without details are shared objects: no allocation per request.
const LOOKUP: RequestDecision = Object.freeze({ kind: 'lookup' })
const bypass = (reason: string): RequestDecision => Object.freeze({ kind: 'bypass', reason })
const refresh = (reason: string): RequestDecision => Object.freeze({ kind: 'refresh', reason })
const BYPASS_METHOD = bypass('method')
const BYPASS_AUTHORIZATION = bypass('authorization')
const BYPASS_PRINCIPAL = bypass('principal')
const BYPASS_NO_STORE = bypass('request no-store')
const REFRESH_NO_CACHE = refresh('request no-cache')
const REFRESH_MAX_AGE = refresh('request max-age=0')
const REFRESH_PRAGMA = refresh('pragma no-cache')

/**
 * Whether a request may use the cache. Never for a request that carries
 * `authorization`, or a validated principal (JWT, API key), unless the policy
 * names the key: its `vary` lists `authorization`, so each credential gets its
 * own entries. A principal that did not come in `authorization` (an API key in
 * another header, a cookie) is not part of that key, so it always bypasses.
 * Request cookies are not a reason to bypass: personal answers are marked by
 * the upstream (`private`, `no-store`, `set-cookie`). Request `max-stale`,
 * `min-fresh`, `only-if-cached` and `max-age` other than 0 are ignored.
 */
export function requestDecision (method: string, headers: RequestHeaders, rules: CacheRules, hasPrincipal: boolean): RequestDecision {
  if (!rules.methods.has(method)) return BYPASS_METHOD
  const keyedOnAuthorization = rules.vary.includes('authorization')
  const authorization = requestHeader(headers, 'authorization')
  if (authorization !== undefined && !keyedOnAuthorization) return BYPASS_AUTHORIZATION
  if (hasPrincipal && !keyedOnCredential(headers, rules.vary, authorization !== undefined && keyedOnAuthorization)) return BYPASS_PRINCIPAL
  const cc = requestHeader(headers, 'cache-control')
  if (cc !== undefined) {
    const d = parseCacheControl(cc)
    if (d.has('no-store')) return BYPASS_NO_STORE
    if (d.has('no-cache')) return REFRESH_NO_CACHE
    const maxAge = d.get('max-age')
    if (maxAge !== undefined && deltaMs(maxAge) === 0) return REFRESH_MAX_AGE
  } else if (hasToken(requestHeader(headers, 'pragma'), 'no-cache')) {
    // RFC 9111 §5.4: Pragma counts only when Cache-Control is absent.
    return REFRESH_PRAGMA
  }
  return LOOKUP
}

// RFC 9111 §4.2.2: statuses a cache may store without explicit freshness
// (206 is left out: the gateway does not assemble ranges).
const HEURISTIC_STATUSES = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])
const notStored = (reason: string): ResponseDecision => Object.freeze({ store: false, reason })
const NOT_STATUS = notStored('status')
const NOT_NO_STORE = notStored('no-store')
const NOT_PRIVATE = notStored('private')
const NOT_NO_CACHE = notStored('no-cache')
const NOT_VARY_STAR = notStored('vary *')
const NOT_SET_COOKIE = notStored('set-cookie')
const NOT_AUTHORIZATION = notStored('authorization')
const NOT_TOO_LARGE = notStored('body too large')
const NOT_HEURISTIC = notStored('status needs explicit freshness')
const NOT_EXPIRED = notStored('expired on arrival')

/**
 * Whether a response may be stored, and its lifetimes. Freshness: `s-maxage`,
 * else `max-age`, else `Expires` (minus `Date` when valid, else minus `now`),
 * else the policy's ttl, which applies only to the statuses RFC 9111 calls
 * heuristically cacheable. An invalid `max-age`/`s-maxage`/`Expires` means
 * stale (RFC 9111 §4.2.1). Stale windows: the response's `stale-while-revalidate`
 * and `stale-if-error` (RFC 5861), else the policy's staleWhileRevalidate;
 * `must-revalidate`/`proxy-revalidate` allow none, and `s-maxage` (which
 * implies proxy-revalidate, RFC 9111 §5.2.2.10) drops the policy's default but
 * keeps windows the response grants itself. Not stored: `no-store`, `private`,
 * `no-cache` (we don't revalidate, so a response that must be revalidated on
 * every use is useless), `Vary: *`, `set-cookie` unless the policy varies on
 * `cookie`, a request `authorization` unless the policy varies on it, a
 * `content-length` over maxBodyBytes, and a response already past every window.
 */
export function responseDecision (status: number, resHeaders: HeaderMap, reqHeaders: RequestHeaders, rules: CacheRules, now: number): ResponseDecision {
  if (status < 200 || status === 206 || status === 304) return NOT_STATUS
  const d = parseCacheControl(resHeaders['cache-control'])
  if (d.has('no-store')) return NOT_NO_STORE
  if (d.has('private')) return NOT_PRIVATE
  if (d.has('no-cache')) return NOT_NO_CACHE
  const vary = mergeVary(resHeaders.vary, rules.vary)
  if (vary === null) return NOT_VARY_STAR
  if (resHeaders['set-cookie'] !== undefined && !rules.vary.includes('cookie')) return NOT_SET_COOKIE
  if (requestHeader(reqHeaders, 'authorization') !== undefined && !rules.vary.includes('authorization')) return NOT_AUTHORIZATION
  if (contentLength(resHeaders['content-length']) > rules.maxBodyBytes) return NOT_TOO_LARGE

  const sMaxAge = d.get('s-maxage')
  const maxAge = d.get('max-age')
  const expires = first(resHeaders.expires)
  let freshMs: number
  if (sMaxAge !== undefined) freshMs = deltaMs(sMaxAge)
  else if (maxAge !== undefined) freshMs = deltaMs(maxAge)
  else if (expires !== undefined) freshMs = expiresMs(expires, first(resHeaders.date), now)
  else if (HEURISTIC_STATUSES.has(status)) freshMs = rules.ttlMs
  else return NOT_HEURISTIC

  let staleWhileRevalidateMs = 0
  let staleIfErrorMs = 0
  if (!d.has('must-revalidate') && !d.has('proxy-revalidate')) {
    const swr = d.get('stale-while-revalidate')
    const sie = d.get('stale-if-error')
    staleWhileRevalidateMs = swr !== undefined ? deltaMs(swr) : sMaxAge !== undefined ? 0 : rules.staleWhileRevalidateMs
    if (sie !== undefined) staleIfErrorMs = deltaMs(sie)
  }
  const age = first(resHeaders.age)
  const initialAgeMs = age === undefined ? 0 : deltaMs(age)
  if (freshMs + Math.max(staleWhileRevalidateMs, staleIfErrorMs) <= initialAgeMs) return NOT_EXPIRED
  return { store: true, freshMs, staleWhileRevalidateMs, staleIfErrorMs, vary, initialAgeMs }
}

/** RFC 9111 §4.2.3, with the upstream's `age` as the initial age (its `Date` is not trusted against our clock). */
export function currentAgeMs (e: CacheEntry, now: number): number {
  return e.initialAgeMs + Math.max(0, now - e.storedAt)
}

/**
 * - `fresh`: serve it.
 * - `stale-revalidate`: serve it and refresh in the background (stale-if-error may also still apply).
 * - `stale-if-error-only`: go to the upstream; serve this only if the upstream fails.
 * - `expired`: useless.
 */
export function freshness (e: CacheEntry, now: number): Freshness {
  const age = currentAgeMs(e, now)
  if (age < e.freshMs) return 'fresh'
  const staleFor = age - e.freshMs
  if (staleFor < e.staleWhileRevalidateMs) return 'stale-revalidate'
  if (staleFor < e.staleIfErrorMs) return 'stale-if-error-only'
  return 'expired'
}

/** ms until the entry is `expired` (≤ 0: already). The stores keep an entry this long. */
export function remainingLifeMs (e: CacheEntry, now: number): number {
  return e.freshMs + Math.max(e.staleWhileRevalidateMs, e.staleIfErrorMs) - currentAgeMs(e, now)
}

const SPACES = /[ \t]+/g
const SPACED_COMMA = / ?, ?/g

/**
 * The varied request header values as stable text: one line per header name
 * (sorted, deduplicated), `name:value` with whitespace runs collapsed and no
 * space around commas, or a bare `name` when the header is missing, so a
 * missing header and an empty one give different keys.
 */
export function varyKey (vary: readonly string[], reqHeaders: RequestHeaders): string {
  let out = ''
  for (const name of sortedNames(vary)) {
    if (out !== '') out += '\n'
    const raw = requestHeader(reqHeaders, name)
    if (raw === undefined) { out += name; continue }
    const value = typeof raw === 'string' ? raw : raw.join(', ')
    out += name + ':' + normalizeValue(value)
  }
  return out
}

function normalizeValue (value: string): string {
  // Most values (tokens, language tags) hold no tab, double space or comma:
  // three memchr-fast scans instead of two regex replaces over a long token.
  if (!value.includes('\t') && !value.includes('  ') && !value.includes(',')) return value.trim()
  return value.replace(SPACES, ' ').trim().replace(SPACED_COMMA, ',')
}

// The last variant suffix per client connection: a client sends the same
// credential or language on every request of a connection, and comparing the
// values with the previous ones costs a memcmp, where hashing a JWT again
// costs more than the rest of a lookup. Held only while the connection lives.
interface LastVariant {
  readonly vary: readonly string[]
  readonly values: ReadonlyArray<string | undefined>
  readonly suffix: string
  /** The last variant key built, and its primary key: the same string again when both repeat. */
  primaryKey: string
  key: string
}
const lastVariant = new WeakMap<object, LastVariant>()

function sameAsLast (last: LastVariant, vary: readonly string[], reqHeaders: RequestHeaders): boolean {
  if (last.vary.length !== vary.length) return false
  for (let i = 0; i < vary.length; i++) {
    if (last.vary[i] !== vary[i] || requestHeader(reqHeaders, vary[i]!) !== last.values[i]) return false
  }
  return true
}

/**
 * The key of one variant of a primary key: `<primaryKey>#<sha256 of varyKey,
 * base64url>`. Hashed so that credentials named in `vary` (authorization,
 * cookie) never appear in key names, and so that the suffix holds no `|`.
 * `connection` (the client's, when known) lets the same values as its last
 * request's skip the hash.
 */
export function variantKey (primaryKey: string, vary: readonly string[], reqHeaders: RequestHeaders, connection: object | null = null): string {
  if (connection !== null) {
    const last = lastVariant.get(connection)
    if (last !== undefined && sameAsLast(last, vary, reqHeaders)) {
      if (last.primaryKey === primaryKey) return last.key
      last.primaryKey = primaryKey
      last.key = primaryKey + '#' + last.suffix
      return last.key
    }
  }
  const suffix = hash('sha256', varyKey(vary, reqHeaders), 'base64url')
  if (connection !== null) {
    const values: Array<string | undefined> = []
    for (const name of vary) {
      const v = requestHeader(reqHeaders, name)
      if (Array.isArray(v)) return primaryKey + '#' + suffix // repeated headers: not remembered
      values.push(v)
    }
    const key = primaryKey + '#' + suffix
    lastVariant.set(connection, { vary, values, suffix, primaryKey, key })
    return key
  }
  return primaryKey + '#' + suffix
}

/**
 * The primary key of a resource: `mg:c:<policyId>|<host>|<path?query>`, the
 * host lowercased. `|` and `#` inside the parts are written `%7C` and `%23`, so
 * every key has two `|` before its path and variant keys add one `#`: a purge
 * by path prefix then matches the same keys in memory (`matchesPurge`) and in
 * Redis (`SCAN MATCH purgePattern(...)`). Paths differing only by a raw `|` vs
 * `%7C` share a key (a raw `|` is not valid in a URI anyway). GET and HEAD
 * share the key; an answer to another method a policy caches is kept apart
 * (`|POST` after the path), so it never answers a GET nor a GET it.
 */
export function cacheKey (policyId: string, host: string, pathWithQuery: string, method = 'GET'): string {
  const key = KEY_PREFIX + encodeKeyPart(policyId) + '|' + encodeKeyPart(host.toLowerCase()) + '|' + encodeKeyPart(pathWithQuery)
  return method === 'GET' || method === 'HEAD' ? key : `${key}|${method}`
}

/** Methods whose successful answers invalidate what is cached for their target (RFC 9111 §4.4). */
export function isUnsafeMethod (method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS' && method !== 'TRACE'
}

export const KEY_PREFIX = 'mg:c:'

/** Limits a purge to one policy and/or one host (as given to `cacheKey`). */
export interface PurgeScope {
  readonly policyId?: string
  readonly host?: string
}

/** The Redis `SCAN MATCH` pattern for every key (primary, vary record, variants) whose path starts with `pathPrefix`. */
export function purgePattern (pathPrefix: string, scope: PurgeScope = {}): string {
  const policy = scope.policyId === undefined ? '*' : globEscape(encodeKeyPart(scope.policyId))
  const host = scope.host === undefined ? '*' : globEscape(encodeKeyPart(scope.host.toLowerCase()))
  return KEY_PREFIX + policy + '|' + host + '|' + globEscape(encodeKeyPart(pathPrefix)) + '*'
}

/** The in-memory twin of `purgePattern`. */
export function matchesPurge (key: string, pathPrefix: string, scope: PurgeScope = {}): boolean {
  if (!key.startsWith(KEY_PREFIX)) return false
  const a = key.indexOf('|', KEY_PREFIX.length)
  const b = a === -1 ? -1 : key.indexOf('|', a + 1)
  if (b === -1) return false
  if (scope.policyId !== undefined && key.slice(KEY_PREFIX.length, a) !== encodeKeyPart(scope.policyId)) return false
  if (scope.host !== undefined && key.slice(a + 1, b) !== encodeKeyPart(scope.host.toLowerCase())) return false
  return key.startsWith(encodeKeyPart(pathPrefix), b + 1)
}

const KEY_SPECIALS = /[|#]/g
const GLOB_SPECIALS = /[*?[\]\\]/g

function encodeKeyPart (s: string): string {
  return s.includes('|') || s.includes('#') ? s.replace(KEY_SPECIALS, c => c === '|' ? '%7C' : '%23') : s
}

function globEscape (s: string): string {
  return s.replace(GLOB_SPECIALS, '\\$&')
}

export type Directives = ReadonlyMap<string, string | null>

const NO_DIRECTIVES: Directives = new Map()
// Cache-Control values repeat from message to message (`no-cache`,
// `public, max-age=60`): each distinct short value is parsed once. Read-only
// maps, shared by every caller.
const parsedDirectives = new Map<string, Directives>()
const PARSED_LIMIT = 512
const PARSED_VALUE_MAX = 256

/**
 * Cache-Control directives: lowercase names to values (unquoted; `null` when
 * the directive has none). The first occurrence of a directive wins.
 */
export function parseCacheControl (value: string | string[] | undefined): Directives {
  if (value === undefined) return NO_DIRECTIVES
  if (typeof value !== 'string') return parseDirectives(value.join(','))
  let d = parsedDirectives.get(value)
  if (d === undefined) {
    d = parseDirectives(value)
    if (value.length <= PARSED_VALUE_MAX) {
      if (parsedDirectives.size >= PARSED_LIMIT) parsedDirectives.clear()
      parsedDirectives.set(value, d)
    }
  }
  return d
}

function parseDirectives (text: string): Directives {
  const out = new Map<string, string | null>()
  let i = 0
  while (i < text.length) {
    // name up to '=', ',' or end
    let j = i
    while (j < text.length && text[j] !== '=' && text[j] !== ',') j++
    const name = text.slice(i, j).trim().toLowerCase()
    let val: string | null = null
    if (text[j] === '=') {
      j++
      while (text[j] === ' ' || text[j] === '\t') j++
      if (text[j] === '"') {
        let v = ''
        j++
        while (j < text.length && text[j] !== '"') {
          if (text[j] === '\\' && j + 1 < text.length) j++
          v += text[j]
          j++
        }
        val = v
        while (j < text.length && text[j] !== ',') j++
      } else {
        const start = j
        while (j < text.length && text[j] !== ',') j++
        val = text.slice(start, j).trim()
      }
    }
    if (name !== '' && !out.has(name)) out.set(name, val)
    i = j + 1
  }
  return out
}

const DELTA_SECONDS = /^\d+$/
// RFC 9111 §1.2.2: larger values are taken as 2^31 s.
const MAX_DELTA_SECONDS = 2_147_483_648

/** delta-seconds → ms; a missing or invalid value is 0 ("consider it stale", RFC 9111 §4.2.1). */
function deltaMs (v: string | null): number {
  if (v === null || !DELTA_SECONDS.test(v)) return 0
  return Math.min(Number(v), MAX_DELTA_SECONDS) * 1000
}

// IMF-fixdate, RFC 850 and asctime all start with a day name; Date.parse alone
// would read "2099" or "0" as dates.
const HTTP_DATE_START = /^[A-Za-z]{3,9},? /

function parseHttpDate (v: string | undefined): number {
  if (v === undefined || !HTTP_DATE_START.test(v)) return NaN
  return Date.parse(v)
}

function expiresMs (expires: string, date: string | undefined, now: number): number {
  const at = parseHttpDate(expires)
  if (Number.isNaN(at)) return 0
  const base = parseHttpDate(date)
  return Math.max(0, at - (Number.isNaN(base) ? now : base))
}

function contentLength (v: string | string[] | undefined): number {
  const s = first(v)
  return s !== undefined && DELTA_SECONDS.test(s) ? Number(s) : -1
}

function first (v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' || v === undefined ? v : v[0]
}

function hasToken (v: string | string[] | undefined, token: string): boolean {
  if (v === undefined) return false
  const text = typeof v === 'string' ? v : v.join(',')
  return text.toLowerCase().split(',').some(t => t.trim() === token)
}

// The policy's vary names sorted, per policy: what most responses (no Vary of their own) vary on.
const policyVaryNames = new WeakMap<readonly string[], readonly string[]>()

/** The response's Vary names plus the policy's, sorted and deduplicated; null for `Vary: *`. */
function mergeVary (resVary: string | string[] | undefined, policyVary: readonly string[]): readonly string[] | null {
  if (resVary === undefined) {
    let names = policyVaryNames.get(policyVary)
    if (names === undefined) {
      names = Object.freeze([...new Set(policyVary)].sort())
      policyVaryNames.set(policyVary, names)
    }
    return names
  }
  const names = new Set(policyVary)
  if (resVary !== undefined) {
    const text = typeof resVary === 'string' ? resVary : resVary.join(',')
    for (const raw of text.split(',')) {
      const name = raw.trim().toLowerCase()
      if (name === '*') return null
      if (name !== '') names.add(name)
    }
  }
  return [...names].sort()
}

/** `names` sorted and deduplicated: the same array when it already is. */
export function sortedNames (names: readonly string[]): readonly string[] {
  for (let i = 1; i < names.length; i++) {
    if ((names[i - 1] as string) >= (names[i] as string)) return [...new Set(names)].sort()
  }
  return names
}
