// The Kubernetes API server double (test/helpers/kube-apiserver.ts), driven by
// the real @kubernetes/client-node: discovery, typed clients, informers
// (ListWatch) through adds, updates, deletes, 410 re-lists, bookmarks,
// selectors, auth and injected failures.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  ApiException,
  ApisApi,
  CoreApi,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  ListWatch,
  Watch,
  makeInformer,
  type Informer,
  type KubernetesObject
} from '@kubernetes/client-node'
import { createTestCerts } from '../helpers/certs.js'
import { KubeApiError, startKubeApiServer, type KubeApiServer, type KubeObject, type RecordedKubeRequest } from '../helpers/kube-apiserver.js'

const ISTIO = 'networking.istio.io'

function kubeConfig (server: KubeApiServer, opts?: { token?: string | null }): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromString(server.kubeconfig(opts))
  return kc
}

/** Polls `probe` until it returns something (not undefined/false); fails after 5 s. */
async function waitFor<T> (what: string, probe: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + 5000
  for (;;) {
    const value = probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

interface SeenEvent { type: 'add' | 'update' | 'delete', name: string, rv: string | undefined, obj: KubernetesObject }

/** Records an informer's object events and errors (its stop() aborts the watch: that AbortError is left out). */
function record<T extends KubernetesObject> (informer: Informer<T>): { events: SeenEvent[], errors: unknown[] } {
  const events: SeenEvent[] = []
  const errors: unknown[] = []
  for (const type of ['add', 'update', 'delete'] as const) {
    informer.on(type, (obj) => { events.push({ type, name: obj.metadata?.name ?? '', rv: obj.metadata?.resourceVersion, obj }) })
  }
  informer.on('error', (err) => { if ((err as Error | undefined)?.name !== 'AbortError') errors.push(err) })
  return { events, errors }
}

function virtualService (namespace: string, name: string, hosts: string[], labels?: Record<string, string>, apiVersion = `${ISTIO}/v1`): KubeObject {
  return { apiVersion, kind: 'VirtualService', metadata: { name, namespace, ...(labels !== undefined ? { labels } : {}) }, spec: { hosts } }
}

function service (namespace: string, name: string, labels: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, labels }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80 }] } }
}

function names (items: ReadonlyArray<KubernetesObject>): string[] {
  return items.map((o) => o.metadata?.name ?? '').sort()
}

function listRequests (server: KubeApiServer, path: string): RecordedKubeRequest[] {
  return server.requests.filter((r) => r.path === path && r.query.watch === undefined)
}

function watchRequests (server: KubeApiServer, path: string): RecordedKubeRequest[] {
  return server.requests.filter((r) => r.path === path && r.query.watch === 'true')
}

/** A namespaced VirtualService informer through CustomObjectsApi, as a provider would make one. */
function vsInformer (kc: KubeConfig, namespace: string, version = 'v1', labelSelector?: string): { informer: Informer<KubernetesObject> & { list: () => ReadonlyArray<KubernetesObject> }, path: string } {
  const custom = kc.makeApiClient(CustomObjectsApi)
  const path = `/apis/${ISTIO}/${version}/namespaces/${namespace}/virtualservices`
  const informer = makeInformer<KubernetesObject>(kc, path, () => custom.listNamespacedCustomObject({
    group: ISTIO, version, namespace, plural: 'virtualservices', ...(labelSelector !== undefined ? { labelSelector } : {})
  }), labelSelector)
  return { informer, path }
}

/** A raw watch: collects events; `ended` resolves with the done() error (null for a clean end). */
async function rawWatch (kc: KubeConfig, path: string, query: Record<string, string | number | boolean>): Promise<{ events: Array<{ type: string, obj: any }>, ended: Promise<unknown>, abort: () => void }> {
  const events: Array<{ type: string, obj: any }> = []
  let settle!: (err: unknown) => void
  const ended = new Promise<unknown>((resolve) => { settle = resolve })
  const controller = await new Watch(kc).watch(path, query, (type, obj) => { events.push({ type, obj }) }, (err) => { settle(err) })
  return { events, ended, abort: () => { controller.abort() } }
}

