// Runtime state behind each snapshot cluster: endpoint states, balancer,
// outlier detector, circuit-breaker counters and the connection pools (meshgate's
// own HTTP/1.1 pool, undici's for HTTP/2 and h2c). State is kept across
// snapshots while a cluster's fingerprint is unchanged, so a reload does not
// reset ejections or drop warm connections.
import { buildConnector, undici, type Connector, type ConnectorOptions } from './undici.js'
import { H1Pool, H1_ONREAD, H1_POOL_AVAILABLE, type UpstreamHandler, type UpstreamHeaders, type UpstreamRequest } from './h1-pool.js'
import type { WorkloadIdentity } from './identity.js'
import { checkServerIdentity, type PeerCertificate } from 'node:tls'
import type { Cluster, Snapshot, UpstreamTls } from '../gateway/snapshot.js'
import { EndpointState } from './endpoint-state.js'
import { createBalancer, type Balancer } from './balancers/index.js'
import { OutlierDetector } from './outlier-detector.js'

export class ClusterRuntime {
  readonly cluster: Cluster
  readonly states: readonly EndpointState[]
  readonly balancer: Balancer
  readonly outlier: OutlierDetector | null
  readonly #poolByState: ReadonlyMap<EndpointState, UpstreamPool>
  /** Requests in flight to this cluster (Envoy's per-cluster circuit-breaker count). */
  active: number
  retriesActive: number

  constructor (cluster: Cluster, pools: PoolRegistry) {
    this.cluster = cluster
    this.states = cluster.endpoints.map(e => new EndpointState(e))
    this.balancer = createBalancer(cluster, this.states)
    this.outlier = cluster.outlier === null ? null : new OutlierDetector(cluster.outlier, this.states)
    this.outlier?.start()
    this.#poolByState = new Map(this.states.map(st => [st, pools.get(st.endpoint.address, st.endpoint.port, cluster)]))
    this.active = 0
    this.retriesActive = 0
  }

  poolOf (state: EndpointState): UpstreamPool {
    return this.#poolByState.get(state)!
  }

  /**
   * Envoy's overflow rule: too many requests in flight, or too many waiting for a
   * connection (requests beyond the connection limit count as pending).
   */
  isOverflowing (): boolean {
    const p = this.cluster.pool
    if (this.active >= p.maxRequests) return true
    const pending = this.active - p.maxConnections * Math.max(1, this.states.length)
    return pending >= p.maxPendingRequests
  }

  close (): void {
    this.outlier?.stop()
  }
}

/** What the data plane needs of a pool: meshgate's HTTP/1.1 pool, or undici's Pool (same handler API). */
export interface UpstreamPool {
  dispatch (opts: UpstreamRequest, handler: UpstreamHandler): boolean
  close (): Promise<void>
  destroy (): Promise<void>
}

/**
 * HTTP/1.1 upstreams use meshgate's own pool unless Node lacks the parser it
 * needs, or `MESHGATE_UPSTREAM_HTTP1=undici` asks for undici's Pool (an escape
 * hatch, read when a pool is created, so it applies from the next reload).
 */
export function useH1Pool (): boolean {
  return H1_POOL_AVAILABLE && process.env.MESHGATE_UPSTREAM_HTTP1 !== 'undici'
}

/** A whole answer in memory, or null when its body exceeds `maxBody` bytes (for background fetches). */
export function fetchBuffered (pool: UpstreamPool, opts: UpstreamRequest, maxBody: number): Promise<{ statusCode: number, headers: UpstreamHeaders, body: Buffer } | null> {
  return new Promise((resolve, reject) => {
    let statusCode = 0
    let headers: UpstreamHeaders = {}
    const chunks: Buffer[] = []
    let bytes = 0
    pool.dispatch(opts, {
      onRequestStart () {},
      onResponseStart (_c, status, h) { statusCode = status; headers = h },
      onResponseData (c, chunk) {
        bytes += chunk.length
        if (bytes > maxBody) { c.abort(new Error('body too large')); resolve(null); return }
        chunks.push(chunk)
      },
      onResponseEnd () { resolve({ statusCode, headers, body: Buffer.concat(chunks) }) },
      onResponseError (_c, err) { reject(err) }
    })
  })
}

