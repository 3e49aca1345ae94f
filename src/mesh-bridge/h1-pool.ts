// HTTP/1.1 to one upstream endpoint: a keep-alive connection pool that writes
// each request head as one string and parses answers with Node's own llhttp
// binding (the parser node:http's client and server use). Sockets, TLS,
// session reuse and connect timeouts come from undici's connector; HTTP/2 and
// h2c upstreams stay on undici's Pool. Measured on one core, undici's request
// machinery (validation, queueing, the wasm parser and its header buffers) cost
// more per request than everything meshgate itself does: see
// bench/HISTORY.md, "HTTP/1.1 to upstreams below undici".
//
// The handler is the same as undici's controller API, so the data plane drives
// either kind of pool: onRequestStart(controller), onResponseStart(controller,
// status, headers), onResponseData, onResponseEnd(controller, trailers),
// onResponseError(controller, err). An error reaches the handler once, and
// nothing after it.
import type { Socket } from 'node:net'
import { isIP } from 'node:net'
import type { Readable } from 'node:stream'
import type { Connector, ConnectOptions } from './undici.js'
import { holdWrites } from './write-batch.js'
import { PARSER, newParser, type NativeParser as BaseParser, type ParserBinding } from './llhttp.js'

type NativeParser = BaseParser & { conn: H1Connection | null }

export const H1_POOL_AVAILABLE = PARSER !== null
const HTTPParser = PARSER as ParserBinding

/** Envoy's default limit on response headers (max_response_headers_kb: 60). */
const MAX_RESPONSE_HEADER_BYTES = 60 * 1024
/** How long before the upstream's advertised keep-alive timeout a connection stops being reused (as undici). */
const KEEP_ALIVE_MARGIN_MS = 2_000
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/
const KEEP_ALIVE_TIMEOUT = /timeout=(\d+)/

export interface UpstreamControl {
  abort (reason?: Error): void
  pause (): void
  resume (): void
}

export type UpstreamHeaders = Record<string, string | string[]>

export interface UpstreamHandler {
  onRequestStart (controller: UpstreamControl): void
  onResponseStart (controller: UpstreamControl, status: number, headers: UpstreamHeaders): void
  onResponseData (controller: UpstreamControl, chunk: Buffer): void
  onResponseEnd (controller: UpstreamControl, trailers: UpstreamHeaders | null): void
  onResponseError (controller: UpstreamControl | null, err: Error): void
}

export interface UpstreamRequest {
  readonly method: string
  readonly path: string
  /** Flat [name, value, …] list; must carry `host`. */
  readonly headers: readonly string[]
  readonly body: Buffer | Readable | null
  /** TLS server name; default: the Host header's name (none for an IP address), as undici does. */
  readonly servername?: string
  /** Aborts the request after this long in all (0/undefined: no limit; the data plane runs its own timers). */
  readonly timeoutMs?: number
  /** undici's own options, for the HTTP/2 pools (headersTimeout, bodyTimeout, …). */
  readonly [undiciOption: string]: unknown
}

export interface H1PoolOptions {
  readonly host: string
  readonly port: number
  readonly tls: boolean
  readonly connect: Connector
  /** Infinity: no limit. */
  readonly maxConnections: number
  /** 0: unlimited; 1: a new connection per request. */
  readonly maxRequestsPerConnection: number
  /** Idle time after which a connection is closed, unless the upstream advertises less. */
  readonly idleTimeoutMs: number
}

function socketError (message: string, code = 'UND_ERR_SOCKET'): Error {
  return Object.assign(new Error(message), { code })
}

const enum State { Queued, Sending, Answering, Done }

/** One request: queued, then bound to a connection. Also the controller handed to the handler. */
class H1Request implements UpstreamControl {
  readonly pool: H1Pool
  readonly opts: UpstreamRequest
  readonly handler: UpstreamHandler
  readonly servername: string
  state: State
  conn: H1Connection | null
  /** The request body has been written in full. */
  sent: boolean
  timer: NodeJS.Timeout | null
  readonly rawTrailers: null
  head: string
  /** content-length of a streamed body, -1 when unknown (sent chunked). */
  declaredLength: number

