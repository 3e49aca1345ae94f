// The fixture mmdb writer is checked against the real reader (`maxmind`), so
// a fixture database means what the test building it says it means.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Reader } from 'maxmind'
import { buildMmdb, mmdbTyped, type MmdbNetwork, type MmdbValue } from '../helpers/mmdb-writer.js'

const CITY = {
  country: { iso_code: 'ES', names: { en: 'Spain' } },
  subdivisions: [{ iso_code: 'AN', names: { en: 'Andalusia' } }, { iso_code: 'SE', names: { en: 'Seville' } }],
  city: { names: { en: 'Seville' } },
  location: { latitude: 37.38, longitude: -5.98 }
}
const FLAT = { country_code: 'ES', state1: 'Andalusia', city: 'Seville' }

// The reader's record type is a union of GeoIP shapes; tests compare plain values.
function read (buf: Buffer): Reader<any> {
  return new Reader<any>(buf)
}

test('a GeoIP2-City record and a flat record read back deep-equal; uncovered addresses are null', () => {
  const reader = read(buildMmdb({
    databaseType: 'GeoIP2-City',
    ipVersion: 6,
    languages: ['en'],
    networks: [
      { cidr: '88.0.0.0/16', data: CITY },
      { cidr: '2a02:9000::/23', data: FLAT }
    ]
  }))
  assert.deepEqual(reader.get('88.0.12.34'), CITY)
  assert.deepEqual(reader.get('2a02:9100::1'), FLAT)
  assert.equal(reader.get('88.1.0.1'), null)
  assert.equal(reader.get('2a02:9200::1'), null)
  assert.equal(reader.get('8.8.8.8'), null)
})

test('IPv4 networks in an IPv6 database sit at ::/96 and are found by IPv4 lookups', () => {
  const buf = buildMmdb({ databaseType: 'Test', ipVersion: 6, networks: [{ cidr: '1.2.3.0/24', data: FLAT }] })
  const reader = read(buf)
  assert.deepEqual(reader.get('1.2.3.4'), FLAT)
  assert.deepEqual(reader.get('::1.2.3.4'), FLAT)
  assert.equal(reader.get('1.2.4.0'), null)
  // One node per bit down to ::1.2.3.0/120.
  assert.equal(reader.metadata.nodeCount, 120)
  // The reader counts the prefix from the IPv4 subtree.
  assert.deepEqual(reader.getWithPrefixLength('1.2.3.200'), [FLAT, 24])
  assert.deepEqual(reader.getWithPrefixLength('::1.2.3.200'), [FLAT, 120])
})

test('a more specific network overrides the one containing it, in any input order', () => {
  const outer = { city: 'outer' }
  const inner = { city: 'inner' }
  for (const networks of [
    [{ cidr: '10.0.0.0/8', data: outer }, { cidr: '10.1.2.0/24', data: inner }],
    [{ cidr: '10.1.2.0/24', data: inner }, { cidr: '10.0.0.0/8', data: outer }]
  ]) {
    const reader = read(buildMmdb({ databaseType: 'Test', ipVersion: 4, networks }))
    assert.deepEqual(reader.getWithPrefixLength('10.1.2.3'), [inner, 24])
    assert.deepEqual(reader.get('10.1.3.3'), outer)
    assert.deepEqual(reader.get('10.200.0.1'), outer)
    assert.equal(reader.get('11.0.0.1'), null)
  }
})

test('every record size reads back, including records above 24 bits', () => {
  // 18 MB of data (two strings: one value is at most ~16.8 MB) push the next
  // record's offset past 2^24, into the top nibble of a 28-bit record.
  const blob = 'x'.repeat(9_000_000)
  const networks = [
    { cidr: '5.0.0.0/8', data: { blob, blob2: `${blob}y` } },
    { cidr: '6.6.0.0/16', data: CITY },
    { cidr: '2001:db8::/32', data: FLAT }
  ]
  // 32-bit records are plain 4-byte fields, covered by the small databases below.
  const big = read(buildMmdb({ databaseType: 'Test', ipVersion: 6, recordSize: 28, networks }))
  assert.deepEqual(big.get('6.6.1.1'), CITY)
  assert.deepEqual(big.get('2001:db8::5'), FLAT)
  assert.equal(big.get('5.1.1.1').blob2.length, blob.length + 1)
  assert.throws(() => buildMmdb({ databaseType: 'Test', ipVersion: 6, recordSize: 24, networks }), /do not fit 24-bit records/)
  for (const recordSize of [24, 28, 32] as const) {
    const reader = read(buildMmdb({ databaseType: 'Test', ipVersion: 6, recordSize, networks: networks.slice(1) }))
    assert.equal(reader.metadata.recordSize, recordSize)
    assert.deepEqual(reader.get('6.6.1.1'), CITY)
    assert.deepEqual(reader.get('2001:db8::5'), FLAT)
    assert.equal(reader.get('6.7.0.0'), null)
  }
})

