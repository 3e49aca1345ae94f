// CachePolicy semantics (RFC 9111 as a shared cache), the entry wire form, and
// the in-process store (L1) without Redis.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { decodeEntry, decodeStored, encodeEntry, encodeVaryRecord, entrySize, replayHeaders, VaryRecord, type CacheEntry } from '../../src/plugins/cache/entry.js'
import {
  cacheKey, currentAgeMs, freshness, matchesPurge, parseCacheControl, purgePattern, remainingLifeMs, requestDecision,
  responseDecision, variantKey, varyKey, WithCredentials, type CacheRules, type HeaderMap
} from '../../src/plugins/cache/semantics.js'
import { CacheStore } from '../../src/plugins/cache/store.js'
import { HttpCache } from '../../src/plugins/cache/index.js'
import type { CachePolicyRule } from '../../src/gateway/snapshot.js'

const RULES: CacheRules = { ttlMs: 60_000, methods: new Set(['GET', 'HEAD']), vary: [], maxBodyBytes: 1 << 20, staleWhileRevalidateMs: 0 }
const rules = (over: Partial<CacheRules> = {}): CacheRules => ({ ...RULES, ...over })

const NOW = Date.parse('Tue, 01 Jul 2025 12:00:00 GMT')
const httpDate = (ms: number): string => new Date(ms).toUTCString()

// --- requestDecision ---------------------------------------------------------

interface RequestCase { name: string, method?: string, headers?: HeaderMap, rules?: Partial<CacheRules>, principal?: boolean, want: string }

const REQUEST_CASES: RequestCase[] = [
  { name: 'a plain GET is looked up', want: 'lookup' },
  { name: 'HEAD is looked up (as GET)', method: 'HEAD', want: 'lookup' },
  { name: 'a method the policy does not list bypasses', method: 'POST', want: 'bypass:method' },
  { name: 'HEAD bypasses when the policy lists only GET', method: 'HEAD', rules: { methods: new Set(['GET']) }, want: 'bypass:method' },
  { name: 'POST is looked up when the policy lists it', method: 'POST', rules: { methods: new Set(['GET', 'POST']) }, want: 'lookup' },
  { name: 'request no-store bypasses', headers: { 'cache-control': 'no-store' }, want: 'bypass:request no-store' },
  { name: 'request no-cache refreshes', headers: { 'cache-control': 'no-cache' }, want: 'refresh:request no-cache' },
  { name: 'request max-age=0 refreshes', headers: { 'cache-control': 'max-age=0' }, want: 'refresh:request max-age=0' },
  { name: 'request max-age>0 is looked up', headers: { 'cache-control': 'max-age=10' }, want: 'lookup' },
  { name: 'directive names are case-insensitive', headers: { 'cache-control': 'No-Cache' }, want: 'refresh:request no-cache' },
  { name: 'pragma no-cache refreshes without cache-control', headers: { pragma: 'no-cache' }, want: 'refresh:pragma no-cache' },
  { name: 'pragma is ignored when cache-control is present', headers: { pragma: 'no-cache', 'cache-control': 'max-age=10' }, want: 'lookup' },
  { name: 'authorization bypasses', headers: { authorization: 'Bearer a' }, want: 'bypass:authorization' },
  { name: 'authorization is looked up when the policy varies on it', headers: { authorization: 'Bearer a' }, rules: { vary: ['authorization'] }, want: 'lookup' },
  { name: 'a principal bypasses', principal: true, want: 'bypass:principal' },
  { name: 'a principal not carried in authorization bypasses even when authorization is varied', principal: true, rules: { vary: ['authorization'] }, want: 'bypass:principal' },
  { name: 'a principal from authorization is looked up when the policy varies on it', principal: true, headers: { authorization: 'Bearer a' }, rules: { vary: ['authorization'] }, want: 'lookup' },
  { name: 'no-store still bypasses a keyed authorization', headers: { authorization: 'Bearer a', 'cache-control': 'no-store' }, rules: { vary: ['authorization'] }, want: 'bypass:request no-store' },
  { name: 'a request cookie is not a reason to bypass', headers: { cookie: 'a=1' }, want: 'lookup' }
]

for (const c of REQUEST_CASES) {
  test(`request: ${c.name}`, () => {
    const d = requestDecision(c.method ?? 'GET', c.headers ?? {}, rules(c.rules), c.principal ?? false)
    assert.equal(d.kind === 'lookup' ? 'lookup' : `${d.kind}:${d.reason}`, c.want)
  })
}

// --- responseDecision --------------------------------------------------------

interface Stored { freshMs?: number, staleWhileRevalidateMs?: number, staleIfErrorMs?: number, vary?: string[], initialAgeMs?: number }
interface ResponseCase { name: string, status?: number, res?: HeaderMap, req?: HeaderMap, rules?: Partial<CacheRules>, want: string | Stored }

