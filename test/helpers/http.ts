// A small request helper over undici for tests: one call, one answer with the
// body read as text. The `host` header may be set (virtual-host routing), and
// `tls` gives a one-off client with a test CA, SNI name and client certificate.
import { Agent, request as undiciRequest, type Dispatcher } from 'undici'

export interface HttpResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  /** The body parsed as JSON (throws if it is not JSON). */
  json<T = unknown>(): T
}

export interface TlsClientOptions {
  ca?: string | Buffer
  cert?: string | Buffer
  key?: string | Buffer
  /** SNI name (and the name the certificate is checked against). */
  servername?: string
  rejectUnauthorized?: boolean
}

export interface RequestOptions {
  method?: string
  headers?: Record<string, string | string[]>
  body?: string | Buffer
  /** Whole-request timeout (headers and body); default 10 s. */
  timeoutMs?: number
  tls?: TlsClientOptions
  /** Use this dispatcher (e.g. a keep-alive Agent shared by a test). */
  dispatcher?: Dispatcher
}

/** Sends one request and reads the whole answer. Network errors reject. */
export async function request (url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const ownAgent = opts.dispatcher === undefined && opts.tls !== undefined
    ? new Agent({ connect: { ...opts.tls } })
    : null
  try {
    const res = await undiciRequest(url, {
      method: (opts.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: opts.headers,
      body: opts.body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      dispatcher: opts.dispatcher ?? ownAgent ?? undefined
    })
    const body = await res.body.text()
    return {
      status: res.statusCode,
      headers: res.headers,
      body,
      json<T>(): T { return JSON.parse(body) as T }
    }
  } finally {
    if (ownAgent !== null) await ownAgent.close()
  }
}

/** Sends `count` requests one after another and returns every answer. */
export async function requestMany (count: number, url: string, opts: RequestOptions = {}): Promise<HttpResponse[]> {
  const answers: HttpResponse[] = []
  for (let i = 0; i < count; i++) answers.push(await request(url, opts))
  return answers
}

/** The first value of a header (undici gives arrays for repeated headers). */
export function headerValue (res: HttpResponse, name: string): string | undefined {
  const value = res.headers[name.toLowerCase()]
  return Array.isArray(value) ? value[0] : value
}
