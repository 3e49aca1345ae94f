// Free TCP ports on the loopback address, and waiting for a port to accept.
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Returns `count` distinct ports that were free a moment ago. All probe
 * sockets stay open until every port is known, so the ports differ; another
 * process can still take one before the caller binds it, so prefer port 0
 * wherever the server under test can report its port.
 */
export async function getFreePorts (count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = []
  try {
    const ports: number[] = []
    for (let i = 0; i < count; i++) {
      const server = net.createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, host, () => { resolve() })
      })
      ports.push((server.address() as net.AddressInfo).port)
    }
    return ports
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => { s.close(() => { resolve() }) })))
  }
}

export async function getFreePort (host = '127.0.0.1'): Promise<number> {
  const [port] = await getFreePorts(1, host)
  return port as number
}

/** Resolves true once a TCP connection to host:port succeeds. */
export function canConnect (port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { socket.destroy(); resolve(false) })
  })
}

/**
 * Polls until host:port accepts a connection. `isAlive` (if given) is asked
 * between tries, so a server that died on start fails at once, not at the timeout.
 */
export async function waitForPort (
  port: number,
  opts: { host?: string, timeoutMs?: number, isAlive?: () => boolean, what?: string } = {}
): Promise<void> {
  const host = opts.host ?? '127.0.0.1'
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000)
  for (;;) {
    if (await canConnect(port, host)) return
    if (opts.isAlive !== undefined && !opts.isAlive()) {
      throw new Error(`${opts.what ?? 'server'} exited before ${host}:${port} accepted connections`)
    }
    if (Date.now() > deadline) {
      throw new Error(`${opts.what ?? 'server'}: ${host}:${port} did not accept connections within ${opts.timeoutMs ?? 10_000} ms`)
    }
    await sleep(25)
  }
}
