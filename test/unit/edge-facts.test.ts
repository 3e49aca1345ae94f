import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingHttpHeaders } from 'node:http'
import { CidrSet, clientAddress, classifyUserAgent, DeviceClassifier, EdgeFactsEngine, geoFactsOf, NO_GEO } from '../../src/plugins/edge-facts/index.js'
import { ipv4ToInt } from '../../src/plugins/edge-facts/client-address.js'
import { RequestFacts } from '../../src/gateway/dataplane/request-facts.js'
import { DEFAULT_EDGE_FACTS, compileEdgeFacts } from '../../src/gateway/compile/edge-facts.js'
import type { EdgeFactsConfig } from '../../src/gateway/snapshot.js'
import { parseText, type SourceResource } from '../../src/gateway/sources/yaml-documents.js'
import type { Issue } from '../../src/gateway/validate/issues.js'

export const UA = {
  iPhone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  iPad: 'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  android: 'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  androidTablet: 'Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  windowsEdge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0',
  macFirefox: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:126.0) Gecko/20100101 Firefox/126.0',
  googlebot: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  curl: 'curl/8.5.0'
}

test('ipv4ToInt parses dotted quads and refuses everything else', () => {
  assert.equal(ipv4ToInt('0.0.0.0'), 0)
  assert.equal(ipv4ToInt('255.255.255.255'), 0xffffffff)
  assert.equal(ipv4ToInt('10.1.2.3'), 0x0a010203)
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', 'a.b.c.d', '::1', '1.2.3.4 ']) assert.equal(ipv4ToInt(bad), -1, bad)
})

test('CidrSet matches IPv4 ranges, single addresses, IPv4-mapped peers and IPv6 ranges', () => {
  const s = new CidrSet(['10.0.0.0/8', '192.168.1.7', '0.0.0.0/32', '2001:db8::/32'])
  assert.equal(s.has('10.255.0.1'), true)
  assert.equal(s.has('11.0.0.1'), false)
  assert.equal(s.has('192.168.1.7'), true)
  assert.equal(s.has('192.168.1.8'), false)
  assert.equal(s.has('::ffff:10.0.0.1'), true)
  assert.equal(s.has('2001:db8:1::5'), true)
  assert.equal(s.has('2001:db9::5'), false)
  assert.equal(s.has('not-an-ip'), false)
  assert.equal(new CidrSet(['0.0.0.0/0']).has('8.8.8.8'), true)
  assert.throws(() => new CidrSet(['10.0.0.0/x']))
})

test('clientAddress: the rightmost hop that is not a trusted proxy is the client', () => {
  const trusted = new CidrSet(['10.0.0.0/8', '127.0.0.1'])
  // No trusted proxies, or an untrusted peer: the peer, whatever the header says.
  assert.equal(clientAddress('203.0.113.9', '5.224.0.10', null), '203.0.113.9')
  assert.equal(clientAddress('203.0.113.9', '5.224.0.10', trusted), '203.0.113.9')
  // A trusted peer: walk from the right past trusted hops.
  assert.equal(clientAddress('127.0.0.1', '5.224.0.10', trusted), '5.224.0.10')
  assert.equal(clientAddress('127.0.0.1', '1.1.1.1, 5.224.0.10, 10.0.0.2', trusted), '5.224.0.10')
  // A client cannot pick its address by prepending to the header.
  assert.equal(clientAddress('127.0.0.1', '9.9.9.9,5.224.0.10', trusted), '5.224.0.10')
  // Repeated headers count as one list.
  assert.equal(clientAddress('127.0.0.1', ['9.9.9.9', '5.224.0.10'], trusted), '5.224.0.10')
  // Every hop trusted: the leftmost one.
  assert.equal(clientAddress('127.0.0.1', '10.0.0.5, 10.0.0.6', trusted), '10.0.0.5')
  // Garbage ends the walk at the last trusted hop that reported it.
  assert.equal(clientAddress('127.0.0.1', '5.224.0.10, unknown', trusted), '127.0.0.1')
  assert.equal(clientAddress('127.0.0.1', 'unknown, 10.0.0.9', trusted), '10.0.0.9')
  // Ports and brackets some proxies write.
  assert.equal(clientAddress('127.0.0.1', '5.224.0.10:5123', trusted), '5.224.0.10')
  assert.equal(clientAddress('127.0.0.1', '[2001:db8::7]', trusted), '2001:db8::7')
  assert.equal(clientAddress('127.0.0.1', '2001:db8::7', trusted), '2001:db8::7')
  assert.equal(clientAddress('127.0.0.1', undefined, trusted), '127.0.0.1')
  assert.equal(clientAddress('127.0.0.1', '', trusted), '127.0.0.1')
})

