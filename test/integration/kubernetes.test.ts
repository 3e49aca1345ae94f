// `serve --kubernetes` against an API server double that speaks the real
// list/watch protocol, through the real @kubernetes/client-node: Istio kinds,
// Services + EndpointSlices + Pods as endpoints with labels, Secrets as Gateway
// credentials, 410 Gone, and one bad resource among good ones.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { startKubeApiServer, type KubeApiServer } from '../helpers/kube-apiserver.js'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePort, getFreePorts } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { createTestCa, type TestCa } from '../helpers/certs.js'
import { runMeshgate, startMeshgate } from '../helpers/processes.js'
import { Gateway } from '../../src/gateway/runtime.js'
import { GatewayMetrics } from '../../src/plugins/metrics.js'
import { KubernetesProvider } from '../../src/gateway/sources/kubernetes.js'

let api: KubeApiServer
let ups: Upstreams
let ca: TestCa
let dir: string
let kubeconfig: string

before(async () => {
  api = await startKubeApiServer()
  ups = await startUpstreams(['v1', 'v2'])
  ca = await createTestCa()
  dir = await mkdtemp(join(tmpdir(), 'meshgate-k8s-'))
  kubeconfig = await api.writeKubeconfig(dir)
})

after(async () => {
  await api?.stop()
  await ups?.close()
  await ca?.cleanup()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

/** An in-process gateway fed by a provider, with its log lines kept for assertions. */
interface K8sGateway { gateway: Gateway, provider: KubernetesProvider, logs: Array<Record<string, unknown>>, stop: () => Promise<void> }

async function startK8sGateway (opts: { podNamespace?: string, namespaces?: string[], configPaths?: string[] } = {}): Promise<K8sGateway> {
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l !== '') logs.push(JSON.parse(l) as Record<string, unknown>); cb() } })
  const log = pino({ level: 'info' }, sink)
  const provider = new KubernetesProvider({ kubeconfig, namespaces: opts.namespaces ?? [], log, debounceMs: 20, backoffMs: 100, syncTimeoutMs: 5_000, podNamespace: opts.podNamespace ?? 'istio-system' })
  await provider.start()
  const gateway = new Gateway({
    configPaths: opts.configPaths ?? [],
    watch: opts.configPaths !== undefined,
    reloadDelayMs: 20,
    host: '127.0.0.1',
    log,
    accessLog: null,
    metrics: new GatewayMetrics(),
    gatewayLabels: { istio: 'ingressgateway' },
    credentialsDir: null,
    provider,
    namespace: null
  })
  await gateway.start()
  return { gateway, provider, logs, stop: async () => { await gateway.drain(1_000) } }
}

function gatewayObject (name: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace: 'istio-system' },
    spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: port, name: 'http', protocol: 'HTTP' }, hosts: ['*'], ...extra }] }
  }
}

function virtualService (name: string, host: string, route: unknown[], namespace = 'shop'): Record<string, unknown> {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace },
    spec: { hosts: [host], gateways: ['istio-system/gw'], http: [{ route }] }
  }
}

function service (name: string, namespace = 'shop'): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] } }
}

function pod (name: string, labels: Record<string, string>, namespace = 'shop'): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels }, spec: { containers: [{ name: 'app', image: 'app' }] } }
}

/** One slice per upstream port (127.0.0.1 serves every pod here, each on its own port). */
function slice (name: string, svc: string, port: number, endpoints: Array<{ pod: string, ready?: boolean }>, namespace = 'shop'): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: endpoints.map(e => ({ addresses: ['127.0.0.1'], conditions: { ready: e.ready ?? true }, targetRef: { kind: 'Pod', name: e.pod, namespace } }))
  }
}

async function until<T> (what: string, fn: () => Promise<T | undefined>, timeoutMs = 2_000): Promise<{ value: T, ms: number }> {
  const start = Date.now()
  let last: unknown
  while (Date.now() - start < timeoutMs) {
    try {
      const v = await fn()
      if (v !== undefined) return { value: v, ms: Date.now() - start }
    } catch (err) { last = err }
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last !== undefined ? ` (last error: ${(last as Error).message})` : ''}`)
}

async function upstreamOf (port: number, host = 'shop.example'): Promise<string | undefined> {
  const r = await request(`http://127.0.0.1:${port}/`, { headers: { host }, timeoutMs: 2_000 })
  return r.status === 200 ? headerValue(r, 'x-upstream') : `status ${r.status}`
}

