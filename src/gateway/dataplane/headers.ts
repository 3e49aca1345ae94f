// Header work on the request path: hop-by-hop filtering, Envoy's edge headers,
// and applying the compiled header operations.
import type { IncomingHttpHeaders } from 'node:http'
import type { HeaderOps, HeaderValue } from '../snapshot.js'
import type { RequestFacts } from './request-facts.js'

/** Never forwarded in either direction (RFC 9110 §7.6.1, plus HTTP/2 connection-specific headers). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'http2-settings', 'host'])

/**
 * Headers a client may not set at the edge: Envoy strips `x-envoy-*` from
 * external requests, replaces `x-request-id`, and sanitises XFCC.
 */
/**
 * Headers only Envoy or meshgate itself set: a client's copies are dropped
 * before any filter sees the request (Envoy sanitises in its connection
 * manager, before jwt_authn, RBAC and the router), so neither routes nor
 * policies can be steered by them.
 */
export function isEdgeInternal (name: string): boolean {
  return name.charCodeAt(0) === 120 /* x */ && name.charCodeAt(1) === 45 /* - */ && (name.startsWith('x-envoy-') || name.startsWith('x-meshgate-'))
}

/** Drops client-sent edge-internal headers from a header object (the HTTP/2 path; HTTP/1.1 never adds them). */
export function dropEdgeInternal (headers: Record<string, unknown>): void {
  for (const name in headers) if (isEdgeInternal(name)) headers[name] = undefined
}

function isInternal (name: string): boolean {
  return name.startsWith('x-envoy-') || name.startsWith('x-meshgate-') || name === 'x-request-id' || name === 'x-forwarded-client-cert' || name === 'x-forwarded-proto'
}

/** Values resolved per request for Envoy `%VAR%` substitutions. */
export function renderHeaderValue (v: HeaderValue, f: RequestFacts): string {
  if (v.literal !== null) return v.literal
  let out = ''
  for (const p of v.parts) {
    if (typeof p === 'string') { out += p; continue }
    out += variableValue(p.variable, f)
  }
  return out
}

function variableValue (name: string, f: RequestFacts): string {
  switch (name) {
    // The remote address is the client after trusted-proxy processing; the
    // direct one is the TCP peer, as in Envoy.
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT': return f.clientIp
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT': return f.peerIp
    case 'DOWNSTREAM_REMOTE_ADDRESS': return withPort(f.clientIp)
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS': return withPort(f.peerIp)
    case 'DOWNSTREAM_LOCAL_PORT': return String(f.port)
    case 'PROTOCOL': return 'HTTP/1.1'
    case 'REQUESTED_SERVER_NAME': return f.sni
    case 'HOSTNAME': return process.env.HOSTNAME ?? ''
    case 'START_TIME': return new Date().toISOString()
    default: {
      const m = /^REQ\(([^)]+)\)$/.exec(name)
      if (m !== null) return f.header(m[1]!.toLowerCase()) ?? ''
      return ''
    }
  }
}

function withPort (ip: string): string {
  return ip.includes(':') ? `[${ip}]:0` : `${ip}:0`
}

/** Builds the upstream request headers as a flat [name, value, ...] list, ending with `x-envoy-attempt-count`. */
export function buildUpstreamHeaders (f: RequestFacts, headers: IncomingHttpHeaders, authority: string, requestId: string, timeoutMs: number, out: string[], drop: ReadonlySet<string> | null): void {
  let xff = ''
  const connectionTokens = headers.connection
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || name.charCodeAt(0) === 58 /* : */ || isInternal(name)) continue
    if (drop !== null && drop.has(name)) continue
    if (typeof connectionTokens === 'string' && connectionTokens !== 'keep-alive' && connectionTokens !== 'close' && listed(connectionTokens, name)) continue
    const v = headers[name]
    if (v === undefined) continue
    if (name === 'x-forwarded-for') { xff = typeof v === 'string' ? v : v.join(', '); continue }
    if (typeof v === 'string') out.push(name, v)
    else for (const one of v) out.push(name, one)
  }
  if (typeof headers.te === 'string' && headers.te.includes('trailers')) out.push('te', 'trailers')
  out.push('host', authority)
  out.push('x-forwarded-for', xff === '' ? f.peerIp : `${xff}, ${f.peerIp}`)
  out.push('x-forwarded-proto', f.scheme)
  out.push('x-request-id', requestId)
  out.push('x-envoy-external-address', f.clientIp)
  if (f.clientCert !== '') out.push('x-forwarded-client-cert', f.clientCert)
  if (timeoutMs > 0) out.push('x-envoy-expected-rq-timeout-ms', String(timeoutMs))
  out.push('x-envoy-attempt-count', '1')
}

function listed (connection: string, name: string): boolean {
  for (const t of connection.split(',')) if (t.trim().toLowerCase() === name) return true
  return false
}

/** Applies remove → set → add to a flat header list. `:authority`/`host` are handled as rewrites elsewhere. */
export function applyRequestOps (ops: HeaderOps, list: string[], f: RequestFacts): void {
  for (const name of ops.remove) removeFlat(list, name)
  for (const [name, v] of ops.set) {
    if (name === ':authority' || name === 'host') continue
    removeFlat(list, name)
    list.push(name, renderHeaderValue(v, f))
  }
  for (const [name, v] of ops.add) {
    if (name === ':authority' || name === 'host') continue
    list.push(name, renderHeaderValue(v, f))
  }
}

function removeFlat (list: string[], name: string): void {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] === name) { list.splice(i, 2); i -= 2 }
  }
}

export type ResponseHeaders = Record<string, string | string[] | number>

export function applyResponseOps (ops: HeaderOps, h: ResponseHeaders, f: RequestFacts): void {
  for (const name of ops.remove) delete h[name]
  for (const [name, v] of ops.set) h[name] = renderHeaderValue(v, f)
  for (const [name, v] of ops.add) {
    const prev = h[name]
    const val = renderHeaderValue(v, f)
    if (prev === undefined) h[name] = val
    else if (Array.isArray(prev)) prev.push(val)
    else h[name] = [String(prev), val]
  }
}

/** Response headers from upstream minus hop-by-hop ones. */
export function filterResponseHeaders (src: Record<string, string | string[] | undefined>): ResponseHeaders {
  const out: ResponseHeaders = {}
  for (const name in src) {
    if (name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding' || name === 'proxy-connection' || name === 'upgrade' || name === 'trailer' || name === 'te') continue
    const v = src[name]
    if (v !== undefined) out[name] = v
  }
  return out
}
