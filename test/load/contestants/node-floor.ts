// The "Node floor": the least a Node proxy does. node:http takes the request,
// one undici Pool forwards it to the upstream, the answer streams back; no
// routing, no header rewriting beyond hop-by-hop headers. What meshgate costs on
// top of this is what meshgate itself costs.
//
//   node dist/test/load/contestants/node-floor.js PORT UPSTREAM_URL [WORKERS]
//
// Prints `ready PORT` once every worker listens on 127.0.0.1:PORT.
import cluster from 'node:cluster'
import http from 'node:http'
import { Pool, type Dispatcher } from 'undici'

const [port, upstream, workers] = [Number(process.argv[2]), process.argv[3] ?? '', Number(process.argv[4] ?? 1)]
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'])

function withoutHopByHop (headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
  }
  return out
}

function serve (): void {
  const pool = new Pool(upstream, { connections: null, keepAliveTimeout: 60_000 })
  const server = http.createServer({ keepAlive: true }, (req, res) => {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    pool.request({ method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers: withoutHopByHop(req.headers), body: hasBody ? req : null })
      .then(up => {
        res.writeHead(up.statusCode, withoutHopByHop(up.headers))
        // .pipe(), not stream.pipeline(): measured here at half the req/s with pipeline.
        up.body.on('error', () => { res.destroy() }).pipe(res)
      }, () => {
        res.writeHead(502).end()
      })
  })
  server.keepAliveTimeout = 65_000
  server.listen(port, '127.0.0.1', () => {
    if (cluster.isWorker) process.send?.('listening')
    else process.stdout.write(`ready ${port}\n`)
  })
}

if (workers > 1 && cluster.isPrimary) {
  let listening = 0
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', () => { if (++listening === workers) process.stdout.write(`ready ${port}\n`) })
  }
  // A signal to the primary (the PID the harness knows) stops the workers too.
  process.once('SIGTERM', () => { for (const w of Object.values(cluster.workers ?? {})) w?.kill(); process.exit(0) })
} else {
  serve()
}