const RESPONSE_CASES: ResponseCase[] = [
  { name: 'no explicit freshness: the policy ttl', want: { freshMs: 60_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, vary: [], initialAgeMs: 0 } },
  { name: 'max-age', res: { 'cache-control': 'max-age=30' }, want: { freshMs: 30_000 } },
  { name: 's-maxage beats max-age', res: { 'cache-control': 'max-age=30, s-maxage=10' }, want: { freshMs: 10_000 } },
  { name: 'max-age beats Expires', res: { 'cache-control': 'max-age=5', expires: httpDate(NOW + 3_600_000) }, want: { freshMs: 5_000 } },
  { name: 'Expires is relative to Date when present', res: { date: httpDate(NOW - 50_000), expires: httpDate(NOW + 70_000) }, want: { freshMs: 120_000 } },
  { name: 'Expires is relative to now without Date', res: { expires: httpDate(NOW + 70_000) }, want: { freshMs: 70_000 } },
  { name: 'Expires is relative to now with an invalid Date', res: { date: 'yesterday', expires: httpDate(NOW + 70_000) }, want: { freshMs: 70_000 } },
  { name: 'an Expires in the past: expired on arrival', res: { expires: httpDate(NOW - 1_000) }, want: 'expired on arrival' },
  { name: 'an invalid Expires means already expired', res: { expires: '0' }, want: 'expired on arrival' },
  { name: 'an invalid Expires with a stale window is stored stale', res: { expires: '2099' }, rules: { staleWhileRevalidateMs: 5_000 }, want: { freshMs: 0, staleWhileRevalidateMs: 5_000 } },
  { name: 'Expires beats the policy ttl', res: { expires: httpDate(NOW + 5_000) }, want: { freshMs: 5_000 } },
  { name: 'an invalid max-age is stale', res: { 'cache-control': 'max-age=abc' }, want: 'expired on arrival' },
  { name: 'a quoted max-age is read', res: { 'cache-control': 'max-age="60"' }, want: { freshMs: 60_000 } },
  { name: 'the first of two max-age wins', res: { 'cache-control': 'max-age=7, max-age=70' }, want: { freshMs: 7_000 } },
  { name: 'a huge max-age is capped at 2^31 s', res: { 'cache-control': 'max-age=99999999999999' }, want: { freshMs: 2_147_483_648_000 } },
  { name: 'no-store is not stored', res: { 'cache-control': 'max-age=60, no-store' }, want: 'no-store' },
  { name: 'private is not stored', res: { 'cache-control': 'private, max-age=60' }, want: 'private' },
  { name: 'private with a field list is not stored', res: { 'cache-control': 'private="set-cookie", max-age=60' }, want: 'private' },
  { name: 'no-cache is not stored', res: { 'cache-control': 'no-cache' }, want: 'no-cache' },
  { name: 'directives are case-insensitive and may come in several lines', res: { 'cache-control': ['Max-Age=60', 'No-Store'] }, want: 'no-store' },
  { name: 'Vary * is not stored', res: { vary: 'Accept-Encoding, *' }, want: 'vary *' },
  { name: 'Vary names merge with the policy vary, sorted', res: { vary: 'Accept-Language, accept-encoding' }, rules: { vary: ['x-tenant'] }, want: { vary: ['accept-encoding', 'accept-language', 'x-tenant'] } },
  { name: 'set-cookie is not stored', res: { 'set-cookie': ['sid=1'] }, want: 'set-cookie' },
  { name: 'set-cookie is stored when the policy varies on cookie', res: { 'set-cookie': ['sid=1'] }, rules: { vary: ['cookie'] }, want: { vary: ['cookie'] } },
  { name: 'an answer to authorization is not stored', req: { authorization: 'Bearer a' }, want: 'authorization' },
  { name: 'an answer to authorization is stored when the policy varies on it', req: { authorization: 'Bearer a' }, rules: { vary: ['authorization'] }, want: { vary: ['authorization'] } },
  { name: 'a content-length over maxBodyBytes is not stored', res: { 'content-length': '1001' }, rules: { maxBodyBytes: 1_000 }, want: 'body too large' },
  { name: 'a content-length at maxBodyBytes is stored', res: { 'content-length': '1000' }, rules: { maxBodyBytes: 1_000 }, want: { freshMs: 60_000 } },
  { name: '206 is never stored', status: 206, res: { 'cache-control': 'max-age=60' }, want: 'status' },
  { name: '304 is never stored', status: 304, res: { 'cache-control': 'max-age=60' }, want: 'status' },
  { name: '404 is heuristically cacheable', status: 404, want: { freshMs: 60_000 } },
  { name: '301 is heuristically cacheable', status: 301, want: { freshMs: 60_000 } },
  { name: '302 needs explicit freshness', status: 302, want: 'status needs explicit freshness' },
  { name: '302 with max-age is stored', status: 302, res: { 'cache-control': 'max-age=60' }, want: { freshMs: 60_000 } },
  { name: '500 needs explicit freshness', status: 500, want: 'status needs explicit freshness' },
  { name: '503 with Expires is stored', status: 503, res: { expires: httpDate(NOW + 10_000) }, want: { freshMs: 10_000 } },
  { name: 'the policy staleWhileRevalidate applies', rules: { staleWhileRevalidateMs: 10_000 }, want: { staleWhileRevalidateMs: 10_000, staleIfErrorMs: 0 } },
  { name: 'stale-while-revalidate overrides the policy', res: { 'cache-control': 'max-age=1, stale-while-revalidate=30' }, rules: { staleWhileRevalidateMs: 10_000 }, want: { staleWhileRevalidateMs: 30_000 } },
  { name: 'stale-while-revalidate=0 turns the policy window off', res: { 'cache-control': 'max-age=1, stale-while-revalidate=0' }, rules: { staleWhileRevalidateMs: 10_000 }, want: { staleWhileRevalidateMs: 0 } },
  { name: 'stale-if-error is read', res: { 'cache-control': 'max-age=1, stale-if-error=600' }, want: { staleIfErrorMs: 600_000, staleWhileRevalidateMs: 0 } },
  { name: 'must-revalidate allows no stale serving', res: { 'cache-control': 'max-age=1, must-revalidate, stale-while-revalidate=30, stale-if-error=30' }, rules: { staleWhileRevalidateMs: 10_000 }, want: { freshMs: 1_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0 } },
  { name: 'proxy-revalidate allows no stale serving', res: { 'cache-control': 'max-age=1, proxy-revalidate, stale-if-error=30' }, rules: { staleWhileRevalidateMs: 10_000 }, want: { staleWhileRevalidateMs: 0, staleIfErrorMs: 0 } },
  { name: 's-maxage drops the policy window', res: { 'cache-control': 's-maxage=5' }, rules: { staleWhileRevalidateMs: 10_000 }, want: { freshMs: 5_000, staleWhileRevalidateMs: 0 } },
  { name: 's-maxage keeps a window the response grants', res: { 'cache-control': 's-maxage=5, stale-while-revalidate=20' }, rules: { staleWhileRevalidateMs: 10_000 }, want: { staleWhileRevalidateMs: 20_000 } },
  { name: 'the age header is the initial age', res: { 'cache-control': 'max-age=60', age: '10' }, want: { initialAgeMs: 10_000, freshMs: 60_000 } },
  { name: 'an invalid age is ignored', res: { age: '-3' }, want: { initialAgeMs: 0 } },
  { name: 'older than its lifetime on arrival: not stored', res: { 'cache-control': 'max-age=5', age: '10' }, want: 'expired on arrival' },
  { name: 'older than its freshness but within a stale window: stored', res: { 'cache-control': 'max-age=5, stale-if-error=60', age: '10' }, want: { initialAgeMs: 10_000, staleIfErrorMs: 60_000 } },
  { name: 'max-age=0 with a policy window is stored stale', res: { 'cache-control': 'max-age=0' }, rules: { staleWhileRevalidateMs: 10_000 }, want: { freshMs: 0, staleWhileRevalidateMs: 10_000 } }
]

