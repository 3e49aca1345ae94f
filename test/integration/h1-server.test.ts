// HTTP/1.1 on plain listeners (src/gateway/dataplane/h1-server.ts), checked
// on the wire against a real gateway and a real echo upstream: keep-alive and
// its idle timeout, pipelining, Expect, HTTP/1.0, HEAD, Connection: close,
// heads split across packets, unread bodies, repeated headers, and the
// node:http fallback.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePort } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appConfig } from '../helpers/fixtures.js'
import { rawExchange, statuses } from '../helpers/raw-http.js'
import { DEFAULT_LIMITS } from '../../src/gateway/dataplane/listener.js'

const CONFIG = `${appConfig(['v1'])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wire, namespace: test}
spec:
  gateways: [gw]
  hosts: [app.example]
  http:
  - match: [{uri: {prefix: /teapot}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: app, subset: v1}}]
  - route: [{destination: {host: app, subset: v1}}]
`
const KEEP_ALIVE_MS = 700

let ups: Upstreams
let gw: TestGateway
let port: number

before(async () => {
  ups = await startUpstreams(['v1'])
  port = await getFreePort()
  gw = await startGateway(CONFIG, { vars: { port, v1: ups.get('v1').port }, limits: { ...DEFAULT_LIMITS, keepAliveTimeoutMs: KEEP_ALIVE_MS } })
})

after(async () => {
  await gw?.stop()
  await ups?.close()
})

/** The answers in `text` whose heads are complete and whose bodies (by content-length) have arrived. */
function answers (text: string): Array<{ status: number, head: string, body: string }> {
  const out: Array<{ status: number, head: string, body: string }> = []
  let rest = text
  for (;;) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) return out
    const head = rest.slice(0, end)
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0)
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
    const bodyless = status < 200 || status === 204 || status === 304
    const bodyLen = bodyless ? 0 : len
    if (rest.length < end + 4 + bodyLen) return out
    out.push({ status, head, body: rest.slice(end + 4, end + 4 + bodyLen) })
    rest = rest.slice(end + 4 + bodyLen)
  }
}

const HOST = 'host: app.example\r\n'
const urlOf = (body: string): string => (JSON.parse(body) as { url: string }).url

test('pipelined requests are answered in order on one connection', async () => {
  const r = await rawExchange(port, [`GET /a HTTP/1.1\r\n${HOST}\r\nGET /b HTTP/1.1\r\n${HOST}\r\nGET /c HTTP/1.1\r\n${HOST}\r\n`],
    { until: t => answers(t).length === 3 })
  const got = answers(r.text)
  assert.deepEqual(got.map(a => a.status), [200, 200, 200], r.text.slice(0, 200))
  assert.deepEqual(got.map(a => urlOf(a.body)), ['/a', '/b', '/c'])
  assert.equal(r.closed, false, 'the connection stays open')
})

test('after the first read, the parser reads the socket itself: pipelined requests that wait their turn pause it, and reading resumes after', async () => {
  // The first request's bytes arrive before the connection is handed over;
  // the rest are read by the parser (consumed socket). Two pipelined
  // requests in one read stop reading while the second waits; the last one,
  // sent after both answers, is only read if reading started again.
  const r = await rawExchange(port, [
    `GET /one HTTP/1.1\r\n${HOST}\r\n`,
    `GET /two HTTP/1.1\r\n${HOST}\r\nGET /three HTTP/1.1\r\n${HOST}\r\n`,
    `GET /four HTTP/1.1\r\n${HOST}connection: close\r\n\r\n`
  ], { gapMs: 300, waitMs: 5_000 })
  const got = answers(r.text)
  assert.deepEqual(got.map(a => urlOf(a.body)), ['/one', '/two', '/three', '/four'], r.text.slice(0, 300))
  assert.equal(r.closed, true)
})