  constructor (pool: H1Pool, opts: UpstreamRequest, handler: UpstreamHandler, servername: string) {
    this.head = ''
    this.declaredLength = -1
    this.pool = pool
    this.opts = opts
    this.handler = handler
    this.servername = servername
    this.state = State.Queued
    this.conn = null
    this.sent = false
    this.timer = null
    this.rawTrailers = null
  }

  abort (reason?: Error): void {
    if (this.state === State.Done) return
    const conn = this.conn
    // A connection cannot be reused once an exchange on it stopped half-way.
    if (conn !== null) conn.destroy()
    else this.pool.dequeue(this)
    this.fail(reason ?? socketError('request aborted', 'UND_ERR_ABORTED'))
  }

  pause (): void {
    this.conn?.socket.pause()
  }

  resume (): void {
    this.conn?.socket.resume()
  }

  /** Ends the request with an error, once. */
  fail (err: Error): void {
    if (this.state === State.Done) return
    this.state = State.Done
    this.conn = null
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null }
    this.handler.onResponseError(this, err)
  }
}

function onRequestTimeout (req: H1Request): void {
  req.timer = null
  req.abort(socketError('upstream request timed out', 'UND_ERR_HEADERS_TIMEOUT'))
}

class H1Connection {
  readonly pool: H1Pool
  readonly socket: Socket
  readonly parser: NativeParser
  readonly servername: string
  req: H1Request | null
  served: number
  idleSince: number
  keepAliveMs: number
  /** The upstream allows another request on this connection. */
  reusable: boolean
  /** Header lines the parser flushed before headers-complete, or trailers. */
  pending: string[]
  closed: boolean
  /** The bytes being parsed right now (while execute runs), else null. */
  chunk: Buffer | null
  /** Bytes of the current answer have arrived. */
  answerSeen: boolean
  /** `chunk` holds the current answer from its first byte, and no informational answer was in it. */
  chunkFresh: boolean
  /** Length of a body taken whole from `chunk` when the answer completes (see armWholeBody), else -1. */
  wholeBody: number

  constructor (pool: H1Pool, socket: Socket, servername: string) {
    this.pool = pool
    this.socket = socket
    this.servername = servername
    this.req = null
    this.served = 0
    this.idleSince = 0
    this.keepAliveMs = pool.idleTimeoutMs
    this.reusable = false
    this.pending = []
    this.closed = false
    this.chunk = null
    this.answerSeen = false
    this.chunkFresh = false
    this.wholeBody = -1
    this.parser = newParser<H1Connection>(HTTPParser, HTTPParser.RESPONSE, MAX_RESPONSE_HEADER_BYTES, this, RESPONSE_CALLBACKS)
    ;(socket as unknown as { meshgateConn: H1Connection }).meshgateConn = this
    socket.on('data', onSocketData)
    socket.on('end', onSocketEnd)
    socket.on('error', onSocketError)
    socket.on('close', onSocketClose)
  }

  /** Writes `req` on this connection. */
  start (req: H1Request): void {
    this.req = req
    this.reusable = false
    this.answerSeen = false
    req.conn = this
    req.state = State.Sending
    const last = this.pool.maxRequestsPerConnection > 0 && this.served + 1 >= this.pool.maxRequestsPerConnection
    const head = req.head + (last ? 'connection: close\r\n' : 'connection: keep-alive\r\n')
    const body = req.opts.body
    const socket = this.socket
    holdWrites(socket)
    if (body === null) {
      req.sent = true
      socket.write(head + '\r\n', 'latin1')
    } else if (Buffer.isBuffer(body)) {
      req.sent = true
      socket.cork()
      socket.write(`${head}content-length: ${body.length}\r\n\r\n`, 'latin1')
      socket.write(body)
      socket.uncork()
    } else {
      const chunked = req.declaredLength < 0
      socket.write(chunked ? head + 'transfer-encoding: chunked\r\n\r\n' : `${head}content-length: ${req.declaredLength}\r\n\r\n`, 'latin1')
      pipeBody(this, req, body, chunked)
    }
  }