/** Every object a test put in the cluster, so the next test starts from an empty one. */
const applied = new Map<string, { apiVersion: string, kind: string, namespace: string, name: string }>()

function put (obj: Record<string, unknown>): void {
  const m = obj.metadata as { name: string, namespace?: string }
  const ref = { apiVersion: String(obj.apiVersion), kind: String(obj.kind), namespace: m.namespace ?? '', name: m.name }
  applied.set(`${ref.kind}/${ref.namespace}/${ref.name}`, ref)
  api.apply(obj)
}

/** The Service `shop` in namespace `shop`, served by one pod labelled version=v1 (the `v1` upstream). */
function putShopV1 (): void {
  put(service('shop'))
  put(pod('shop-v1', { app: 'shop', version: 'v1' }))
  put(slice('shop-a', 'shop', ups.get('v1').port, [{ pod: 'shop-v1' }]))
}

/** Waits until requests to `port` (Host `host`) are answered by `want` (an upstream's name, or `status N`); returns the ms it took. */
async function untilAnswer (what: string, want: string, port: number, host?: string, timeoutMs?: number): Promise<number> {
  return (await until(what, async () => (await upstreamOf(port, host)) === want ? true : undefined, timeoutMs)).ms
}

/** VirtualService `shop/<name>`: every request for `host` to the Service shop. */
function toShop (name: string, host: string): Record<string, unknown> {
  return virtualService(name, host, [{ destination: { host: 'shop' } }])
}

/** An emptied cluster with Gateway `istio-system/gw` on a free port (returned) and the shop Service on v1. */
async function freshShopCluster (): Promise<number> {
  reset()
  const port = await getFreePort()
  put(gatewayObject('gw', port))
  putShopV1()
  return port
}

function reset (): void {
  for (const r of applied.values()) {
    try { api.remove(r.apiVersion, r.kind, r.namespace, r.name) } catch { /* already gone */ }
  }
  applied.clear()
}

test('a VirtualService created in the cluster routes traffic within 2 s; an EndpointSlice update moves it', async () => {
  reset()
  const port = await getFreePort()
  put(gatewayObject('gw', port))
  put(service('shop'))
  put(pod('shop-v1', { app: 'shop', version: 'v1' }))
  put(pod('shop-v2', { app: 'shop', version: 'v2' }))
  put(slice('shop-a', 'shop', ups.get('v1').port, [{ pod: 'shop-v1' }]))
  const gw = await startK8sGateway()
  try {
    assert.equal(await upstreamOf(port), 'status 404', 'no VirtualService yet')
    put(toShop('shop', 'shop.example'))
    const ms = await untilAnswer('the new VirtualService routes', 'v1', port)
    assert.ok(ms < 2_000, `routed after ${ms} ms`)

    // The slice now points at the other pod: traffic follows.
    put(slice('shop-a', 'shop', ups.get('v2').port, [{ pod: 'shop-v2' }]))
    await untilAnswer('traffic moves to the updated endpoint', 'v2', port)

    // Subsets select endpoints by their pods' labels; not-ready endpoints are left out.
    put(slice('shop-a', 'shop', ups.get('v1').port, [{ pod: 'shop-v1' }]))
    put(slice('shop-b', 'shop', ups.get('v2').port, [{ pod: 'shop-v2' }]))
    put({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'shop', namespace: 'shop' }, spec: { host: 'shop', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } })
    put(virtualService('shop', 'shop.example', [{ destination: { host: 'shop', subset: 'v2' } }]))
    await untilAnswer('the v2 subset is the pod labelled version=v2', 'v2', port)
    put(slice('shop-b', 'shop', ups.get('v2').port, [{ pod: 'shop-v2', ready: false }]))
    await untilAnswer('a not-ready endpoint leaves the subset', 'status 503', port)
  } finally {
    await gw.stop()
  }
})

