// Checks shared by several kinds: durations, ports, percentages, StringMatch
// and RE2 regexes, header names and values, DNS names, IPs and CIDRs. Each
// follows the rule Istio's admission webhook applies (ISTIO-SEMANTICS §8).
import { isIP } from 'node:net'
import RE2 from 're2'
import { durationProblem, parseDurationMs } from '../durations.js'
import { get, typeName, type Checker, type Path } from './checker.js'
import { CODES } from './codes.js'
import { compileFullRegex } from '../compile/string-matcher.js'

// ---- names ----

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export function isDnsLabel (s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s)
}

/** Kubernetes object names (most kinds): lowercase RFC 1123 subdomain. */
export function isDnsSubdomain (s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s)
}

/** Istio's FQDN rule: labels of a DNS name, a top-level label that is not all digits; a trailing dot allowed. */
export function fqdnProblem (name: string): string | null {
  if (name === '') return 'empty host name'
  if (name.length > 255) return `host name ${JSON.stringify(name)} is too long (max 255)`
  const parts = name.split('.')
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop()
  const top = parts[parts.length - 1] ?? ''
  if (/^\d+$/.test(top)) return `host name ${JSON.stringify(name)} is invalid (top-level label ${JSON.stringify(top)} cannot be all digits)`
  for (const label of parts) {
    if (!isDnsLabel(label)) return `host name ${JSON.stringify(name)} is invalid (label ${JSON.stringify(label)})`
  }
  return null
}

/**
 * A host that may start with a whole-label wildcard (`*.example.com`, `*`).
 * Partial wildcards (`foo*.com`, `*foo.com`) are refused: nothing downstream can match them.
 */
export function wildcardHostProblem (host: string): string | null {
  if (host === '*') return null
  if (host.startsWith('*.')) return fqdnProblem(host.slice(2))
  if (host.includes('*')) return `partial wildcard ${JSON.stringify(host)} is not allowed (a wildcard must be a whole leftmost label, e.g. *.example.com)`
  return fqdnProblem(host)
}

export function isIpAddress (s: string): boolean {
  return isIP(s) !== 0
}

/** A single IP or a CIDR, as AuthorizationPolicy ipBlocks and EdgeFacts trustedProxies take them. */
export function ipOrCidrProblem (s: string): string | null {
  const slash = s.indexOf('/')
  if (slash === -1) return isIP(s) !== 0 ? null : `${JSON.stringify(s)} is not an IP address or CIDR`
  const addr = s.slice(0, slash)
  const bits = s.slice(slash + 1)
  const family = isIP(addr)
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return `${JSON.stringify(s)} is not an IP address or CIDR`
  const max = family === 4 ? 32 : 128
  if (Number(bits) > max) return `${JSON.stringify(s)} has a prefix length above ${max}`
  return null
}

// ---- numbers ----

export function checkPort (c: Checker, path: Path, v: unknown, what = 'port'): number | undefined {
  const n = c.int(path, v)
  if (n === undefined) return undefined
  if (n < 1 || n > 65535) {
    c.error(path, `${what} ${n} is outside 1-65535`, CODES.PORT)
    return undefined
  }
  return n
}

export function checkNonNegativeInt (c: Checker, path: Path, v: unknown): number | undefined {
  const n = c.int(path, v)
  if (n !== undefined && n < 0) c.error(path, `must not be negative, got ${n}`, CODES.INVALID)
  return n
}

/** HTTP status for abort and directResponse: 200-599 (Istio rejects anything else). */
export function checkHttpStatus (c: Checker, path: Path, v: unknown): number | undefined {
  const n = c.int(path, v)
  if (n === undefined) return undefined
  if (n < 200 || n > 599) c.error(path, `HTTP status ${n} is outside 200-599`, CODES.STATUS)
  return n
}

/** Istio Percent `{value}`: 0, or within 0.0001-100. */
export function checkPercent (c: Checker, path: Path, v: unknown): number | undefined {
  const p = c.map(path, v)
  if (p === undefined) return undefined
  c.fields(path, p, ['value'])
  const n = c.num([...path, 'value'], get(p, 'value'))
  if (n === undefined) return 0
  if (n < 0 || n > 100 || (n > 0 && n < 0.0001)) {
    c.error([...path, 'value'], `percentage ${n} is neither 0 nor within 0.0001-100`, CODES.PERCENT)
  }
  return n
}

/** A protobuf Duration string: at least 1ms, whole milliseconds. */
export function checkDuration (c: Checker, path: Path, v: unknown, opts: { allowZero?: boolean } = {}): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') {
    c.error(path, `expected a duration such as "500ms" or "2s", got ${typeName(v)}`, CODES.DURATION)
    return undefined
  }
  const ms = parseDurationMs(v)
  if (opts.allowZero === true && ms === 0) return 0
  const problem = durationProblem(v)
  if (problem !== null) {
    c.error(path, problem, CODES.DURATION)
    return undefined
  }
  return ms
}