test('metadata carries the build options', () => {
  const reader = read(buildMmdb({
    databaseType: 'GeoLite2-City',
    ipVersion: 4,
    recordSize: 24,
    languages: ['en', 'es'],
    description: { en: 'fixture', es: 'prueba' },
    buildEpoch: 1_700_000_000,
    networks: [{ cidr: '88.0.0.0/16', data: CITY }]
  }))
  const m = reader.metadata
  assert.equal(m.databaseType, 'GeoLite2-City')
  assert.equal(m.ipVersion, 4)
  assert.equal(m.recordSize, 24)
  assert.equal(m.nodeCount, 16)
  assert.equal(m.binaryFormatMajorVersion, 2)
  assert.equal(m.binaryFormatMinorVersion, 0)
  assert.deepEqual(m.languages, ['en', 'es'])
  assert.deepEqual(m.description, { en: 'fixture', es: 'prueba' })
  assert.equal(m.buildEpoch.getTime(), 1_700_000_000_000)
})

test('getWithPrefixLength reports the inserted prefix', () => {
  const reader = read(buildMmdb({
    databaseType: 'Test',
    ipVersion: 6,
    networks: [{ cidr: '88.0.0.0/16', data: FLAT }, { cidr: '2a02:9000::/23', data: CITY }, { cidr: '0.0.0.0/0', data: 'v4 default' }]
  }))
  assert.deepEqual(reader.getWithPrefixLength('88.0.200.1'), [FLAT, 16])
  assert.deepEqual(reader.getWithPrefixLength('2a02:91ff::1'), [CITY, 23])
  // The /0 is split by the /16 below it, so the prefix shows where the split stopped.
  assert.deepEqual(reader.getWithPrefixLength('200.0.0.1'), ['v4 default', 1])
})

test('every data type round-trips', () => {
  const bytes = Buffer.from([0, 1, 2, 254, 255])
  const record = {
    str: 'héllo ✓',
    empty_str: '',
    // Size fields of 29+, 285+ and 65821+ bytes take 1, 2 and 3 extra bytes.
    s100: 'a'.repeat(100),
    s1000: 'b'.repeat(1000),
    s70000: 'c'.repeat(70_000),
    double: 37.38,
    neg_double: -5.98,
    zero: 0,
    uint32: 0xffffffff,
    uint64_from_number: 2 ** 40,
    int32: -123456,
    int32_min: -(2 ** 31),
    neg_zero: -0,
    yes: true,
    no: false,
    bytes,
    big64: 2n ** 64n - 1n,
    big128: 2n ** 128n - 1n,
    u16: mmdbTyped('uint16', 443),
    u32: mmdbTyped('uint32', 7),
    u64: mmdbTyped('uint64', 0),
    u128: mmdbTyped('uint128', 1n),
    i32: mmdbTyped('int32', 42),
    f32: mmdbTyped('float', 1.5),
    f64: mmdbTyped('double', 3),
    empty_map: {},
    empty_array: [],
    nested: [[1, [2, { deep: [true] }]]],
    long_array: Array.from({ length: 300 }, (_, i) => i),
    wide_map: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]))
  }
  const reader = read(buildMmdb({ databaseType: 'Test', ipVersion: 4, networks: [{ cidr: '1.0.0.0/8', data: record }] }))
  assert.deepEqual(reader.get('1.1.1.1'), {
    ...record,
    uint64_from_number: 2n ** 40n,
    u16: 443,
    u32: 7,
    u64: 0n,
    u128: 1n,
    i32: 42,
    f32: 1.5,
    f64: 3
  })
  // Top-level records need not be maps.
  const scalars = read(buildMmdb({
    databaseType: 'Test',
    ipVersion: 4,
    networks: [{ cidr: '1.0.0.0/8', data: 'just a string' }, { cidr: '2.0.0.0/8', data: 7 }, { cidr: '3.0.0.0/8', data: [1, 'a'] }]
  }))
  assert.equal(scalars.get('1.2.3.4'), 'just a string')
  assert.equal(scalars.get('2.2.3.4'), 7)
  assert.deepEqual(scalars.get('3.2.3.4'), [1, 'a'])
})