test('an invalid VirtualService is skipped and reported while the others apply', async () => {
  const port = await freshShopCluster()
  put(toShop('good', 'shop.example'))
  // Admission refuses a negative weight.
  put(virtualService('bad', 'bad.example', [{ destination: { host: 'shop' }, weight: -5 }]))
  const gw = await startK8sGateway()
  try {
    assert.equal(await upstreamOf(port), 'v1')
    assert.equal(await upstreamOf(port, 'bad.example'), 'status 404')
    const reported = gw.logs.find(l => typeof l.msg === 'string' && l.msg.includes('VirtualService/shop/bad') && l.level === 50)
    assert.ok(reported !== undefined, 'the bad VirtualService is named in an error log line')
    assert.match(String(reported.msg), /^kubernetes: error: VirtualService\/shop\/bad: http\[0\]\.route\[0\]\.weight: .*\(resource not applied; the others are\)$/)
    assert.equal(gw.gateway.lastRefused, null, 'nothing refused as a whole')

    // Another team's change still applies, and fixing the bad one applies it too.
    put(toShop('other', 'other.example'))
    await untilAnswer('a later good VirtualService applies', 'v1', port, 'other.example')
    put(virtualService('bad', 'bad.example', [{ destination: { host: 'shop' }, weight: 100 }]))
    await untilAnswer('the fixed VirtualService applies', 'v1', port, 'bad.example')
  } finally {
    await gw.stop()
  }
})

test('410 Gone: the watches re-list and the gateway keeps serving, with what changed meanwhile', async () => {
  const port = await freshShopCluster()
  put(toShop('shop', 'shop.example'))
  put(toShop('gone', 'gone.example'))
  const gw = await startK8sGateway()
  try {
    assert.equal(await upstreamOf(port), 'v1')
    assert.equal(await upstreamOf(port, 'gone.example'), 'v1')
    const listsBefore = api.requests.filter(r => r.path.endsWith('/virtualservices') && r.query.watch === undefined).length
    // Compaction under live watches, with a delete the watches never see as an event.
    api.expireWatches()
    api.remove('networking.istio.io/v1', 'VirtualService', 'shop', 'gone')
    await until('the VirtualService watch re-lists', async () => api.requests.filter(r => r.path.endsWith('/virtualservices') && r.query.watch === undefined).length > listsBefore ? true : undefined)
    await untilAnswer('the delete seen by the re-list applies', 'status 404', port, 'gone.example')
    assert.equal(await upstreamOf(port), 'v1', 'state kept across the re-list')
    put(toShop('after', 'after.example'))
    await untilAnswer('changes after the re-list apply', 'v1', port, 'after.example')
  } finally {
    await gw.stop()
  }
})

async function servedSerial (port: number, servername: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, ca: ca.cert }, () => {
      const serial = s.getPeerCertificate().serialNumber
      s.end()
      resolve(serial)
    })
    s.on('error', reject)
  })
}

function tlsSecret (name: string, cert: string, key: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name, namespace: 'istio-system' },
    data: { 'tls.crt': Buffer.from(cert).toString('base64'), 'tls.key': Buffer.from(key).toString('base64') }
  }
}

test('Gateway credentials come from Secrets: hot-swapped on update, kept with a logged error on delete', async () => {
  reset()
  const port = await getFreePort()
  const first = await ca.issue('shop-1', { dns: ['shop.example'] })
  const second = await ca.issue('shop-2', { dns: ['shop.example'] })
  put(tlsSecret('shop-cert', first.cert, first.key))
  put({
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: { name: 'gw', namespace: 'istio-system' },
    spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: port, name: 'https', protocol: 'HTTPS' }, hosts: ['shop.example'], tls: { mode: 'SIMPLE', credentialName: 'shop-cert' } }] }
  })
  putShopV1()
  put(toShop('shop', 'shop.example'))
  const gw = await startK8sGateway({ podNamespace: 'istio-system' })
  try {
    const serialOf = async (pem: string): Promise<string> => {
      const { X509Certificate } = await import('node:crypto')
      return new X509Certificate(pem).serialNumber
    }
    assert.equal(await servedSerial(port, 'shop.example'), await serialOf(first.cert))
    const r = await request(`https://127.0.0.1:${port}/`, { headers: { host: 'shop.example' }, tls: { ca: ca.cert, servername: 'shop.example' } })
    assert.equal(r.status, 200)

    put(tlsSecret('shop-cert', second.cert, second.key))
    await until('the updated Secret is served', async () => (await servedSerial(port, 'shop.example')) === await serialOf(second.cert) ? true : undefined)

    api.remove('v1', 'Secret', 'istio-system', 'shop-cert')
    await until('the delete is logged as an error', async () => gw.logs.some(l => l.level === 50 && l.secret === 'istio-system/shop-cert') ? true : undefined)
    // Nothing else changes: give a reload the chance to happen, then check the certificate stayed.
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(await servedSerial(port, 'shop.example'), await serialOf(second.cert))
    assert.equal((await request(`https://127.0.0.1:${port}/`, { headers: { host: 'shop.example' }, tls: { ca: ca.cert, servername: 'shop.example' } })).status, 200)

    put(tlsSecret('shop-cert', first.cert, first.key))
    await until('a recreated Secret is served', async () => (await servedSerial(port, 'shop.example')) === await serialOf(first.cert) ? true : undefined)
  } finally {
    await gw.stop()
  }
})

