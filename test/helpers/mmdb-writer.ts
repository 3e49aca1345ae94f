// A small writer for MaxMind DB files (format spec 2.0), used to build fixture
// GeoIP databases for tests. File layout:
//
//   search tree | 16 zero bytes | data section | "\xAB\xCD\xEFMaxMind.com" | metadata map
//
// The tree is a binary trie over address bits; each node holds two records
// (bit 0, bit 1) of record_size bits. A record value below node_count is the
// next node, node_count itself means "no data", and node_count + 16 + offset
// points at a value in the data section.

/** Explicitly typed scalars, for the data types a plain JS number does not pick. */
export type MmdbScalarType = 'uint16' | 'uint32' | 'uint64' | 'uint128' | 'int32' | 'float' | 'double'

/** A number stored as a given MaxMind type; build one with `mmdbTyped`. */
export class MmdbTyped {
  constructor (readonly type: MmdbScalarType, readonly value: number | bigint) {}
}

/** `mmdbTyped('uint16', 443)`: store `value` with exactly this data type. */
export function mmdbTyped (type: MmdbScalarType, value: number | bigint): MmdbTyped {
  return new MmdbTyped(type, value)
}

/**
 * A value in the data section. Plain numbers: integers 0..2^32-1 are uint32,
 * larger integers below 2^64 are uint64 (readers return them as bigint),
 * negative integers from -2^31 are int32, anything else is a double. bigint is
 * uint64 or uint128, a Uint8Array (Buffer) is bytes, objects are maps.
 */
export type MmdbValue =
  | string | number | boolean | bigint | Uint8Array | MmdbTyped
  | MmdbValue[] | { [key: string]: MmdbValue }

export interface MmdbNetwork {
  /** '88.0.0.0/16' or '2a02:9000::/23'; host bits must be zero. */
  cidr: string
  data: MmdbValue
}

export interface BuildMmdbOptions {
  databaseType: string
  ipVersion: 4 | 6
  /**
   * Overlaps are allowed: each address gets the data of the most specific
   * network containing it (among equal CIDRs, the last one listed).
   */
  networks: MmdbNetwork[]
  /** Bits per tree record (default 28). */
  recordSize?: 24 | 28 | 32
  languages?: string[]
  description?: Record<string, string>
  /** Seconds since the epoch (default: now). */
  buildEpoch?: number
}

const METADATA_MARKER = Buffer.from('\xAB\xCD\xEFMaxMind.com', 'latin1')
const DATA_SEPARATOR_SIZE = 16

// Type numbers from the spec; 1-7 fit the control byte, 8+ are "extended".
// Pointers (type 1) are written by pointerBytes.
const T = {
  utf8: 2, double: 3, bytes: 4, uint16: 5, uint32: 6, map: 7,
  int32: 8, uint64: 9, uint128: 10, array: 11, boolean: 14, float: 15
} as const

