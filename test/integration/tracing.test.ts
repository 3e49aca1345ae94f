// W3C traceparent and OTLP export through a live gateway, with a real HTTP
// server on 127.0.0.1 as the OpenTelemetry collector.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePorts } from '../helpers/ports.js'
import { request } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appConfig } from '../helpers/fixtures.js'

const CONFIG = `${appConfig(['v1'])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: test}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - name: all
    route: [{destination: {host: app, subset: v1}}]
`

interface OtlpSpan { traceId: string, spanId: string, parentSpanId?: string, name: string, kind: number, startTimeUnixNano: string, endTimeUnixNano: string, attributes: Array<{ key: string, value: { stringValue?: string, intValue?: string } }>, status: { code: number } }

let ups: Upstreams
let traced: TestGateway
let plain: TestGateway
let tracedPort: number
let plainPort: number
let collector: http.Server
let collectorPort: number
const spans: OtlpSpan[] = []
let exports = 0

before(async () => {
  collector = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      exports++
      assert.equal(req.url, '/v1/traces')
      assert.equal(req.headers['content-type'], 'application/json')
      const doc = JSON.parse(body) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string, value: { stringValue: string } }> }, scopeSpans: Array<{ spans: OtlpSpan[] }> }> }
      for (const rs of doc.resourceSpans) {
        assert.deepEqual(rs.resource.attributes.find(a => a.key === 'service.name')?.value, { stringValue: 'meshgate' })
        for (const ss of rs.scopeSpans) spans.push(...ss.spans)
      }
      res.end('{}')
    })
  })
  await new Promise<void>(resolve => collector.listen(0, '127.0.0.1', resolve))
  collectorPort = (collector.address() as AddressInfo).port
  ups = await startUpstreams(['v1'])
  ;[tracedPort, plainPort] = await getFreePorts(2) as [number, number]
  traced = await startGateway(CONFIG, { vars: { port: tracedPort, v1: ups.get('v1').port }, tracing: { endpoint: `http://127.0.0.1:${collectorPort}`, samplingPercent: 100, flushMs: 50 } })
  plain = await startGateway(CONFIG, { vars: { port: plainPort, v1: ups.get('v1').port } })
})

after(async () => {
  await traced?.stop()
  await plain?.stop()
  await ups?.close()
  collector?.closeAllConnections()
  await new Promise<void>(resolve => collector?.close(() => resolve()))
})

async function spanWithTrace (traceId: string): Promise<OtlpSpan> {
  const deadline = Date.now() + 3_000
  for (;;) {
    const s = spans.find(x => x.traceId === traceId)
    if (s !== undefined) return s
    if (Date.now() > deadline) throw new Error(`no span for trace ${traceId} within 3 s (${spans.length} spans seen)`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'

test('a sampled traceparent: the upstream gets the same trace with the gateway\'s span as parent, and the span is exported', async () => {
  ups.clear()
  const res = await request(`http://127.0.0.1:${tracedPort}/orders/7`, { headers: { host: 'shop.example', traceparent: `00-${TRACE}-${CLIENT_SPAN}-01`, tracestate: 'vendor=x' } })
  assert.equal(res.status, 200)
  const seen = ups.get('v1').requests.at(-1)!.headers
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(seen.traceparent))
  assert.ok(m !== null, `upstream traceparent ${String(seen.traceparent)}`)
  assert.equal(m[1], TRACE)
  assert.notEqual(m[2], CLIENT_SPAN)
  assert.equal(seen.tracestate, 'vendor=x')
  const span = await spanWithTrace(TRACE)
  assert.equal(span.spanId, m[2], 'the exported span is the upstream\'s parent')
  assert.equal(span.parentSpanId, CLIENT_SPAN)
  assert.equal(span.kind, 2)
  assert.equal(span.name, 'GET test/api/all')
  assert.equal(span.status.code, 0)
  const attrs = Object.fromEntries(span.attributes.map(a => [a.key, a.value.stringValue ?? a.value.intValue]))
  assert.equal(attrs['http.response.status_code'], '200')
  assert.equal(attrs['url.path'], '/orders/7')
  assert.equal(attrs['http.request.method'], 'GET')
  assert.ok(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano))
  assert.ok(Math.abs(Number(BigInt(span.startTimeUnixNano) / 1_000_000n) - Date.now()) < 60_000, 'timestamps are Unix time')
})

test('without a traceparent a trace starts at the gateway; a 404 is a span too', async () => {
  ups.clear()
  await request(`http://127.0.0.1:${tracedPort}/x`, { headers: { host: 'shop.example' } })
  const tp = String(ups.get('v1').requests.at(-1)!.headers.traceparent)
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(tp)
  assert.ok(m !== null, tp)
  const span = await spanWithTrace(m[1]!)
  assert.equal(span.parentSpanId, undefined)
})

test('an unsampled parent is propagated as unsampled and not exported; a malformed one starts a new trace', async () => {
  ups.clear()
  const before = spans.length
  await request(`http://127.0.0.1:${tracedPort}/x`, { headers: { host: 'shop.example', traceparent: `00-${'1'.repeat(32)}-${CLIENT_SPAN}-00` } })
  const tp = String(ups.get('v1').requests.at(-1)!.headers.traceparent)
  assert.match(tp, new RegExp(`^00-${'1'.repeat(32)}-[0-9a-f]{16}-00$`))
  await request(`http://127.0.0.1:${tracedPort}/x`, { headers: { host: 'shop.example', traceparent: 'garbage' } })
  const fresh = String(ups.get('v1').requests.at(-1)!.headers.traceparent)
  assert.match(fresh, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  await spanWithTrace(fresh.slice(3, 35))
  assert.equal(spans.filter(s => s.traceId === '1'.repeat(32)).length, 0)
  assert.ok(spans.length > before)
})

test('without --otlp-endpoint trace headers pass through untouched', async () => {
  ups.clear()
  const tp = `00-${TRACE}-${CLIENT_SPAN}-01`
  await request(`http://127.0.0.1:${plainPort}/x`, { headers: { host: 'shop.example', traceparent: tp } })
  assert.equal(ups.get('v1').requests.at(-1)!.headers.traceparent, tp)
  await request(`http://127.0.0.1:${plainPort}/x`, { headers: { host: 'shop.example' } })
  assert.equal(ups.get('v1').requests.at(-1)!.headers.traceparent, undefined)
  assert.ok(exports > 0)
})
