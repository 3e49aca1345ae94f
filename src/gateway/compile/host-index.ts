// Virtual-host and SNI lookup: exact names in a map, `*.suffix` names longest
// first, then `*`. Never a scan of every VirtualService.
import type { RouteTable, VirtualHost, Listener, TlsServer } from '../snapshot.js'

export function buildRouteTable (name: string, vhosts: readonly VirtualHost[]): RouteTable {
  const exact = new Map<string, VirtualHost>()
  const suffixes: Array<{ suffix: string, vhost: VirtualHost }> = []
  let star: VirtualHost | null = null
  for (const vh of vhosts) {
    for (const d of vh.domains) {
      if (d === '*') star ??= vh
      else if (d.startsWith('*.')) suffixes.push({ suffix: d.slice(1), vhost: vh })
      else if (!exact.has(d)) exact.set(d, vh)
    }
  }
  suffixes.sort((a, b) => b.suffix.length - a.suffix.length || (a.suffix < b.suffix ? -1 : 1))
  return Object.freeze({ name, exact, suffixes: Object.freeze(suffixes), star })
}

/** `host` is lowercase without port. */
export function findVirtualHost (table: RouteTable, host: string): VirtualHost | null {
  const vh = table.exact.get(host)
  if (vh !== undefined) return vh
  const sx = table.suffixes
  for (let i = 0; i < sx.length; i++) {
    const s = sx[i]!
    if (host.length > s.suffix.length && host.endsWith(s.suffix)) return s.vhost
  }
  return table.star
}

/** Envoy's filter-chain choice by SNI: exact, longest `*.suffix`, then `*` (also for clients without SNI). */
export function findTlsServer (listener: Listener, sni: string): TlsServer | null {
  if (sni !== '') {
    const name = sni.toLowerCase()
    const s = listener.sniExact.get(name)
    if (s !== undefined) return s
    for (const x of listener.sniSuffixes) {
      if (name.length > x.suffix.length && name.endsWith(x.suffix)) return x.server
    }
  }
  return listener.sniStar
}
