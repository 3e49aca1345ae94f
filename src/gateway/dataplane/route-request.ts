// Route selection shared by the data plane and `explain`: listener → SNI chain
// → virtual host → first matching route → weighted destination.
import type { CompiledRule, Listener, Route, RouteDestination, RouteTable, Snapshot, StickyKey, TlsServer, VirtualHost } from '../snapshot.js'
import { findTlsServer, findVirtualHost } from '../compile/host-index.js'
import { matchRequest } from '../compile/route-matcher.js'
import { candidateLists, type RouteIndex } from '../compile/route-index.js'
import { hashString } from '../../mesh-bridge/hash.js'
import type { RequestFacts } from './request-facts.js'

export interface RouteSelection {
  listener: Listener | null
  tlsServer: TlsServer | null
  table: RouteTable | null
  vhost: VirtualHost | null
  route: Route | null
}

export function selectRoute (snapshot: Snapshot, f: RequestFacts, out: RouteSelection): RouteSelection {
  out.listener = null
  out.tlsServer = null
  out.table = null
  out.vhost = null
  out.route = null
  const listener = snapshot.listeners.get(f.port)
  if (listener === undefined) return out
  out.listener = listener
  let table = listener.plain
  if (listener.tls) {
    const chain = findTlsServer(listener, f.sni)
    if (chain === null) return out
    out.tlsServer = chain
    table = chain.routes
  }
  if (table === null) return out
  out.table = table
  const vhost = findVirtualHost(table, f.host)
  if (vhost === null) return out
  out.vhost = vhost
  const index = vhost.index
  out.route = index === null ? firstMatch(vhost.routes, f) : firstIndexedMatch(index, f)
  return out
}

function firstMatch (routes: readonly Route[], f: RequestFacts): Route | null {
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i]!
    if (r.match === null || matchRequest(r.match, f)) return r
  }
  return null
}

// Scratch space for the candidate merge; selection is synchronous, so one set serves every request.
const lists: Int32Array[] = []
const cursors = new Int32Array(8)

/** Tests the candidate routes in route order: a k-way merge of the position lists (disjoint, each ascending). */
function firstIndexedMatch (index: RouteIndex, f: RequestFacts): Route | null {
  const n = candidateLists(index, f.path, lists)
  const routes = index.routes
  for (let i = 0; i < n; i++) cursors[i] = 0
  for (;;) {
    let best = -1
    let bestPos = 0x7fffffff
    for (let i = 0; i < n; i++) {
      const l = lists[i]!
      const c = cursors[i]!
      if (c < l.length && l[c]! < bestPos) { bestPos = l[c]!; best = i }
    }
    if (best === -1) return null
    cursors[best]!++
    const r = routes[bestPos]!
    if (r.match === null || matchRequest(r.match, f)) return r
  }
}

export function newSelection (): RouteSelection {
  return { listener: null, tlsServer: null, table: null, vhost: null, route: null }
}

/**
 * Picks one of a rule's weighted destinations: at random (Istio), or, given the
 * value of its `meshgate.io/sticky-split` key, by a stable hash of it so a user
 * stays on one side. The hash is a point in [0, 1) laid over the weights in
 * route order, so raising one side's weight only moves users onto it: with
 * v1 90 / v2 10 → 80 / 20, everyone on v2 stays there.
 */
export function pickDestination (rule: CompiledRule, stickyKey: string | undefined): RouteDestination | null {
  const ds = rule.destinations
  if (ds.length === 0) return null
  if (ds.length === 1) return ds[0]!
  const point = (stickyKey === undefined ? Math.random() : stickyPoint(stickyKey)) * rule.totalWeight
  return destinationAt(ds, point)
}

/** Where a sticky key falls in [0, 1): the same in every process, worker and replica. */
export function stickyPoint (key: string): number {
  return hashString(key) / 0x1_0000_0000
}

function destinationAt (ds: readonly RouteDestination[], point: number): RouteDestination {
  let p = point
  for (let i = 0; i < ds.length; i++) {
    const d = ds[i]!
    if (p < d.weight) return d
    p -= d.weight
  }
  return ds[ds.length - 1]!
}

/** The sticky key's value for this request, or undefined when the request lacks it. */
export function stickyValue (k: StickyKey, f: RequestFacts): string | undefined {
  let v: string | undefined
  if (k.kind === 'ip') v = f.clientIp
  else if (k.kind === 'header') v = f.header(k.name)
  else v = cookieValue(f.header('cookie'), k.name)
  return v === '' ? undefined : v
}

export function cookieValue (cookie: string | undefined, name: string): string | undefined {
  if (cookie === undefined) return undefined
  let i = 0
  while (i < cookie.length) {
    let end = cookie.indexOf(';', i)
    if (end === -1) end = cookie.length
    const eq = cookie.indexOf('=', i)
    if (eq !== -1 && eq < end && cookie.slice(i, eq).trim() === name) return cookie.slice(eq + 1, end).trim()
    i = end + 1
  }
  return undefined
}
