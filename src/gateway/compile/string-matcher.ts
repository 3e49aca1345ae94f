// Istio StringMatch, compiled once. Regexes are RE2 with full-match semantics,
// as Envoy's safe_regex matches the whole value.
import RE2 from 're2'
import type { StringMatcher } from '../snapshot.js'
import type { StringMatch } from '../config-types.js'

export const PRESENT: StringMatcher = Object.freeze({ kind: 'present', value: '', re: null, head: '', ignoreCase: false })

const META = new Set(['.', '[', ']', '(', ')', '*', '+', '?', '{', '}', '|', '^', '$', '\\'])

/**
 * The literal text every full match of an RE2 pattern starts with, or '' when
 * there is none to rely on (alternation, flags, a leading metacharacter).
 */
export function literalHead (pattern: string): string {
  if (pattern.includes('|') || pattern.startsWith('(?')) return ''
  let head = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (!META.has(c)) { head += c; continue }
    // A quantifier makes the character before it optional or repeated.
    if (c === '*' || c === '?' || c === '{') head = head.slice(0, -1)
    break
  }
  return head
}

// node-re2 turns every string it has not seen last into a new Buffer (its own
// backing store and weak handles: about 0.5 µs, and garbage). Requests bring a
// new string each time, so the value's UTF-8 bytes go into one scratch buffer
// instead, and RE2 reads a view of it whose length is the value's byte length.
const SCRATCH = Buffer.allocUnsafeSlow(8192)
const MAX_CHARS = Math.floor(SCRATCH.length / 3)
const VIEWS: Array<Buffer | undefined> = []

/** `re.test(value)` without node-re2's per-string copy. `re` must have neither `g` nor `y`. */
export function regexTest (re: RE2, value: string): boolean {
  if (value.length > MAX_CHARS) return re.test(value)
  const n = SCRATCH.write(value, 0, 'utf8')
  return re.test(VIEWS[n] ??= SCRATCH.subarray(0, n))
}

// While a config loads, validation and compile meet the same regexes, and a
// large config repeats a few patterns many times: each source is compiled,
// anchored, once for the whole load. Null outside a load.
let shared: Map<string, RE2> | null = null

/** Runs `fn` (synchronous) with one anchored RE2 per regex source for everything it checks or compiles. */
export function sharingRegexes<T> (fn: () => T): T {
  if (shared !== null) return fn()
  shared = new Map()
  try {
    return fn()
  } finally {
    shared = null
  }
}

/** Anchors a pattern so it must match the whole input. Throws for an invalid pattern. */
export function compileFullRegex (source: string): RE2 {
  if (shared === null) return new RE2(`^(?:${source})$`)
  let re = shared.get(source)
  if (re === undefined) {
    re = new RE2(`^(?:${source})$`)
    shared.set(source, re)
  }
  return re
}

/**
 * `{}` (no matcher) means "present". `regex: "*"` is turned into "present" too,
 * a quirk Istio keeps for header matches. Returns null for an unusable matcher;
 * validation reports those before compile runs.
 */
export function buildStringMatcher (m: StringMatch | null | undefined, ignoreCase = false, starIsPresent = false): StringMatcher | null {
  if (m === null || m === undefined || typeof m !== 'object') return PRESENT
  if (typeof m.exact === 'string') return freeze('exact', ignoreCase ? m.exact.toLowerCase() : m.exact, null, ignoreCase)
  if (typeof m.prefix === 'string') return freeze('prefix', ignoreCase ? m.prefix.toLowerCase() : m.prefix, null, ignoreCase)
  if (typeof m.regex === 'string') {
    if (starIsPresent && m.regex === '*') return PRESENT
    try {
      return freeze('regex', m.regex, compileFullRegex(m.regex), false, literalHead(m.regex))
    } catch {
      return null
    }
  }
  return PRESENT
}

function freeze (kind: StringMatcher['kind'], value: string, re: RE2 | null, ignoreCase: boolean, head = ''): StringMatcher {
  return Object.freeze({ kind, value, re, head, ignoreCase })
}

/** `value` undefined = absent. Only `present` and the value matchers on a present value can be true. */
export function matchString (m: StringMatcher, value: string | undefined): boolean {
  if (value === undefined) return false
  switch (m.kind) {
    case 'exact': return (m.ignoreCase ? value.toLowerCase() : value) === m.value
    case 'prefix': return (m.ignoreCase ? value.toLowerCase() : value).startsWith(m.value)
    case 'regex': return value.startsWith(m.head) && regexTest(m.re!, value)
    default: return true
  }
}

export function describeMatcher (m: StringMatcher): string {
  return m.kind === 'present' ? 'present' : `${m.kind} ${JSON.stringify(m.value)}`
}