  /** The exchange on this connection is over: idle again, or closed. */
  finishExchange (): void {
    const req = this.req
    this.req = null
    this.served++
    if (req !== null && !req.sent) this.reusable = false
    if (!this.reusable || (this.pool.maxRequestsPerConnection > 0 && this.served >= this.pool.maxRequestsPerConnection)) {
      this.destroy()
      return
    }
    if (this.socket.isPaused()) this.socket.resume()
    this.idleSince = performance.now()
  }

  /** Closes the connection and fails its exchange, if any, with `err`. */
  fail (err: Error): void {
    const req = this.req
    this.destroy()
    req?.fail(err)
  }

  destroy (): void {
    if (this.closed) return
    this.closed = true
    this.socket.destroy()
  }
}

/**
 * The request line and headers, without `connection` and the blank line; or an
 * error for a header that would break the framing. Framing is the proxy's own:
 * a length it knows, else chunked; `expect` was answered downstream, as Envoy does.
 */
function requestHead (o: UpstreamRequest): { head: string, length: number } | Error {
  let head = `${o.method} ${o.path} HTTP/1.1\r\n`
  let length = -1
  const h = o.headers
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!
    const value = h[i + 1]!
    if (!validName(name) || INVALID_VALUE.test(value)) return invalidHeader(name)
    const n = name.length
    if (n === 14 && name.toLowerCase() === 'content-length') { length = Number(value); continue }
    if ((n === 17 && name.toLowerCase() === 'transfer-encoding') || (n === 10 && name.toLowerCase() === 'connection') || (n === 6 && name.toLowerCase() === 'expect')) continue
    head += name + ': ' + value + '\r\n'
  }
  if (o.body === null && (length === 0 || o.method === 'POST' || o.method === 'PUT' || o.method === 'PATCH')) head += 'content-length: 0\r\n'
  return { head, length }
}

// Header names repeat from request to request: a name checked once is looked
// up in a set (a string hashes once) rather than matched again.
const VALID_NAMES = new Set<string>()
const VALID_NAMES_LIMIT = 4096

function validName (name: string): boolean {
  if (VALID_NAMES.has(name)) return true
  if (!TOKEN.test(name)) return false
  if (VALID_NAMES.size >= VALID_NAMES_LIMIT) VALID_NAMES.clear()
  VALID_NAMES.add(name)
  return true
}

function invalidHeader (name: string): Error {
  return socketError(`invalid upstream request header ${JSON.stringify(name)}`, 'UND_ERR_INVALID_ARG')
}

function onParserHeaders (this: NativeParser, headers: string[]): void {
  const conn = this.conn
  if (conn === null) return
  for (let i = 0; i < headers.length; i++) conn.pending.push(headers[i]!)
}

// Answer header names as the upstream spells them → lower case. Upstreams
// repeat the same few names: the lower-case string is made once, and as a
// property key it is the same (internalised) string every time.
const LOWER_NAMES = new Map<string, string>()
const LOWER_NAMES_LIMIT = 4096

function lowerName (raw: string): string {
  let name = LOWER_NAMES.get(raw)
  if (name === undefined) {
    if (LOWER_NAMES.size >= LOWER_NAMES_LIMIT) LOWER_NAMES.clear()
    name = raw.toLowerCase()
    LOWER_NAMES.set(raw, name)
  }
  return name
}