/**
 * Plaintext upstreams: HTTP/1.1, or HTTP/2 with prior knowledge (h2c) where the
 * cluster asks for HTTP/2, as Envoy's http2_protocol_options do without TLS.
 * A Pool builds its own connector from options and leaves `useH2c` out, so the
 * h2c connector is built here.
 */
function plainConnector (timeout: number, h2: boolean): Connector {
  if (h2) return buildConnector({ timeout, noDelay: true, useH2c: true } as ConnectorOptions)
  // meshgate's HTTP/1.1 pool reads plain TCP into a shared buffer (see H1_ONREAD).
  return buildConnector({ timeout, noDelay: true, ...(useH1Pool() ? { onread: H1_ONREAD } : {}) } as ConnectorOptions)
}

/** One pool per (endpoint, TLS context, pool settings), shared by the clusters that reach it. */
export class PoolRegistry {
  readonly #pools = new Map<string, { pool: UpstreamPool, used: boolean }>()
  /** The gateway's workload identity for ISTIO_MUTUAL (`--identity-dir`), or null. */
  identity: WorkloadIdentity | null = null

  get (address: string, port: number, cluster: Cluster): UpstreamPool {
    const tls = cluster.tls
    const p = cluster.pool
    const key = `${address}|${port}|${p.maxConnections}|${p.connectTimeoutMs}|${p.idleTimeoutMs}|${p.maxRequestsPerConnection}|${tls === null ? '' : tlsKey(tls)}`
    const existing = this.#pools.get(key)
    if (existing !== undefined) { existing.used = true; return existing.pool }
    const connect = tls === null
      ? plainConnector(p.connectTimeoutMs, p.h2)
      : tls.mode === 'ISTIO_MUTUAL' ? this.#meshConnector(tls, p.connectTimeoutMs) : buildConnector({ ...tlsConnectOptions(tls, p.connectTimeoutMs), allowH2: p.h2 } as ConnectorOptions)
    const idleTimeoutMs = Math.min(p.idleTimeoutMs, 60_000)
    if (!p.h2 && useH1Pool()) {
      const pool = new H1Pool({
        host: address,
        port,
        tls: tls !== null,
        connect,
        maxConnections: p.maxConnections >= 2 ** 32 - 1 ? Infinity : p.maxConnections,
        maxRequestsPerConnection: p.maxRequestsPerConnection,
        idleTimeoutMs
      })
      this.#pools.set(key, { pool, used: true })
      return pool
    }
    const scheme = tls === null ? 'http' : 'https'
    const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address
    const pool = new (undici().Pool)(`${scheme}://${host}:${port}`, {
      connections: p.maxConnections >= 2 ** 32 - 1 ? null : p.maxConnections,
      pipelining: p.maxRequestsPerConnection === 1 ? 0 : 1,
      keepAliveTimeout: idleTimeoutMs,
      keepAliveMaxTimeout: Math.min(p.idleTimeoutMs, 600_000),
      headersTimeout: 0,
      bodyTimeout: 0,
      connectTimeout: p.connectTimeoutMs,
      connect,
      allowH2: p.h2,
      strictContentLength: false
    })
    // Pool errors surface per request; a stray 'error' must never crash the process.
    pool.on('connectionError', noop)
    const upstream = pool as unknown as UpstreamPool
    this.#pools.set(key, { pool: upstream, used: true })
    return upstream
  }

