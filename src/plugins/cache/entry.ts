// A cached response, and its wire form in Redis. The wire form is a 4-byte
// tag, a length-prefixed JSON header (status, headers, times, vary) and the
// raw body, so a body is never base64'd and any other bytes decode to null
// (a foreign or older value under our key is a miss, not a crash).

export interface CacheEntry {
  readonly status: number
  /** Response headers to replay, flat `[name, value, name, value, ...]`: lowercase names, hop-by-hop and `age`, `set-cookie` removed. */
  readonly headers: readonly string[]
  readonly body: Buffer
  /** ms since the epoch when the response arrived. */
  readonly storedAt: number
  /** Age the upstream reported (`age` header), ms. */
  readonly initialAgeMs: number
  /** Freshness lifetime, ms. */
  readonly freshMs: number
  /** After freshness ends: how long it may be served stale while a refresh runs (staleWhileRevalidate), ms. */
  readonly staleWhileRevalidateMs: number
  /** How long it may be served stale when the upstream fails (stale-if-error), ms. */
  readonly staleIfErrorMs: number
  /** Request header names (lowercase) the entry varies on (from the response's Vary, plus the policy's vary). */
  readonly vary: readonly string[]
}

/**
 * What a primary key holds when its responses vary: the request header names
 * (sorted, lowercase) of the last stored response. The responses themselves
 * live under `<primaryKey>#<hash of the varied values>`.
 */
export class VaryRecord {
  readonly vary: readonly string[]
  constructor (vary: readonly string[]) { this.vary = vary }
}

/** Bytes an entry counts against the L1 bound beyond its body and headers (objects, arrays, key). */
export const ENTRY_OVERHEAD_BYTES = 256
const RECORD_OVERHEAD_BYTES = 96

export function entrySize (e: CacheEntry): number {
  let n = ENTRY_OVERHEAD_BYTES + e.body.length
  const h = e.headers
  for (let i = 0; i < h.length; i += 2) n += h[i]!.length + h[i + 1]!.length + 16
  for (const name of e.vary) n += name.length + 8
  return n
}

export function varyRecordSize (r: VaryRecord): number {
  let n = RECORD_OVERHEAD_BYTES
  for (const name of r.vary) n += name.length + 8
  return n
}

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection; `age` is
// recomputed when replaying; `set-cookie` is personal and never replayed.
const NOT_REPLAYED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization', 'age', 'set-cookie'])

/**
 * The headers of an upstream response as `CacheEntry.headers`: without
 * hop-by-hop (including those named in `connection`), `age` and `set-cookie`.
 * Names come lowercase from every upstream path (meshgate's HTTP/1.1 pool,
 * undici, HTTP/2) and are taken as they are.
 */
export function replayHeaders (resHeaders: Readonly<Record<string, string | string[] | number | undefined>>): string[] {
  const connection = resHeaders.connection
  // Most answers say just `keep-alive` or `close`: no other header is named.
  const named = typeof connection !== 'string' || connection === 'keep-alive' || connection === 'close' ? NONE : connection.toLowerCase().split(',').map(s => s.trim())
  const out: string[] = []
  for (const name in resHeaders) {
    const value = resHeaders[name]
    if (value === undefined || NOT_REPLAYED.has(name) || (named !== NONE && named.includes(name))) continue
    if (typeof value === 'string') out.push(name, value)
    else if (Array.isArray(value)) for (const v of value) out.push(name, v)
    else out.push(name, String(value))
  }
  return out
}

const NONE: readonly string[] = []

// 'm' 'g' <kind> <version>
const MAGIC_0 = 0x6d
const MAGIC_1 = 0x67
const KIND_ENTRY = 0x45 // 'E'
const KIND_VARY = 0x56 // 'V'
const VERSION = 1
const TAG_BYTES = 4
// Larger JSON headers than this are not ours (a few KB of headers is normal).
const MAX_META_BYTES = 1 << 20

interface EntryMeta { s: number, h: Array<[string, string]>, t: number, a: number, f: number, w: number, e: number, v: string[] }

