// HTTP/1.1 Upgrade (WebSocket) pass-through: the request is routed like any
// other, then the two connections are spliced once the upstream has the head.
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { IncomingMessage } from 'node:http'

/** What an upgrade needs of its request (node:http's or the plain listener's own). */
export type UpgradeRequest = Pick<IncomingMessage, 'headers' | 'method' | 'url' | 'socket'>
import type { Duplex } from 'node:stream'
import type { DataPlane } from './data-plane.js'
import { RequestFacts } from './request-facts.js'
import { newSelection, pickDestination, selectRoute, stickyValue } from './route-request.js'
import { buildUpstreamHeaders, applyRequestOps } from './headers.js'
import { requestId } from './request-id.js'
import type { Snapshot } from '../snapshot.js'
import { peerPrincipal } from './client-cert.js'
import { authorize, RBAC_DENIED } from '../../plugins/authz.js'
import { checkApiKeys } from '../../plugins/api-keys.js'

function refuse (socket: Duplex, status: number, reason: string, body = ''): void {
  if (!socket.writable) { socket.destroy(); return }
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nserver: istio-envoy\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n${body === '' ? '' : 'content-type: text/plain\r\n'}\r\n${body}`)
}

export function handleUpgrade (plane: DataPlane, req: UpgradeRequest, socket: Duplex, head: Buffer, port: number, scheme: string, sni: string): void {
  socket.on('error', () => socket.destroy())
  const snapshot = plane.current
  const authority = req.headers.host ?? ''
  const peer = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '')
  const facts = new RequestFacts(req.method ?? 'GET', scheme, authority, req.url ?? '/', req.headers, port, peer, sni)
  if (sni !== '' || scheme === 'https') facts.peerPrincipal = peerPrincipal(req.socket)
  plane.edge.apply(facts, snapshot.edgeFacts)
  // The same gates as any request: JWT (may need a key fetch), then AuthorizationPolicy.
  const outcome = snapshot.authn.rules.length > 0 ? plane.jwt.authenticate(facts, snapshot.authn) : null
  if (outcome === null) { upgradeAuthenticated(plane, snapshot, facts, req, socket, head); return }
  if (typeof outcome === 'string') { refuse(socket, 401, 'Unauthorized', outcome); return }
  outcome.then(o => {
    if (o !== null) refuse(socket, 401, 'Unauthorized', o)
    else upgradeAuthenticated(plane, snapshot, facts, req, socket, head)
  }, () => { refuse(socket, 401, 'Unauthorized', 'Jwt verification fails') })
}

function upgradeAuthenticated (plane: DataPlane, snapshot: Snapshot, facts: RequestFacts, req: UpgradeRequest, socket: Duplex, head: Buffer): void {
  if (socket.destroyed) return
  const sel = selectRoute(snapshot, facts, newSelection())
  const noKey = snapshot.apiKeys.policies.length > 0 ? checkApiKeys(snapshot.apiKeys, facts, sel) : null
  if (noKey !== null) { refuse(socket, 401, 'Unauthorized', noKey); return }
  if (!authorize(snapshot.authz, facts).allowed) { refuse(socket, 403, 'Forbidden', RBAC_DENIED); return }
  const authority = facts.authority
  const route = sel.route
  if (route === null || route.rule.action !== 'route') { refuse(socket, 404, 'Not Found'); return }
  const rule = route.rule
  const key = rule.stickyKey === null ? undefined : stickyValue(rule.stickyKey, facts)
  if (key === undefined && rule.stickyKey !== null) plane.metrics?.stickyFallback(route.vsLabel)
  const dest = pickDestination(rule, key)
  const rt = dest === null ? undefined : plane.upstreams.get(dest.clusterKey)
  if (dest === null || rt === undefined) { refuse(socket, 503, 'Service Unavailable'); return }
  const ep = rt.balancer.pick(null, null)
  if (ep === null) { refuse(socket, 503, 'Service Unavailable', 'no healthy upstream'); return }
  const list: string[] = []
  buildUpstreamHeaders(facts, req.headers, rule.rewrite?.authority ?? authority, requestId(), 0, list, snapshot.edgeFacts.forwardHeaders ? null : snapshot.edgeFacts.headerNames)
  if (rule.requestHeaders !== null) applyRequestOps(rule.requestHeaders, list, facts)
  if (dest.requestHeaders !== null) applyRequestOps(dest.requestHeaders, list, facts)
  let headText = `${req.method ?? 'GET'} ${facts.path}${facts.query === '' ? '' : `?${facts.query}`} HTTP/1.1\r\n`
  for (let i = 0; i < list.length; i += 2) headText += `${list[i]}: ${list[i + 1]}\r\n`
  headText += `connection: Upgrade\r\nupgrade: ${String(req.headers.upgrade ?? '')}\r\n\r\n`
  const tls = rt.cluster.tls
  const e = ep.endpoint
  const upstream: Socket = tls === null
    ? netConnect({ host: e.address, port: e.port })
    : tlsConnect({ host: e.address, port: e.port, servername: tls.sni, ca: tls.ca ?? undefined, cert: tls.cert ?? undefined, key: tls.key ?? undefined, rejectUnauthorized: !tls.insecureSkipVerify })
  const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), rt.cluster.pool.connectTimeoutMs)
  ep.active++
  upstream.once(tls === null ? 'connect' : 'secureConnect', () => {
    clearTimeout(connectTimer)
    upstream.write(headText)
    if (head.length > 0) upstream.write(head)
    upstream.pipe(socket)
    socket.pipe(upstream)
  })
  let closed = false
  const done = (): void => {
    if (closed) return
    closed = true
    clearTimeout(connectTimer)
    ep.active--
    upstream.destroy()
    socket.destroy()
  }
  upstream.once('error', () => {
    if (upstream.bytesRead === 0 && socket.writable) refuse(socket, 503, 'Service Unavailable', 'upstream connect error or disconnect/reset before headers. reset reason: connection failure')
    done()
  })
  upstream.once('close', done)
  socket.once('close', done)
}