test('user agents are classified into os, device and browser', () => {
  assert.deepEqual(classifyUserAgent(UA.iPhone), { os: 'iOS', device: 'iPhone', browser: 'Safari' })
  assert.deepEqual(classifyUserAgent(UA.iPad), { os: 'iOS', device: 'iPad', browser: 'Safari' })
  assert.deepEqual(classifyUserAgent(UA.android), { os: 'Android', device: 'mobile', browser: 'Chrome' })
  assert.equal(classifyUserAgent(UA.androidTablet).device, 'tablet')
  assert.deepEqual(classifyUserAgent(UA.windowsEdge), { os: 'Windows', device: 'desktop', browser: 'Edge' })
  assert.deepEqual(classifyUserAgent(UA.macFirefox), { os: 'macOS', device: 'desktop', browser: 'Firefox' })
  assert.equal(classifyUserAgent(UA.googlebot).device, 'bot')
  assert.equal(classifyUserAgent(UA.curl).device, 'bot')
})

test('the device classifier memoises results in a bounded LRU', () => {
  const c = new DeviceClassifier(3)
  const first = c.classify(UA.iPhone)
  assert.equal(c.classify(UA.iPhone), first, 'a repeated user agent returns the cached object')
  for (const ua of [UA.iPad, UA.android, UA.macFirefox, UA.windowsEdge]) c.classify(ua)
  assert.equal(c.size, 3)
  assert.notEqual(c.classify(UA.iPhone), first, 'evicted, then parsed again')
  assert.deepEqual(c.classify(UA.iPhone), first)
  c.classify('x'.repeat(600))
  assert.equal(c.size, 3)
})

test('geo facts come out of GeoIP2 and flat records', () => {
  assert.deepEqual(geoFactsOf({
    country: { iso_code: 'ES', names: { en: 'Spain' } },
    subdivisions: [{ iso_code: 'AN', names: { en: 'Andalusia' } }, { iso_code: 'SE', names: { en: 'Seville' } }],
    city: { names: { de: 'Sevilla', en: 'Seville' } }
  }), { country: 'ES', region: 'AN', city: 'Seville' })
  assert.deepEqual(geoFactsOf({ registered_country: { iso_code: 'DE' } }), { country: 'DE', region: '', city: '' })
  assert.deepEqual(geoFactsOf({ country_code: 'ES', state1: 'Andalusia', city: 'Seville' }), { country: 'ES', region: 'AN', city: 'Seville' })
  assert.deepEqual(geoFactsOf({ country_code: 'es', state1: 'Community of Madrid', city: 'Madrid' }).country, 'ES')
  assert.deepEqual(geoFactsOf({ country_code: 'ES', state1: 'Atlantis', city: 'Málaga' }), { country: 'ES', region: '', city: 'M%C3%A1laga' })
  assert.equal(geoFactsOf({}), NO_GEO)
})

function facts (peer: string, headers: IncomingHttpHeaders): RequestFacts {
  return new RequestFacts('GET', 'http', 'shop.example.com', '/', headers, 8080, peer, '')
}

function resourcesOf (yaml: string): SourceResource[] {
  const resources: SourceResource[] = []
  parseText('edge.yaml', yaml, resources, [])
  return resources
}

function edgeConfig (yaml: string): EdgeFactsConfig {
  return compileEdgeFacts(resourcesOf(yaml), [])
}

