// Istio StringMatch, compiled once. Regexes are RE2 with full-match semantics,
// as Envoy's safe_regex matches the whole value.
import RE2 from 're2'
import type { StringMatcher } from '../snapshot.js'
import type { StringMatch } from '../config-types.js'

export const PRESENT: StringMatcher = Object.freeze({ kind: 'present', value: '', re: null, ignoreCase: false })

/** Anchors a pattern so it must match the whole input. */
export function compileFullRegex (source: string, ignoreCase = false): RE2 {
  return new RE2(`^(?:${source})$`, ignoreCase ? 'i' : '')
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
      return freeze('regex', m.regex, compileFullRegex(m.regex), false)
    } catch {
      return null
    }
  }
  return PRESENT
}

function freeze (kind: StringMatcher['kind'], value: string, re: RE2 | null, ignoreCase: boolean): StringMatcher {
  return Object.freeze({ kind, value, re, ignoreCase })
}

/** `value` undefined = absent. Only `present` and the value matchers on a present value can be true. */
export function matchString (m: StringMatcher, value: string | undefined): boolean {
  if (value === undefined) return false
  switch (m.kind) {
    case 'exact': return (m.ignoreCase ? value.toLowerCase() : value) === m.value
    case 'prefix': return (m.ignoreCase ? value.toLowerCase() : value).startsWith(m.value)
    case 'regex': return m.re!.test(value)
    default: return true
  }
}

export function describeMatcher (m: StringMatcher): string {
  return m.kind === 'present' ? 'present' : `${m.kind} ${JSON.stringify(m.value)}`
}
