// `meshgate echo`: a tiny httpbin-like upstream for the quickstart and the tests.
//
// Every request gets 200 JSON describing what arrived, with `x-upstream: <name>`
// so a caller can see which upstream the gateway picked. A path ending in
//   /status/<code>   answers that code (200..599),
//   /delay/<seconds> waits (at most 10 s) and then answers as usual,
//   /headers         answers {"upstream", "headers"} only.
// Matching the end of the path (not the whole path) lets a route prefix such as
// `/reviews/status/503` reach the same behaviour without a rewrite.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface EchoOptions {
  port: number
  host?: string
  name: string
}

export interface EchoServer {
  readonly server: http.Server
  readonly port: number
  readonly name: string
  close(): Promise<void>
}

const MAX_DELAY_MS = 10_000
// Longer than any client-side idle timeout we use, so a pooled connection is
// closed by the client first and never raced by the server.
const KEEP_ALIVE_TIMEOUT_MS = 65_000

const STATUS_PATH = /\/status\/(\d{3})\/?$/
const DELAY_PATH = /\/delay\/(\d+(?:\.\d+)?)\/?$/
const HEADERS_PATH = /\/headers\/?$/

/** What the echo answer says about a request; `body` is its length in bytes. */
export interface EchoReply {
  upstream: string
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body?: number
}

/** Parses the special path of a request URL; never throws. */
export function parseEchoPath (url: string): { status: number, delayMs: number, headersOnly: boolean } {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  let status = 200
  let delayMs = 0
  const s = STATUS_PATH.exec(path)
  if (s !== null) {
    const code = Number(s[1])
    status = code >= 200 && code <= 599 ? code : 400
  }
  const d = DELAY_PATH.exec(path)
  if (d !== null) delayMs = Math.min(MAX_DELAY_MS, Math.round(Number(d[1]) * 1000))
  return { status, delayMs, headersOnly: HEADERS_PATH.test(path) }
}

/**
 * Builds the request handler of one echo upstream. Exported so test helpers can
 * wrap it with fault injection and still answer exactly as `meshgate echo` does.
 */
export function createEchoHandler (name: string): (req: http.IncomingMessage, res: http.ServerResponse, extraDelayMs?: number) => void {
  return function handleEcho (req, res, extraDelayMs = 0) {
    let bodyBytes = 0
    let timer: NodeJS.Timeout | null = null
    req.on('data', (chunk: Buffer) => { bodyBytes += chunk.length })
    req.on('error', () => { res.destroy() })
    res.on('close', () => { if (timer !== null) clearTimeout(timer) })
    req.on('end', () => {
      const { status, delayMs: pathDelayMs, headersOnly } = parseEchoPath(req.url ?? '/')
      const delayMs = pathDelayMs + extraDelayMs
      const answer = (): void => {
        timer = null
        if (res.destroyed || res.writableEnded) return
        const reply: EchoReply | { upstream: string, headers: http.IncomingHttpHeaders } = headersOnly
          ? { upstream: name, headers: req.headers }
          : { upstream: name, method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers }
        if (!headersOnly && bodyBytes > 0) (reply as EchoReply).body = bodyBytes
        const noBody = status === 204 || status === 304
        const text = noBody ? '' : JSON.stringify(reply) + '\n'
        const headers: http.OutgoingHttpHeaders = { 'x-upstream': name }
        if (!noBody) {
          headers['content-type'] = 'application/json'
          headers['content-length'] = Buffer.byteLength(text)
        }
        res.writeHead(status, headers)
        res.end(text)
      }
      if (delayMs > 0) timer = setTimeout(answer, delayMs)
      else answer()
    })
  }
}

/** Starts one echo upstream; port 0 picks a free port (read it from the result). */
export async function startEcho (opts: EchoOptions): Promise<EchoServer> {
  const host = opts.host ?? '127.0.0.1'
  const handler = createEchoHandler(opts.name)
  const server = http.createServer({ keepAlive: true }, (req, res) => {
    try {
      handler(req, res)
    } catch {
      // The handler does not throw today; this keeps a future bug from killing the process.
      if (!res.headersSent) res.writeHead(500)
      res.end()
    }
  })
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    else socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    server,
    port,
    name: opts.name,
    close: () => closeServer(server)
  }
}

/** Closes a server and every keep-alive connection it still holds. */
export function closeServer (server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) { resolve(); return }
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

const USAGE = `usage: meshgate echo --port N [--name NAME] [--port N --name NAME ...] [--host ADDR]
Starts one plain HTTP echo upstream per --port. Each answers 200 JSON
{"upstream", "method", "url", "headers", "body"?} with header x-upstream: NAME.
Paths ending in /status/<code>, /delay/<seconds> (at most 10) and /headers
behave as in httpbin. Stops on SIGINT or SIGTERM.
`

interface EchoArgs { host: string, upstreams: Array<{ port: number, name: string | null }> }

function parseEchoArgs (argv: string[]): EchoArgs | string {
  const parsed: EchoArgs = { host: '127.0.0.1', upstreams: [] }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    const eq = arg.indexOf('=')
    const flag = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg
    let value: string | undefined
    if (flag === '--port' || flag === '--name' || flag === '--host') {
      value = eq !== -1 && flag !== arg ? arg.slice(eq + 1) : argv[++i]
      if (value === undefined || value === '') return `${flag} needs a value`
    }
    const last = parsed.upstreams[parsed.upstreams.length - 1]
    switch (flag) {
      case '--port': {
        const port = Number(value)
        if (!Number.isInteger(port) || port < 0 || port > 65535) return `--port: got "${value}", expected an integer 0..65535`
        // A --name given before its --port belongs to this port.
        if (last !== undefined && last.port === -1) last.port = port
        else parsed.upstreams.push({ port, name: null })
        break
      }
      case '--name':
        if (last !== undefined && last.name === null) last.name = value ?? null
        else parsed.upstreams.push({ port: -1, name: value ?? null })
        break
      case '--host':
        parsed.host = value ?? parsed.host
        break
      default:
        return `unknown argument "${arg}"`
    }
  }
  if (parsed.upstreams.length === 0) return 'at least one --port is required'
  for (const u of parsed.upstreams) {
    if (u.port === -1) return `--name ${u.name ?? ''} has no --port`
  }
  return parsed
}

/** `meshgate echo ...`: resolves with the exit code once stopped by a signal. */
export async function runEcho (argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE)
    return 0
  }
  const args = parseEchoArgs(argv)
  if (typeof args === 'string') {
    process.stderr.write(`meshgate echo: ${args}\n${USAGE}`)
    return 2
  }
  const started: EchoServer[] = []
  try {
    for (const u of args.upstreams) {
      const name = u.name ?? `echo-${u.port}`
      const echo = await startEcho({ port: u.port, host: args.host, name })
      started.push(echo)
      process.stdout.write(`echo upstream "${name}" listening on http://${args.host}:${echo.port}\n`)
    }
  } catch (err) {
    process.stderr.write(`meshgate echo: ${(err as Error).message}\n`)
    await Promise.all(started.map(async (s) => { await s.close() }))
    return 1
  }
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      void Promise.all(started.map(async (s) => { await s.close() })).then(() => { resolve(0) })
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