  /**
   * ISTIO_MUTUAL: every new connection presents the identity current at that
   * moment (rotation needs no new pool; open connections keep theirs and drain).
   */
  #meshConnector (tls: UpstreamTls, timeout: number): Connector {
    let built: { generation: number, connect: Connector } | null = null
    return (opts, cb) => {
      const id = this.identity?.current
      if (id === undefined) {
        cb(Object.assign(new Error('ISTIO_MUTUAL needs a workload identity: start meshgate with --identity-dir'), { code: 'MESHGATE_NO_IDENTITY' }), null)
        return
      }
      if (built === null || built.generation !== id.generation) {
        built = { generation: id.generation, connect: buildConnector({ ...tlsConnectOptions(tls, timeout), cert: id.certChain, key: id.key, ca: id.root } as ConnectorOptions) }
      }
      built.connect(opts, cb)
    }
  }

  /** Closes pools no live cluster uses any more (after a snapshot swap). */
  sweep (): void {
    for (const [key, entry] of this.#pools) {
      if (!entry.used) {
        this.#pools.delete(key)
        entry.pool.close().catch(noop)
      } else {
        entry.used = false
      }
    }
  }

  markAllUnused (): void {
    for (const e of this.#pools.values()) e.used = false
  }

  async close (): Promise<void> {
    const all = [...this.#pools.values()].map(e => e.pool.close().catch(noop))
    this.#pools.clear()
    await Promise.all(all)
  }

  async destroy (): Promise<void> {
    const all = [...this.#pools.values()].map(e => e.pool.destroy().catch(noop))
    this.#pools.clear()
    await Promise.all(all)
  }
}

function noop (): void {}

function tlsKey (t: UpstreamTls): string {
  return JSON.stringify([t.mode, t.sni, t.subjectAltNames, t.insecureSkipVerify, t.alpn, t.cert?.length, t.key?.length, t.ca?.length, hashText(t.cert), hashText(t.ca)])
}

function hashText (s: string | null): number {
  if (s === null) return 0
  let h = 0
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0
  return h
}

function tlsConnectOptions (t: UpstreamTls, timeout: number): Record<string, unknown> {
  const opts: Record<string, unknown> = {
    timeout,
    servername: t.sni,
    rejectUnauthorized: !t.insecureSkipVerify
  }
  if (t.ca !== null) opts.ca = t.ca
  if (t.cert !== null) opts.cert = t.cert
  if (t.key !== null) opts.key = t.key
  if (t.alpn.length > 0) opts.ALPNProtocols = [...t.alpn]
  if (t.subjectAltNames.length > 0) {
    const wanted = t.subjectAltNames
    // Peer identity is checked against subjectAltNames instead of the host name (Istio).
    opts.checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
      const sans = (cert.subjectaltname ?? '').split(/,\s*/).map(s => s.replace(/^(URI|DNS|IP Address):/, ''))
      if (wanted.some(w => sans.includes(w))) return undefined
      return new Error(`upstream identity mismatch: expected one of ${wanted.join(', ')}, presented ${sans.join(', ') || 'none'}`)
    }
  } else if (t.insecureSkipVerify || t.mode === 'ISTIO_MUTUAL') {
    // ISTIO_MUTUAL without subjectAltNames: the mesh root vouches for the peer
    // (the SNI is Istio's outbound_ name, not a host the certificate carries).
    opts.checkServerIdentity = (): undefined => undefined
  } else {
    opts.checkServerIdentity = checkServerIdentity
  }
  return opts
}

/** Keeps one ClusterRuntime per snapshot cluster, reusing it while the cluster is unchanged. */
export class UpstreamManager {
  readonly pools = new PoolRegistry()
  #byKey = new Map<string, ClusterRuntime>()

  /** Called off the request path, before a new snapshot is published. */
  sync (snapshot: Snapshot): void {
    const next = new Map<string, ClusterRuntime>()
    this.pools.markAllUnused()
    for (const [key, cluster] of snapshot.clusters) {
      const old = this.#byKey.get(key)
      if (old !== undefined && old.cluster.fingerprint === cluster.fingerprint) {
        next.set(key, old)
        for (const e of cluster.endpoints) this.pools.get(e.address, e.port, cluster)
      } else {
        next.set(key, new ClusterRuntime(cluster, this.pools))
      }
    }
    for (const [key, rt] of this.#byKey) if (next.get(key) !== rt) rt.close()
    this.#byKey = next
    this.pools.sweep()
  }

  get (key: string): ClusterRuntime | undefined {
    return this.#byKey.get(key)
  }

  async close (): Promise<void> {
    for (const rt of this.#byKey.values()) rt.close()
    this.#byKey.clear()
    await this.pools.close()
  }
}