// ---- regexes and string matches ----

/** Envoy's RE2 program-size limit, approximated by length as Istio does. */
export const MAX_REGEX_LENGTH = 1024

export function regexProblem (src: string): string | null {
  if (src.length > MAX_REGEX_LENGTH) return `regex is too long (${src.length} characters, max ${MAX_REGEX_LENGTH})`
  // A pattern without `)` cannot close the anchoring group early, so when its
  // anchored form compiles, the pattern does too. That form is the one
  // matching uses; within a load it is compiled once for both.
  if (!src.includes(')')) {
    try {
      compileFullRegex(src)
      return null
    } catch {
      // Worded below from the pattern as written.
    }
  }
  try {
    // eslint-disable-next-line no-new
    new RE2(src)
    return null
  } catch (err) {
    return `invalid RE2 regex ${JSON.stringify(src.length > 60 ? src.slice(0, 60) + '…' : src)}: ${(err as Error).message}`
  }
}

export function checkRegex (c: Checker, path: Path, v: unknown): string | undefined {
  const s = c.str(path, v)
  if (s === undefined) return undefined
  const problem = regexProblem(s)
  if (problem !== null) c.error(path, problem, CODES.REGEX)
  return s
}

export interface StringMatchOptions {
  /** `uri` may have an empty prefix (Envoy allows it there, not elsewhere). */
  allowEmptyPrefix?: boolean
  /** withoutHeaders: `regex: "*"` means "present" and is not compiled. */
  starIsPresent?: boolean
}

/**
 * Istio StringMatch: at most one of exact/prefix/regex; `{}` means "present"
 * (headers/queryParams). Returns the kind set, or null when the value is unusable.
 */
export function checkStringMatch (c: Checker, path: Path, v: unknown, opts: StringMatchOptions = {}): 'exact' | 'prefix' | 'regex' | 'present' | null {
  const m = c.map(path, v)
  if (m === undefined) {
    if (v === null) return 'present'
    return null
  }
  c.fields(path, m, ['exact', 'prefix', 'regex'])
  const set = (['exact', 'prefix', 'regex'] as const).filter(k => get(m, k) !== undefined)
  if (set.length > 1) {
    c.error(path, `only one of exact, prefix, regex may be set, got ${set.join(' and ')}`, CODES.CONFLICT)
    return null
  }
  const kind = set[0]
  if (kind === undefined) return 'present'
  const s = c.str([...path, kind], get(m, kind))
  if (s === undefined) return null
  if (kind === 'prefix' && s === '' && opts.allowEmptyPrefix !== true) {
    c.error([...path, kind], 'prefix string match must not be empty', CODES.INVALID)
  }
  if (kind === 'regex') {
    if (s === '') c.error([...path, kind], 'regex string match must not be empty', CODES.REGEX)
    else if (!(opts.starIsPresent === true && s === '*')) {
      const problem = regexProblem(s)
      if (problem !== null) c.error([...path, kind], problem, CODES.REGEX)
    }
  }
  return kind
}

// ---- headers ----

/** RFC 7230 token characters. */
const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status'])
const CLAIM_KEY = /^@request\.auth\.claims(\.[^.[\]]+|(\[[^[\]]+\])+)$/

export function isHeaderToken (name: string): boolean {
  return HEADER_TOKEN.test(name)
}

export function isClaimKey (name: string): boolean {
  return CLAIM_KEY.test(name)
}

/** A header name in a match: a token, a pseudo header, or an `@request.auth.claims` route key. */
export function matchHeaderNameProblem (name: string): string | null {
  if (name === '') return 'header name must not be empty'
  if (name.startsWith('@request.auth.claims')) {
    return isClaimKey(name) ? null : `invalid claim key ${JSON.stringify(name)} (use @request.auth.claims.NAME or @request.auth.claims[a][b])`
  }
  if (PSEUDO_HEADERS.has(name)) return null
  return isHeaderToken(name) ? null : `${JSON.stringify(name)} is not a valid header name`
}

export function isAuthorityHeader (name: string): boolean {
  const n = name.toLowerCase()
  return n === ':authority' || n === 'host'
}

/**
 * A name in `headers.request|response.set|add|remove`. Pseudo headers and
 * `host` cannot be changed, except `:authority`/`host` in request set/add,
 * which rewrites the Host.
 */
export function headerOpNameProblem (name: string, allowAuthority: boolean): string | null {
  if (name === '') return 'header name must not be empty'
  if (isAuthorityHeader(name)) {
    if (allowAuthority) return null
    return `header ${JSON.stringify(name)} cannot be removed or set here (only request set/add may rewrite the authority)`
  }
  if (name.startsWith(':')) return `header ${JSON.stringify(name)} cannot be changed: pseudo headers are not allowed in header operations`
  // Node refuses to send a header whose name is not a token, so this is an error here too.
  return isHeaderToken(name) ? null : `${JSON.stringify(name)} is not a valid header name`
}

const ENVOY_VAR = /^[A-Z][A-Z0-9_]*/