for (const c of RESPONSE_CASES) {
  test(`response: ${c.name}`, () => {
    const d = responseDecision(c.status ?? 200, c.res ?? {}, c.req ?? {}, rules(c.rules), NOW)
    if (typeof c.want === 'string') {
      assert.equal(d.store, false, JSON.stringify(d))
      if (!d.store) assert.equal(d.reason, c.want)
      return
    }
    assert.equal(d.store, true, JSON.stringify(d))
    if (!d.store) return
    for (const [field, value] of Object.entries(c.want)) assert.deepEqual(d[field as keyof Stored], value, field)
  })
}

test('cache-control parsing keeps quoted commas and takes the first occurrence', () => {
  const d = parseCacheControl('no-cache="set-cookie, x-a", max-age = 5 ,Max-Age=9, , public')
  assert.deepEqual([...d], [['no-cache', 'set-cookie, x-a'], ['max-age', '5'], ['public', null]])
})

// --- freshness over time -----------------------------------------------------

function entry (over: Partial<CacheEntry> = {}): CacheEntry {
  return {
    status: 200,
    headers: ['content-type', 'text/plain'],
    body: Buffer.from('hello'),
    storedAt: Date.now(),
    initialAgeMs: 0,
    freshMs: 60_000,
    staleWhileRevalidateMs: 0,
    staleIfErrorMs: 0,
    vary: [],
    ...over
  }
}