test('identical records and repeated values are stored once', () => {
  const networks: MmdbNetwork[] = Array.from({ length: 50 }, (_, i) => ({ cidr: `10.${i}.0.0/16`, data: { ...CITY } }))
  networks.push({ cidr: '11.0.0.0/8', data: { other: { names: { en: 'Seville' } }, label: 'Andalusia' } })
  const buf = buildMmdb({ databaseType: 'Test', ipVersion: 4, networks })
  for (const text of ['Andalusia', 'Seville', 'iso_code']) {
    assert.equal(buf.indexOf(text), buf.lastIndexOf(text), `${text} is stored once`)
  }
  const reader = read(buf)
  assert.deepEqual(reader.get('10.49.1.1'), CITY)
  assert.deepEqual(reader.get('11.1.1.1'), { other: { names: { en: 'Seville' } }, label: 'Andalusia' })
  // A record object edited between builds is not matched by its old contents.
  const record = { city: 'before' }
  buildMmdb({ databaseType: 'Test', ipVersion: 4, networks: [{ cidr: '1.0.0.0/8', data: record }] })
  record.city = 'after'
  const again = read(buildMmdb({ databaseType: 'Test', ipVersion: 4, networks: [{ cidr: '1.0.0.0/8', data: record }] }))
  assert.deepEqual(again.get('1.1.1.1'), { city: 'after' })
})

test('pointers past the first 2 KB and 512 KB of the data section resolve', () => {
  const shared = 'a string long enough to be worth a pointer'
  const networks: MmdbNetwork[] = [
    { cidr: '1.0.0.0/8', data: { pad: 'p'.repeat(3000), first: shared } },
    { cidr: '2.0.0.0/8', data: { again: shared } },
    { cidr: '3.0.0.0/8', data: { pad: 'q'.repeat(600_000), first: `${shared}!` } },
    { cidr: '4.0.0.0/8', data: { again: `${shared}!` } }
  ]
  const reader = read(buildMmdb({ databaseType: 'Test', ipVersion: 4, networks }))
  assert.deepEqual(reader.get('2.1.1.1'), { again: shared })
  assert.deepEqual(reader.get('4.1.1.1'), { again: `${shared}!` })
})

test('malformed CIDRs, IPv6 in an IPv4 database and unencodable values throw', () => {
  const build = (cidr: string, ipVersion: 4 | 6 = 6, data: MmdbValue = FLAT) =>
    () => buildMmdb({ databaseType: 'Test', ipVersion, networks: [{ cidr, data }] })
  for (const cidr of ['1.2.3.0', '1.2.3.0/33', '1.2.3/24', '256.1.1.0/24', '1.2.3.0/-1', '1.2.3.0/2x', '2001:db8::/129',
    '2001:db8:::/32', '2001:db8::g/32', '1:2:3:4:5:6:7:8:9/128', '1:2:3:4:5:6:7/112', '', 'example.com/8']) {
    assert.throws(build(cidr), /malformed CIDR/, cidr)
  }
  assert.throws(build('1.2.3.4/24'), /host bits set/)
  assert.throws(build('2001:db8::/32', 4), /IPv6 network '2001:db8::\/32' in an IPv4 database/)
  assert.throws(build('1.0.0.0/8', 4, { x: null } as unknown as MmdbValue), /cannot encode null/)
  assert.throws(build('1.0.0.0/8', 4, { x: mmdbTyped('uint16', 70_000) }), /out of uint16 range/)
  // Compressed, full and IPv4-tailed IPv6 forms all parse.
  for (const cidr of ['::/0', '::ffff:1.2.3.0/120', '2001:0db8:0000:0000:0000:0000:0000:0000/32', 'fe80::/10']) {
    assert.doesNotThrow(build(cidr), cidr)
  }
})