function headerObject (lines: readonly string[]): UpstreamHeaders {
  const out: UpstreamHeaders = {}
  for (let i = 0; i < lines.length; i += 2) {
    const name = lowerName(lines[i]!)
    if (name === '__proto__') continue
    const value = lines[i + 1]!
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else if (typeof prev === 'string') out[name] = [prev, value]
    else prev.push(value)
  }
  return out
}

function onParserHeadersComplete (this: NativeParser, _major: number, _minor: number, headers: string[] | undefined, _method: unknown, _url: unknown, status: number, _text: unknown, upgrade: boolean, keepAlive: boolean): number {
  const conn = this.conn
  if (conn === null) return 1
  const req = conn.req
  if (req === null) {
    // An answer nobody asked for (bytes after the last one): the framing cannot be trusted.
    conn.destroy()
    return 1
  }
  if (req.state === State.Done) return 1
  let lines = headers
  if (lines === undefined) { lines = conn.pending; conn.pending = [] }
  const fresh = conn.chunkFresh
  conn.chunkFresh = false
  if (status < 200 || upgrade) {
    // 100 Continue and other informational answers: the final one follows. A 101 was never asked for.
    if (status === 101 || upgrade) conn.fail(socketError('unexpected protocol upgrade from upstream'))
    return 1
  }
  const h = headerObject(lines)
  conn.reusable = keepAlive
  const hint = h['keep-alive']
  if (keepAlive && typeof hint === 'string') {
    const m = KEEP_ALIVE_TIMEOUT.exec(hint)
    if (m !== null) {
      const ms = Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS
      if (ms <= 0) conn.reusable = false
      else conn.keepAliveMs = Math.min(ms, conn.pool.idleTimeoutMs)
    }
  }
  req.state = State.Answering
  req.handler.onResponseStart(req, status, h)
  if (req.opts.method === 'HEAD') return 1
  if (fresh && req.state === State.Answering && status !== 204 && status !== 304) armWholeBody(this, conn, h)
  return 0
}

// The common answer (its head and a body of known length in one read) skips
// the parser's body callback: the binding would copy the body into a new
// ArrayBuffer (one more for the young generation to sweep) and call into
// JavaScript for it. The body is instead copied out of the read, from a pooled
// slab, when the parser reports the answer complete; by then the body is the
// read's last `length` bytes (the parser consumed the whole read, and bytes
// after an answer would be unsolicited). Taken only when the head ends where
// CRLF CRLF says and every line ends in CRLF, so the parser and this agree on
// where the body starts.
const CRLF_CRLF = Buffer.from('\r\n\r\n', 'latin1')
const MAX_WHOLE_BODY = 64 * 1024
const DECIMAL = /^\d{1,6}$/

function armWholeBody (parser: NativeParser, conn: H1Connection, h: UpstreamHeaders): void {
  const cl = h['content-length']
  if (typeof cl !== 'string' || h['transfer-encoding'] !== undefined || !DECIMAL.test(cl)) return
  const length = Number(cl)
  if (length === 0 || length > MAX_WHOLE_BODY) return
  const chunk = conn.chunk!
  const headEnd = chunk.indexOf(CRLF_CRLF)
  if (headEnd < 0 || headEnd + 4 + length !== chunk.length) return
  for (let lf = chunk.indexOf(10); lf >= 0 && lf < headEnd + 4; lf = chunk.indexOf(10, lf + 1)) {
    if (lf === 0 || chunk[lf - 1] !== 13) return
  }
  conn.wholeBody = length
  parser[HTTPParser.kOnBody] = null
}

function onParserBody (this: NativeParser, chunk: Buffer): void {
  const req = this.conn?.req
  if (req === null || req === undefined || req.state !== State.Answering) return
  req.handler.onResponseData(req, chunk)
}