test('freshness moves from fresh to stale-revalidate to stale-if-error-only to expired', () => {
  const e = entry({ storedAt: 1_000, initialAgeMs: 2_000, freshMs: 10_000, staleWhileRevalidateMs: 5_000, staleIfErrorMs: 20_000 })
  const at = (ms: number): string => freshness(e, 1_000 + ms)
  assert.equal(currentAgeMs(e, 1_000), 2_000)
  assert.equal(currentAgeMs(e, 0), 2_000, 'a clock that went back does not make it younger than it arrived')
  assert.equal(at(0), 'fresh')
  assert.equal(at(7_999), 'fresh')
  assert.equal(at(8_000), 'stale-revalidate', 'age 10 s = freshMs: stale')
  assert.equal(at(12_999), 'stale-revalidate')
  assert.equal(at(13_000), 'stale-if-error-only')
  assert.equal(at(27_999), 'stale-if-error-only')
  assert.equal(at(28_000), 'expired')
  assert.equal(remainingLifeMs(e, 1_000), 28_000)
  assert.equal(remainingLifeMs(e, 30_000), -1_000)
})

test('a stale-while-revalidate window longer than stale-if-error keeps serving stale to its end', () => {
  const e = entry({ storedAt: 0, freshMs: 1_000, staleWhileRevalidateMs: 10_000, staleIfErrorMs: 2_000 })
  assert.equal(freshness(e, 5_000), 'stale-revalidate')
  assert.equal(freshness(e, 11_000), 'expired')
  const none = entry({ storedAt: 0, freshMs: 1_000 })
  assert.equal(freshness(none, 999), 'fresh')
  assert.equal(freshness(none, 1_000), 'expired')
})

// --- keys ----------------------------------------------------------------------

test('varyKey is stable: name order, case of names, duplicates and whitespace do not matter', () => {
  const a = varyKey(['accept-language', 'accept-encoding'], { 'accept-language': 'en,  de', 'accept-encoding': 'gzip' })
  const b = varyKey(['accept-encoding', 'accept-language', 'accept-encoding'], { 'accept-language': ' en , de ', 'accept-encoding': 'gzip' })
  const c = varyKey(['accept-encoding', 'accept-language'], { 'accept-language': ['en', 'de'], 'accept-encoding': 'gzip' })
  assert.equal(a, 'accept-encoding:gzip\naccept-language:en,de')
  assert.equal(b, a)
  assert.equal(c, a)
})

test('variantKey with a connection: the same key as without, and a new one as soon as a value changes', () => {
  const primary = 'mg:c:p|h|/x'
  const vary = ['authorization', 'x-a']
  const conn = {}
  const key = (v: string | string[] | undefined, c: object | null = conn): string => variantKey(primary, vary, v === undefined ? { 'x-a': 'same' } : { authorization: v, 'x-a': 'same' }, c)
  const first = key('Bearer one', null)
  assert.ok(first.startsWith(primary + '#'))
  assert.equal(key('Bearer one'), first)
  assert.equal(key('Bearer one'), first, 'remembered for the connection')
  assert.notEqual(key('Bearer two'), first, 'another credential on the same connection')
  assert.equal(key('Bearer two'), key('Bearer two', null))
  assert.equal(key(' Bearer  one '), first, 'whitespace runs do not matter')
  assert.notEqual(key(undefined), first)
  assert.equal(key(['a', 'b']), key('a,b', null), 'repeated headers')
  assert.equal(variantKey(primary, ['x-a'], { authorization: 'Bearer one', 'x-a': 'same' }, conn), variantKey(primary, ['x-a'], { 'x-a': 'same' }, null), 'another vary list')
  assert.notEqual(variantKey(primary, vary, { authorization: 'Bearer one', 'x-a': 'other' }, conn), first, 'the second varied header changed')
})

test('WithCredentials reads the credentials the client sent and every other header from the request', () => {
  const request = { 'accept-language': 'en', authorization: undefined, 'cache-control': 'no-cache' }
  const view = new WithCredentials(request, ['authorization', 'Bearer t'])
  const copy = { ...request, authorization: 'Bearer t' }
  assert.equal(varyKey(['authorization', 'accept-language'], view), varyKey(['authorization', 'accept-language'], copy))
  assert.equal(variantKey('k', ['authorization'], view), variantKey('k', ['authorization'], copy))
  assert.deepEqual(requestDecision('GET', view, rules({ vary: ['authorization'] }), true), requestDecision('GET', copy, rules({ vary: ['authorization'] }), true))
  assert.equal(requestDecision('GET', view, rules(), false).kind, 'bypass', 'a credential the policy does not key on bypasses, as sent')
})

test('varyKey tells a missing header from an empty one, and values stay case-sensitive', () => {
  const missing = varyKey(['x-a'], {})
  const empty = varyKey(['x-a'], { 'x-a': '' })
  assert.notEqual(missing, empty)
  assert.notEqual(varyKey(['x-a'], { 'x-a': 'EN' }), varyKey(['x-a'], { 'x-a': 'en' }))
  assert.equal(varyKey([], { 'x-a': '1' }), '')
})

