// Echo upstreams for tests: real HTTP(S) servers on 127.0.0.1 that answer as
// `meshgate echo` does, count and record requests, and can be told to fail.
//
//   const ups = await startUpstreams(['v1', 'v2'])
//   ups.get('v1').failNext(2)        // next 2 requests to v1 answer 503
//   ups.get('v2').resetNext(1)       // next request to v2: connection reset
//   ...                              // ServiceEntry endpoints: ups.get('v1').port
//   assert.deepEqual(ups.counts(), { v1: 3, v2: 1 })
//   await ups.close()
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { closeServer, createEchoHandler } from '../../src/cli/echo.js'

export interface RecordedRequest {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  /** The body as text (first 1 MiB). */
  body: string
  /** The client address as the upstream saw it. */
  remoteAddress: string
  /** The TLS client certificate's subject alt names, when one was sent. */
  peerSan: string | null
}

type Fault =
  | { kind: 'status', status: number }
  | { kind: 'delay', ms: number }
  | { kind: 'reset' }
  | { kind: 'hang' }

export interface UpstreamTlsOptions {
  cert: string | Buffer
  key: string | Buffer
  /** CA for client certificates; with `requestCert`, mTLS. */
  ca?: string | Buffer
  requestCert?: boolean
}

export interface StartUpstreamOptions {
  host?: string
  /** Fixed port; default 0 (any free port). */
  port?: number
  /** Serve HTTPS with these PEMs (see certs.ts). */
  tls?: UpstreamTlsOptions
}

const MAX_RECORDED_BODY = 1024 * 1024

export class Upstream {
  readonly name: string
  readonly server: http.Server | https.Server
  readonly host: string
  readonly port: number
  readonly requests: RecordedRequest[] = []
  #faults: Fault[] = []
  #steady: Fault | null = null
  #sockets = new Set<Socket>()

  constructor (name: string, server: http.Server | https.Server, host: string, port: number) {
    this.name = name
    this.server = server
    this.host = host
    this.port = port
  }

  /** `host:port`, as a ServiceEntry endpoint address and port. */
  get address (): string { return `${this.host}:${this.port}` }
  get url (): string { return `${this.server instanceof https.Server ? 'https' : 'http'}://${this.host}:${this.port}` }
  /** Requests received (including failed ones) since start or `clear()`. */
  get count (): number { return this.requests.length }
  get lastRequest (): RecordedRequest | undefined { return this.requests[this.requests.length - 1] }