/** Builds a complete .mmdb file; `new Reader(buffer)` from `maxmind` reads it. */
export function buildMmdb (opts: BuildMmdbOptions): Buffer {
  const recordSize = opts.recordSize ?? 28
  if (recordSize !== 24 && recordSize !== 28 && recordSize !== 32) {
    throw new Error(`mmdb: record size must be 24, 28 or 32, got ${String(recordSize)}`)
  }
  if (opts.ipVersion !== 4 && opts.ipVersion !== 6) {
    throw new Error(`mmdb: ip version must be 4 or 6, got ${String(opts.ipVersion)}`)
  }
  const treeBits = opts.ipVersion === 4 ? 32 : 128

  // Data first: tree records need the offsets. Identical records encode to one entry.
  const data = new DataWriter(true)
  const parsed = opts.networks.map(n => ({ ...parseNetwork(n.cidr, opts.ipVersion), data: n.data }))
  const offsets = parsed.map(p => data.writeRecord(p.data))

  // Shorter prefixes first, so a more specific network splits and overrides
  // the one containing it; the sort is stable, so a repeated CIDR's last entry wins.
  const order = parsed.map((_, i) => i).sort((a, b) => parsed[a]!.prefix - parsed[b]!.prefix)
  let root: Rec = EMPTY
  for (const i of order) {
    const p = parsed[i]!
    root = insert(root, p.address, p.prefix, treeBits, 0, { kind: 'data', offset: offsets[i]! })
  }
  // The root is always a node, even for an empty tree or a /0 network.
  if (root.kind !== 'node') root = { kind: 'node', children: [root, root] }

  const nodes = numberNodes(root)
  const nodeCount = nodes.length
  const maxRecord = nodeCount + DATA_SEPARATOR_SIZE + data.length
  if (maxRecord >= 2 ** recordSize) {
    throw new Error(`mmdb: ${nodeCount} nodes and ${data.length} data bytes do not fit ${recordSize}-bit records`)
  }
  const recordValue = (r: Rec): number => {
    if (r.kind === 'node') return r.index!
    if (r.kind === 'empty') return nodeCount
    return nodeCount + DATA_SEPARATOR_SIZE + r.offset
  }

  const nodeBytes = recordSize / 4
  const tree = Buffer.alloc(nodeCount * nodeBytes)
  nodes.forEach((node, i) => {
    writeNode(tree, i * nodeBytes, recordSize, recordValue(node.children[0]), recordValue(node.children[1]))
  })

  // Metadata is a map like any other, but never uses pointers (they would be
  // relative to the metadata start, not the data section).
  const meta = new DataWriter(false)
  meta.writeValue({
    node_count: mmdbTyped('uint32', nodeCount),
    record_size: mmdbTyped('uint16', recordSize),
    ip_version: mmdbTyped('uint16', opts.ipVersion),
    database_type: opts.databaseType,
    languages: opts.languages ?? [],
    binary_format_major_version: mmdbTyped('uint16', 2),
    binary_format_minor_version: mmdbTyped('uint16', 0),
    build_epoch: mmdbTyped('uint64', BigInt(opts.buildEpoch ?? Math.floor(Date.now() / 1000))),
    description: opts.description ?? {}
  })

  return Buffer.concat([tree, Buffer.alloc(DATA_SEPARATOR_SIZE), data.toBuffer(), METADATA_MARKER, meta.toBuffer()])
}

// ---------------------------------------------------------------- search tree

type Rec =
  | { kind: 'empty' }
  | { kind: 'data', offset: number }
  | { kind: 'node', children: [Rec, Rec], index?: number }

const EMPTY: Rec = { kind: 'empty' }

/** Sets the record for the first `prefix` bits of `address`, splitting leaves on the way. */
function insert (rec: Rec, address: bigint, prefix: number, treeBits: number, depth: number, value: Rec): Rec {
  if (depth === prefix) return value
  // A leaf above the new network covers both halves: split it so the half we
  // do not descend into keeps the old data.
  const node: Rec = rec.kind === 'node' ? rec : { kind: 'node', children: [rec, rec] }
  const bit = Number((address >> BigInt(treeBits - 1 - depth)) & 1n)
  node.children[bit] = insert(node.children[bit]!, address, prefix, treeBits, depth + 1, value)
  return node
}

/** Numbers nodes breadth-first from the root (which must be node 0). */
function numberNodes (root: Rec & { kind: 'node' }): Array<Rec & { kind: 'node' }> {
  const nodes: Array<Rec & { kind: 'node' }> = [root]
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!
    node.index = i
    for (const child of node.children) if (child.kind === 'node') nodes.push(child)
  }
  return nodes
}

function writeNode (buf: Buffer, at: number, recordSize: number, left: number, right: number): void {
  if (recordSize === 24) {
    buf.writeUIntBE(left, at, 3)
    buf.writeUIntBE(right, at + 3, 3)
  } else if (recordSize === 28) {
    // The middle byte holds the top nibble of each record: left's high, right's low.
    buf.writeUIntBE(left & 0xffffff, at, 3)
    buf[at + 3] = ((left >>> 24) << 4) | (right >>> 24)
    buf.writeUIntBE(right & 0xffffff, at + 4, 3)
  } else {
    buf.writeUInt32BE(left, at)
    buf.writeUInt32BE(right, at + 4)
  }
}

// ---------------------------------------------------------------- CIDR parsing