test('serve --kubeconfig: the pod\'s own labels pick the Gateways it serves, its Service maps ports; --watch-namespace narrows the watches', async () => {
  reset()
  const [served, other, named] = await getFreePorts(3) as [number, number, number]
  put({ ...pod('meshgate-0', { istio: 'edge', app: 'meshgate' }, 'istio-system'), spec: { containers: [{ name: 'meshgate', image: 'meshgate', ports: [{ name: 'alt', containerPort: named }] }] } })
  // As in Istio, Gateway ports are the gateway Service's ports; the pod listens on their targetPorts.
  put({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'meshgate', namespace: 'istio-system' }, spec: { selector: { istio: 'edge' }, ports: [{ name: 'http', port: 80, targetPort: served, protocol: 'TCP' }, { name: 'http-alt', port: 81, targetPort: 'alt', protocol: 'TCP' }] } })
  put({ ...gatewayObject('gw', 80), spec: { selector: { istio: 'edge' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }, { port: { number: 81, name: 'http-alt', protocol: 'HTTP' }, hosts: ['*'] }] } })
  put({ ...gatewayObject('gw-other', other), spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: other, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] } })
  putShopV1()
  put(toShop('shop', 'shop.example'))
  const before = api.requests.length
  const proc = await startMeshgate(['serve', '--kubeconfig', kubeconfig, '--watch-namespace', 'istio-system,shop', '--host', '127.0.0.1', '--access-log', 'off'], {
    env: { ...process.env, POD_NAME: 'meshgate-0', POD_NAMESPACE: 'istio-system' },
    readyTimeoutMs: 20_000
  })
  try {
    assert.equal(await upstreamOf(served), 'v1')
    assert.equal(await upstreamOf(named), 'v1', 'a named targetPort resolves through the pod\'s container ports')
    await assert.rejects(request(`http://127.0.0.1:${other}/`, { headers: { host: 'shop.example' }, timeoutMs: 1_000 }), 'a Gateway for other labels opens no listener')
    const paths = api.requests.slice(before).map(r => r.path)
    assert.ok(paths.includes('/apis/networking.istio.io/v1/namespaces/shop/virtualservices'), paths.join('\n'))
    assert.ok(!paths.some(p => p === '/apis/networking.istio.io/v1/virtualservices'), 'no cluster-wide watch with --watch-namespace')
  } finally {
    await proc.stop()
  }
})

test('bookmarks keep a quiet watch\'s position: after compaction a dropped watch resumes without a re-list', async () => {
  reset()
  const port = await getFreePort()
  put(gatewayObject('gw', port))
  put(toShop('shop', 'shop.example'))
  const gw = await startK8sGateway()
  try {
    const vsLists = (): number => api.requests.filter(r => r.path === '/apis/networking.istio.io/v1/virtualservices' && r.query.watch === undefined).length
    const vsWatches = (): typeof api.requests => api.requests.filter(r => r.path === '/apis/networking.istio.io/v1/virtualservices' && r.query.watch === 'true')
    await until('the VirtualService watch is open', async () => api.openWatches('virtualservices') > 0 ? true : undefined)
    assert.equal(vsWatches().at(-1)?.query.allowWatchBookmarks, 'true')
    // Other kinds move the cluster's resourceVersion on; the VirtualService watch sees none of it but a bookmark.
    for (let i = 0; i < 3; i++) put(service(`noise-${i}`, 'other'))
    api.bookmark()
    await new Promise(resolve => setTimeout(resolve, 100))
    const lists = vsLists()
    const watches = vsWatches().length
    api.compact()
    api.closeWatches()
    await until('the watch reconnects', async () => vsWatches().length > watches && api.openWatches('virtualservices') > 0 ? true : undefined)
    assert.equal(vsLists(), lists, 'resumed from the bookmark, no re-list')
    assert.equal(vsWatches().at(-1)?.query.resourceVersion, String(api.resourceVersion))
  } finally {
    await gw.stop()
  }
})