  /** The next `k` requests answer `status` (default 503) instead of echoing. */
  failNext (k: number, status = 503): this { return this.#queue(k, { kind: 'status', status }) }
  /** The next `k` requests are answered after `ms`. */
  delayNext (k: number, ms: number): this { return this.#queue(k, { kind: 'delay', ms }) }
  /** The next `k` requests get their connection reset, with no response. */
  resetNext (k: number): this { return this.#queue(k, { kind: 'reset' }) }
  /** The next `k` requests are never answered (until close). */
  hangNext (k: number): this { return this.#queue(k, { kind: 'hang' }) }
  /** Every request from now on answers `status` (null: back to normal). */
  setStatus (status: number | null): this { this.#steady = status === null ? null : { kind: 'status', status }; return this }
  /** Every request from now on is delayed by `ms` (0: back to normal). */
  setDelay (ms: number): this { this.#steady = ms > 0 ? { kind: 'delay', ms } : null; return this }
  /** Forgets recorded requests and pending faults. */
  clear (): void {
    this.requests.length = 0
    this.#faults.length = 0
    this.#steady = null
  }

  /** Closes the server and every open connection (held ones included). */
  close (): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    return closeServer(this.server)
  }

  #queue (k: number, fault: Fault): this {
    for (let i = 0; i < k; i++) this.#faults.push(fault)
    return this
  }

  /** @internal */
  trackSocket (socket: Socket): void {
    this.#sockets.add(socket)
    socket.once('close', () => { this.#sockets.delete(socket) })
  }

  /** @internal */
  takeFault (): Fault | null {
    return this.#faults.shift() ?? this.#steady
  }
}

function peerSanOf (req: http.IncomingMessage): string | null {
  const socket = req.socket as Socket & { getPeerCertificate?: () => { subjectaltname?: string } }
  if (typeof socket.getPeerCertificate !== 'function') return null
  const cert = socket.getPeerCertificate()
  return cert?.subjectaltname ?? null
}

/** Starts one upstream named `name`. */
export async function startUpstream (name: string, opts: StartUpstreamOptions = {}): Promise<Upstream> {
  const host = opts.host ?? '127.0.0.1'
  const echo = createEchoHandler(name)
  let upstream: Upstream | null = null
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const up = upstream as Upstream
    const chunks: Buffer[] = []
    let size = 0
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      body: '',
      remoteAddress: req.socket.remoteAddress ?? '',
      peerSan: peerSanOf(req)
    }
    up.requests.push(record)
    req.on('data', (chunk: Buffer) => {
      if (size < MAX_RECORDED_BODY) chunks.push(chunk)
      size += chunk.length
    })
    req.on('end', () => { record.body = Buffer.concat(chunks).subarray(0, MAX_RECORDED_BODY).toString('utf8') })
    const fault = up.takeFault()
    if (fault === null) { echo(req, res); return }
    switch (fault.kind) {
      case 'status':
        req.resume()
        res.writeHead(fault.status, { 'x-upstream': name, 'content-type': 'text/plain' })
        res.end(`${name}: injected ${fault.status}\n`)
        return
      case 'delay':
        echo(req, res, fault.ms)
        return
      case 'reset':
        req.socket.resetAndDestroy()
        return
      case 'hang':
        req.resume()
    }
  }
  const server = opts.tls !== undefined
    ? https.createServer({ keepAlive: true, cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: opts.tls.requestCert ?? false, rejectUnauthorized: opts.tls.requestCert ?? false }, onRequest)
    : http.createServer({ keepAlive: true }, onRequest)
  server.keepAliveTimeout = 65_000
  server.on('clientError', (_err, socket) => { socket.destroy() })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve() })
  })
  upstream = new Upstream(name, server, host, (server.address() as AddressInfo).port)
  const up = upstream
  server.on('connection', (socket: Socket) => { up.trackSocket(socket) })
  return upstream
}

export class Upstreams {
  readonly list: readonly Upstream[]

  constructor (list: Upstream[]) { this.list = list }

  /** The upstream with this name (throws if there is none, so a typo fails loudly). */
  get (name: string): Upstream {
    const found = this.list.find((u) => u.name === name)
    if (found === undefined) throw new Error(`no upstream named ${name} (have ${this.list.map((u) => u.name).join(', ')})`)
    return found
  }

  /** Requests per upstream name. */
  counts (): Record<string, number> {
    return Object.fromEntries(this.list.map((u) => [u.name, u.count]))
  }

  total (): number {
    return this.list.reduce((sum, u) => sum + u.count, 0)
  }

  clear (): void { for (const u of this.list) u.clear() }

  async close (): Promise<void> { await Promise.all(this.list.map(async (u) => { await u.close() })) }
}

/**
 * Starts one upstream per name (or `n` named `up0`..), each on its own free
 * port unless `opts.port` is given (then only one name makes sense).
 */
export async function startUpstreams (names: number | readonly string[], opts: StartUpstreamOptions = {}): Promise<Upstreams> {
  const list = typeof names === 'number' ? Array.from({ length: names }, (_, i) => `up${i}`) : names
  const started: Upstream[] = []
  try {
    for (const name of list) started.push(await startUpstream(name, opts))
  } catch (err) {
    await Promise.all(started.map(async (u) => { await u.close() }))
    throw err
  }
  return new Upstreams(started)
}