test('variantKey hashes the varied values: no credentials and no | in the key', () => {
  const k = variantKey('mg:c:p|h|/a', ['authorization'], { authorization: 'Bearer secret|token' })
  assert.match(k, /^mg:c:p\|h\|\/a#[A-Za-z0-9_-]{43}$/)
  assert.equal(k, variantKey('mg:c:p|h|/a', ['authorization'], { authorization: 'Bearer  secret|token' }))
  assert.notEqual(k, variantKey('mg:c:p|h|/a', ['authorization'], { authorization: 'Bearer other' }))
})

test('cacheKey lowercases the host and escapes | and # so every key has two |', () => {
  assert.equal(cacheKey('ns/pol', 'API.Example', '/a?b=1'), 'mg:c:ns/pol|api.example|/a?b=1')
  assert.equal(cacheKey('p|q', 'h', '/x|y#z'), 'mg:c:p%7Cq|h|/x%7Cy%23z')
})

test('purgePattern escapes glob specials and scopes by policy and host', () => {
  assert.equal(purgePattern('/api'), 'mg:c:*|*|/api*')
  assert.equal(purgePattern('/a*b?[c]\\d|e'), 'mg:c:*|*|/a\\*b\\?\\[c\\]\\\\d%7Ce*')
  assert.equal(purgePattern('/', { policyId: 'ns/p*', host: 'A.example' }), 'mg:c:ns/p\\*|a.example|/*')
})

const PURGE_CASES: Array<{ key: string, prefix: string, scope?: { policyId?: string, host?: string }, want: boolean }> = [
  { key: cacheKey('p', 'h', '/api'), prefix: '/api', want: true },
  { key: cacheKey('p', 'h', '/api/x?q=1'), prefix: '/api', want: true },
  { key: cacheKey('p', 'h', '/apix'), prefix: '/api', want: true },
  { key: cacheKey('p', 'h', '/api') + '#abc', prefix: '/api', want: true },
  { key: cacheKey('p', 'h', '/other'), prefix: '/api', want: false },
  { key: cacheKey('p', 'h', '/x|/api'), prefix: '/api', want: false },
  { key: cacheKey('p|/api', 'h', '/x'), prefix: '/api', want: false },
  { key: cacheKey('p', 'h', '/a*b'), prefix: '/a*', want: true },
  { key: cacheKey('p', 'h', '/ab'), prefix: '/a*', want: false },
  { key: cacheKey('p', 'h', '/api'), prefix: '/api', scope: { policyId: 'p' }, want: true },
  { key: cacheKey('p', 'h', '/api'), prefix: '/api', scope: { policyId: 'q' }, want: false },
  { key: cacheKey('p', 'h', '/api'), prefix: '/api', scope: { host: 'H' }, want: true },
  { key: cacheKey('p', 'h', '/api'), prefix: '/api', scope: { host: 'g' }, want: false },
  { key: 'mg:rl:x', prefix: '', want: false }
]

for (const c of PURGE_CASES) {
  test(`purge ${JSON.stringify(c.prefix)} ${c.want ? 'matches' : 'skips'} ${c.key}${c.scope === undefined ? '' : ' in ' + JSON.stringify(c.scope)}`, () => {
    assert.equal(matchesPurge(c.key, c.prefix, c.scope), c.want)
    assert.equal(globMatch(purgePattern(c.prefix, c.scope), c.key), c.want, 'the Redis pattern agrees')
  })
}

/** Redis' glob for the specials purgePattern emits (`*` and backslash escapes). */
function globMatch (pattern: string, s: string): boolean {
  let re = '^'
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string
    if (ch === '\\') { re += escapeRegExp(pattern[++i] ?? ''); continue }
    re += ch === '*' ? '[\\s\\S]*' : ch === '?' ? '[\\s\\S]' : escapeRegExp(ch)
  }
  return new RegExp(re + '$').test(s)
}