test('pipelined requests followed by a half-close are all answered, then the connection closes', async () => {
  const r = await rawExchange(port, [`GET /x HTTP/1.1\r\n${HOST}\r\nGET /y HTTP/1.1\r\n${HOST}\r\n`], { end: true, waitMs: 3_000 })
  assert.deepEqual(answers(r.text).map(a => urlOf(a.body)), ['/x', '/y'])
  assert.equal(r.closed, true)
})

test('a body the route never reads is skipped, and the next request on the connection is served', async () => {
  const body = 'x'.repeat(200_000)
  const r = await rawExchange(port, [
    `POST /teapot HTTP/1.1\r\n${HOST}content-length: ${body.length}\r\n\r\n`, body,
    `GET /after HTTP/1.1\r\n${HOST}\r\n`
  ], { until: t => answers(t).length === 2, waitMs: 8_000 })
  const got = answers(r.text)
  assert.deepEqual(got.map(a => a.status), [418, 200], r.text.slice(0, 300))
  assert.equal(urlOf(got[1]!.body), '/after')
})

test('Expect: 100-continue gets 100 before the body is sent; another expectation gets 417', async () => {
  const body = '{"k":1}'
  const r = await rawExchange(port, [`POST /up HTTP/1.1\r\n${HOST}content-length: ${body.length}\r\nexpect: 100-continue\r\n\r\n`, body], {
    // The body is sent only once the 100 has arrived: a server that waits for the body would time out here.
    beforeNext: async () => { for (let i = 0; i < 100 && !r100; i++) await new Promise(resolve => setTimeout(resolve, 20)) },
    until: t => { r100 ||= t.includes('100 Continue'); return answers(t).some(a => a.status === 200) },
    waitMs: 4_000
  })
  assert.deepEqual(statuses(r.text), [100, 200], r.text.slice(0, 200))
  assert.equal((JSON.parse(answers(r.text).at(-1)!.body) as { body: number }).body, body.length)

  const e = await rawExchange(port, [`POST /up HTTP/1.1\r\n${HOST}content-length: 2\r\nexpect: teapots\r\n\r\nhi`], { until: t => answers(t).length === 1 })
  assert.deepEqual(statuses(e.text), [417])
  const bodiless = await rawExchange(port, [`GET /up HTTP/1.1\r\n${HOST}expect: teapots\r\n\r\n`], { until: t => answers(t).length === 1 })
  assert.deepEqual(statuses(bodiless.text), [417], 'as node:http, also without a body')
})
let r100 = false

test('HTTP/1.0: closed after the answer unless it asks for keep-alive', async () => {
  const plain = await rawExchange(port, [`GET /old HTTP/1.0\r\n${HOST}\r\n`], { waitMs: 3_000 })
  assert.equal(statuses(plain.text)[0], 200)
  assert.match(plain.text, /\r\nconnection: close\r\n/i)
  assert.equal(plain.closed, true, 'the server closes an HTTP/1.0 connection')

  const kept = await rawExchange(port, [`GET /one HTTP/1.0\r\n${HOST}connection: keep-alive\r\n\r\n`, `GET /two HTTP/1.0\r\n${HOST}connection: keep-alive\r\n\r\n`],
    { beforeNext: async () => { for (let i = 0; i < 100 && answers(keptText).length === 0; i++) await new Promise(resolve => setTimeout(resolve, 20)) }, until: t => { keptText = t; return answers(t).length === 2 } })
  const got = answers(kept.text)
  assert.deepEqual(got.map(a => urlOf(a.body)), ['/one', '/two'])
  assert.match(got[0]!.head, /\r\nconnection: keep-alive/i)
})
let keptText = ''