function onParserMessageComplete (this: NativeParser): void {
  const conn = this.conn
  const req = conn?.req
  if (conn === null || conn === undefined || req === null || req === undefined) return
  if (conn.wholeBody >= 0) {
    const length = conn.wholeBody
    conn.wholeBody = -1
    this[HTTPParser.kOnBody] = onParserBody
    const chunk = conn.chunk
    if (req.state === State.Answering && chunk !== null) {
      const body = Buffer.allocUnsafe(length)
      chunk.copy(body, 0, chunk.length - length)
      req.handler.onResponseData(req, body)
      if (req.state !== State.Answering) return
    }
  }
  if (req.state !== State.Answering) return // an informational answer, or one already failed
  let trailers: UpstreamHeaders | null = null
  if (conn.pending.length > 0) { trailers = headerObject(conn.pending); conn.pending = [] }
  req.state = State.Done
  req.conn = null
  if (req.timer !== null) { clearTimeout(req.timer); req.timer = null }
  conn.finishExchange()
  req.handler.onResponseEnd(req, trailers)
}

function connOf (socket: Socket): H1Connection {
  return (socket as unknown as { meshgateConn: H1Connection }).meshgateConn
}

// Plain-TCP upstream sockets read into one shared buffer (net's `onread`)
// rather than a new 64 KiB allocation per read: no Buffer, no ArrayBuffer for
// the young generation to sweep, no Readable stream machinery per answer.
// Sharing is safe because the parser is done with the bytes when the callback
// returns: header strings and body chunks are copies (Buffer::Copy).
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)

function onSocketRead (this: Socket, nread: number, buf: Buffer): void {
  onSocketData.call(this, buf.subarray(0, nread))
}

/** The `onread` option for connectors of plain-TCP HTTP/1.1 upstreams. */
export const H1_ONREAD = Object.freeze({ buffer: READ_BUFFER, callback: onSocketRead })

const RESPONSE_CALLBACKS = { headers: onParserHeaders, headersComplete: onParserHeadersComplete, body: onParserBody, messageComplete: onParserMessageComplete }

function onSocketData (this: Socket, data: Buffer): void {
  const conn = connOf(this) as H1Connection | undefined
  if (conn === undefined) { this.destroy(); return }
  if (conn.req === null) {
    // Bytes nobody asked for: the connection's framing cannot be trusted any more.
    conn.destroy()
    return
  }
  conn.chunk = data
  conn.chunkFresh = !conn.answerSeen
  conn.answerSeen = true
  const ret = conn.parser.execute(data)
  conn.chunk = null
  conn.chunkFresh = false
  if (conn.wholeBody >= 0) {
    // Armed, but the parser did not complete the answer in this read: it and
    // armWholeBody disagreed on the framing. Never guess: fail the exchange.
    conn.wholeBody = -1
    conn.parser[HTTPParser.kOnBody] = onParserBody
    conn.fail(socketError('invalid upstream response: body framing', 'HPE_INVALID'))
    return
  }
  if (ret instanceof Error) {
    conn.fail(socketError(`invalid upstream response: ${ret.message}`, (ret as { code?: string }).code ?? 'HPE_INVALID'))
    return
  }
  if (conn.req === null && !conn.closed) conn.pool.release(conn)
}

function onSocketEnd (this: Socket): void {
  const conn = connOf(this)
  // An answer delimited by the connection's end completes here.
  if (conn.req !== null) conn.parser.finish()
  conn.reusable = false
  conn.destroy()
}

function onSocketError (this: Socket, err: Error): void {
  connOf(this).fail(err)
}

function onSocketClose (this: Socket): void {
  const conn = connOf(this)
  conn.closed = true
  const req = conn.req
  conn.req = null
  conn.parser.conn = null
  // Closing the native parser from inside its own callbacks is unsafe: do it on the next turn.
  setImmediate(closeParser, conn.parser)
  conn.pool.forget(conn)
  req?.fail(socketError('other side closed'))
}

function closeParser (p: NativeParser): void {
  p.close()
}