/**
 * Envoy header values: `%VAR%`, `%VAR(arg)%`, `%VAR(arg):N%` substitutions and
 * `%%` for a literal percent sign; a lone `%` is refused.
 */
export function headerValueProblem (value: string): string | null {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return `header value contains a control character (code ${code})`
    if (code > 0xff) return 'header value contains characters outside Latin-1, which an HTTP header cannot carry'
  }
  let i = 0
  while (i < value.length) {
    if (value[i] !== '%') { i++; continue }
    if (value[i + 1] === '%') { i += 2; continue }
    const rest = value.slice(i + 1)
    const name = ENVOY_VAR.exec(rest)
    if (name === null) return `lone "%" at position ${i}: write "%%" for a literal percent sign or %VARIABLE% for a substitution`
    let j = i + 1 + name[0].length
    if (value[j] === '(') {
      // Arguments may themselves hold `%` (e.g. %START_TIME(%s)%), so find the matching `)`.
      let depth = 0
      for (; j < value.length; j++) {
        if (value[j] === '(') depth++
        else if (value[j] === ')' && --depth === 0) break
      }
      if (j >= value.length) return `unterminated "(" in substitution starting at position ${i}`
      j++
    }
    const len = /^:\d+/.exec(value.slice(j))
    if (len !== null) j += len[0].length
    if (value[j] !== '%') return `lone "%" at position ${i}: write "%%" for a literal percent sign or %VARIABLE% for a substitution`
    i = j + 1
  }
  return null
}

/** `headers: {request: {set, add, remove}, response: {...}}` on a rule or a destination. */
export function checkHeaderOperations (c: Checker, path: Path, v: unknown): void {
  const h = c.map(path, v)
  if (h === undefined) return
  c.fields(path, h, ['request', 'response'])
  for (const side of ['request', 'response'] as const) {
    const sp = [...path, side]
    const ops = c.map(sp, get(h, side))
    if (ops === undefined) continue
    c.fields(sp, ops, ['set', 'add', 'remove'])
    for (const op of ['set', 'add'] as const) {
      const m = c.strMap([...sp, op], get(ops, op))
      if (m === undefined) continue
      for (const [name, val] of Object.entries(m)) {
        const np = headerOpNameProblem(name, side === 'request')
        if (np !== null) c.error([...sp, op, name], np, CODES.HEADER_NAME)
        const vp = headerValueProblem(val)
        if (vp !== null) c.error([...sp, op, name], vp, CODES.HEADER_VALUE)
      }
    }
    const rm = c.strList([...sp, 'remove'], get(ops, 'remove'))
    rm?.forEach((name, i) => {
      const np = headerOpNameProblem(name, false)
      if (np !== null) c.error([...sp, 'remove', i], np, CODES.HEADER_NAME)
    })
  }
}

// ---- selectors and labels ----

const LABEL_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/

/** Kubernetes label keys and values (selectors, subset labels, endpoint labels). */
export function checkLabels (c: Checker, path: Path, v: unknown): Record<string, string> | undefined {
  const m = c.strMap(path, v)
  if (m === undefined) return undefined
  for (const [k, val] of Object.entries(m)) {
    if (k === '' || !LABEL_NAME.test(k) || k.length > 317) c.error([...path, k], `invalid label key ${JSON.stringify(k)}`, CODES.INVALID)
    if (val.length > 63 || !LABEL_VALUE.test(val)) c.error([...path, k], `invalid label value ${JSON.stringify(val)}`, CODES.INVALID)
  }
  return m
}

/** Does a `matchLabels`-style selector pick these workload labels? Empty selects everything. */
export function selectorMatches (selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector)) {
    if (labels[k] !== v) return false
  }
  return true
}

export function formatLabels (labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`)
  return parts.length === 0 ? '(none)' : parts.join(',')
}

/** `exportTo`: `.`, `*`, or namespaces (ServiceEntry also `~`); no duplicates, `*` alone. */
export function checkExportTo (c: Checker, v: unknown, allowNone: boolean): void {
  const list = c.strList(['exportTo'], v)
  if (list === undefined) return
  const seen = new Set<string>()
  list.forEach((e, i) => {
    const key = e === '.' ? c.namespace : e
    if (seen.has(key)) c.error(['exportTo', i], `duplicate exportTo entry ${JSON.stringify(e)}`, CODES.CONFLICT)
    seen.add(key)
    if (e !== '.' && e !== '*' && !(allowNone && e === '~') && !isDnsLabel(e)) {
      c.error(['exportTo', i], `exportTo entry ${JSON.stringify(e)} must be ".", "*"${allowNone ? ', "~"' : ''} or a namespace`, CODES.INVALID)
    }
  })
  if ((seen.has('*') || seen.has('~')) && list.length > 1) c.error(['exportTo'], `exportTo cannot mix ${seen.has('*') ? '"*"' : '"~"'} with other entries`, CODES.CONFLICT)
}
