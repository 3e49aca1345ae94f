// HTTP/1.1 on plain-text listeners, on `net` and Node's llhttp binding (the
// parser node:http's server uses), without node:http's request and response
// streams. A proxied request is a plain object here; only a request that has a
// body gets a Readable, when the data plane asks for it. Answers are written as
// one head string, followed by the body, on the socket itself.
//
// What node:http's server did and this one does too: keep-alive with an idle
// timeout; an absolute deadline for a request head (408) and optionally for the
// whole request; 431 for an oversized head and 400 for bytes llhttp refuses,
// then close; `Expect: 100-continue` answered with 100 (417 for other
// expectations); pipelined requests answered in order (one at a time, as Envoy
// does); Upgrade and CONNECT handed over with the bytes after the head; answers
// framed by content-length, chunked for HTTP/1.1 when the length is unknown, or
// by closing for HTTP/1.0; `date` added when the answer has none; draining
// closes idle connections and ends busy ones after their answer.
import type { Socket } from 'node:net'
import { Readable } from 'node:stream'
import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http'
import { METHODS, PARSER, newParser, type NativeParser, type ParseError, type ParserBinding } from '../../mesh-bridge/llhttp.js'
import { holdAfterFirst } from '../../mesh-bridge/write-batch.js'
import { isEdgeInternal } from './headers.js'

export const H1_SERVER_AVAILABLE = PARSER !== null
const HTTPParser = PARSER as ParserBinding
const K_ON_EXECUTE = HTTPParser?.kOnExecute
/** Whether this Node's parser binding can read a socket itself (`consume`), as node:http's server has it do. */
const CAN_CONSUME = typeof K_ON_EXECUTE === 'number' && typeof (HTTPParser?.prototype as Partial<NativeParser> | undefined)?.consume === 'function'

/** The native stream handle under a net.Socket (what `consume` reads). */
interface StreamHandle {
  readonly isStreamBase?: boolean
  _consumed?: boolean
  reading?: boolean
  readStart (): number
  readStop (): number
}

function handleOf (socket: Socket): StreamHandle | null {
  return (socket as unknown as { _handle?: StreamHandle | null })._handle ?? null
}

/** Plain listeners serve HTTP/1.1 with node:http instead when set to `node`. */
export function useH1Server (): boolean {
  return H1_SERVER_AVAILABLE && process.env.MESHGATE_DOWNSTREAM_HTTP1 !== 'node'
}

export interface H1ServerOptions {
  readonly maxHeaderBytes: number
  readonly headersTimeoutMs: number
  /** 0 = none. */
  readonly requestTimeoutMs: number
  /** Longest pause between body bytes while the parser reads a body (and is not paused by us); 0 = none. */
  readonly bodyIdleTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  readonly onRequest: (req: H1Request, res: H1Response) => void
  readonly onUpgrade: (req: H1Request, socket: Socket, head: Buffer) => void
}

type Listener = (this: H1Response) => void

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/
/** Head and body shorter than this go out as one buffer; Buffer.allocUnsafe takes it from its pool (under half of `Buffer.poolSize`). */
const COMBINE_BELOW = Buffer.poolSize >>> 1
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n'

/** The request side, with the fields of IncomingMessage the data plane reads. */
export class H1Request {
  readonly method: string
  readonly url: string
  readonly httpVersion: string
  readonly httpVersionMinor: number
  readonly rawHeaders: string[]
  readonly socket: Socket
  complete: boolean
  /** Declared by the head: content-length above 0 or transfer-encoding. */
  readonly hasBody: boolean
  /** llhttp's reading of Connection for this HTTP version: the connection may serve another request. */
  readonly keepAlive: boolean
  #headers: Record<string, string | string[]> | null
  #body: BodyStream | null
  readonly conn: H1ServerConnection

  constructor (conn: H1ServerConnection, method: string, url: string, minor: number, rawHeaders: string[], hasBody: boolean, keepAlive: boolean) {
    this.conn = conn
    this.method = method
    this.url = url
    this.httpVersionMinor = minor
    this.httpVersion = minor === 0 ? '1.0' : '1.1'
    this.rawHeaders = rawHeaders
    this.socket = conn.socket
    this.complete = !hasBody
    this.hasBody = hasBody
    this.keepAlive = keepAlive
    this.#headers = null
    this.#body = null
  }

