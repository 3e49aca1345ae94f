// Istio's name resolution: short hosts and gateway references are read in the
// namespace of the resource that names them.

export const CLUSTER_DOMAIN = 'svc.cluster.local'

/**
 * `reviews` in namespace `ns` → `reviews.ns.svc.cluster.local`; names with a dot,
 * wildcards and IP literals are kept (lowercased).
 */
export function resolveHost (host: string, namespace: string): string {
  const h = host.toLowerCase()
  if (h === '*' || h.includes('.') || h.includes(':')) return h
  return `${h}.${namespace}.${CLUSTER_DOMAIN}`
}

/**
 * A VirtualService's `gateways` entry as `namespace/name`: `name` → `<vs-ns>/name`,
 * `ns/name`, `./name`, legacy `name.ns.svc.cluster.local` → `ns/name`. `mesh` stays `mesh`.
 */
export function resolveGatewayName (ref: string, namespace: string): string {
  if (ref === 'mesh') return 'mesh'
  const slash = ref.indexOf('/')
  if (slash !== -1) {
    const ns = ref.slice(0, slash)
    return `${ns === '.' ? namespace : ns}/${ref.slice(slash + 1)}`
  }
  const dot = ref.indexOf('.')
  if (dot !== -1) {
    const parts = ref.split('.')
    if (parts.length >= 2) return `${parts[1]}/${parts[0]}`
  }
  return `${namespace}/${ref}`
}

/** A Gateway `hosts` entry `[ns/]dnsName` split into namespace filter and dns name. */
export function splitServerHost (entry: string, gatewayNamespace: string): { namespace: string, host: string } {
  const slash = entry.indexOf('/')
  if (slash === -1) return { namespace: '*', host: entry.toLowerCase() }
  const ns = entry.slice(0, slash)
  return { namespace: ns === '.' ? gatewayNamespace : ns, host: entry.slice(slash + 1).toLowerCase() }
}

/** Does host pattern `a` cover host `b` (wildcards as whole leftmost labels; `*` covers all)? */
export function hostCovers (a: string, b: string): boolean {
  if (a === b || a === '*') return true
  if (a.startsWith('*.')) {
    const suffix = a.slice(1) // ".example.com"
    if (b.startsWith('*.')) return b.slice(1).endsWith(suffix)
    return b.endsWith(suffix) && b.length > suffix.length
  }
  return false
}

/**
 * Istio's binding of a server host and a VirtualService host: when one covers the
 * other the more specific one becomes the vhost domain; null when they do not meet.
 */
export function intersectHosts (serverHost: string, vsHost: string): string | null {
  if (hostCovers(serverHost, vsHost)) return vsHost
  if (hostCovers(vsHost, serverHost)) return serverHost
  return null
}

/** Envoy cluster name. */
export function clusterKey (host: string, port: number, subset: string): string {
  return `outbound|${port}|${subset}|${host}`
}