function escapeRegExp (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

// --- entry wire form -----------------------------------------------------------

test('an entry survives encode and decode, binary body and all', () => {
  const body = Buffer.alloc(512)
  for (let i = 0; i < body.length; i++) body[i] = i % 256
  const e = entry({ status: 203, headers: ['content-type', 'application/octet-stream', 'x-n', 'é ü', 'link', '<a>', 'link', '<b>'], body, storedAt: 1_700_000_000_123, initialAgeMs: 4_000, freshMs: 30_000, staleWhileRevalidateMs: 5_000, staleIfErrorMs: 60_000, vary: ['accept-language', 'x-tenant'] })
  const back = decodeEntry(encodeEntry(e))
  assert.ok(back !== null)
  assert.deepEqual({ ...back, body: null }, { ...e, body: null })
  assert.ok(back.body.equals(body))
  const empty = decodeEntry(encodeEntry(entry({ body: Buffer.alloc(0) })))
  assert.equal(empty?.body.length, 0)
})

test('garbage, truncation, other versions and vary records decode to null', () => {
  const good = encodeEntry(entry())
  const bad: Buffer[] = [
    Buffer.alloc(0),
    Buffer.from('hello world'),
    Buffer.from('{"s":200}'),
    good.subarray(0, 3),
    good.subarray(0, 10),
    Buffer.concat([good.subarray(0, 3), Buffer.from([2]), good.subarray(4)]),
    encodeVaryRecord(new VaryRecord(['accept-language']))
  ]
  const lying = Buffer.from(good)
  lying.writeUInt32BE(0xffffffff, 4)
  bad.push(lying)
  // Well-formed JSON with a field of the wrong type.
  const meta = Buffer.from(JSON.stringify({ s: '200', h: [], t: 0, a: 0, f: 0, w: 0, e: 0, v: [] }))
  const length = Buffer.alloc(4)
  length.writeUInt32BE(meta.length)
  bad.push(Buffer.concat([good.subarray(0, 4), length, meta]))
  const pairs = Buffer.from(JSON.stringify({ s: 200, h: [['a']], t: 0, a: 0, f: 0, w: 0, e: 0, v: [] }))
  length.writeUInt32BE(pairs.length)
  bad.push(Buffer.concat([good.subarray(0, 4), length, pairs]))
  for (const b of bad) assert.equal(decodeEntry(b), null, b.toString('hex').slice(0, 40))
})

test('random corruption never throws: it decodes to null or to a well-formed entry', () => {
  const good = encodeEntry(entry({ headers: ['a', 'b'], vary: ['x'] }))
  let seed = 7
  const rand = (n: number): number => { seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648; return seed % n }
  for (let i = 0; i < 2_000; i++) {
    const b = Buffer.from(good)
    for (let j = 0; j <= rand(3); j++) b[rand(b.length)] = rand(256)
    const e = decodeEntry(b.subarray(0, b.length - rand(4)))
    if (e !== null) {
      assert.equal(typeof e.status, 'number')
      assert.ok(Array.isArray(e.headers) && Array.isArray(e.vary) && Buffer.isBuffer(e.body))
    }
  }
})

test('decodeStored tells entries from vary records', () => {
  const r = decodeStored(encodeVaryRecord(new VaryRecord(['accept-language', 'x-tenant'])))
  assert.ok(r instanceof VaryRecord)
  assert.deepEqual(r.vary, ['accept-language', 'x-tenant'])
  assert.equal(decodeStored(encodeEntry(entry()))?.constructor, Object)
  assert.equal(decodeStored(Buffer.from('mgV\u0001[1,2]')), null)
})

test('entrySize counts the body, the headers and a fixed overhead', () => {
  const small = entrySize(entry({ body: Buffer.alloc(0), headers: [] }))
  assert.ok(small > 0)
  assert.equal(entrySize(entry({ body: Buffer.alloc(1_000), headers: [] })), small + 1_000)
  assert.ok(entrySize(entry({ body: Buffer.alloc(0), headers: ['x-long', 'v'.repeat(500)] })) > small + 500)
})

test('replayHeaders drops hop-by-hop, connection-named, age and set-cookie headers', () => {
  const h = replayHeaders({ 'content-type': 'text/plain', connection: 'close, X-Hop', 'x-hop': '1', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', age: '3', 'set-cookie': ['a=1'], vary: 'accept', link: ['<a>', '<b>'], 'content-length': 5 })
  assert.deepEqual(h, ['content-type', 'text/plain', 'vary', 'accept', 'link', '<a>', 'link', '<b>', 'content-length', '5'])
})

// --- the store without Redis -----------------------------------------------------

test('responses varying on accept-language are two entries under one primary key', () => {
  const s = new CacheStore({ maxBytes: 1 << 20, redis: null })
  const key = cacheKey('p', 'h', '/greeting')
  s.set(key, { 'accept-language': 'en' }, entry({ body: Buffer.from('hello'), vary: ['accept-language'] }))
  s.set(key, { 'accept-language': 'de' }, entry({ body: Buffer.from('hallo'), vary: ['accept-language'] }))
  assert.equal(s.getLocal(key, { 'accept-language': 'en' })?.body.toString(), 'hello')
  assert.equal(s.getLocal(key, { 'accept-language': 'de' })?.body.toString(), 'hallo')
  assert.equal(s.getLocal(key, { 'accept-language': 'fr' }), null, 'without Redis, L1 is sure of a miss')
  assert.equal(s.getLocal(key, {}), null)
  assert.equal(s.stats.entries, 3, 'two responses and their vary record')
  assert.equal(s.stats.l1Hits, 2)
  assert.equal(s.stats.misses, 2)
})

test('a response that stops varying replaces the vary record', async () => {
  const s = new CacheStore({ maxBytes: 1 << 20, redis: null })
  const key = cacheKey('p', 'h', '/x')
  s.set(key, { 'accept-language': 'en' }, entry({ body: Buffer.from('en'), vary: ['accept-language'] }))
  s.set(key, {}, entry({ body: Buffer.from('plain') }))
  assert.equal(s.getLocal(key, { 'accept-language': 'en' })?.body.toString(), 'plain')
  assert.equal((await s.get(key, {}))?.body.toString(), 'plain')
  assert.equal(await s.get(cacheKey('p', 'h', '/y'), {}), null)
})

test('L1 stays within maxBytes when filled with ten times as much, and counts evictions', () => {
  const maxBytes = 64 * 1024
  const s = new CacheStore({ maxBytes, redis: null })
  const bodyBytes = 1_000
  const n = Math.ceil(10 * maxBytes / bodyBytes)
  for (let i = 0; i < n; i++) {
    s.set(cacheKey('p', 'h', `/f/${i}`), {}, entry({ body: Buffer.alloc(bodyBytes, i % 256) }))
    assert.ok(s.stats.bytes <= maxBytes, `after ${i + 1} sets: ${s.stats.bytes} bytes`)
  }
  const per = entrySize(entry({ body: Buffer.alloc(bodyBytes) }))
  assert.equal(s.stats.entries, Math.floor(maxBytes / per))
  assert.equal(s.stats.evictions, n - s.stats.entries)
  assert.ok(s.stats.bytes > maxBytes - per, 'the cache is full, not emptied')
  assert.equal(s.getLocal(cacheKey('p', 'h', `/f/${n - 1}`), {})?.body[0], (n - 1) % 256, 'the newest stays')
  assert.equal(s.getLocal(cacheKey('p', 'h', '/f/0'), {}), null, 'the oldest went first')
})

test('a body that is a view into a shared slab is copied once, when L1 takes the entry', async () => {
  const s = new CacheStore({ maxBytes: 1 << 20, redis: null })
  const key = cacheKey('p', 'h', '/pooled')
  // Small allocUnsafe buffers are slices of Buffer's shared pool.
  const bodies = [Buffer.allocUnsafe(5).fill('a'), Buffer.allocUnsafe(5).fill('b'), Buffer.allocUnsafe(5).fill('c')]
  for (const b of bodies) assert.notEqual(b.buffer.byteLength, b.length, 'a pool slice')
  for (const b of bodies) s.set(key, {}, entry({ body: b }))
  const pending = s.getLocal(key, {})
  assert.equal(pending?.body, bodies[2], 'before the round ends: the last write, not yet copied')
  await new Promise(resolve => setImmediate(resolve))
  const kept = s.getLocal(key, {})
  assert.equal(kept?.body.toString(), 'ccccc')
  assert.equal(kept?.body.buffer.byteLength, 5, 'L1 holds a copy with memory of its own')
  assert.equal(s.stats.entries, 1)
})

test('storedThisRound: true for a key (or variant) stored in this round, false once the round is over', async () => {
  const s = new CacheStore({ maxBytes: 1 << 20, redis: null })
  const plain = cacheKey('p', 'h', '/plain')
  const varied = cacheKey('p', 'h', '/varied')
  assert.equal(s.storedThisRound(plain, {}), false, 'nothing stored yet')
  s.set(plain, {}, entry())
  s.set(varied, { 'accept-language': 'en' }, entry({ vary: ['accept-language'] }))
  assert.equal(s.storedThisRound(plain, {}), true)
  assert.equal(s.storedThisRound(varied, { 'accept-language': 'en' }), true)
  assert.equal(s.storedThisRound(varied, { 'accept-language': 'de' }), false, 'another variant is not stored')
  assert.equal(s.storedThisRound(cacheKey('p', 'h', '/other'), {}), false)
  await new Promise(resolve => setImmediate(resolve))
  assert.equal(s.storedThisRound(plain, {}), false, 'in L1 now: the next round stores again')
  assert.equal(s.storedThisRound(varied, { 'accept-language': 'en' }), false)
})

test('an entry larger than maxBytes is not stored, and maxEntries bounds the count', () => {
  const s = new CacheStore({ maxBytes: 10_000, maxEntries: 3, redis: null })
  s.set(cacheKey('p', 'h', '/big'), {}, entry({ body: Buffer.alloc(10_001) }))
  assert.equal(s.getLocal(cacheKey('p', 'h', '/big'), {}), null)
  assert.equal(s.stats.bytes, 0)
  for (let i = 0; i < 5; i++) s.set(cacheKey('p', 'h', `/${i}`), {}, entry())
  assert.equal(s.stats.entries, 3)
  assert.equal(s.stats.evictions, 2)
})

test('an entry past every window is not stored; one whose life ends leaves L1', async () => {
  const s = new CacheStore({ maxBytes: 1 << 20, redis: null })
  s.set(cacheKey('p', 'h', '/old'), {}, entry({ storedAt: Date.now() - 61_000, freshMs: 60_000 }))
  assert.equal(s.stats.entries, 0)
  s.set(cacheKey('p', 'h', '/short'), {}, entry({ freshMs: 30, staleIfErrorMs: 20 }))
  assert.ok(s.getLocal(cacheKey('p', 'h', '/short'), {}) != null)
  await sleep(80)
  assert.equal(s.getLocal(cacheKey('p', 'h', '/short'), {}), null)
})

test('purge by path prefix removes matching keys, variants included, and nothing else', async () => {
  const s = new CacheStore({ maxBytes: 1 << 20, redis: null })
  s.set(cacheKey('p', 'a.example', '/api/a'), {}, entry())
  s.set(cacheKey('p', 'a.example', '/api/b?x=1'), { 'accept-language': 'en' }, entry({ vary: ['accept-language'] }))
  s.set(cacheKey('p', 'b.example', '/api/c'), {}, entry())
  s.set(cacheKey('p', 'a.example', '/static/x'), {}, entry())
  assert.deepEqual(await s.purge('/api', { host: 'b.example' }), { local: 1, shared: 0, sharedError: null })
  assert.deepEqual(await s.purge('/api'), { local: 3, shared: 0, sharedError: null }, 'a response, a variant and its vary record')
  assert.equal(s.getLocal(cacheKey('p', 'a.example', '/api/a'), {}), null)
  assert.equal(s.getLocal(cacheKey('p', 'a.example', '/api/b?x=1'), { 'accept-language': 'en' }), null)
  assert.ok(s.getLocal(cacheKey('p', 'a.example', '/static/x'), {}) != null)
  assert.equal(s.stats.entries, 1)
  assert.equal(s.stats.evictions, 0, 'a purge is not an eviction')
})

test('bad bounds are refused when the store is built', () => {
  assert.throws(() => new CacheStore({ maxBytes: 0, redis: null }), RangeError)
  assert.throws(() => new CacheStore({ maxBytes: 1.5, redis: null }), RangeError)
  assert.throws(() => new CacheStore({ maxBytes: 10, maxEntries: 0, redis: null }), RangeError)
})

test('a reload drops the stores of policies that are gone; evictions already counted stay counted', () => {
  const cache = new HttpCache({ maxBytes: 8 * 1024, redis: null, log: null })
  const policy = (name: string, maxEntries = 10_000): CachePolicyRule => ({ id: `ns/${name}`, maxEntries } as unknown as CachePolicyRule)
  const a = policy('a')
  const b = policy('b')
  for (let i = 0; i < 40; i++) cache.storeFor(a).set(cacheKey('a', 'h', `/${i}`), {}, entry({ body: Buffer.alloc(1_000) }))
  cache.storeFor(b).set(cacheKey('b', 'h', '/x'), {}, entry({ body: Buffer.alloc(10) }))
  const before = cache.stats()
  assert.ok(before.evictions > 0)
  assert.equal(cache.storeCount, 2)
  // The config keeps b only: a's entries and bytes go, its evictions stay in the total.
  cache.retain([b])
  assert.equal(cache.storeCount, 1)
  const after = cache.stats()
  assert.equal(after.evictions, before.evictions)
  assert.equal(after.entries, 1)
  assert.ok(after.bytes < 1_000)
  // A changed maxEntries replaces b's store; its count carries over too.
  for (let i = 0; i < 3; i++) cache.storeFor(policy('b', 2)).set(cacheKey('b', 'h', `/${i}`), {}, entry({ body: Buffer.alloc(10) }))
  assert.equal(cache.stats().evictions, before.evictions + 1)
})

test('GET and HEAD share a key; another cached method has its own, which a purge by prefix still reaches', () => {
  const get = cacheKey('ns/p', 'Shop.Example', '/items/1?x=1')
  assert.equal(cacheKey('ns/p', 'shop.example', '/items/1?x=1', 'HEAD'), get)
  const post = cacheKey('ns/p', 'shop.example', '/items/1?x=1', 'POST')
  assert.notEqual(post, get)
  assert.equal(post, `${get}|POST`)
  assert.equal(matchesPurge(post, '/items'), true)
  assert.equal(matchesPurge(post, '/items/1?x=1'), true)
  assert.equal(matchesPurge(post, '/other'), false)
})

test('a principal from an API key uses the cache only when the policy varies on every credential header taken off', () => {
  const request = { 'x-api-key': undefined, accept: 'text/plain' }
  const apiKey = new WithCredentials(request, ['x-api-key', 'key-a'])
  assert.equal(requestDecision('GET', apiKey, rules(), true).kind, 'bypass')
  assert.equal(requestDecision('GET', apiKey, rules({ vary: ['x-api-key'] }), true).kind, 'lookup')
  assert.notEqual(varyKey(['x-api-key'], apiKey), varyKey(['x-api-key'], new WithCredentials(request, ['x-api-key', 'key-b'])))
  // A JWT and an API key both taken off: naming one is not enough.
  const both = new WithCredentials(request, ['authorization', 'Bearer t', 'x-api-key', 'key-a'])
  assert.equal(requestDecision('GET', both, rules({ vary: ['x-api-key'] }), true).kind, 'bypass')
  assert.equal(requestDecision('GET', both, rules({ vary: ['x-api-key', 'authorization'] }), true).kind, 'lookup')
})