/** Streams a request body of unknown or large size onto the connection, with backpressure both ways. */
function pipeBody (conn: H1Connection, req: H1Request, body: Readable, chunked: boolean): void {
  const socket = conn.socket
  const onData = (chunk: Buffer): void => {
    if (req.conn !== conn || conn.closed) return
    let ok: boolean
    if (chunked) {
      if (chunk.length === 0) return
      socket.cork()
      socket.write(chunk.length.toString(16) + '\r\n', 'latin1')
      socket.write(chunk)
      ok = socket.write('\r\n', 'latin1')
      socket.uncork()
    } else {
      ok = socket.write(chunk)
    }
    if (!ok) body.pause()
  }
  const onDrain = (): void => { body.resume() }
  const cleanup = (): void => {
    body.removeListener('data', onData)
    body.removeListener('end', onEnd)
    body.removeListener('error', onError)
    socket.removeListener('drain', onDrain)
  }
  const onEnd = (): void => {
    cleanup()
    if (conn.closed) return
    if (chunked) socket.write('0\r\n\r\n', 'latin1')
    req.sent = true
    // The answer may have come first: the connection was kept only for this body.
    if (conn.req === null && !conn.closed) conn.destroy()
  }
  const onError = (err: Error): void => {
    cleanup()
    if (req.conn === conn) { conn.destroy(); req.fail(err) }
  }
  body.on('data', onData)
  body.once('end', onEnd)
  body.once('error', onError)
  socket.on('drain', onDrain)
  socket.once('close', cleanup)
}

/** SNI for a request without an explicit one: the Host header's name, none for an address. */
function serverNameOf (headers: readonly string[]): string {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'host') continue
    const host = headers[i + 1]!
    const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '')
    return isIP(name) === 0 ? name : ''
  }
  return ''
}

export class H1Pool {
  readonly maxRequestsPerConnection: number
  readonly idleTimeoutMs: number
  readonly #opts: H1PoolOptions
  readonly #idle: H1Connection[] = []
  readonly #all = new Set<H1Connection>()
  #queue: H1Request[] = []
  /** Connections being opened. */
  #opening = 0
  #closing = false
  #sweeper: NodeJS.Timeout | null = null
  #drained: (() => void) | null = null

  constructor (opts: H1PoolOptions) {
    this.#opts = opts
    this.maxRequestsPerConnection = opts.maxRequestsPerConnection
    this.idleTimeoutMs = opts.idleTimeoutMs
  }

  /** Connections open or being opened. */
  get connections (): number {
    return this.#all.size + this.#opening
  }

  dispatch (opts: UpstreamRequest, handler: UpstreamHandler): boolean {
    const servername = this.#opts.tls ? (opts.servername ?? serverNameOf(opts.headers)) : ''
    const req = new H1Request(this, opts, handler, servername)
    handler.onRequestStart(req)
    if (req.state === State.Done) return true
    const built = requestHead(opts)
    if (built instanceof Error) { req.fail(built); return true }
    req.head = built.head
    req.declaredLength = built.length
    if (this.#closing) {
      process.nextTick(failClosed, req)
      return true
    }
    if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) req.timer = setTimeout(onRequestTimeout, opts.timeoutMs, req)
    const conn = this.#takeIdle(servername)
    if (conn !== null) conn.start(req)
    else if (this.connections < this.#opts.maxConnections) this.#open(req)
    else this.#queue.push(req)
    return true
  }

