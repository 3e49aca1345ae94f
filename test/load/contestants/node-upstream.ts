// The upstream when nginx is not installed: node:http answering every request
// with the same BYTES-byte body, keep-alive on.
//
//   node dist/test/load/contestants/node-upstream.js BYTES
//
// Listens on a free port of 127.0.0.1 and prints `ready PORT`.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

const bytes = Number(process.argv[2] ?? 100)
const body = Buffer.alloc(bytes, 'x')
const headers = { 'content-type': 'application/octet-stream', 'content-length': String(bytes) }

const server = http.createServer({ keepAlive: true }, (req, res) => {
  req.resume()
  res.writeHead(200, headers)
  res.end(body)
})
server.keepAliveTimeout = 300_000
server.listen(0, '127.0.0.1', () => { process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`) })
