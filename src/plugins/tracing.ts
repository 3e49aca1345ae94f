// W3C Trace Context and OpenTelemetry spans, off unless `--otlp-endpoint` is
// given (then like Envoy's OpenTelemetry tracer at an Istio gateway): the
// gateway's span is a child of the client's `traceparent` (or starts a trace),
// upstreams get a `traceparent` naming the gateway's span, and sampled spans
// are sent in batches as OTLP/HTTP JSON. The sampling decision follows the
// parent's flag; a trace that starts here is sampled at `--trace-sampling`
// percent (Istio's default: 1). Without tracing, `traceparent` and
// `tracestate` pass through untouched.
import { randomFillSync } from 'node:crypto'
import type { Logger } from 'pino'
import { undici } from '../mesh-bridge/undici.js'

export interface TracingOptions {
  /** OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`; a bare origin gets `/v1/traces`). */
  readonly endpoint: string
  /** Percent of new traces to sample, 0-100. */
  readonly samplingPercent: number
  readonly serviceName?: string
  /** Longest wait before a batch is sent, ms (default 1000). */
  readonly flushMs?: number
}

export interface TraceContext {
  readonly traceId: string
  readonly spanId: string
  /** The client's span, '' when the trace starts here. */
  readonly parentSpanId: string
  readonly sampled: boolean
  readonly startNs: bigint
}

export interface SpanEnd {
  readonly name: string
  readonly status: number
  readonly attributes: ReadonlyArray<readonly [string, string | number]>
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)
const MAX_QUEUE = 4096
const MAX_BATCH = 512

interface Span { ctx: TraceContext, endNs: bigint, end: SpanEnd }

export class Tracer {
  readonly endpoint: string
  readonly #sampling: number
  readonly #service: string
  readonly #flushMs: number
  readonly #log: Logger | null
  #queue: Span[] = []
  #timer: NodeJS.Timeout | null = null
  #sending: Promise<void> | null = null
  #dropped = 0
  /** Random bytes for ids, refilled in blocks (one syscall per 256 spans, not per request). */
  readonly #pool = Buffer.alloc(24 * 256)
  #poolPos = this.#pool.length
  /** Wall clock at start, to turn hrtime into Unix nanoseconds. */
  readonly #epochNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint()

  constructor (opts: TracingOptions, log: Logger | null) {
    this.endpoint = tracesUrl(opts.endpoint)
    this.#sampling = Math.max(0, Math.min(100, opts.samplingPercent)) / 100
    this.#service = opts.serviceName ?? 'meshgate'
    this.#flushMs = opts.flushMs ?? 1_000
    this.#log = log
  }

  /** Opens the gateway's span for a request with this `traceparent` (or none). */
  start (traceparent: string | string[] | undefined): TraceContext {
    const ids = this.#ids()
    const m = typeof traceparent === 'string' ? TRACEPARENT.exec(traceparent.trim().toLowerCase()) : null
    if (m !== null && m[1] !== 'ff' && m[2] !== ZERO_TRACE && m[3] !== ZERO_SPAN) {
      return { traceId: m[2]!, spanId: ids.span, parentSpanId: m[3]!, sampled: (parseInt(m[4]!, 16) & 1) === 1, startNs: process.hrtime.bigint() }
    }
    return { traceId: ids.trace, spanId: ids.span, parentSpanId: '', sampled: Math.random() < this.#sampling, startNs: process.hrtime.bigint() }
  }

  /** The `traceparent` upstreams get: the trace, with the gateway's span as parent. */
  static header (ctx: TraceContext): string {
    return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`
  }

  end (ctx: TraceContext, end: SpanEnd): void {
    if (!ctx.sampled) return
    if (this.#queue.length >= MAX_QUEUE) { this.#dropped++; return }
    this.#queue.push({ ctx, endNs: process.hrtime.bigint(), end })
    if (this.#queue.length >= MAX_BATCH) void this.flush()
    else if (this.#timer === null) {
      this.#timer = setTimeout(() => { this.#timer = null; void this.flush() }, this.#flushMs)
      this.#timer.unref()
    }
  }

  /** Sends what is queued; one request at a time, failures are logged and the spans dropped. */
  async flush (): Promise<void> {
    if (this.#sending !== null) await this.#sending
    if (this.#queue.length === 0) return
    const batch = this.#queue.splice(0, MAX_BATCH)
    this.#sending = this.#send(batch).finally(() => { this.#sending = null })
    await this.#sending
    if (this.#queue.length > 0) await this.flush()
  }

  async close (): Promise<void> {
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null }
    await this.flush()
  }

  async #send (batch: Span[]): Promise<void> {
    const body = JSON.stringify(this.#payload(batch))
    try {
      const res = await undici().request(this.endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body, headersTimeout: 5_000, bodyTimeout: 5_000 })
      await res.body.dump()
      if (res.statusCode >= 300) this.#log?.warn({ endpoint: this.endpoint, status: res.statusCode, spans: batch.length }, 'OTLP export refused')
    } catch (err) {
      this.#log?.warn({ endpoint: this.endpoint, err: (err as Error).message, spans: batch.length }, 'OTLP export failed')
    }
    if (this.#dropped > 0) {
      this.#log?.warn({ dropped: this.#dropped }, 'spans dropped: the export queue was full')
      this.#dropped = 0
    }
  }

  #payload (batch: Span[]): object {
    return {
      resourceSpans: [{
        resource: { attributes: [attr('service.name', this.#service)] },
        scopeSpans: [{
          scope: { name: 'meshgate' },
          spans: batch.map(s => ({
            traceId: s.ctx.traceId,
            spanId: s.ctx.spanId,
            ...(s.ctx.parentSpanId === '' ? {} : { parentSpanId: s.ctx.parentSpanId }),
            name: s.end.name,
            kind: 2, // SPAN_KIND_SERVER
            startTimeUnixNano: String(this.#epochNs + s.ctx.startNs),
            endTimeUnixNano: String(this.#epochNs + s.endNs),
            attributes: [attr('http.response.status_code', s.end.status), ...s.end.attributes.map(([k, v]) => attr(k, v))],
            // OpenTelemetry's HTTP server convention: 5xx (and no answer at all) is an error.
            status: { code: s.end.status >= 500 || s.end.status === 0 ? 2 : 0 }
          }))
        }]
      }]
    }
  }

  #ids (): { trace: string, span: string } {
    if (this.#poolPos + 24 > this.#pool.length) {
      randomFillSync(this.#pool)
      this.#poolPos = 0
    }
    const p = this.#poolPos
    this.#poolPos += 24
    return { trace: this.#pool.toString('hex', p, p + 16), span: this.#pool.toString('hex', p + 16, p + 24) }
  }
}

function attr (key: string, v: string | number): object {
  return { key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v } }
}

function tracesUrl (endpoint: string): string {
  const u = new URL(endpoint)
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/v1/traces'
  return u.toString()
}