  /** A warm connection for `servername`, or null. Stale ones are closed on the way. */
  #takeIdle (servername: string): H1Connection | null {
    const idle = this.#idle
    if (idle.length === 0) return null
    const now = performance.now()
    for (let i = idle.length - 1; i >= 0; i--) {
      const c = idle[i]!
      if (c.servername !== servername) continue
      idle.splice(i, 1)
      if (c.closed || now - c.idleSince >= c.keepAliveMs) { c.destroy(); continue }
      return c
    }
    return null
  }

  #open (req: H1Request): void {
    this.#opening++
    const o = this.#opts
    this.#opts.connect({ hostname: o.host, host: `${o.host}:${o.port}`, protocol: o.tls ? 'https:' : 'http:', port: String(o.port), servername: req.servername === '' ? null : req.servername } as unknown as ConnectOptions, (err, socket) => {
      this.#opening--
      if (err !== null) {
        req.fail(err)
        this.#openForQueue()
        this.#maybeDrained()
        return
      }
      const conn = new H1Connection(this, socket as Socket, req.servername)
      this.#all.add(conn)
      // Also while closing: close() lets every request it accepted finish.
      if (req.state === State.Done) { this.release(conn); return }
      conn.start(req)
    })
  }

  /** A connection finished an exchange and may serve the next request. */
  release (conn: H1Connection): void {
    if (conn.closed) return
    if (!conn.reusable && conn.served > 0) { conn.destroy(); return }
    conn.reusable = true
    const next = this.#nextQueued()
    if (next !== null) {
      if (next.servername === conn.servername) { conn.start(next); return }
      // A different TLS server name needs its own connection.
      conn.destroy()
      this.#open(next)
      return
    }
    if (this.#closing) { conn.destroy(); return }
    if (conn.idleSince === 0) conn.idleSince = performance.now()
    this.#idle.push(conn)
    if (this.#sweeper === null) {
      this.#sweeper = setInterval(sweepIdle, 1_000, this)
      this.#sweeper.unref()
    }
  }

  #nextQueued (): H1Request | null {
    const q = this.#queue
    while (q.length > 0) {
      const r = q.shift()!
      if (r.state === State.Queued) return r
    }
    return null
  }

  /** Removes a queued request (aborted before it got a connection). */
  dequeue (req: H1Request): void {
    const i = this.#queue.indexOf(req)
    if (i >= 0) this.#queue.splice(i, 1)
  }

  /** A connection closed: forget it, and open one for a waiting request. */
  forget (conn: H1Connection): void {
    this.#all.delete(conn)
    const i = this.#idle.indexOf(conn)
    if (i >= 0) this.#idle.splice(i, 1)
    this.#openForQueue()
    this.#maybeDrained()
  }

  #openForQueue (): void {
    while (this.connections < this.#opts.maxConnections) {
      const next = this.#nextQueued()
      if (next === null) return
      this.#open(next)
    }
  }

  /** Closes connections idle longer than their keep-alive time. */
  sweep (): void {
    const now = performance.now()
    for (const c of [...this.#idle]) if (now - c.idleSince >= c.keepAliveMs) c.destroy()
    if (this.#idle.length === 0 && this.#sweeper !== null) { clearInterval(this.#sweeper); this.#sweeper = null }
  }

  #maybeDrained (): void {
    if (this.#drained !== null && this.connections === 0) { const d = this.#drained; this.#drained = null; d() }
  }

  /** Lets requests in flight finish, then closes every connection. */
  async close (): Promise<void> {
    this.#closing = true
    if (this.#sweeper !== null) { clearInterval(this.#sweeper); this.#sweeper = null }
    for (const c of this.#idle.splice(0)) c.destroy()
    if (this.connections === 0 && this.#queue.length === 0) return
    await new Promise<void>(resolve => { this.#drained = resolve })
  }

  /** Fails everything in flight and closes every connection now. */
  async destroy (): Promise<void> {
    this.#closing = true
    if (this.#sweeper !== null) { clearInterval(this.#sweeper); this.#sweeper = null }
    const err = socketError('upstream pool destroyed', 'UND_ERR_DESTROYED')
    for (const r of this.#queue.splice(0)) r.fail(err)
    for (const c of [...this.#all]) c.fail(err)
    if (this.connections === 0) return
    await new Promise<void>(resolve => { this.#drained = resolve })
  }
}

function sweepIdle (pool: H1Pool): void {
  pool.sweep()
}

function failClosed (req: H1Request): void {
  req.fail(socketError('upstream pool closed', 'UND_ERR_DESTROYED'))
}
