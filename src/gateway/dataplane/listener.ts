// One Fastify instance per Gateway port. Routing lives in the snapshot, so each
// instance has a single catch-all route: Fastify refuses new routes once it is
// listening, and a reload must never need one.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls'
import type { Socket } from 'node:net'
import { createServer as createH2cServer, constants as http2Constants, type Http2Session, type Http2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2'
import type { Listener, TlsServer } from '../snapshot.js'
import { findTlsServer } from '../compile/host-index.js'
import type { DataPlane } from './data-plane.js'
import { handleUpgrade } from './upgrade.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { H1Server, useH1Server } from './h1-server.js'

export interface ListenerLimits {
  /** Request line and headers together (Envoy's max_request_headers_kb: 60). Over it: 431. */
  readonly maxHeaderBytes: number
  /** Request headers by count (Envoy's max_headers_count: 100). Over it: 431. */
  readonly maxHeadersCount: number
  /** Request target length. Over it: 414 (as nginx; Envoy only caps it with the headers). */
  readonly maxUrlBytes: number
  /** Request body, 0 = no limit. Over it: 413 (or a reset once the upstream answer has started). */
  readonly maxBodyBytes: number
  /** Time for a client to send the whole request head; a slow client is closed (408 for HTTP/1.1). */
  readonly headersTimeoutMs: number
  /** Time for the whole request including the body, 0 = none. */
  readonly requestTimeoutMs: number
  /**
   * Longest pause in a request body the client is sending (Envoy's stream idle
   * timeout, 5 minutes, for the upload direction), 0 = none. Over it: 408, or
   * the connection closed once the answer has started.
   */
  readonly bodyIdleTimeoutMs: number
  readonly keepAliveTimeoutMs: number
}

export const DEFAULT_LIMITS: ListenerLimits = Object.freeze({
  maxHeaderBytes: 60 * 1024,
  maxHeadersCount: 100,
  maxUrlBytes: 16 * 1024,
  maxBodyBytes: 100 * 1024 * 1024,
  headersTimeoutMs: 60_000,
  requestTimeoutMs: 0,
  bodyIdleTimeoutMs: 300_000,
  keepAliveTimeoutMs: 72_000
})

const contexts = new WeakMap<TlsServer, SecureContext>()

/** The client connection preface of HTTP/2 (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')

function contextOf (server: TlsServer): SecureContext {
  let ctx = contexts.get(server)
  if (ctx === undefined) {
    const m = server.material
    ctx = createSecureContext({ cert: m.cert, key: m.key, ca: m.ca ?? undefined, minVersion: m.minVersion, maxVersion: m.maxVersion, ciphers: m.ciphers ?? undefined })
    contexts.set(server, ctx)
  }
  return ctx
}

export class GatewayListener {
  readonly port: number
  /** Where the socket binds (the Gateway port, or its Kubernetes Service's targetPort). */
  readonly listenPort: number
  readonly tls: boolean
  readonly app: FastifyInstance
  readonly #sockets = new Set<Socket>()
  readonly #sessions = new Set<Http2Session>()
  #h2c: Http2Server | null = null
  /** HTTP/1.1 (on TLS listeners: connections that did not pick h2), unless node:http serves it (MESHGATE_DOWNSTREAM_HTTP1=node). */
  #h1: H1Server | null = null
  /** Accepted sockets that have not sent a byte yet: idle, so draining closes them at once. */
  readonly #sniffing = new Set<Socket>()
  readonly #firstByteTimeoutMs: number
  readonly #maxHeaderBytes: number
  readonly #maxHeadersCount: number

  constructor (listener: Listener, plane: DataPlane, limits: ListenerLimits) {
    this.port = listener.port
    this.listenPort = listener.listenPort
    this.tls = listener.tls
    this.#firstByteTimeoutMs = limits.headersTimeoutMs
    this.#maxHeaderBytes = limits.maxHeaderBytes
    this.#maxHeadersCount = limits.maxHeadersCount
    const base = {
      logger: false,
      requestIdHeader: false as const,
      return503OnClosing: false,
      forceCloseConnections: false,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      routerOptions: { maxParamLength: 8192 },
      bodyLimit: Number.MAX_SAFE_INTEGER,
      http2SessionTimeout: limits.keepAliveTimeoutMs
    }
    if (listener.tls) {
      const first = listener.sniStar ?? listener.tlsServers[0]!
      const m = first.material
      this.app = Fastify({
        ...base,
        http2: true,
        https: {
          allowHTTP1: true,
          cert: m.cert,
          key: m.key,
          ca: m.ca ?? undefined,
          minVersion: 'TLSv1.2',
          ALPNProtocols: ['h2', 'http/1.1'],
          requestCert: listener.requestCert,
          rejectUnauthorized: listener.rejectUnauthorized,
          // HTTP/2 header lists may be as large as Envoy allows. The HTTP/1.1 fallback of
          // Node's http2 server keeps Node's 16 KiB limit (only --max-http-header-size raises it).
          settings: { maxHeaderListSize: limits.maxHeaderBytes },
          maxHeaderListPairs: limits.maxHeadersCount + 1,
          // A client that stalls in the handshake is closed like one that stalls in its head.
          handshakeTimeout: limits.headersTimeoutMs,
          SNICallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => {
            const l = plane.current.listeners.get(this.port)
            const chain = l === undefined ? null : findTlsServer(l, servername)
            if (chain === null) { cb(new Error(`no TLS server for ${servername}`)); return }
            cb(null, contextOf(chain))
          }
        }
      }) as unknown as FastifyInstance
    } else {
      // Envoy accepts 60 KiB of request headers by default; Node's own default is 16 KiB.
      // Node enforces headersTimeout/requestTimeout on a timer (30 s by default): check
      // often enough that a slow client is cut off near its deadline.
      const connectionsCheckingInterval = Math.max(100, Math.min(5_000, Math.floor(limits.headersTimeoutMs / 4)))
      this.app = Fastify({ ...base, http: { maxHeaderSize: limits.maxHeaderBytes, connectionsCheckingInterval } }) as unknown as FastifyInstance
    }
    this.app.removeAllContentTypeParsers()
    // Bodies stay unread in the raw request: the data plane streams or buffers them itself.
    this.app.addContentTypeParser('*', skipBody)
    const port = this.port
    const scheme = listener.tls ? 'https' : 'http'
    const keepAliveMs = limits.keepAliveTimeoutMs
    this.app.all('*', (request: FastifyRequest, reply: FastifyReply) => {
      reply.hijack()
      const sock = request.raw.socket as TLSSocket
      if (scheme === 'https' && request.raw.httpVersion !== '2.0') holdTlsHttp1(sock, reply.raw as ServerResponse, keepAliveMs)
      plane.handle(request.raw, reply.raw, port, scheme, scheme === 'https' ? (typeof sock.servername === 'string' ? sock.servername : '') : '')
    })
    this.app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const sock = req.socket as TLSSocket
      clearHeadDeadline(sock)
      handleUpgrade(plane, req, socket, head, port, scheme, scheme === 'https' && typeof sock.servername === 'string' ? sock.servername : '')
    })
    this.app.server.on('connection', (s: Socket) => {
      this.#sockets.add(s)
      s.once('close', () => this.#sockets.delete(s))
    })
    this.app.server.on('session', (s: Http2Session) => {
      this.#sessions.add(s)
      s.once('close', () => this.#sessions.delete(s))
    })
    if (listener.tls) {
      const srv = this.app.server
      // Node's HTTP/2 server hands every TLS connection to its own listener, which
      // serves HTTP/1.1 through node:http when ALPN did not pick h2. With meshgate's
      // HTTP/1.1 server, connections that did not pick h2 go there instead.
      const http2Listeners = useH1Server() ? srv.listeners('secureConnection') as Array<(s: TLSSocket) => void> : null
      if (http2Listeners !== null) {
        srv.removeAllListeners('secureConnection')
        this.#h1 = this.#h1Server(plane, limits, 'https')
      }
      srv.on('secureConnection', (s: TLSSocket) => {
        this.#sockets.add(s)
        s.once('close', () => this.#sockets.delete(s))
        const l = plane.current.listeners.get(port)
        const chain = l === undefined ? null : findTlsServer(l, typeof s.servername === 'string' ? s.servername : '')
        if (chain !== null && !isClientAccepted(chain, s)) { s.destroy(); return }
        if (http2Listeners === null) {
          // HTTP/1.1 inside Node's HTTP/2 server gets no headersTimeout of its own:
          // the head must arrive within it, as on plain listeners (see holdTlsHttp1).
          if (s.alpnProtocol !== 'h2') armHeadDeadline(s, limits.headersTimeoutMs)
        } else if (s.alpnProtocol === 'h2') {
          for (const fn of http2Listeners) fn.call(srv, s)
        } else {
          this.#h1!.accept(s, true)
        }
      })
    }
    const server = this.app.server as unknown as { maxHeaderSize?: number, headersTimeout?: number, maxHeadersCount?: number }
    server.headersTimeout = limits.headersTimeoutMs
    // One over the limit, so the data plane can tell an overflow (431) from a request at the limit.
    server.maxHeadersCount = limits.maxHeadersCount + 1
    if (!listener.tls) {
      if (useH1Server()) this.#h1 = this.#h1Server(plane, limits, 'http')
      this.#acceptH2c(plane, port)
    }
  }

  #h1Server (plane: DataPlane, limits: ListenerLimits, scheme: 'http' | 'https'): H1Server {
    const port = this.port
    return new H1Server({
      maxHeaderBytes: limits.maxHeaderBytes,
      headersTimeoutMs: limits.headersTimeoutMs,
      requestTimeoutMs: limits.requestTimeoutMs,
      bodyIdleTimeoutMs: limits.bodyIdleTimeoutMs,
      keepAliveTimeoutMs: limits.keepAliveTimeoutMs,
      onRequest: (req, res) => { plane.handle(req, res, port, scheme, serverNameOf(req.socket)) },
      onUpgrade: (req, socket, head) => { handleUpgrade(plane, req, socket, head, port, scheme, serverNameOf(socket)) }
    })
  }

  /**
   * Istio's HTTP2 ports speak both HTTP/1.1 and h2c. A connection that opens with
   * the HTTP/2 preface goes to an h2c server; any other to Fastify's HTTP/1 server.
   * Installed on every plain listener so that a reload turning HTTP into HTTP2
   * needs no new socket; requests are refused by the data plane when the
   * current snapshot's listener does not allow h2c.
   */
  #acceptH2c (plane: DataPlane, port: number): void {
    const h1 = this.app.server
    const h2 = createH2cServer({ maxSessionMemory: 32, maxHeaderListPairs: this.#maxHeadersCount + 1, settings: { maxHeaderListSize: this.#maxHeaderBytes } })
    h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
      if (plane.current.listeners.get(port)?.h2c !== true) {
        res.stream.close(http2Constants.NGHTTP2_REFUSED_STREAM)
        return
      }
      plane.handle(req, res, port, 'http', '')
    })
    h2.on('session', (s: Http2Session) => {
      this.#sessions.add(s)
      s.once('close', () => this.#sessions.delete(s))
    })
    this.#h2c = h2
    const http1Listeners = h1.listeners('connection') as Array<(s: Socket) => void>
    h1.removeAllListeners('connection')
    h1.on('connection', (socket: Socket) => {
      // Tracked from the first moment, so that draining also closes sockets that never sent a byte.
      this.#sockets.add(socket)
      socket.once('close', () => { this.#sockets.delete(socket); this.#sniffing.delete(socket) })
      socket.setTimeout(this.#firstByteTimeoutMs, destroySilently)
      // Sockets are half-open capable here: one that closes before its first byte must be closed by us.
      socket.once('end', destroySilently)
      this.#sniffing.add(socket)
      socket.once('data', (chunk: Buffer) => {
        this.#sniffing.delete(socket)
        socket.removeListener('end', destroySilently)
        socket.setTimeout(0)
        socket.removeListener('timeout', destroySilently)
        socket.pause()
        socket.unshift(chunk)
        const n = Math.min(chunk.length, H2_PREFACE.length)
        if (n >= 3 && chunk.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) {
          // The session takes the unshifted preface from the socket's buffer itself.
          h2.emit('connection', socket)
        } else if (this.#h1 !== null) {
          this.#h1.accept(socket)
          socket.resume()
        } else {
          for (const l of http1Listeners) l.call(h1, socket)
          socket.resume()
        }
      })
    })
  }

  async listen (host: string): Promise<void> {
    await this.app.listen({ port: this.listenPort, host })
  }

  /** Applies a new snapshot's TLS settings without reopening the socket. */
  update (listener: Listener): void {
    if (!listener.tls) return
    const srv = this.app.server as unknown as { requestCert: boolean, rejectUnauthorized: boolean, setSecureContext (o: object): void }
    srv.requestCert = listener.requestCert
    srv.rejectUnauthorized = listener.rejectUnauthorized
    const first = listener.sniStar ?? listener.tlsServers[0]!
    srv.setSecureContext({ cert: first.material.cert, key: first.material.key, ca: first.material.ca ?? undefined, minVersion: 'TLSv1.2', ALPNProtocols: ['h2', 'http/1.1'] })
  }

  /** Stops accepting, lets in-flight requests finish up to `graceMs`, then cuts what remains. */
  async close (graceMs: number): Promise<void> {
    const server = this.app.server as unknown as { closeIdleConnections?: () => void }
    const closing = this.app.close()
    // HTTP/2 sessions get a GOAWAY; idle HTTP/1 keep-alive connections are closed as they become idle.
    for (const s of this.#sessions) s.close()
    for (const s of this.#sniffing) s.destroy()
    server.closeIdleConnections?.()
    this.#h1?.drain()
    const idleSweep = setInterval(() => { server.closeIdleConnections?.(); this.#h1?.drain() }, 50)
    let timer: NodeJS.Timeout | null = null
    const timeout = new Promise<void>(resolve => { timer = setTimeout(resolve, graceMs) })
    await Promise.race([closing, timeout])
    clearInterval(idleSweep)
    if (timer !== null) clearTimeout(timer)
    for (const s of this.#sockets) s.destroy()
    for (const s of this.#sessions) s.destroy()
    this.#h2c?.close()
    this.#h1?.close()
    await closing.catch(() => {})
  }
}

/**
 * Per-chain client-certificate rules, for listeners whose chains differ:
 * MUTUAL needs a verified certificate, OPTIONAL_MUTUAL verifies one if sent, and
 * a server's `subjectAltNames` limits which verified certificates are allowed.
 */
function isClientAccepted (chain: TlsServer, s: TLSSocket): boolean {
  if (chain.mode === 'SIMPLE') return true
  const cert = s.getPeerCertificate()
  const sent = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0
  if (!sent) return chain.mode === 'OPTIONAL_MUTUAL'
  if (!s.authorized) return false
  if (chain.subjectAltNames.length === 0) return true
  const sans = (cert.subjectaltname ?? '').split(/,\s*/).map(x => x.replace(/^(URI|DNS|IP Address|email):/, ''))
  return chain.subjectAltNames.some(w => sans.includes(w))
}

/**
 * HTTP/1.1 over TLS: while a request is being served the connection has no
 * deadline; once its answer is sent, the next request must start within
 * keepAliveMs, or the connection is closed (the keep-alive idle time).
 */
function holdTlsHttp1 (sock: TLSSocket, res: ServerResponse, keepAliveMs: number): void {
  clearHeadDeadline(sock)
  res.once('finish', () => { if (!sock.destroyed) armHeadDeadline(sock, keepAliveMs) })
}

const kHeadDeadline = Symbol('meshgate.headDeadline')

function clearHeadDeadline (sock: TLSSocket): void {
  const t = (sock as unknown as Record<symbol, NodeJS.Timeout | undefined>)[kHeadDeadline]
  if (t !== undefined) clearTimeout(t)
}

/** An absolute deadline (a trickle of bytes does not extend it, unlike a socket idle timeout). */
function armHeadDeadline (sock: TLSSocket, ms: number): void {
  const holder = sock as unknown as Record<symbol, NodeJS.Timeout | undefined>
  const prev = holder[kHeadDeadline]
  if (prev !== undefined) clearTimeout(prev)
  const t = setTimeout(() => { sock.destroy() }, ms)
  t.unref()
  holder[kHeadDeadline] = t
  if (prev === undefined) sock.once('close', () => { const x = holder[kHeadDeadline]; if (x !== undefined) clearTimeout(x) })
}

/** The SNI name a TLS client sent ('' for none, and on plain sockets). */
function serverNameOf (socket: Socket): string {
  const name = (socket as TLSSocket).servername
  return typeof name === 'string' ? name : ''
}

function destroySilently (this: Socket): void {
  this.destroy()
}

function skipBody (_req: FastifyRequest, _payload: unknown, done: (err: Error | null, body?: unknown) => void): void {
  done(null)
}
