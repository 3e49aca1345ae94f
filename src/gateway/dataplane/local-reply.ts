// Answers the gateway gives by itself, with Envoy's status codes, bodies and
// response flags (NR, NC, UH, UF, UC, UO, UT, FI, DI).
import type { ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import type { H1Response } from './h1-server.js'
import type { Endable } from './exchange.js'

export type DownstreamResponse = ServerResponse | Http2ServerResponse | H1Response

export const SERVER_HEADER = 'istio-envoy'

export const Flags = {
  NoRoute: 'NR',
  NoCluster: 'NC',
  NoHealthyUpstream: 'UH',
  UpstreamConnectFailure: 'UF',
  UpstreamConnectionTermination: 'UC',
  UpstreamOverflow: 'UO',
  UpstreamRequestTimeout: 'UT',
  FaultInjected: 'FI',
  DelayInjected: 'DI',
  DownstreamConnectionTermination: 'DC',
  UpstreamRetryLimitExceeded: 'URX',
  RateLimited: 'RL',
  RateLimitServiceError: 'RLSE'
} as const

const TEXT_PLAIN = 'text/plain'

/** Writes a complete local reply. `extra` is a flat [name, value, ...] list. */
export function sendLocalReply (res: DownstreamResponse, status: number, body: string | Buffer | null, extra: readonly string[] | null): number {
  if (res.headersSent) {
    res.destroy()
    return 0
  }
  const len = body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length
  res.statusCode = status
  res.setHeader('server', SERVER_HEADER)
  if (len > 0) res.setHeader('content-type', TEXT_PLAIN)
  res.setHeader('content-length', len)
  if (extra !== null) {
    for (let i = 0; i < extra.length; i += 2) res.setHeader(extra[i]!, extra[i + 1]!)
  }
  if (len > 0) (res as Endable).end(body!)
  else (res as Endable).end()
  return len
}

export const BODY_NO_HEALTHY_UPSTREAM = 'no healthy upstream'
export const BODY_TIMEOUT = 'upstream request timeout'
export const BODY_FAULT_ABORT = 'fault filter abort'
export const BODY_OVERFLOW = 'upstream connect error or disconnect/reset before headers. reset reason: overflow'

export function connectErrorBody (reason: string, retried: boolean): string {
  return retried
    ? `upstream connect error or disconnect/reset before headers. retried and the latest reset reason: ${reason}`
    : `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`
}
