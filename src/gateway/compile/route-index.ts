// Per virtual host, the routes a request path can possibly match, computed at
// compile time, so that selection tests a handful of matchers instead of
// scanning thousands. Order is preserved: candidate lists hold route positions
// in ascending order and are merged at request time, so the first candidate
// that matches is the route Envoy's linear scan would pick.
//
// Routes are bucketed by their uri matcher, separately for case-sensitive and
// ignoreUriCase routes (the latter keyed by the lowercased path):
//   exact  → keyed by the path
//   prefix → keyed by the prefix; a regex with a literal head (`/api/v[0-9]+`)
//            counts as a prefix route for its head, since it must full-match
//   anything else (no uri, regex without a literal head) → `always`
// Each prefix key's list holds the routes of every key that is a prefix of it,
// so one lookup of the deepest matching key finds them all.
import type { Route } from '../snapshot.js'

interface Buckets {
  /** Exact path → positions of its exact routes and of the prefix routes that match it. */
  readonly exact: ReadonlyMap<string, Int32Array>
  /** Prefix key → positions of routes whose key is a prefix of this key (itself included). */
  readonly prefix: ReadonlyMap<string, Int32Array>
  /** Distinct prefix key lengths, longest first. */
  readonly lengths: Int32Array
}

export interface RouteIndex {
  readonly routes: readonly Route[]
  readonly sensitive: Buckets
  /** ignoreUriCase routes; null when there are none. */
  readonly folded: Buckets | null
  /** Positions of routes every path may match. */
  readonly always: Int32Array
}

/** Below this many routes a plain scan is as fast as any index. */
export const INDEX_THRESHOLD = 16

const EMPTY = new Int32Array(0)

export function buildRouteIndex (routes: readonly Route[]): RouteIndex | null {
  if (routes.length < INDEX_THRESHOLD) return null
  const sensitive = { exact: new Map<string, number[]>(), prefix: new Map<string, number[]>() }
  const folded = { exact: new Map<string, number[]>(), prefix: new Map<string, number[]>() }
  const always: number[] = []
  routes.forEach((r, pos) => {
    const m = r.match
    if (m !== null && m.never) return
    const uri = m?.uri ?? null
    if (uri === null || uri.kind === 'present') { always.push(pos); return }
    const b = uri.ignoreCase ? folded : sensitive
    if (uri.kind === 'exact') { push(b.exact, uri.value, pos); return }
    if (uri.kind === 'prefix') { push(b.prefix, uri.value, pos); return }
    const head = uri.head
    if (head === '') always.push(pos)
    else push(b.prefix, head, pos)
  })
  const hasFolded = folded.exact.size > 0 || folded.prefix.size > 0
  return Object.freeze({
    routes,
    sensitive: finish(sensitive),
    folded: hasFolded ? finish(folded) : null,
    always: Int32Array.from(always)
  })
}

function push (m: Map<string, number[]>, key: string, pos: number): void {
  const list = m.get(key)
  if (list === undefined) m.set(key, [pos])
  else list.push(pos)
}

function finish (b: { exact: Map<string, number[]>, prefix: Map<string, number[]> }): Buckets {
  const lengths = [...new Set([...b.prefix.keys()].map(k => k.length))].sort((x, y) => y - x)
  const prefix = new Map<string, Int32Array>()
  for (const key of b.prefix.keys()) {
    const all: number[] = []
    for (const n of lengths) {
      if (n > key.length) continue
      const own = b.prefix.get(n === key.length ? key : key.slice(0, n))
      if (own !== undefined) all.push(...own)
    }
    prefix.set(key, Int32Array.from(all.sort((x, y) => x - y)))
  }
  // An exact key's list also holds the prefix routes that match it, so a hit needs no prefix walk.
  const exact = new Map<string, Int32Array>()
  for (const [k, v] of b.exact) {
    const all = [...v]
    for (const n of lengths) {
      if (n > k.length) continue
      const own = b.prefix.get(n === k.length ? k : k.slice(0, n))
      if (own !== undefined) all.push(...own)
    }
    exact.set(k, Int32Array.from(all.sort((x, y) => x - y)))
  }
  return { exact, prefix, lengths: Int32Array.from(lengths) }
}

function deepestPrefix (b: Buckets, path: string): Int32Array {
  const lengths = b.lengths
  for (let i = 0; i < lengths.length; i++) {
    const n = lengths[i]!
    if (n > path.length) continue
    const hit = b.prefix.get(n === path.length ? path : path.slice(0, n))
    if (hit !== undefined) return hit
  }
  return EMPTY
}

/**
 * Candidate lists for `path`: the exact key's list (or else the deepest
 * prefix's) per case mode, and the always-list. Written into `out` (reused per
 * call) as up to three position arrays.
 */
export function candidateLists (index: RouteIndex, path: string, out: Int32Array[]): number {
  let n = 0
  const s = index.sensitive
  const e = s.exact.get(path) ?? deepestPrefix(s, path)
  if (e.length > 0) out[n++] = e
  if (index.always.length > 0) out[n++] = index.always
  const f = index.folded
  if (f !== null) {
    const lower = path.toLowerCase()
    const fe = f.exact.get(lower) ?? deepestPrefix(f, lower)
    if (fe.length > 0) out[n++] = fe
  }
  return n
}