test('an empty database and a /0 network', () => {
  const empty = read(buildMmdb({ databaseType: 'Test', ipVersion: 6, networks: [] }))
  assert.equal(empty.get('1.1.1.1'), null)
  assert.equal(empty.get('2001:db8::1'), null)
  const all = read(buildMmdb({ databaseType: 'Test', ipVersion: 6, networks: [{ cidr: '::/0', data: FLAT }] }))
  assert.deepEqual(all.get('1.1.1.1'), FLAT)
  assert.deepEqual(all.get('2001:db8::1'), FLAT)
})

// ---------------------------------------------------------------- random round trip

// mulberry32: tiny seeded PRNG, so a failure reproduces.
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Net { v4: boolean, address: bigint, prefix: number, data: MmdbValue, cidr: string }

function formatAddress (v4: boolean, n: bigint): string {
  if (v4) return [24n, 16n, 8n, 0n].map(s => String((n >> s) & 0xffn)).join('.')
  return Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':')
}

test('a few hundred random overlapping networks round-trip against a brute-force lookup', () => {
  const rand = prng(20240601)
  const randBits = (bits: number): bigint => {
    let n = 0n
    for (let i = 0; i < bits; i += 16) n = (n << 16n) | BigInt(Math.floor(rand() * 65536))
    return n >> BigInt(Math.ceil(bits / 16) * 16 - bits)
  }
  // A small pool of records, so many networks share one.
  const pool: MmdbValue[] = Array.from({ length: 40 }, (_, i) => ({
    city: `city-${i}`, code: i, share: rand(), names: { en: `Name ${i % 7}` }, tags: [`t${i % 3}`, i % 2 === 0]
  }))
  // Networks share a few top bits (10/8 and 11/8; 2001::/16 and 2a02::/16) and
  // have prefixes in a narrow range, so many of them nest inside each other.
  const tops = { v4: [10n, 11n, 12n], v6: [0x2001n, 0x2a02n, 0x2c0fn] }
  const inside = (v4: boolean, top: bigint): bigint => v4 ? (top << 24n) | randBits(24) : (top << 112n) | randBits(112)
  const nets: Net[] = []
  for (let i = 0; i < 400; i++) {
    const v4 = rand() < 0.6
    const bits = v4 ? 32 : 128
    const prefix = v4 ? 8 + Math.floor(rand() * 12) : 16 + Math.floor(rand() * 20)
    const mask = ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix)
    const address = inside(v4, (v4 ? tops.v4 : tops.v6)[Math.floor(rand() * 2)]!) & mask
    const data = pool[Math.floor(rand() * pool.length)]!
    nets.push({ v4, address, prefix, data, cidr: `${formatAddress(v4, address)}/${prefix}` })
  }
  const recordSize = ([24, 28, 32] as const)[Math.floor(rand() * 3)]!
  const reader = read(buildMmdb({ databaseType: 'Test', ipVersion: 6, recordSize, networks: nets.map(n => ({ cidr: n.cidr, data: n.data })) }))

  const expected = (v4: boolean, addr: bigint): MmdbValue | null => {
    const bits = v4 ? 32 : 128
    let best: Net | null = null
    for (const n of nets) {
      if (n.v4 !== v4) continue
      const shift = BigInt(bits - n.prefix)
      // Later networks win ties, like the writer.
      if (addr >> shift === n.address >> shift && (best === null || n.prefix >= best.prefix)) best = n
    }
    return best?.data ?? null
  }
  const probes: Array<[boolean, bigint]> = []
  for (const n of nets) probes.push([n.v4, n.address | (randBits(n.v4 ? 32 : 128) & ((1n << BigInt((n.v4 ? 32 : 128) - n.prefix)) - 1n))])
  // Random probes under the shared tops, including one no network uses.
  for (let i = 0; i < 200; i++) {
    const v4 = rand() < 0.5
    probes.push([v4, inside(v4, (v4 ? tops.v4 : tops.v6)[Math.floor(rand() * 3)]!)])
  }
  let hits = 0
  for (const [v4, addr] of probes) {
    const want = expected(v4, addr)
    if (want !== null) hits++
    assert.deepEqual(reader.get(formatAddress(v4, addr)), want, `${formatAddress(v4, addr)} (record size ${recordSize})`)
  }
  // The probes must exercise both covered and uncovered space.
  assert.ok(hits > 400 && hits < probes.length, `${hits} of ${probes.length} probes covered`)
})
