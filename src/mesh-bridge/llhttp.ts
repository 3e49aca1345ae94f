// Node's llhttp binding, as node:http uses it for its client and server. It is
// Node's own, not a public API: `PARSER` is null should a Node release stop
// exposing it, and its users fall back to undici (upstreams) or node:http
// (listeners). Tests run on Node 20 and 24.
import { createRequire } from 'node:module'

export interface NativeParser {
  initialize (type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute (data: Buffer): number | ParseError
  finish (): number | Error | undefined
  close (): void
  remove (): void
  /** Reads the stream itself from now on (native, into a shared buffer): no Buffer per read, no 'data' event. */
  consume (handle: object): void
  unconsume (): void
  /** The bytes of the read being parsed (a copy), while consuming. */
  getCurrentBuffer (): Buffer
  [key: number]: unknown
}

/** What execute returns for bytes it refuses: `code` is llhttp's (`HPE_HEADER_OVERFLOW`, …). */
export interface ParseError extends Error {
  code?: string
  bytesParsed?: number
}

export interface ParserBinding {
  new (): NativeParser
  readonly REQUEST: number
  readonly RESPONSE: number
  readonly kOnHeaders: number
  readonly kOnHeadersComplete: number
  readonly kOnBody: number
  readonly kOnMessageComplete: number
  readonly kOnExecute?: number
}

interface HttpCommon {
  HTTPParser?: ParserBinding
  /** Method names by the parser's method number. */
  methods?: readonly string[]
}

function load (): HttpCommon | null {
  try {
    const m = createRequire(import.meta.url)('_http_common') as HttpCommon
    const p = m.HTTPParser
    return typeof p === 'function' && typeof p.RESPONSE === 'number' && typeof p.REQUEST === 'number' &&
      typeof p.kOnHeadersComplete === 'number' && Array.isArray(m.methods)
      ? m
      : null
  } catch {
    return null
  }
}

const common = load()
export const PARSER: ParserBinding | null = common?.HTTPParser ?? null
export const METHODS: readonly string[] = common?.methods ?? []

/** The callbacks a parser calls, with the parser as `this`. */
export interface ParserCallbacks<P> {
  headers (this: P, headers: string[], url: string): void
  headersComplete (this: P, ...args: any[]): number | undefined
  body (this: P, chunk: Buffer): void
  messageComplete (this: P): void
}

/** A parser for requests or answers, bound to `conn` (its `conn` field), heads up to `maxHeaderBytes`. */
export function newParser<C> (binding: ParserBinding, type: number, maxHeaderBytes: number, conn: C, cb: ParserCallbacks<NativeParser & { conn: C | null }>): NativeParser & { conn: C | null } {
  const parser = new binding() as NativeParser & { conn: C | null }
  parser.initialize(type, {}, maxHeaderBytes, 0)
  parser.conn = conn
  parser[binding.kOnHeaders] = cb.headers
  parser[binding.kOnHeadersComplete] = cb.headersComplete
  parser[binding.kOnBody] = cb.body
  parser[binding.kOnMessageComplete] = cb.messageComplete
  return parser
}
