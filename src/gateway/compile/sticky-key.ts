// The `meshgate.io/sticky-split` annotation on a VirtualService: which request
// value a weighted choice hashes. One parser for validation and compile.
import type { StickyKey } from '../snapshot.js'

export const STICKY_ANNOTATION = 'meshgate.io/sticky-split'

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** The key the annotation names, or a message saying why the value is not one. */
export function parseStickyKey (value: string): StickyKey | string {
  if (value === 'ip') return Object.freeze({ kind: 'ip', name: '' })
  const m = /^(header|cookie):(.*)$/.exec(value)
  if (m === null) return `expected "header:NAME", "cookie:NAME" or "ip", got ${JSON.stringify(value)}`
  const name = m[2]!
  if (!TOKEN.test(name)) return `${JSON.stringify(name)} is not a valid ${m[1]!} name`
  return Object.freeze({ kind: m[1] as 'header' | 'cookie', name: m[1] === 'header' ? name.toLowerCase() : name })
}