describe('kube-apiserver double', () => {
  let server: KubeApiServer
  let kc: KubeConfig
  before(async () => {
    server = await startKubeApiServer()
    kc = kubeConfig(server)
  })
  after(async () => { await server.stop() })

  test('discovery lists the core version, the groups with their versions, and their resources', async () => {
    const core = await kc.makeApiClient(CoreApi).getAPIVersions()
    assert.deepEqual(core.versions, ['v1'])

    const coreResources = await kc.makeApiClient(CoreV1Api).getAPIResources()
    assert.equal(coreResources.groupVersion, 'v1')
    const byName = new Map(coreResources.resources.map((r) => [r.name, r]))
    assert.deepEqual([...byName.keys()].sort(), ['namespaces', 'pods', 'secrets', 'services'])
    assert.equal(byName.get('services')?.kind, 'Service')
    assert.equal(byName.get('services')?.namespaced, true)
    assert.equal(byName.get('namespaces')?.namespaced, false)
    assert.ok(byName.get('pods')?.verbs.includes('watch'))

    const groups = await kc.makeApiClient(ApisApi).getAPIVersions()
    assert.deepEqual(groups.groups.map((g) => g.name), ['discovery.k8s.io', ISTIO, 'security.istio.io', 'meshgate.io'])
    const istio = groups.groups.find((g) => g.name === ISTIO)
    assert.deepEqual(istio?.versions.map((v) => v.version), ['v1', 'v1beta1', 'v1alpha3'])
    assert.equal(istio?.preferredVersion?.groupVersion, `${ISTIO}/v1`)
    assert.deepEqual(groups.groups.find((g) => g.name === 'security.istio.io')?.versions.map((v) => v.groupVersion), ['security.istio.io/v1', 'security.istio.io/v1beta1'])

    const slices = await kc.makeApiClient(DiscoveryV1Api).getAPIResources()
    assert.deepEqual(slices.resources.map((r) => [r.name, r.kind, r.singularName]), [['endpointslices', 'EndpointSlice', 'endpointslice']])

    const group = await (await fetch(`${server.url}/apis/${ISTIO}`)).json() as { kind: string, name: string, preferredVersion: { version: string } }
    assert.equal(group.kind, 'APIGroup')
    assert.equal(group.preferredVersion.version, 'v1')
    const meshgate = await (await fetch(`${server.url}/apis/meshgate.io/v1alpha1`)).json() as { kind: string, resources: Array<{ name: string, kind: string, namespaced: boolean }> }
    assert.equal(meshgate.kind, 'APIResourceList')
    assert.deepEqual(meshgate.resources.map((r) => `${r.name}/${r.kind}`), ['ratelimitpolicies/RateLimitPolicy', 'cachepolicies/CachePolicy', 'apikeypolicies/ApiKeyPolicy', 'edgefacts/EdgeFacts'])

    for (const path of ['/apis/nothing.example.com', `/apis/${ISTIO}/v2`, `/apis/${ISTIO}/v1/widgets`, '/api/v2', '/api/v1/namespaces/default/services/a/b/c']) {
      const res = await fetch(`${server.url}${path}`)
      assert.equal(res.status, 404, path)
      assert.deepEqual(await res.json(), {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404, message: 'the server could not find the requested resource'
      })
    }
  })

  test('a server without some CRD groups leaves them out of discovery and answers 404 for them', async () => {
    const bare = await startKubeApiServer({ groups: [ISTIO] })
    try {
      const bkc = kubeConfig(bare)
      const groups = await bkc.makeApiClient(ApisApi).getAPIVersions()
      assert.deepEqual(groups.groups.map((g) => g.name), ['discovery.k8s.io', ISTIO])
      await assert.rejects(
        bkc.makeApiClient(CustomObjectsApi).listClusterCustomObject({ group: 'meshgate.io', version: 'v1alpha1', plural: 'ratelimitpolicies' }),
        (err: unknown) => err instanceof ApiException && err.code === 404)
      assert.throws(() => bare.apply({ apiVersion: 'meshgate.io/v1alpha1', kind: 'CachePolicy', metadata: { name: 'c' } }), /not served/)
      assert.equal((await bkc.makeApiClient(CoreV1Api).listNamespace()).kind, 'NamespaceList')
    } finally {
      await bare.stop()
    }
  })

  test('core and discovery.k8s.io objects are served through the typed clients', async () => {
    const ns = 'typed'
    server.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { team: 'edge' } } })
    server.apply(service(ns, 'reviews', { app: 'reviews' }))
    server.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reviews-1', namespace: ns, labels: { app: 'reviews', version: 'v1' } }, spec: { containers: [{ name: 'c', image: 'x' }] } })
    server.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cert', namespace: ns }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y2VydA==' } })
    server.apply({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'reviews-abc', namespace: ns, labels: { 'kubernetes.io/service-name': 'reviews' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'reviews-1', namespace: ns } }],
      ports: [{ name: 'http', port: 9080, protocol: 'TCP' }]
    })

    const core = kc.makeApiClient(CoreV1Api)
    const services = await core.listNamespacedService({ namespace: ns })
    assert.equal(services.kind, 'ServiceList')
    assert.equal(services.apiVersion, 'v1')
    assert.equal(services.metadata?.resourceVersion, String(server.resourceVersion))
    assert.deepEqual(names(services.items), ['reviews'])
    const svc = services.items[0]
    assert.equal(svc?.kind, 'Service')
    assert.equal(svc?.apiVersion, 'v1')
    assert.equal(svc?.spec?.ports?.[0]?.port, 80)
    assert.match(svc?.metadata?.uid ?? '', /^[0-9a-f-]{36}$/)
    assert.ok(svc?.metadata?.creationTimestamp instanceof Date)
    assert.equal(svc?.metadata?.generation, 1)

    const pods = await core.listPodForAllNamespaces({ labelSelector: 'app=reviews' })
    assert.deepEqual(names(pods.items), ['reviews-1'])
    assert.equal((await core.readNamespacedSecret({ namespace: ns, name: 'cert' })).type, 'kubernetes.io/tls')
    assert.equal((await core.readNamespace({ name: ns })).metadata?.labels?.team, 'edge')
    assert.ok(names((await core.listNamespace()).items).includes(ns))

    const slices = await kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=reviews' })
    assert.equal(slices.items[0]?.endpoints?.[0]?.addresses[0], '10.0.0.1')
    assert.equal(slices.items[0]?.apiVersion, 'discovery.k8s.io/v1')

    const byName = await core.listNamespacedService({ namespace: ns, fieldSelector: 'metadata.name=nope' })
    assert.equal(byName.items.length, 0)

    await assert.rejects(core.readNamespacedService({ namespace: ns, name: 'missing' }), (err: unknown) => {
      assert.ok(err instanceof ApiException)
      assert.equal(err.code, 404)
      // client-node keeps the response text of an unexpected status as the body.
      const status = JSON.parse(String(err.body)) as { kind: string, reason: string, message: string }
      assert.equal(status.kind, 'Status')
      assert.equal(status.reason, 'NotFound')
      assert.equal(status.message, 'services "missing" not found')
      return true
    })
  })

  test('the control API: create, update, apply, remove, generation and resourceVersion', () => {
    const ns = 'control'
    const created = server.create(virtualService(ns, 'vs', ['a.example']))
    const rv1 = Number(created.metadata?.resourceVersion)
    assert.equal(rv1, server.resourceVersion)
    assert.throws(() => server.create(virtualService(ns, 'vs', ['a.example'])), (err: unknown) => err instanceof KubeApiError && err.status.reason === 'AlreadyExists')

    // A change outside spec (labels) gets a new resourceVersion but keeps the generation.
    const relabelled = server.apply(virtualService(ns, 'vs', ['a.example'], { team: 'a' }))
    assert.equal(Number(relabelled.metadata?.resourceVersion), rv1 + 1)
    assert.equal(relabelled.metadata?.generation, 1)
    assert.equal(relabelled.metadata?.uid, created.metadata?.uid)

    // An update that changes nothing writes nothing, as on a real server.
    assert.equal(server.apply(virtualService(ns, 'vs', ['a.example'], { team: 'a' })).metadata?.resourceVersion, relabelled.metadata?.resourceVersion)

    const respecced = server.update({ ...relabelled, spec: { hosts: ['b.example'] } })
    assert.equal(respecced.metadata?.generation, 2)
    assert.throws(() => server.update({ ...relabelled, spec: { hosts: ['c.example'] } }), (err: unknown) => err instanceof KubeApiError && err.status.code === 409)
    assert.throws(() => server.update(virtualService(ns, 'other', [])), (err: unknown) => err instanceof KubeApiError && err.status.code === 404)

    const named = server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { generateName: 'token-', namespace: ns } })
    assert.match(named.metadata?.name ?? '', /^token-[0-9a-f]{5}$/)

    const deleted = server.remove(`${ISTIO}/v1`, 'VirtualService', ns, 'vs')
    assert.equal(deleted?.metadata?.resourceVersion, String(server.resourceVersion))
    assert.deepEqual(deleted?.spec, { hosts: ['b.example'] })
    assert.equal(server.get(`${ISTIO}/v1`, 'VirtualService', ns, 'vs'), undefined)
    assert.equal(server.remove(`${ISTIO}/v1`, 'VirtualService', ns, 'vs'), undefined)
  })

  test('an informer on a CRD kind lists, then sees adds, updates and deletes', async () => {
    const ns = 'informer'
    server.apply(virtualService(ns, 'before', ['before.example']))
    const { informer, path } = vsInformer(kc, ns)
    const seen = record(informer)
    try {
      await informer.start()
      assert.deepEqual(seen.events.map((e) => `${e.type} ${e.name}`), ['add before'])
      const [list] = listRequests(server, path)
      assert.ok(list !== undefined)
      // ListWatch watches from the list's resourceVersion with only watch and resourceVersion (no allowWatchBookmarks).
      const [watch] = watchRequests(server, path)
      assert.deepEqual(watch?.query, { watch: 'true', resourceVersion: String(server.resourceVersion) })
      assert.equal(server.openWatches('virtualservices'), 1)

      server.apply(virtualService(ns, 'live', ['live.example']))
      server.apply(virtualService('elsewhere', 'other-namespace', ['x.example']))
      const added = await waitFor('add live', () => seen.events.find((e) => e.type === 'add' && e.name === 'live'))
      assert.equal(added.obj.apiVersion, `${ISTIO}/v1`)
      assert.equal(added.obj.kind, 'VirtualService')

      server.apply(virtualService(ns, 'live', ['live.example', 'www.live.example']))
      const updated = await waitFor('update live', () => seen.events.find((e) => e.type === 'update' && e.name === 'live'))
      assert.equal(updated.obj.metadata?.generation, 2)
      assert.deepEqual((updated.obj as KubeObject).spec, { hosts: ['live.example', 'www.live.example'] })

      server.remove(`${ISTIO}/v1`, 'VirtualService', ns, 'before')
      const deleteRv = String(server.resourceVersion)
      const deleted = await waitFor('delete before', () => seen.events.find((e) => e.type === 'delete' && e.name === 'before'))
      // DELETED carries the last state with the deletion's resourceVersion.
      assert.equal(deleted.rv, deleteRv)
      assert.deepEqual((deleted.obj as KubeObject).spec, { hosts: ['before.example'] })

      assert.deepEqual(names(informer.list()), ['live'])
      assert.ok(!seen.events.some((e) => e.name === 'other-namespace'))
      assert.deepEqual(seen.errors, [])
    } finally {
      await informer.stop()
    }
  })

  test('an object created as v1beta1 is read through v1 and v1alpha3 with apiVersion rewritten', async () => {
    const ns = 'versions'
    const stored = server.apply(virtualService(ns, 'beta', ['beta.example'], undefined, `${ISTIO}/v1beta1`))
    assert.equal(stored.apiVersion, `${ISTIO}/v1beta1`)
    const custom = kc.makeApiClient(CustomObjectsApi)
    const list = await custom.listNamespacedCustomObject({ group: ISTIO, version: 'v1', namespace: ns, plural: 'virtualservices' }) as { kind: string, apiVersion: string, items: KubeObject[] }
    assert.equal(list.kind, 'VirtualServiceList')
    assert.equal(list.apiVersion, `${ISTIO}/v1`)
    assert.equal(list.items.length, 1)
    assert.equal(list.items[0]?.apiVersion, `${ISTIO}/v1`)
    assert.equal(list.items[0]?.kind, 'VirtualService')
    assert.deepEqual(list.items[0]?.spec, { hosts: ['beta.example'] })

    const alpha = await custom.getNamespacedCustomObject({ group: ISTIO, version: 'v1alpha3', namespace: ns, plural: 'virtualservices', name: 'beta' }) as KubeObject
    assert.equal(alpha.apiVersion, `${ISTIO}/v1alpha3`)
    assert.equal(alpha.metadata?.resourceVersion, stored.metadata?.resourceVersion)
    assert.equal(server.get(`${ISTIO}/v1`, 'VirtualService', ns, 'beta')?.apiVersion, `${ISTIO}/v1`)

    // The same object, and the same events, through a watch on another version.
    const { informer } = vsInformer(kc, ns, 'v1alpha3')
    const seen = record(informer)
    try {
      await informer.start()
      server.apply(virtualService(ns, 'beta', ['beta.example', 'b.example'], undefined, `${ISTIO}/v1`))
      const updated = await waitFor('update beta', () => seen.events.find((e) => e.type === 'update'))
      assert.equal(updated.obj.apiVersion, `${ISTIO}/v1alpha3`)
    } finally {
      await informer.stop()
    }
  })

  test('expireWatches: the informer re-lists and ends with the right state, deletions while away included', async () => {
    const ns = 'expire'
    for (const name of ['keep', 'gone', 'changed']) server.apply(virtualService(ns, name, [`${name}.example`]))
    const { informer, path } = vsInformer(kc, ns)
    const seen = record(informer)
    try {
      await informer.start()
      assert.deepEqual(names(informer.list()), ['changed', 'gone', 'keep'])
      assert.equal(listRequests(server, path).length, 1)

      // All synchronous: the informer cannot reconnect before these are done,
      // so it sees none of them as watch events.
      server.expireWatches()
      server.remove(`${ISTIO}/v1`, 'VirtualService', ns, 'gone')
      server.apply(virtualService(ns, 'changed', ['changed.example', 'more.example']))
      server.apply(virtualService(ns, 'new', ['new.example']))
      const rvAfter = String(server.resourceVersion)

      await waitFor('the re-list', () => listRequests(server, path).length === 2)
      await waitFor('the watch after the re-list', () => watchRequests(server, path).some((r) => r.query.resourceVersion === rvAfter))
      assert.deepEqual(names(informer.list()), ['changed', 'keep', 'new'])
      const after = seen.events.slice(3).map((e) => `${e.type} ${e.name}`).sort()
      assert.deepEqual(after, ['add new', 'delete gone', 'update changed'])
      assert.deepEqual(seen.errors, [])
      await waitFor('one open watch', () => server.openWatches('virtualservices') === 1)
    } finally {
      await informer.stop()
    }
  })

  test('a watch from a compacted resourceVersion gets one 410 Expired ERROR event and ends', async () => {
    const ns = 'compact'
    const path = `/apis/${ISTIO}/v1/namespaces/${ns}/virtualservices`
    const old = String(server.resourceVersion)
    server.apply(virtualService(ns, 'a', ['a.example']))
    server.compact()
    const expired = await rawWatch(kc, path, { resourceVersion: old })
    assert.equal(await expired.ended, null)
    assert.equal(expired.events.length, 1)
    assert.equal(expired.events[0]?.type, 'ERROR')
    const status = expired.events[0]?.obj as { kind: string, code: number, reason: string, message: string }
    assert.equal(status.kind, 'Status')
    assert.equal(status.code, 410)
    assert.equal(status.reason, 'Expired')
    assert.equal(status.message, `too old resource version: ${old} (${server.resourceVersion})`)

    // From the compaction point on, history is still there.
    const current = await rawWatch(kc, path, { resourceVersion: String(server.resourceVersion) })
    server.apply(virtualService(ns, 'b', ['b.example']))
    await waitFor('ADDED b', () => current.events.find((e) => e.type === 'ADDED' && e.obj.metadata.name === 'b'))
    current.abort()

    // Without a resourceVersion (or with 0): synthetic ADDED events for what exists.
    const fromNow = await rawWatch(kc, path, { resourceVersion: '0' })
    await waitFor('two ADDED', () => fromNow.events.length === 2)
    assert.deepEqual(fromNow.events.map((e) => `${e.type} ${e.obj.metadata.name}`), ['ADDED a', 'ADDED b'])
    fromNow.abort()
  })

  test('closeWatches: the informer resumes from its last resourceVersion without a re-list', async () => {
    const ns = 'resume'
    const { informer, path } = vsInformer(kc, ns)
    const seen = record(informer)
    try {
      await informer.start()
      server.apply(virtualService(ns, 'a', ['a.example']))
      await waitFor('add a', () => seen.events.find((e) => e.name === 'a'))
      const lastSeen = String(server.resourceVersion)

      server.closeWatches()
      server.apply(virtualService(ns, 'b', ['b.example']))
      await waitFor('add b (replayed from history)', () => seen.events.find((e) => e.name === 'b'))
      assert.equal(listRequests(server, path).length, 1)
      assert.equal(watchRequests(server, path).at(-1)?.query.resourceVersion, lastSeen)
      assert.deepEqual(seen.errors, [])
    } finally {
      await informer.stop()
    }
  })

  test('bookmarks reach only the watches that allow them and advance the resourceVersion', async () => {
    const ns = 'bookmarks'
    const path = `/apis/meshgate.io/v1alpha1/namespaces/${ns}/ratelimitpolicies`
    const rv = String(server.resourceVersion)
    const withBookmarks = await rawWatch(kc, path, { allowWatchBookmarks: true, resourceVersion: rv })
    const without = await rawWatch(kc, path, { resourceVersion: rv })

    server.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unrelated', namespace: ns } })
    server.bookmark()
    const bookmark = await waitFor('BOOKMARK', () => withBookmarks.events.find((e) => e.type === 'BOOKMARK'))
    assert.deepEqual(bookmark.obj, { apiVersion: 'meshgate.io/v1alpha1', kind: 'RateLimitPolicy', metadata: { resourceVersion: String(server.resourceVersion) } })

    // Events keep their order on a stream: once `without` has the next event, it would have had a bookmark.
    server.apply({ apiVersion: 'meshgate.io/v1alpha1', kind: 'RateLimitPolicy', metadata: { name: 'r', namespace: ns }, spec: {} })
    await waitFor('ADDED r', () => without.events.find((e) => e.type === 'ADDED'))
    assert.deepEqual(without.events.map((e) => e.type), ['ADDED'])
    withBookmarks.abort()
    without.abort()

    // ListWatch does not ask for bookmarks; with a Watch that does, they move its resourceVersion on.
    class BookmarkingWatch extends Watch {
      override watch (p: string, query: Record<string, string | number | boolean | undefined>, cb: (phase: string, obj: any, watchObj?: any) => void, done: (err: any) => void): Promise<AbortController> {
        return super.watch(p, { ...query, allowWatchBookmarks: true }, cb, done)
      }
    }
    const custom = kc.makeApiClient(CustomObjectsApi)
    const informer = new ListWatch<KubernetesObject>(path, new BookmarkingWatch(kc), () => custom.listNamespacedCustomObject({
      group: 'meshgate.io', version: 'v1alpha1', namespace: ns, plural: 'ratelimitpolicies'
    }), false)
    try {
      await informer.start()
      const listed = informer.latestResourceVersion()
      server.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unrelated-2', namespace: ns } })
      server.bookmark()
      await waitFor('the bookmarked resourceVersion', () => informer.latestResourceVersion() === String(server.resourceVersion))
      assert.notEqual(informer.latestResourceVersion(), listed)

      // That is what bookmarks are for: after a compaction, the informer resumes without a 410 and a re-list.
      server.compact()
      server.closeWatches()
      await waitFor('the resumed watch', () => watchRequests(server, path).at(-1)?.query.resourceVersion === String(server.resourceVersion))
      await waitFor('one open watch', () => server.openWatches('ratelimitpolicies') === 1)
      assert.equal(listRequests(server, path).length, 1)
    } finally {
      await informer.stop()
    }
  })

  test('bookmarkIntervalMs sends bookmarks on its own', async () => {
    const ticking = await startKubeApiServer({ bookmarkIntervalMs: 10 })
    try {
      const watch = await rawWatch(kubeConfig(ticking), '/api/v1/services', { allowWatchBookmarks: true })
      const bookmark = await waitFor('BOOKMARK', () => watch.events.find((e) => e.type === 'BOOKMARK'))
      assert.equal(bookmark.obj.kind, 'Service')
      watch.abort()
    } finally {
      await ticking.stop()
    }
  })

  test('labelSelector filters lists and watches; objects crossing the selector come and go', async () => {
    const ns = 'labels'
    server.apply(service(ns, 'web', { app: 'web', tier: 'frontend' }))
    server.apply(service(ns, 'api', { app: 'api' }))
    server.apply(service(ns, 'db', { app: 'db', tier: 'db' }))
    const core = kc.makeApiClient(CoreV1Api)
    const select = async (labelSelector: string): Promise<string[]> => names((await core.listNamespacedService({ namespace: ns, labelSelector })).items)
    assert.deepEqual(await select('app=web'), ['web'])
    assert.deepEqual(await select('app==web'), ['web'])
    assert.deepEqual(await select('app!=web'), ['api', 'db'])
    assert.deepEqual(await select('tier'), ['db', 'web'])
    assert.deepEqual(await select('!tier'), ['api'])
    assert.deepEqual(await select('app in (web, api)'), ['api', 'web'])
    assert.deepEqual(await select('app notin (web),tier'), ['db'])
    assert.deepEqual(await select('app=web,tier=db'), [])
    assert.deepEqual(names((await core.listNamespacedService({ namespace: ns, fieldSelector: 'metadata.name=db' })).items), ['db'])
    await assert.rejects(select('app=(web'), (err: unknown) => err instanceof ApiException && err.code === 400)

    const path = `/api/v1/namespaces/${ns}/services`
    const informer = makeInformer(kc, path, () => core.listNamespacedService({ namespace: ns, labelSelector: 'app=web' }), 'app=web')
    const seen = record(informer)
    try {
      await informer.start()
      assert.deepEqual(names(informer.list()), ['web'])
      assert.equal(watchRequests(server, path).at(-1)?.query.labelSelector, 'app=web')

      server.apply(service(ns, 'db', { app: 'db', tier: 'primary' }))
      server.apply(service(ns, 'api', { app: 'web' }))
      server.apply(service(ns, 'web', { app: 'retired' }))
      await waitFor('delete web', () => seen.events.find((e) => e.type === 'delete'))
      // The db change does not match and is never sent.
      assert.deepEqual(seen.events.map((e) => `${e.type} ${e.name}`), ['add web', 'add api', 'delete web'])
      assert.deepEqual(names(informer.list()), ['api'])
    } finally {
      await informer.stop()
    }
  })

  test('timeoutSeconds ends a watch cleanly', async () => {
    const watch = await rawWatch(kc, '/api/v1/pods', { timeoutSeconds: 0.05 })
    assert.equal(await watch.ended, null)
    await waitFor('no open pod watches', () => server.openWatches('pods') === 0)
  })

  test('failNext: the next list/watch requests fail with a Status and the informer emits error', async () => {
    const ns = 'fail'
    const { informer, path } = vsInformer(kc, ns)
    const seen = record(informer)
    try {
      server.failNext(1, 503)
      await informer.start()
      await waitFor('the list error', () => seen.errors.length === 1)
      const listError = seen.errors[0]
      assert.ok(listError instanceof ApiException)
      assert.equal(listError.code, 503)
      assert.equal((JSON.parse(String(listError.body)) as { reason: string }).reason, 'ServiceUnavailable')
      // ListWatch gives up after an error; starting it again works.
      await informer.start()
      assert.equal(server.openWatches('virtualservices'), 1)

      server.failNext(1)
      server.closeWatches()
      await waitFor('the watch error', () => seen.errors.length === 2)
      assert.equal((seen.errors[1] as { statusCode?: number }).statusCode, 500)
      assert.equal(watchRequests(server, path).length, 2)

      // Discovery does not use up injected failures.
      server.failNext(1, 500)
      assert.equal((await kc.makeApiClient(CoreApi).getAPIVersions()).kind, 'APIVersions')
      const res = await fetch(`${server.url}/api/v1/namespaces/${ns}/services`)
      assert.equal(res.status, 500)
      assert.equal((await res.json() as { reason: string }).reason, 'InternalError')
    } finally {
      await informer.stop()
    }
  })

  test('with a token, requests without the bearer token get 401', async () => {
    const secured = await startKubeApiServer({ token: 's3cret' })
    try {
      for (const token of [null, 'wrong']) {
        await assert.rejects(kubeConfig(secured, { token }).makeApiClient(CoreV1Api).listNamespace(), (err: unknown) => err instanceof ApiException && err.code === 401)
      }
      const res = await fetch(`${secured.url}/apis`)
      assert.equal(res.status, 401)
      assert.deepEqual(await res.json(), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Unauthorized', code: 401, message: 'Unauthorized' })

      const skc = kubeConfig(secured)
      assert.match(secured.kubeconfig(), /token: s3cret/)
      secured.apply(service('default', 'web', { app: 'web' }))
      const core = skc.makeApiClient(CoreV1Api)
      const informer = makeInformer(skc, '/api/v1/services', () => core.listServiceForAllNamespaces())
      const seen = record(informer)
      try {
        await informer.start()
        secured.apply(service('default', 'api', { app: 'api' }))
        await waitFor('add api', () => seen.events.find((e) => e.name === 'api'))
        assert.deepEqual(names(informer.list()), ['api', 'web'])
      } finally {
        await informer.stop()
      }
      assert.equal(secured.requests.filter((r) => r.path === '/api/v1/namespaces').length, 2)
    } finally {
      await secured.stop()
    }
  })

  test('serves HTTPS: the kubeconfig trusts the CA, or skips verification without one', async () => {
    const certs = await createTestCerts()
    try {
      for (const ca of [certs.ca.cert, undefined]) {
        const tls = await startKubeApiServer({ tls: { cert: certs.server.cert, key: certs.server.key, ...(ca !== undefined ? { ca } : {}) } })
        try {
          assert.match(tls.url, /^https:\/\/127\.0\.0\.1:\d+$/)
          const file = await tls.writeKubeconfig(certs.ca.dir)
          assert.match(tls.kubeconfig(), ca !== undefined ? /certificate-authority-data: / : /insecure-skip-tls-verify: true/)
          const fkc = new KubeConfig()
          fkc.loadFromFile(file)
          tls.apply({ apiVersion: `${ISTIO}/v1`, kind: 'Gateway', metadata: { name: 'gw', namespace: 'istio-system' }, spec: { selector: { istio: 'ingressgateway' } } })
          const list = await fkc.makeApiClient(CustomObjectsApi).listClusterCustomObject({ group: ISTIO, version: 'v1', plural: 'gateways' }) as { items: KubeObject[] }
          assert.deepEqual(list.items.map((i) => i.metadata?.namespace), ['istio-system'])
        } finally {
          await tls.stop()
        }
      }
    } finally {
      await certs.cleanup()
    }
  })

  test('stop() ends open watches and does not hang', async () => {
    const short = await startKubeApiServer()
    const skc = kubeConfig(short)
    const watch = await rawWatch(skc, '/api/v1/namespaces', {})
    assert.equal(short.openWatches(), 1)
    await short.stop()
    await watch.ended
    assert.equal(short.openWatches(), 0)
  })
})