/** Address as a tree-width bigint (IPv4 in an IPv6 tree goes to ::a.b.c.d, prefix + 96). */
function parseNetwork (cidr: string, ipVersion: 4 | 6): { address: bigint, prefix: number } {
  const fail = (why: string): never => { throw new Error(`mmdb: malformed CIDR '${cidr}': ${why}`) }
  const slash = cidr.indexOf('/')
  if (slash < 0) fail('missing /prefix')
  const addrText = cidr.slice(0, slash)
  const prefixText = cidr.slice(slash + 1)
  const v4 = parseIPv4(addrText)
  const v6 = v4 === null ? parseIPv6(addrText) : null
  if (v4 === null && v6 === null) fail('not an IPv4 or IPv6 address')
  const bits = v4 !== null ? 32 : 128
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) fail(`prefix must be 0..${bits}`)
  const prefix = Number(prefixText)
  const address = (v4 ?? v6)!
  if ((address & ((1n << BigInt(bits - prefix)) - 1n)) !== 0n) fail('host bits set beyond the prefix')
  if (ipVersion === 4) {
    if (v4 === null) throw new Error(`mmdb: IPv6 network '${cidr}' in an IPv4 database`)
    return { address, prefix }
  }
  // MaxMind's IPv6 databases keep IPv4 in ::/96, where readers look for it.
  return v4 !== null ? { address, prefix: prefix + 96 } : { address, prefix }
}

function parseIPv4 (text: string): bigint | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  let n = 0n
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return null
    n = (n << 8n) | BigInt(part)
  }
  return n
}

function parseIPv6 (text: string): bigint | null {
  const halves = text.split('::')
  if (halves.length > 2) return null
  const groups = (s: string): number[] | null => {
    if (s === '') return []
    const out: number[] = []
    const parts = s.split(':')
    for (const [i, part] of parts.entries()) {
      // A dotted IPv4 tail ("::ffff:1.2.3.4") counts as two groups.
      if (i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIPv4(part)
        if (v4 === null) return null
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn))
      } else if (/^[0-9a-f]{1,4}$/i.test(part)) {
        out.push(parseInt(part, 16))
      } else {
        return null
      }
    }
    return out
  }
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  if (head === null || tail === null) return null
  // The IPv4 tail is only allowed at the very end of the address.
  if (halves.length === 2 && halves[0]!.includes('.')) return null
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null
  let n = 0n
  for (const g of [...head, ...new Array<number>(missing).fill(0), ...tail]) n = (n << 16n) | BigInt(g)
  return n
}

// ---------------------------------------------------------------- data section

/** Appends encoded values; with `dedupe`, repeats become pointers to the first copy. */
class DataWriter {
  private buf = Buffer.alloc(1024)
  private len = 0
  // Canonical value key -> offset of its first inline encoding.
  private readonly seen = new Map<string, number>()
  // Keys of maps and arrays, so nested values are not re-serialised at each
  // level. Per writer: callers may mutate their objects between builds.
  private readonly keys = new WeakMap<object, string>()

  constructor (private readonly dedupe: boolean) {}

  get length (): number { return this.len }

  toBuffer (): Buffer { return Buffer.from(this.buf.subarray(0, this.len)) }

  /** Offset of `value` for a tree record: an identical earlier value is reused as is. */
  writeRecord (value: MmdbValue): number {
    const key = keyOf(value, this.keys)
    const known = this.seen.get(key)
    if (known !== undefined) return known
    const at = this.len
    // Registered before encoding, and encoded inline: a tree record must not land on a pointer.
    if (this.dedupe) this.seen.set(key, at)
    this.inline(value)
    return at
  }

  writeValue (value: MmdbValue): void {
    if (this.dedupe && isPointerWorthy(value)) {
      const key = keyOf(value, this.keys)
      const known = this.seen.get(key)
      if (known !== undefined && pointerSize(known) < inlineSizeHint(value)) {
        this.pointer(known)
        return
      }
      if (known === undefined) this.seen.set(key, this.len)
    }
    this.inline(value)
  }