export function encodeEntry (e: CacheEntry): Buffer {
  const pairs: Array<[string, string]> = []
  for (let i = 0; i < e.headers.length; i += 2) pairs.push([e.headers[i]!, e.headers[i + 1]!])
  const meta: EntryMeta = { s: e.status, h: pairs, t: e.storedAt, a: e.initialAgeMs, f: e.freshMs, w: e.staleWhileRevalidateMs, e: e.staleIfErrorMs, v: e.vary as string[] }
  const json = JSON.stringify(meta)
  const jsonLength = Buffer.byteLength(json)
  const out = Buffer.allocUnsafe(TAG_BYTES + 4 + jsonLength + e.body.length)
  out[0] = MAGIC_0; out[1] = MAGIC_1; out[2] = KIND_ENTRY; out[3] = VERSION
  out.writeUInt32BE(jsonLength, TAG_BYTES)
  out.write(json, TAG_BYTES + 4, jsonLength, 'utf8')
  e.body.copy(out, TAG_BYTES + 4 + jsonLength)
  return out
}

/** The entry in `b`, or null for anything else (garbage, a vary record, another version). The body is a view into `b`. */
export function decodeEntry (b: Buffer): CacheEntry | null {
  if (kindOf(b) !== KIND_ENTRY || b.length < TAG_BYTES + 4) return null
  const metaLength = b.readUInt32BE(TAG_BYTES)
  const bodyStart = TAG_BYTES + 4 + metaLength
  if (metaLength > MAX_META_BYTES || bodyStart > b.length) return null
  const m = parseJson(b.toString('utf8', TAG_BYTES + 4, bodyStart))
  if (!isEntryMeta(m)) return null
  return { status: m.s, headers: m.h.flat(), body: b.subarray(bodyStart), storedAt: m.t, initialAgeMs: m.a, freshMs: m.f, staleWhileRevalidateMs: m.w, staleIfErrorMs: m.e, vary: m.v }
}

export function encodeVaryRecord (r: VaryRecord): Buffer {
  const json = Buffer.from(JSON.stringify(r.vary), 'utf8')
  const out = Buffer.allocUnsafe(TAG_BYTES + json.length)
  out[0] = MAGIC_0; out[1] = MAGIC_1; out[2] = KIND_VARY; out[3] = VERSION
  json.copy(out, TAG_BYTES)
  return out
}

/** What a key in Redis holds: an entry, a vary record, or null for anything unreadable. */
export function decodeStored (b: Buffer): CacheEntry | VaryRecord | null {
  const kind = kindOf(b)
  if (kind === KIND_ENTRY) return decodeEntry(b)
  if (kind !== KIND_VARY || b.length > TAG_BYTES + MAX_META_BYTES) return null
  const v = parseJson(b.toString('utf8', TAG_BYTES))
  return isHeaderNameList(v) && v.length > 0 ? new VaryRecord(v) : null
}

function kindOf (b: Buffer): number {
  if (b.length < TAG_BYTES || b[0] !== MAGIC_0 || b[1] !== MAGIC_1 || b[3] !== VERSION) return -1
  return b[2] ?? -1
}

function parseJson (text: string): unknown {
  try { return JSON.parse(text) } catch { return undefined }
}

function isEntryMeta (m: unknown): m is EntryMeta {
  if (typeof m !== 'object' || m === null) return false
  const x = m as Record<string, unknown>
  if (!Number.isInteger(x.s) || (x.s as number) < 100 || (x.s as number) > 999) return false
  if (!isMs(x.t) || !isMs(x.a) || !isMs(x.f) || !isMs(x.w) || !isMs(x.e)) return false
  if (!isHeaderNameList(x.v)) return false
  if (!Array.isArray(x.h)) return false
  for (const pair of x.h) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return false
  }
  return true
}

function isMs (v: unknown): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0
}

function isHeaderNameList (v: unknown): v is string[] {
  return Array.isArray(v) && v.every(n => typeof n === 'string' && n !== '' && n.length < 256)
}
