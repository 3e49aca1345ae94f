// Fire-and-forget copies of a request (`mirror`/`mirrors`). The copy keeps the
// original Host (Istio ≥ 1.28); its answer and errors never reach the client.
import type { MirrorPolicy } from '../snapshot.js'
import type { Exchange } from './exchange.js'

class DrainHandler {
  onRequestStart (): void {}
  onResponseStart (): void {}
  onResponseData (): void {}
  onResponseEnd (): void {}
  onResponseError (): void {}
}

const DRAIN = new DrainHandler()

export function mirrorRequest (ex: Exchange, m: MirrorPolicy): void {
  const rt = ex.plane.upstreams.get(m.clusterKey)
  if (rt === undefined) return
  const ep = rt.balancer.pick(null, null)
  if (ep === null) return
  try {
    rt.poolOf(ep).dispatch({
      path: ex.upstreamPath,
      method: ex.facts.method,
      headers: ex.upstreamHeaders,
      body: ex.body,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
      timeoutMs: 60_000,
      servername: rt.cluster.tls?.forcedSni ?? undefined
    }, DRAIN)
  } catch {
    // A mirror never affects the client.
  }
}