  /** As IncomingMessage#headers: lower-case names, repeated ones combined by node:http's rules. */
  get headers (): IncomingHttpHeaders {
    let h = this.#headers
    if (h === null) {
      h = {}
      const raw = this.rawHeaders
      for (let i = 0; i < raw.length; i += 2) addHeaderLine(h, raw[i]!, raw[i + 1]!)
      this.#headers = h
    }
    return h as IncomingHttpHeaders
  }

  /** The body as a stream (empty when the head declares none). */
  body (): Readable {
    let b = this.#body
    if (b === null) {
      b = new BodyStream(this.conn)
      if (!this.hasBody) b.push(null)
      this.#body = b
    }
    return b
  }

  on (event: string, fn: (...args: any[]) => void): this { this.body().on(event, fn); return this }
  once (event: string, fn: (...args: any[]) => void): this { this.body().once(event, fn); return this }
  destroy (): void { this.socket.destroy() }

  /** @internal body bytes from the parser */
  pushBody (chunk: Buffer): boolean { return this.#dumped || this.body().push(chunk) }

  #dumped = false
  /** @internal answered before its body was read: the rest is read and dropped (as node:http). */
  dump (): void {
    if (this.complete || this.#dumped) return
    this.#dumped = true
    this.#body?.resume()
  }
  /** @internal */
  endBody (): void {
    this.complete = true
    if (this.hasBody) this.body().push(null)
  }

  /** @internal the connection went away before the body's end */
  abortBody (): void {
    const b = this.#body
    if (b === null || this.complete) return
    // An error nobody listens for would be thrown: then the stream just ends.
    if (b.listenerCount('error') > 0) b.destroy(new Error('aborted'))
    else b.destroy()
  }
}

class BodyStream extends Readable {
  readonly #conn: H1ServerConnection
  constructor (conn: H1ServerConnection) {
    super({ highWaterMark: 64 * 1024 })
    this.#conn = conn
  }

  override _read (): void {
    this.#conn.resumeReading()
  }
}

/** Values of these names are kept once: a repeat is dropped (as node:http). */
const SINGLE = new Set(['content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization',
  'proxy-authorization', 'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards',
  'retry-after', 'etag', 'last-modified', 'server', 'age', 'expires'])

function addHeaderLine (h: Record<string, string | string[]>, rawName: string, value: string): void {
  const name = lowerCase(rawName)
  // Client copies of x-envoy-* and x-meshgate-* never reach a filter (see isEdgeInternal).
  if (isEdgeInternal(name)) return
  const prev = h[name]
  if (prev === undefined) {
    h[name] = name === 'set-cookie' ? [value] : value
  } else if (name === 'set-cookie') {
    (prev as string[]).push(value)
  } else if (!SINGLE.has(name)) {
    h[name] = `${prev as string}${name === 'cookie' ? '; ' : ', '}${value}`
  }
}

// Clients repeat the same few spellings: each is lower-cased once.
const LOWER = new Map<string, string>()
function lowerCase (name: string): string {
  let l = LOWER.get(name)
  if (l === undefined) {
    l = name.toLowerCase()
    if (LOWER.size < 4096) LOWER.set(name, l)
  }
  return l
}

let dateMs = 0
let dateText = ''
function httpDate (): string {
  const now = Date.now()
  if (now - dateMs >= 1000) {
    dateMs = now - (now % 1000)
    dateText = new Date(dateMs).toUTCString()
  }
  return dateText
}

const enum Framing { None, Length, Chunked, Close }

/** The response side, with the fields and methods of ServerResponse the data plane uses. */
export class H1Response {
  statusCode: number
  headersSent: boolean
  writableFinished: boolean
  destroyed: boolean
  readonly req: H1Request
  readonly socket: Socket
  #fields: Record<string, string | string[] | number> | null
  #head: string
  #framing: Framing
  #closeAfter: boolean
  #trailers: string
  #onClose: Listener | null
  #onDrain: Listener | null

  constructor (req: H1Request, closeAfter: boolean) {
    this.req = req
    this.socket = req.socket
    this.statusCode = 200
    this.headersSent = false
    this.writableFinished = false
    this.destroyed = false
    this.#fields = null
    this.#head = ''
    this.#framing = Framing.None
    this.#closeAfter = closeAfter
    this.#trailers = ''
    this.#onClose = null
    this.#onDrain = null
  }

  setHeader (name: string, value: string | number | readonly string[]): this {
    if (this.headersSent) throw new Error('headers already sent')
    const f = this.#fields ?? (this.#fields = {})
    f[name.toLowerCase()] = value as string | string[] | number
    return this
  }

  getHeader (name: string): string | string[] | number | undefined {
    return this.#fields?.[name.toLowerCase()]
  }

  /** Builds the head; it leaves with the first body bytes (or at end). Throws on a name or value HTTP forbids. */
  writeHead (status: number, headers?: Record<string, string | string[] | number | undefined>): this {
    if (this.headersSent) throw new Error('headers already sent')
    this.statusCode = status
    const req = this.req
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`
    let length = false
    let date = false
    const all = headers === undefined ? this.#fields : this.#fields === null ? headers : { ...this.#fields, ...headers }
    if (all !== null) {
      for (const name in all) {
        const v = all[name]
        if (v === undefined) continue
        if (!validName(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`)
        if (name.length === 14 && name.toLowerCase() === 'content-length') length = true
        else if (name.length === 4 && name.toLowerCase() === 'date') date = true
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) head += headerLine(name, v[i])
        } else {
          head += headerLine(name, v)
        }
      }
    }
    if (!date) head += `date: ${httpDate()}\r\n`
    const bodyless = req.method === 'HEAD' || status === 204 || status === 304 || status < 200
    if (bodyless) this.#framing = Framing.None
    else if (length) this.#framing = Framing.Length
    else if (req.httpVersionMinor >= 1) { this.#framing = Framing.Chunked; head += 'transfer-encoding: chunked\r\n' } else { this.#framing = Framing.Close; this.#closeAfter = true }
    if (this.#closeAfter) head += 'connection: close\r\n'
    else if (req.httpVersionMinor === 0) head += 'connection: keep-alive\r\n'
    this.#head = head + '\r\n'
    this.headersSent = true
    return this
  }

  write (chunk: Buffer | string): boolean {
    if (this.writableFinished || this.destroyed) return false
    if (!this.headersSent) this.writeHead(this.statusCode)
    const len = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
    const socket = this.socket
    const head = this.#head
    this.#head = ''
    if (head !== '') holdAfterFirst(socket)
    if (this.#framing === Framing.None || len === 0) {
      return head === '' ? true : socket.write(head, 'latin1')
    }
    if (this.#framing === Framing.Chunked) {
      socket.cork()
      socket.write(`${head}${len.toString(16)}\r\n`, 'latin1')
      socket.write(chunk)
      const ok = socket.write('\r\n', 'latin1')
      socket.uncork()
      return ok
    }
    if (head === '') return socket.write(chunk)
    if (head.length + len < COMBINE_BELOW) {
      // Head and a small body in one buffer from Buffer's pool: one write, one packet.
      const hl = head.length
      const buf = Buffer.allocUnsafe(hl + len)
      buf.write(head, 0, 'latin1')
      if (typeof chunk === 'string') buf.write(chunk, hl)
      else chunk.copy(buf, hl)
      return socket.write(buf)
    }
    // A larger body is not copied again: head and body leave in one writev.
    socket.cork()
    socket.write(head, 'latin1')
    const ok = socket.write(chunk)
    socket.uncork()
    return ok
  }

  addTrailers (trailers: Record<string, string | string[]>): void {
    let t = ''
    for (const name in trailers) {
      const v = trailers[name]!
      if (!validName(name)) continue
      if (Array.isArray(v)) for (const x of v) t += headerLine(name, x)
      else t += headerLine(name, v)
    }
    this.#trailers = t
  }

  end (chunk?: Buffer | string): this {
    if (this.writableFinished || this.destroyed) return this
    if (!this.headersSent) {
      if (chunk !== undefined && this.#fields?.['content-length'] === undefined) this.setHeader('content-length', typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length)
      else if (chunk === undefined && this.#fields?.['content-length'] === undefined && this.req.method !== 'HEAD') this.setHeader('content-length', 0)
      this.writeHead(this.statusCode)
    }
    if (chunk !== undefined) this.write(chunk)
    const socket = this.socket
    if (this.#head !== '') { holdAfterFirst(socket); socket.write(this.#head, 'latin1'); this.#head = '' }
    if (this.#framing === Framing.Chunked) socket.write(`0\r\n${this.#trailers}\r\n`, 'latin1')
    this.writableFinished = true
    this.req.conn.answered(this, this.#closeAfter)
    return this
  }

  destroy (): void {
    if (this.destroyed) return
    this.destroyed = true
    this.socket.destroy()
  }

  on (event: string, fn: Listener): this {
    if (event === 'close') this.#onClose = fn
    else if (event === 'drain') this.#onDrain = fn
    return this
  }

  once (event: string, fn: Listener): this {
    if (event === 'drain') { this.#onDrain = fn; this.req.conn.watchDrain() } else this.on(event, fn)
    return this
  }

  /** @internal the socket drained */
  drained (): void {
    const fn = this.#onDrain
    this.#onDrain = null
    if (fn !== null) fn.call(this)
  }

  /** @internal the connection closed under this answer */
  closed (): void {
    this.destroyed = true
    const fn = this.#onClose
    this.#onClose = null
    if (fn !== null) fn.call(this)
  }
}

// Answers repeat the same few header names: each is checked once.
const VALID_NAMES = new Set<string>()
function validName (name: string): boolean {
  if (VALID_NAMES.has(name)) return true
  if (!TOKEN.test(name)) return false
  if (VALID_NAMES.size < 4096) VALID_NAMES.add(name)
  return true
}

function headerLine (name: string, v: string | number | undefined): string {
  const s = typeof v === 'string' ? v : String(v)
  if (INVALID_VALUE.test(s)) throw new TypeError(`invalid value for header ${name}`)
  return `${name}: ${s}\r\n`
}

/** One client connection. */
export class H1ServerConnection {
  readonly socket: Socket
  readonly server: H1Server
  readonly parser: NativeParser
  /** Requests parsed and not yet answered; the first is being answered. */
  readonly queue: H1Request[]
  /** The request whose head or body the parser is reading, null between requests. */
  reading: H1Request | null
  current: H1Response | null
  /** Headers flushed by the parser before the head completed (heads of many lines). */
  pendingHeaders: string[]
  pendingUrl: string
  /** When the head being read began (performance.now()), 0 between requests. */
  headStart: number
  /** When the request being read began; 0 once its body is complete. */
  requestStart: number
  /** When the connection went idle (no request in or out), 0 while busy. */
  idleSince: number
  /** When bytes last came from the client, to the sweep's precision (see `sweepNow`). */
  dataAt: number
  paused: boolean
  /** The client has sent its last byte (half-close): answer what was asked, then close. */
  clientEnded: boolean
  /** An Upgrade or CONNECT request: the connection leaves HTTP/1.1 after its head. */
  upgradeReq: H1Request | null
  upgraded: boolean
  closing: boolean
  /**
   * The parser reads the socket itself (plain TCP): no Buffer per read and
   * no 'data' event; bytes already in the socket's read buffer (the sniffed
   * first ones) still come as 'data'. Reading is paused on the handle.
   */
  consumed: boolean
  /** A head completed during the current read (a read that completed none started one, see onParserExecute). */
  headCompleted: boolean

  constructor (server: H1Server, socket: Socket) {
    this.server = server
    this.socket = socket
    this.queue = []
    this.reading = null
    this.current = null
    this.pendingHeaders = []
    this.pendingUrl = ''
    this.headStart = 0
    this.requestStart = 0
    this.idleSince = performance.now()
    this.dataAt = this.idleSince
    this.paused = false
    this.clientEnded = false
    this.upgradeReq = null
    this.upgraded = false
    this.closing = false
    this.parser = newParser<H1ServerConnection>(HTTPParser, HTTPParser.REQUEST, server.opts.maxHeaderBytes, this, REQUEST_CALLBACKS)
    ;(socket as unknown as { h1conn: H1ServerConnection }).h1conn = this
    socket.setNoDelay(true)
    socket.on('data', onSocketData)
    socket.on('error', onSocketError)
    socket.on('close', onSocketClose)
    socket.on('end', onSocketEnd)
    this.consumed = false
    this.headCompleted = false
    const handle = handleOf(socket)
    if (CAN_CONSUME && (socket as { encrypted?: boolean }).encrypted !== true && handle !== null && handle.isStreamBase === true && handle._consumed !== true) {
      handle._consumed = true
      this.parser.consume(handle)
      this.parser[K_ON_EXECUTE as number] = onParserExecute
      this.consumed = true
    }
  }

  /** Pauses reading while a request waits its turn or its body is not being read. */
  pauseReading (): void {
    if (this.paused) return
    this.paused = true
    this.socket.pause()
    if (this.consumed) {
      // The stream's pause does not reach a handle the parser reads: stop it there.
      const h = handleOf(this.socket)
      if (h?.reading === true) { h.reading = false; h.readStop() }
    }
  }

  resumeReading (): void {
    if (!this.paused || this.upgraded) return
    this.paused = false
    this.socket.resume()
    if (this.consumed) {
      const h = handleOf(this.socket)
      if (h !== null && h.reading !== true) { h.reading = true; h.readStart() }
    }
  }

  watchDrain (): void {
    this.socket.once('drain', onSocketDrain)
  }

  /** A request's head is complete. */
  accept (req: H1Request): void {
    this.queue.push(req)
    if (this.queue.length === 1) this.dispatch()
    else this.pauseReading()
  }

  dispatch (): void {
    const req = this.queue[0]!
    const res = new H1Response(req, !req.keepAlive || this.server.draining)
    this.current = res
    this.idleSince = 0
    // As node:http: HTTP/1.1 expectations only; 100-continue is answered at once.
    const expect = req.httpVersionMinor >= 1 ? req.headers.expect : undefined
    if (expect !== undefined) {
      if (typeof expect === 'string' && expect.toLowerCase() === '100-continue') {
        this.socket.write(CONTINUE, 'latin1')
      } else {
        res.statusCode = 417
        res.setHeader('content-length', 0)
        res.end()
        return
      }
    }
    this.server.opts.onRequest(req, res)
  }

  /** The current answer ended. */
  answered (res: H1Response, close: boolean): void {
    if (this.current !== res) return
    this.current = null
    this.queue.shift()
    res.req.dump()
    if (close) this.closing = true
    if (!this.closing && this.queue.length > 0) {
      this.dispatch()
      return
    }
    if (this.closing || this.clientEnded || (this.server.draining && this.reading === null)) {
      this.closing = true
      closeAfter(this.socket, null)
      return
    }
    if (this.reading === null) this.idleSince = performance.now()
    this.resumeReading()
  }

  /**
   * Answers `status` by itself and closes (a head llhttp refused, one too large
   * or too slow), as node:http does: no body. An answer already started is cut
   * instead; one not started yet is dropped (its exchange sees the close).
   */
  refuse (status: number): void {
    if (this.closing && this.current === null) { this.socket.destroy(); return }
    this.closing = true
    const res = this.current
    if (res !== null) {
      if (res.headersSent) { this.socket.destroy(); return }
      res.destroyed = true
    }
    closeAfter(this.socket, `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
  }

  /** The connection is gone. */
  gone (): void {
    this.server.connections.delete(this)
    const res = this.current
    if (this.reading !== null) this.reading.abortBody()
    for (const r of this.queue) r.abortBody()
    this.queue.length = 0
    this.current = null
    if (res !== null && !res.writableFinished) res.closed()
    if (!this.upgraded) this.releaseParser()
  }

  /** Detaches and closes the parser; a consumed socket's reads go back to its stream. */
  releaseParser (): void {
    const p = this.parser as NativeParser & { conn: H1ServerConnection | null }
    p.conn = null
    if (this.consumed) {
      this.consumed = false
      p.unconsume()
      const h = handleOf(this.socket)
      if (h !== null) h._consumed = false
    }
    p.close()
  }
}

function onSocketData (this: Socket, chunk: Buffer): void {
  const conn = (this as unknown as { h1conn: H1ServerConnection }).h1conn
  if (conn.closing) return
  conn.dataAt = sweepNow
  if (conn.headStart === 0 && conn.reading === null) {
    const now = performance.now()
    conn.headStart = now
    conn.requestStart = now
  }
  const ret = conn.parser.execute(chunk)
  conn.headCompleted = false
  if (typeof ret !== 'number') {
    conn.refuse(refusal(ret))
    return
  }
  if (conn.upgradeReq !== null) handOver(conn, ret < chunk.length ? chunk.subarray(ret) : Buffer.alloc(0))
}

/** After each read the parser made itself (consumed sockets): what onSocketData does around execute. */
function onParserExecute (this: BoundParser, ret: number | ParseError): void {
  const conn = this.conn
  if (conn === null || conn.closing) return
  conn.dataAt = sweepNow
  const headsDone = conn.headCompleted
  conn.headCompleted = false
  if (typeof ret !== 'number') {
    conn.refuse(refusal(ret))
    return
  }
  // Bytes that completed no head while no request is being read began one:
  // its deadline counts from now (onSocketData starts it before parsing).
  if (!headsDone && ret > 0 && conn.headStart === 0 && conn.reading === null) {
    const now = performance.now()
    conn.headStart = now
    conn.requestStart = now
  }
  if (conn.upgradeReq !== null) handOver(conn, this.getCurrentBuffer().subarray(ret))
}

/** Upgrade or CONNECT: the connection leaves HTTP/1.1; `rest` (the bytes after the head) belongs to the new protocol. */
function handOver (conn: H1ServerConnection, rest: Buffer): void {
  const up = conn.upgradeReq as H1Request
  const socket = conn.socket
  conn.upgradeReq = null
  conn.reading = null
  if (conn.current !== null) { socket.destroy(); return }
  socket.removeListener('data', onSocketData)
  socket.removeListener('error', onSocketError)
  socket.removeListener('close', onSocketClose)
  socket.removeListener('end', onSocketEnd)
  conn.server.connections.delete(conn)
  // The socket's reads go back to its stream, which the new owner reads.
  conn.releaseParser()
  socket.pause()
  conn.server.opts.onUpgrade(up, socket, rest)
}

/** The status for bytes llhttp refused. */
function refusal (err: ParseError): number {
  return err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : 400
}

function onSocketDrain (this: Socket): void {
  (this as unknown as { h1conn: H1ServerConnection }).h1conn.current?.drained()
}

function onSocketError (this: Socket): void {
  this.destroy()
}

function onSocketEnd (this: Socket): void {
  // The client sent all it will: answer what it asked (pipelined requests too), then close.
  const conn = (this as unknown as { h1conn: H1ServerConnection }).h1conn
  conn.clientEnded = true
  if (conn.current === null) { conn.closing = true; closeAfter(this, null) }
}

/** Ends the socket and closes it once what was written has left (node's destroySoon). */
function closeAfter (socket: Socket, last: string | null): void {
  if (socket.destroyed) return
  if (socket.writable) {
    if (last === null) socket.end()
    else socket.end(last, 'latin1')
  }
  if (socket.writableFinished) socket.destroy()
  else socket.once('finish', destroyOnFinish)
}

function destroyOnFinish (this: Socket): void {
  this.destroy()
}

function onSocketClose (this: Socket): void {
  (this as unknown as { h1conn: H1ServerConnection }).h1conn.gone()
}

type BoundParser = NativeParser & { conn: H1ServerConnection | null }

function onHeaders (this: BoundParser, headers: string[], url: string): void {
  const conn = this.conn
  if (conn === null) return
  for (let i = 0; i < headers.length; i++) conn.pendingHeaders.push(headers[i]!)
  conn.pendingUrl += url
}

function onHeadersComplete (this: BoundParser, _major: number, minor: number, headers: string[] | undefined, method: number,
  url: string | undefined, _status: number, _message: string, upgrade: boolean, keepAlive: boolean): number {
  const conn = this.conn
  // A connection that is closing takes no more requests (a consumed socket's parser reads on until it closes).
  if (conn === null || conn.closing) return 0
  conn.headCompleted = true
  let raw = headers
  if (raw === undefined) { raw = conn.pendingHeaders; conn.pendingHeaders = [] }
  let target = url
  if (target === undefined) { target = conn.pendingUrl; conn.pendingUrl = '' }
  const name = METHODS[method] ?? 'GET'
  let hasBody = false
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!
    if ((n.length === 14 && n.toLowerCase() === 'content-length' && raw[i + 1]!.trim() !== '0') ||
      (n.length === 17 && n.toLowerCase() === 'transfer-encoding')) { hasBody = true; break }
  }
  const req = new H1Request(conn, name, target, minor, raw, hasBody && !upgrade, keepAlive)
  conn.headStart = 0
  conn.reading = req
  if (upgrade) {
    // Stop parsing here: the connection leaves HTTP/1.1 (onSocketData hands it over).
    conn.upgraded = true
    conn.upgradeReq = req
    return 2
  }
  if (!hasBody) conn.requestStart = 0
  conn.accept(req)
  return 0
}

function onBody (this: BoundParser, chunk: Buffer): void {
  const conn = this.conn
  const req = conn?.reading
  if (req === null || req === undefined) return
  if (!req.pushBody(chunk)) conn!.pauseReading()
}

function onMessageComplete (this: BoundParser): void {
  const conn = this.conn
  if (conn === null) return
  const req = conn.reading
  conn.reading = null
  conn.requestStart = 0
  if (req !== null && !conn.upgraded) req.endBody()
  if (conn.current === null && conn.queue.length === 0) conn.idleSince = performance.now()
}

const REQUEST_CALLBACKS = { headers: onHeaders, headersComplete: onHeadersComplete, body: onBody, messageComplete: onMessageComplete }

/**
 * The clock of the deadline sweeps: read per socket read instead of
 * performance.now(), it is at most one sweep interval (≤ 1 s) behind, which
 * is precise enough for a timeout of minutes.
 */
let sweepNow = performance.now()

/** The HTTP/1.1 side of one plain listener. */
export class H1Server {
  readonly opts: H1ServerOptions
  readonly connections = new Set<H1ServerConnection>()
  draining: boolean
  #sweep: NodeJS.Timeout | null

  constructor (opts: H1ServerOptions) {
    this.opts = opts
    this.draining = false
    // Deadlines are checked by one sweep rather than a timer per request (as node:http does).
    const every = Math.max(100, Math.min(1_000, Math.floor(Math.min(opts.headersTimeoutMs, opts.keepAliveTimeoutMs, opts.bodyIdleTimeoutMs > 0 ? opts.bodyIdleTimeoutMs : Infinity) / 4)))
    this.#sweep = setInterval(() => { this.#checkDeadlines() }, every)
    this.#sweep.unref()
  }

  /**
   * Takes over a socket whose first bytes are still in its read buffer
   * (unshifted), or, with `headFromNow`, one that has sent none yet (a TLS
   * connection after its handshake): its first head is due within
   * headersTimeout from now, as node:http counts it.
   */
  accept (socket: Socket, headFromNow = false): void {
    const conn = new H1ServerConnection(this, socket)
    if (headFromNow) conn.headStart = conn.requestStart = performance.now()
    this.connections.add(conn)
  }

  #checkDeadlines (): void {
    const now = performance.now()
    sweepNow = now
    const o = this.opts
    for (const c of this.connections) {
      if (c.headStart !== 0 && now - c.headStart > o.headersTimeoutMs) { c.refuse(408); continue }
      // A body the client stopped sending (reading paused by us for backpressure does not count).
      if (o.bodyIdleTimeoutMs > 0 && c.reading !== null && c.headStart === 0 && !c.paused && now - c.dataAt > o.bodyIdleTimeoutMs) { c.refuse(408); continue }
      if (o.requestTimeoutMs > 0 && c.requestStart !== 0 && now - c.requestStart > o.requestTimeoutMs) { c.refuse(408); continue }
      if (c.idleSince !== 0 && c.headStart === 0 && now - c.idleSince > o.keepAliveTimeoutMs) c.socket.destroy()
    }
  }

  /** Closes idle connections now; busy ones close after their answer. */
  drain (): void {
    this.draining = true
    for (const c of this.connections) {
      if (c.current === null && c.reading === null && c.queue.length === 0 && !c.closing) { c.closing = true; closeAfter(c.socket, null) }
    }
  }

  close (): void {
    if (this.#sweep !== null) { clearInterval(this.#sweep); this.#sweep = null }
  }
}