test('a failing API server is retried with backoff; changes apply once it answers again', async () => {
  const port = await freshShopCluster()
  const gw = await startK8sGateway()
  try {
    const failuresBefore = gw.logs.filter(l => l.msg === 'kubernetes list/watch failed; retrying').length
    // Every watch drops; their reconnects (and the retries) meet 500s for a while.
    api.failNext(40, 500)
    api.closeWatches()
    await until('the failures are logged', async () => gw.logs.filter(l => l.msg === 'kubernetes list/watch failed; retrying').length > failuresBefore ? true : undefined, 5_000)
    assert.equal(await upstreamOf(port), 'status 404', 'still serving the last good version')
    put(toShop('shop', 'shop.example'))
    await untilAnswer('a change made after the outage applies', 'v1', port, undefined, 10_000)
    const retries = gw.logs.filter(l => l.msg === 'kubernetes list/watch failed; retrying').map(l => Number(l.retryMs))
    assert.ok(retries.some(ms => ms > 100), `backoff grows: ${retries.join(', ')}`)
  } finally {
    await gw.stop()
  }
})

test('files and the cluster make one config: a Gateway from a file serves a VirtualService from the cluster', async () => {
  reset()
  const port = await getFreePort()
  const cfgDir = await mkdtemp(join(dir, 'files-'))
  const file = join(cfgDir, 'gateway.yaml')
  await writeFile(file, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${port}, name: http, protocol: HTTP}
    hosts: ["*"]
`)
  putShopV1()
  put(toShop('shop', 'shop.example'))
  const gw = await startK8sGateway({ configPaths: [cfgDir] })
  try {
    assert.equal(await upstreamOf(port), 'v1')
    // A broken file still refuses the whole version (files keep their all-or-nothing rule) ...
    await writeFile(file, 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: istio-system}\nspec: {servers: [{port: {number: -1}}]}\n')
    await until('the broken file is refused', async () => gw.gateway.lastRefused !== null ? true : undefined)
    assert.equal(await upstreamOf(port), 'v1', 'the last good version keeps serving')
    // ... and cluster changes wait for the file to be fixed, since they make a version with it.
    put(toShop('more', 'more.example'))
    await writeFile(file, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${port}, name: http, protocol: HTTP}
    hosts: ["*"]
`)
    await untilAnswer('the fixed file and the cluster change apply together', 'v1', port, 'more.example', 5_000)
  } finally {
    await gw.stop()
  }
})

test('validate, explain and test read the cluster too (--kubeconfig): findings per resource, routes as serve would take them', async () => {
  reset()
  put(gatewayObject('gw', 8080))
  putShopV1()
  put(toShop('shop', 'shop.example'))
  put(virtualService('bad', 'bad.example', [{ destination: { host: 'shop' }, weight: -5 }]))

  const validate = await runMeshgate(['validate', '--kubeconfig', kubeconfig])
  assert.equal(validate.code, 1, validate.stdout + validate.stderr)
  assert.match(validate.stdout, /^kubernetes: error: VirtualService\/shop\/bad: http\[0\]\.route\[0\]\.weight: /m)
  assert.match(validate.stdout, /^1 error\(s\)/m)

  const explained = await runMeshgate(['explain', '--kubeconfig', kubeconfig, '--url', 'http://shop.example:8080/x'])
  assert.equal(explained.code, 0, explained.stdout + explained.stderr)
  const e = JSON.parse(explained.stdout) as { virtualService: string, virtualServiceSource: string, destinations: Array<{ host: string, endpoints: string[] }> }
  assert.equal(e.virtualService, 'shop/shop')
  assert.equal(e.virtualServiceSource, 'kubernetes')
  assert.deepEqual(e.destinations.map(d => [d.host, d.endpoints]), [['shop.shop.svc.cluster.local', [`127.0.0.1:${ups.get('v1').port}`]]])

  const cases = join(dir, 'cluster-cases.yaml')
  await writeFile(cases, 'cases:\n- request: {url: "http://shop.example:8080/x"}\n  expect: {virtualService: shop/shop, destination: {host: shop.shop.svc.cluster.local}}\n')
  const tested = await runMeshgate(['test', '--kubeconfig', kubeconfig, cases])
  assert.equal(tested.code, 0, tested.stdout + tested.stderr)
  assert.match(tested.stdout, /1 passed, 0 failed/)

  const usage = await runMeshgate(['validate'])
  assert.equal(usage.code, 2)
  assert.match(usage.stderr, /--config PATH \(or --kubernetes\)/)
})