  private inline (value: MmdbValue): void {
    if (typeof value === 'string') {
      const size = Buffer.byteLength(value, 'utf8')
      this.header(T.utf8, size)
      this.reserve(size)
      this.len += this.buf.write(value, this.len, 'utf8')
    } else if (typeof value === 'number') {
      this.number(value)
    } else if (typeof value === 'boolean') {
      // The value lives in the size field; there is no payload.
      this.header(T.boolean, value ? 1 : 0)
    } else if (typeof value === 'bigint') {
      this.typed(new MmdbTyped(value < 1n << 64n ? 'uint64' : 'uint128', value))
    } else if (value instanceof Uint8Array) {
      this.header(T.bytes, value.length)
      this.bytes(value)
    } else if (value instanceof MmdbTyped) {
      this.typed(value)
    } else if (Array.isArray(value)) {
      this.header(T.array, value.length)
      for (const item of value) this.writeValue(item)
    } else if (isPlainObject(value)) {
      const entries = Object.entries(value)
      this.header(T.map, entries.length)
      for (const [k, v] of entries) {
        this.writeValue(k)
        this.writeValue(v)
      }
    } else {
      throw new Error(`mmdb: cannot encode ${value === null ? 'null' : typeof value} (the format has no such type)`)
    }
  }

  private number (v: number): void {
    // -0 as uint32 would read back as 0; keep it a double.
    if (!Number.isInteger(v) || Object.is(v, -0)) this.typed(new MmdbTyped('double', v))
    else if (v >= 0 && v <= 0xffffffff) this.typed(new MmdbTyped('uint32', v))
    else if (v > 0 && v < 2 ** 64) this.typed(new MmdbTyped('uint64', BigInt(v)))
    else if (v < 0 && v >= -(2 ** 31)) this.typed(new MmdbTyped('int32', v))
    else this.typed(new MmdbTyped('double', v))
  }

  private typed ({ type, value }: MmdbTyped): void {
    if (type === 'double' || type === 'float') {
      if (typeof value !== 'number') throw new Error(`mmdb: ${type} needs a number, got a bigint`)
      const b = Buffer.alloc(type === 'double' ? 8 : 4)
      if (type === 'double') b.writeDoubleBE(value)
      else b.writeFloatBE(value)
      this.header(T[type], b.length)
      this.bytes(b)
      return
    }
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new Error(`mmdb: ${type} needs an integer, got ${value}`)
    }
    const n = BigInt(value)
    if (type === 'int32') {
      if (n < -(2n ** 31n) || n >= 2n ** 31n) throw new Error(`mmdb: ${n} is out of int32 range`)
      // Shorter fields read back as positive, so a negative int32 takes all 4 bytes.
      if (n < 0n) {
        this.header(T.int32, 4)
        this.bytes(uintBytes(n + 2n ** 32n))
      } else {
        this.uint(T.int32, n)
      }
      return
    }
    const bits = { uint16: 16n, uint32: 32n, uint64: 64n, uint128: 128n }[type]
    if (n < 0n || n >= 1n << bits) throw new Error(`mmdb: ${n} is out of ${type} range`)
    this.uint(T[type], n)
  }

  /** Unsigned integers use as few bytes as the value needs (zero is no bytes). */
  private uint (type: number, n: bigint): void {
    const b = n === 0n ? new Uint8Array(0) : uintBytes(n)
    this.header(type, b.length)
    this.bytes(b)
  }

  private pointer (offset: number): void {
    for (const b of pointerBytes(offset)) this.byte(b)
  }

  /** Control byte (type in the top 3 bits, or 0 plus an extended type byte) and size. */
  private header (type: number, size: number): void {
    const { five, extra } = sizeField(size)
    if (type <= 7) {
      this.byte((type << 5) | five)
    } else {
      this.byte(five)
      this.byte(type - 7)
    }
    for (const b of extra) this.byte(b)
  }

  private byte (b: number): void {
    this.reserve(1)
    this.buf[this.len++] = b
  }

  private bytes (b: Uint8Array): void {
    this.reserve(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
  }

  private reserve (n: number): void {
    if (this.len + n <= this.buf.length) return
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n))
    this.buf.copy(next, 0, 0, this.len)
    this.buf = next
  }
}

