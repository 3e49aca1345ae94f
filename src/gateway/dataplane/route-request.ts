// Route selection shared by the data plane and `explain`: listener → SNI chain
// → virtual host → first matching route → weighted destination.
import type { CompiledRule, Listener, Route, RouteDestination, RouteTable, Snapshot, TlsServer, VirtualHost } from '../snapshot.js'
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
 * Picks one of a rule's weighted destinations: at random (Istio), or by a stable
 * hash of the `meshgate.io/sticky-split` key so a user stays on one side.
 */
export function pickDestination (rule: CompiledRule, f: RequestFacts): RouteDestination | null {
  const ds = rule.destinations
  if (ds.length === 0) return null
  if (ds.length === 1) return ds[0]!
  let point: number
  const key = rule.stickyKey === null ? undefined : stickyValue(rule, f)
  if (key !== undefined && key !== '') {
    point = (hashString(key) % 1_000_003) / 1_000_003 * rule.totalWeight
  } else {
    point = Math.random() * rule.totalWeight
  }
  for (let i = 0; i < ds.length; i++) {
    const d = ds[i]!
    if (point < d.weight) return d
    point -= d.weight
  }
  return ds[ds.length - 1]!
}

function stickyValue (rule: CompiledRule, f: RequestFacts): string | undefined {
  const k = rule.stickyKey!
  if (k.kind === 'ip') return f.clientIp
  if (k.kind === 'header') return f.header(k.name)
  return cookieValue(f.header('cookie'), k.name)
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
