// Istio `headers.request|response` set/add/remove, compiled once. Values keep
// Envoy's `%VAR%` substitutions as parts resolved per request; `%%` is a literal `%`.
import type { HeaderOperations } from '../config-types.js'
import type { HeaderOps, HeaderValue, HeaderVar } from '../snapshot.js'

export function buildHeaderOps (ops: HeaderOperations | undefined | null): HeaderOps | null {
  if (ops === undefined || ops === null || typeof ops !== 'object') return null
  const remove = Array.isArray(ops.remove) ? ops.remove.filter(isString).map(s => s.toLowerCase()) : []
  // Within one level Envoy applies every `set` before every `add`, each sorted by name.
  const set = sortedEntries(ops.set)
  const add = sortedEntries(ops.add)
  if (remove.length === 0 && set.length === 0 && add.length === 0) return null
  return Object.freeze({ remove: Object.freeze(remove), set: Object.freeze(set), add: Object.freeze(add) })
}

function sortedEntries (rec: Record<string, string> | undefined): Array<readonly [string, HeaderValue]> {
  if (rec === undefined || rec === null || typeof rec !== 'object') return []
  return Object.keys(rec).sort().map(k => Object.freeze([k.toLowerCase(), parseHeaderValue(String(rec[k] ?? ''))] as const))
}

function isString (v: unknown): v is string {
  return typeof v === 'string'
}

export function parseHeaderValue (text: string): HeaderValue {
  if (text.indexOf('%') === -1) return Object.freeze({ literal: text, parts: Object.freeze([text]) })
  const parts: Array<string | HeaderVar> = []
  let buf = ''
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c !== '%') { buf += c; continue }
    if (text[i + 1] === '%') { buf += '%'; i++; continue }
    const end = text.indexOf('%', i + 1)
    if (end === -1) { buf += text.slice(i); break } // validation refuses a lone %
    if (buf !== '') { parts.push(buf); buf = '' }
    parts.push(Object.freeze({ variable: text.slice(i + 1, end) }))
    i = end
  }
  if (buf !== '') parts.push(buf)
  const literal = parts.every(p => typeof p === 'string') ? parts.join('') : null
  return Object.freeze({ literal, parts: Object.freeze(parts) })
}