/** The 5 size bits of a control byte plus the size bytes that follow it. */
function sizeField (size: number): { five: number, extra: number[] } {
  if (size < 29) return { five: size, extra: [] }
  if (size < 285) return { five: 29, extra: [size - 29] }
  if (size < 65821) return { five: 30, extra: [(size - 285) >> 8, (size - 285) & 0xff] }
  const rest = size - 65821
  if (rest > 0xffffff) throw new Error(`mmdb: value of ${size} bytes/entries is too large`)
  return { five: 31, extra: [rest >> 16, (rest >> 8) & 0xff, rest & 0xff] }
}

/** Pointer encodings: 11, 19 and 27 value bits with growing bias, then a plain 32-bit value. */
function pointerBytes (offset: number): number[] {
  if (offset < 2048) return [0x20 | (offset >> 8), offset & 0xff]
  if (offset < 526336) {
    const v = offset - 2048
    return [0x28 | (v >> 16), (v >> 8) & 0xff, v & 0xff]
  }
  if (offset < 134744064) {
    const v = offset - 526336
    return [0x30 | (v >>> 24), (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]
  }
  if (offset > 0xffffffff) throw new Error(`mmdb: data offset ${offset} does not fit a pointer`)
  return [0x38, offset >>> 24, (offset >> 16) & 0xff, (offset >> 8) & 0xff, offset & 0xff]
}

function pointerSize (offset: number): number {
  return offset < 2048 ? 2 : offset < 526336 ? 3 : offset < 134744064 ? 4 : 5
}

/** Big-endian bytes of a positive bigint, no leading zeros. */
function uintBytes (n: bigint): Uint8Array {
  const out: number[] = []
  for (let x = n; x > 0n; x >>= 8n) out.unshift(Number(x & 0xffn))
  return Uint8Array.from(out)
}

// Numbers and booleans are at most a few bytes inline, never worth a pointer.
function isPointerWorthy (value: MmdbValue): boolean {
  return typeof value === 'string' || value instanceof Uint8Array ||
    (typeof value === 'object' && !(value instanceof MmdbTyped))
}

/** A lower bound of the inline size, enough to tell whether a pointer is shorter. */
function inlineSizeHint (value: MmdbValue): number {
  if (typeof value === 'string') return 1 + Buffer.byteLength(value, 'utf8')
  if (value instanceof Uint8Array) return 1 + value.length
  if (Array.isArray(value)) return value.length === 0 ? 2 : Infinity
  if (typeof value === 'object' && !(value instanceof MmdbTyped)) return Object.keys(value).length === 0 ? 1 : Infinity
  return 0
}

function isPlainObject (value: unknown): value is Record<string, MmdbValue> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

/**
 * Canonical text of a value including its encoded type, so equal keys mean
 * equal bytes. Strings are length-prefixed rather than quoted: V8 concatenates
 * them without copying, which keeps multi-megabyte values cheap.
 */
function keyOf (value: MmdbValue, cache: WeakMap<object, string>): string {
  if (typeof value === 'string') return `s${value.length}:${value}`
  // Scalars end in ';' so that every key is self-delimiting inside a container's key.
  if (typeof value === 'number') return `n${Object.is(value, -0) ? '-0' : String(value)};`
  if (typeof value === 'boolean') return value ? 'T' : 'F'
  if (typeof value === 'bigint') return `b${value};`
  if (value instanceof Uint8Array) return `x${value.length}:${Buffer.from(value.buffer, value.byteOffset, value.length).toString('latin1')}`
  if (value instanceof MmdbTyped) return `${value.type}:${String(value.value)};`
  const cached = cache.get(value)
  if (cached !== undefined) return cached
  let key: string
  if (Array.isArray(value)) key = `[${value.length}:${value.map(v => keyOf(v, cache)).join('')}`
  else if (isPlainObject(value)) key = `{${Object.keys(value).length}:${Object.entries(value).map(([k, v]) => keyOf(k, cache) + keyOf(v, cache)).join('')}`
  // Unsupported values get a unique key; encoding them throws a clear error anyway.
  else return `?${String(value)}`
  cache.set(value, key)
  return key
}