test('client-sent fact headers are dropped and replaced by derived ones', () => {
  const engine = new EdgeFactsEngine(null)
  const h: IncomingHttpHeaders = { 'user-agent': UA.android, 'x-geo-country': 'ES', 'x-geo-region': 'AN', 'x-ua-device': 'iPhone', 'x-ua-os': 'iOS' }
  const f = facts('203.0.113.9', h)
  engine.apply(f, DEFAULT_EDGE_FACTS)
  assert.equal(h['x-geo-country'], undefined)
  assert.equal(h['x-geo-region'], undefined)
  assert.equal(h['x-ua-device'], 'mobile')
  assert.equal(h['x-ua-os'], 'Android')
  assert.equal(h['x-ua-browser'], 'Chrome')
  assert.equal(f.clientIp, '203.0.113.9')
})

test('custom header names, and CDN geo headers believed only from trusted proxies', () => {
  const cfg = edgeConfig(`apiVersion: meshgate.io/v1alpha1
kind: EdgeFacts
metadata: {name: edge, namespace: istio-system}
spec:
  trustedProxies: [127.0.0.1/32]
  geoHeaders: {country: cloudfront-viewer-country, region: cloudfront-viewer-country-region, city: cloudfront-viewer-city}
  headers: {country: x-country, device: x-device}
`)
  assert.equal(cfg.headers.country, 'x-country')
  assert.equal(cfg.headers.region, 'x-geo-region')
  const engine = new EdgeFactsEngine(null)
  const cdn = { 'cloudfront-viewer-country': 'es', 'cloudfront-viewer-country-region': 'AN', 'cloudfront-viewer-city': 'Seville', 'user-agent': UA.iPhone, 'x-device': 'desktop', 'x-forwarded-for': '5.224.0.10' }
  const viaCdn = facts('127.0.0.1', { ...cdn })
  engine.apply(viaCdn, cfg)
  assert.equal(viaCdn.clientIp, '5.224.0.10')
  assert.deepEqual(viaCdn.geo, { country: 'ES', region: 'AN', city: 'Seville' })
  assert.equal(viaCdn.headers['x-country'], 'ES')
  assert.equal(viaCdn.headers['x-geo-region'], 'AN')
  assert.equal(viaCdn.headers['x-device'], 'iPhone')
  const direct = facts('198.51.100.1', { ...cdn })
  engine.apply(direct, cfg)
  assert.equal(direct.clientIp, '198.51.100.1')
  assert.equal(direct.geo, NO_GEO, 'an untrusted client cannot claim a country through CDN headers')
  assert.equal(direct.headers['x-country'], undefined)
  // ES-AN and region names are normalised to the code.
  for (const region of ['ES-AN', 'Andalusia', 'an']) {
    const f = facts('127.0.0.1', { 'cloudfront-viewer-country': 'ES', 'cloudfront-viewer-country-region': region })
    engine.apply(f, cfg)
    assert.equal(f.geo.region, 'AN', region)
  }
  const unknown = facts('127.0.0.1', { 'cloudfront-viewer-country': 'XX' })
  engine.apply(unknown, cfg)
  assert.equal(unknown.geo, NO_GEO)
})

test('one EdgeFacts applies: the oldest wins and the others are reported', () => {
  const issues: Issue[] = []
  const res = resourcesOf(`apiVersion: meshgate.io/v1alpha1
kind: EdgeFacts
metadata: {name: b, namespace: default}
spec: {headers: {device: x-b}}
---
apiVersion: meshgate.io/v1alpha1
kind: EdgeFacts
metadata: {name: a, namespace: default}
spec: {headers: {device: x-a}, forwardHeaders: false}
`)
  const cfg = compileEdgeFacts(res.slice().sort((x, y) => x.name < y.name ? -1 : 1), issues)
  assert.equal(cfg.headers.device, 'x-a')
  assert.equal(cfg.forwardHeaders, false)
  assert.equal(issues.length, 1)
  assert.match(issues[0]!.message, /only one EdgeFacts/)
  assert.equal(issues[0]!.name, 'b')
})
