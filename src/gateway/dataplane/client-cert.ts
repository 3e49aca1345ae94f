// `x-forwarded-client-cert` as an Istio gateway sets it (SANITIZE_SET): the
// client's copy is always dropped; on mTLS connections the verified peer
// certificate is described instead. Computed once per connection.
import { createHash, X509Certificate } from 'node:crypto'
import type { TLSSocket, PeerCertificate } from 'node:tls'

const cache = new WeakMap<object, string>()

function sans (text: string | undefined, prefix: string): string[] {
  if (text === undefined || text === '') return []
  return text.split(/,\s*/).filter(s => s.startsWith(prefix)).map(s => s.slice(prefix.length))
}

/** '' when the connection carries no verified client certificate. */
export function forwardedClientCert (socket: unknown): string {
  const s = socket as TLSSocket | null
  if (s === null || typeof s !== 'object' || typeof s.getPeerCertificate !== 'function' || s.authorized !== true) return ''
  const cached = cache.get(s)
  if (cached !== undefined) return cached
  let out = ''
  const peer = s.getPeerCertificate() as PeerCertificate | null
  if (peer !== null && peer.raw !== undefined) {
    const parts: string[] = []
    const local = s.getCertificate() as PeerCertificate | null
    const by = sans(local?.subjectaltname, 'URI:')[0]
    if (by !== undefined) parts.push(`By=${by}`)
    parts.push(`Hash=${createHash('sha256').update(peer.raw).digest('hex')}`)
    const x509 = new X509Certificate(peer.raw)
    parts.push(`Cert="${encodeURIComponent(x509.toString())}"`)
    // RFC 2253 order: most specific first, comma separated.
    parts.push(`Subject="${x509.subject.split('\n').reverse().join(',')}"`)
    for (const uri of sans(peer.subjectaltname, 'URI:')) parts.push(`URI=${uri}`)
    for (const dns of sans(peer.subjectaltname, 'DNS:')) parts.push(`DNS=${dns}`)
    out = parts.join(';')
  }
  cache.set(s, out)
  return out
}

const principals = new WeakMap<object, string>()

/**
 * The source principal of a verified client certificate, for AuthorizationPolicy
 * `principals`: its SPIFFE URI SAN (`spiffe://cluster.local/ns/x/sa/y`), else its
 * first URI SAN, else its subject (RFC 2253); '' without a verified certificate.
 */
export function peerPrincipal (socket: unknown): string {
  const s = socket as TLSSocket | null
  if (s === null || typeof s !== 'object' || typeof s.getPeerCertificate !== 'function' || s.authorized !== true) return ''
  const cached = principals.get(s)
  if (cached !== undefined) return cached
  let out = ''
  const peer = s.getPeerCertificate() as PeerCertificate | null
  if (peer !== null && peer.raw !== undefined) {
    const uris = sans(peer.subjectaltname, 'URI:')
    out = uris.find(u => u.startsWith('spiffe://')) ?? uris[0] ?? new X509Certificate(peer.raw).subject.split('\n').reverse().join(',')
  }
  principals.set(s, out)
  return out
}