test('HEAD keeps content-length and sends no body; the connection stays usable', async () => {
  const r = await rawExchange(port, [`HEAD /h HTTP/1.1\r\n${HOST}\r\nGET /g HTTP/1.1\r\n${HOST}\r\n`], {
    until: t => /\r\n\r\n[\s\S]*HTTP\/1\.1 200[\s\S]*\r\n\r\n\{/.test(t) && t.trimEnd().endsWith('}')
  })
  const [headAnswer, rest] = [r.text.slice(0, r.text.indexOf('\r\n\r\n') + 4), r.text.slice(r.text.indexOf('\r\n\r\n') + 4)]
  assert.match(headAnswer, /^HTTP\/1\.1 200 /)
  assert.ok(Number(/content-length: (\d+)/i.exec(headAnswer)?.[1]) > 0, 'HEAD answers carry the length of the GET body')
  assert.match(rest, /^HTTP\/1\.1 200 /, 'the next answer follows the HEAD head directly')
  assert.equal(urlOf(answers(rest)[0]!.body), '/g')
})

test('Connection: close is answered with connection: close, then the connection is closed', async () => {
  const r = await rawExchange(port, [`GET /bye HTTP/1.1\r\n${HOST}connection: close\r\n\r\n`], { waitMs: 3_000 })
  assert.equal(statuses(r.text)[0], 200)
  assert.match(r.text, /\r\nconnection: close\r\n/i)
  assert.equal(r.closed, true)
})

test('a head of 40 headers split across packets reaches the upstream whole, with repeated headers combined', async () => {
  ups.clear()
  const lines = Array.from({ length: 40 }, (_, i) => `x-h${i}: v${i}\r\n`).join('')
  const head = `GET /split HTTP/1.1\r\n${HOST}${lines}x-dup: a\r\nx-dup: b\r\ncookie: c1=1\r\ncookie: c2=2\r\n\r\n`
  const cut = [7, 60, 300, head.length - 3]
  const parts = [head.slice(0, cut[0]), head.slice(cut[0], cut[1]), head.slice(cut[1], cut[2]), head.slice(cut[2], cut[3]), head.slice(cut[3])]
  const r = await rawExchange(port, parts, { gapMs: 15, until: t => answers(t).length === 1 })
  assert.equal(statuses(r.text)[0], 200, r.text.slice(0, 200))
  const seen = ups.get('v1').requests.at(-1)!.headers
  for (let i = 0; i < 40; i++) assert.equal(seen[`x-h${i}`], `v${i}`)
  assert.equal(seen['x-dup'], 'a, b')
  assert.equal(seen.cookie, 'c1=1; c2=2')
})

test('an idle keep-alive connection is closed after the keep-alive timeout, not before', async () => {
  const started = Date.now()
  const r = await rawExchange(port, [`GET /idle HTTP/1.1\r\n${HOST}\r\n`], { waitMs: KEEP_ALIVE_MS * 6 })
  assert.equal(statuses(r.text)[0], 200)
  assert.equal(r.closed, true, 'closed while idle')
  const ms = Date.now() - started
  assert.ok(ms >= KEEP_ALIVE_MS - 50, `closed after ${ms} ms, before the ${KEEP_ALIVE_MS} ms keep-alive timeout`)
})

test('answers carry date; none carries node:http\'s keep-alive header', async () => {
  const res = await request(`http://127.0.0.1:${port}/d`, { headers: { host: 'app.example' } })
  assert.equal(res.status, 200)
  assert.ok(headerValue(res, 'date') !== undefined)
  assert.equal(headerValue(res, 'keep-alive'), undefined)
})

test('MESHGATE_DOWNSTREAM_HTTP1=node serves the listener with node:http instead', async () => {
  const before = process.env.MESHGATE_DOWNSTREAM_HTTP1
  process.env.MESHGATE_DOWNSTREAM_HTTP1 = 'node'
  const p = await getFreePort()
  const other = await startGateway(CONFIG, { vars: { port: p, v1: ups.get('v1').port } })
  try {
    const res = await request(`http://127.0.0.1:${p}/n`, { headers: { host: 'app.example' } })
    assert.equal(res.status, 200)
    // node:http announces its keep-alive timeout; the plain listener's own server does not.
    assert.match(headerValue(res, 'keep-alive') ?? '', /timeout=/)
  } finally {
    if (before === undefined) delete process.env.MESHGATE_DOWNSTREAM_HTTP1
    else process.env.MESHGATE_DOWNSTREAM_HTTP1 = before
    await other.stop()
  }
})
