// `serve --kubernetes`: the config and endpoints istiod would feed Envoy, read
// from the API server with @kubernetes/client-node informers (list, then watch
// from the list's resourceVersion; bookmarks keep that position fresh; a 410
// Gone re-lists, and the informer reports what disappeared meanwhile).
//
// Watched: the Istio kinds meshgate reads (at whichever version the cluster
// serves), the meshgate.io kinds, Services, EndpointSlices, Pods (their labels
// only, for subsets) and Secrets (Gateway `credentialName`). Every change is
// debounced and handed to the gateway, which runs the same validate → compile
// → swap pipeline as for files.
import { createHash } from 'node:crypto'
import * as k8s from '@kubernetes/client-node'
import type { Logger } from 'pino'
import type { SourceResource } from './yaml-documents.js'
import { resourceFromObject, serviceEntryOf, type EndpointSliceObject } from './kube-resources.js'

interface CustomKind { readonly group: string, readonly versions: readonly string[], readonly plural: string, readonly kind: string }

const ISTIO_NETWORKING = ['v1', 'v1beta1', 'v1alpha3'] as const
const ISTIO_SECURITY = ['v1', 'v1beta1'] as const

/** The custom kinds, newest version first: the first one the cluster serves is watched. */
export const CUSTOM_KINDS: readonly CustomKind[] = Object.freeze([
  { group: 'networking.istio.io', versions: ISTIO_NETWORKING, plural: 'gateways', kind: 'Gateway' },
  { group: 'networking.istio.io', versions: ISTIO_NETWORKING, plural: 'virtualservices', kind: 'VirtualService' },
  { group: 'networking.istio.io', versions: ISTIO_NETWORKING, plural: 'destinationrules', kind: 'DestinationRule' },
  { group: 'networking.istio.io', versions: ISTIO_NETWORKING, plural: 'serviceentries', kind: 'ServiceEntry' },
  { group: 'security.istio.io', versions: ISTIO_SECURITY, plural: 'requestauthentications', kind: 'RequestAuthentication' },
  { group: 'security.istio.io', versions: ISTIO_SECURITY, plural: 'authorizationpolicies', kind: 'AuthorizationPolicy' },
  { group: 'meshgate.io', versions: ['v1alpha1'], plural: 'ratelimitpolicies', kind: 'RateLimitPolicy' },
  { group: 'meshgate.io', versions: ['v1alpha1'], plural: 'cachepolicies', kind: 'CachePolicy' },
  { group: 'meshgate.io', versions: ['v1alpha1'], plural: 'apikeypolicies', kind: 'ApiKeyPolicy' },
  { group: 'meshgate.io', versions: ['v1alpha1'], plural: 'edgefacts', kind: 'EdgeFacts' }
])

const CREDENTIAL_KEYS = new Set(['tls.crt', 'tls.key', 'ca.crt', 'cert', 'key', 'cacert'])

/** Where Secrets appear to the credential lookup: `<root>/<namespace>/<name>/<key>`. */
export const SECRETS_ROOT = '/kubernetes/secrets'

export interface KubernetesProviderOptions {
  /** `--kubeconfig FILE`; null = the pod's service account (in-cluster). */
  readonly kubeconfig: string | null
  /** `--watch-namespace`: watch only these namespaces (empty = all). */
  readonly namespaces: readonly string[]
  readonly log: Logger
  /** Changes arriving within this window make one reload (ms, default 100). */
  readonly debounceMs?: number
  /** How long `start` waits for every first list (ms, default 30 s); after that it goes on with what it has. */
  readonly syncTimeoutMs?: number
  /** First retry delay after a failed list or watch (ms, default 1000; doubles up to 30 s). */
  readonly backoffMs?: number
  /** How often API groups that were missing (CRDs not installed) are looked for again (ms, default 30 s). */
  readonly rediscoverMs?: number
  /**
   * This pod (`POD_NAME`, `POD_NAMESPACE` from the downward API), for its labels
   * and namespace; the namespace is where Gateway credentials (Secrets) are read.
   */
  readonly podName?: string | null
  readonly podNamespace?: string | null
}

type AnyObject = k8s.KubernetesObject & Record<string, unknown>

/** One informer (a kind in one namespace or in all), restarted with backoff when it fails. */
class Watched {
  readonly label: string
  readonly informer: k8s.Informer<AnyObject> & k8s.ObjectCache<AnyObject>
  synced = false
  #failures = 0
  #timer: NodeJS.Timeout | null = null
  #stopped = false
  readonly #log: Logger
  readonly #backoffMs: number

  constructor (label: string, informer: k8s.Informer<AnyObject> & k8s.ObjectCache<AnyObject>, log: Logger, backoffMs: number, onChange: () => void) {
    this.label = label
    this.informer = informer
    this.#log = log
    this.#backoffMs = backoffMs
    const changed = (): void => { this.#failures = 0; onChange() }
    informer.on('add', changed)
    informer.on('update', changed)
    informer.on('delete', changed)
    informer.on('error', (err: unknown) => { this.#failed(err) })
  }

  async start (): Promise<void> {
    await this.informer.start()
    this.#checkSynced()
  }

  #checkSynced (): void {
    // A list that failed leaves no resourceVersion (and was reported through 'error').
    const rv = (this.informer as unknown as { latestResourceVersion?: () => string }).latestResourceVersion?.() ?? ''
    if (rv !== '') { this.synced = true; this.#failures = 0 }
  }

  #failed (err: unknown): void {
    if (this.#stopped) return
    const delay = Math.min(30_000, this.#backoffMs * 2 ** Math.min(this.#failures, 10))
    this.#failures++
    const e = err as { statusCode?: number, code?: number | string, message?: string, body?: unknown }
    this.#log.warn({ watch: this.label, status: e?.statusCode ?? e?.code, err: e?.message ?? String(err), retryMs: delay }, 'kubernetes list/watch failed; retrying')
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = null
      if (this.#stopped) return
      this.informer.start().then(() => { this.#checkSynced() }, (e2: unknown) => { this.#failed(e2) })
    }, delay)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    await this.informer.stop()
  }
}

/**
 * client-node's informers handle bookmarks but do not ask for them; this watch
 * does, so a quiet watch's resourceVersion stays recent and a reconnect after
 * a dropped stream resumes instead of re-listing.
 */
class BookmarkWatch extends k8s.Watch {
  override async watch (path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: (phase: string, apiObj: any, watchObj?: any) => void, done: (err: any) => void): Promise<AbortController> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return await super.watch(path, { ...queryParams, allowWatchBookmarks: true }, callback, done)
  }
}

export class KubernetesProvider {
  readonly opts: KubernetesProviderOptions
  readonly kc: k8s.KubeConfig
  /** This pod's labels (null when not running in a pod or it cannot be read). */
  ownLabels: Record<string, string> | null = null
  /** This pod's named container ports, for Services whose targetPort is a name. */
  #ownPorts = new Map<string, number>()
  readonly #watched: Watched[] = []
  readonly #custom = new Map<string, { kind: CustomKind, version: string, watched: Watched[] }>()
  #services: Watched[] = []
  #slices: Watched[] = []
  #pods: Watched[] = []
  #secrets: Watched[] = []
  /** Secret contents, kept after a delete so a Gateway keeps its last certificate. */
  readonly #secretData = new Map<string, Record<string, string>>()
  readonly #deletedSecrets = new Set<string>()
  #listener: (() => void) | null = null
  #debounce: NodeJS.Timeout | null = null
  #rediscover: NodeJS.Timeout | null = null
  #started = false
  #stopped = false
  #missed = false

  constructor (opts: KubernetesProviderOptions) {
    this.opts = opts
    this.kc = new k8s.KubeConfig()
    if (opts.kubeconfig !== null) this.kc.loadFromFile(opts.kubeconfig)
    else this.kc.loadFromCluster()
  }

  /** The namespace Gateway credentials (Secrets) are read from: the gateway pod's own, as in Istio. */
  get workloadNamespace (): string | null {
    return this.opts.podNamespace ?? null
  }

  /** Called (debounced) after the first sync whenever anything watched changes. */
  onChange (fn: () => void): void {
    this.#listener = fn
    // Changes between the first sync and this registration are not lost.
    if (this.#missed) { this.#missed = false; this.#changed() }
  }

  /** Discovers the served versions, starts every informer and waits for their first lists (bounded). */
  async start (): Promise<void> {
    await this.#readOwnPod()
    const core = this.kc.makeApiClient(k8s.CoreV1Api)
    const discovery = this.kc.makeApiClient(k8s.DiscoveryV1Api)
    const nss = this.opts.namespaces
    // The Services in front of this pod (Gateway port → targetPort) are read even outside the watched namespaces.
    const serviceNss = nss.length > 0 && this.workloadNamespace !== null && !nss.includes(this.workloadNamespace) ? [...nss, this.workloadNamespace] : nss
    this.#services = this.#watchBuiltin('services', serviceNss, ns => ns === null ? core.listServiceForAllNamespaces() : core.listNamespacedService({ namespace: ns }), '/api/v1')
    this.#slices = this.#watchBuiltin('endpointslices', nss, ns => ns === null ? discovery.listEndpointSliceForAllNamespaces() : discovery.listNamespacedEndpointSlice({ namespace: ns }), '/apis/discovery.k8s.io/v1')
    this.#pods = this.#watchBuiltin('pods', nss, ns => ns === null ? core.listPodForAllNamespaces() : core.listNamespacedPod({ namespace: ns }), '/api/v1')
    // Gateway credentials live in the gateway's own namespace (as for Istio's
    // gateways), so that is the only place Secrets are read from when it is known.
    const secretNss = this.workloadNamespace !== null ? [this.workloadNamespace] : nss
    this.#secrets = this.#watchBuiltin('secrets', secretNss, ns => ns === null ? core.listSecretForAllNamespaces() : core.listNamespacedSecret({ namespace: ns }), '/api/v1')
    for (const w of this.#secrets) {
      w.informer.on('add', o => { this.#keepSecret(o) })
      w.informer.on('update', o => { this.#keepSecret(o) })
      w.informer.on('delete', o => { this.#secretDeleted(o) })
    }
    await this.#discover()
    await this.#waitSynced()
    this.#started = true
    const missing = this.#watched.filter(w => !w.synced).map(w => w.label)
    if (missing.length > 0) this.opts.log.error({ watches: missing }, 'kubernetes: some first lists did not complete; serving with what is known, they keep retrying')
    this.#rediscover = setInterval(() => { void this.#discover().catch(() => {}) }, this.opts.rediscoverMs ?? 30_000)
    this.#rediscover.unref()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#debounce !== null) clearTimeout(this.#debounce)
    if (this.#rediscover !== null) clearInterval(this.#rediscover)
    await Promise.all(this.#watched.map(async w => await w.stop().catch(() => {})))
  }

  async #readOwnPod (): Promise<void> {
    const { podName, podNamespace } = this.opts
    if (podName === undefined || podName === null || podName === '' || podNamespace === undefined || podNamespace === null || podNamespace === '') return
    try {
      const pod = await this.kc.makeApiClient(k8s.CoreV1Api).readNamespacedPod({ name: podName, namespace: podNamespace })
      this.ownLabels = { ...(pod.metadata?.labels ?? {}) }
      for (const c of pod.spec?.containers ?? []) {
        for (const p of c.ports ?? []) if (p.name !== undefined && p.name !== '') this.#ownPorts.set(p.name, p.containerPort)
      }
      this.opts.log.info({ pod: `${podNamespace}/${podName}`, labels: this.ownLabels }, 'kubernetes: gateway labels from this pod')
    } catch (err) {
      this.opts.log.warn({ pod: `${podNamespace}/${podName}`, err: (err as Error).message }, 'kubernetes: cannot read this pod; using --gateway-labels')
    }
  }

  /** Finds which version of each custom kind the cluster serves and watches the kinds not watched yet. */
  async #discover (): Promise<void> {
    if (this.#stopped) return
    let groups: k8s.V1APIGroupList
    try {
      groups = await this.kc.makeApiClient(k8s.ApisApi).getAPIVersions()
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'kubernetes: API discovery failed; retrying later')
      return
    }
    const served = new Map(groups.groups.map(g => [g.name, new Set(g.versions.map(v => v.version))]))
    const custom = this.kc.makeApiClient(k8s.CustomObjectsApi)
    const started: Array<Promise<void>> = []
    const missingGroups = new Set<string>()
    for (const kind of CUSTOM_KINDS) {
      if (this.#custom.has(kind.kind)) continue
      const versions = served.get(kind.group)
      const version = kind.versions.find(v => versions?.has(v) === true)
      if (version === undefined) { missingGroups.add(kind.group); continue }
      const base = `/apis/${kind.group}/${version}`
      const watched = this.#makeWatches(kind.plural, this.opts.namespaces, base, ns => ns === null
        ? custom.listClusterCustomObject({ group: kind.group, version, plural: kind.plural })
        : custom.listNamespacedCustomObject({ group: kind.group, version, namespace: ns, plural: kind.plural }))
      this.#custom.set(kind.kind, { kind, version, watched })
      if (this.#started) started.push(...watched.map(async w => await w.start()))
    }
    for (const g of missingGroups) this.opts.log.warn({ group: g }, 'kubernetes: API group not served (CRDs not installed?); its kinds are not watched until it appears')
    if (started.length > 0) {
      await Promise.all(started)
      this.#changed()
    }
  }

  #watchBuiltin (plural: string, nss: readonly string[], list: (ns: string | null) => Promise<unknown>, base: string): Watched[] {
    return this.#makeWatches(plural, nss, base, list)
  }

  #makeWatches (plural: string, nss: readonly string[], base: string, list: (ns: string | null) => Promise<unknown>): Watched[] {
    const targets: Array<string | null> = nss.length === 0 ? [null] : [...nss]
    return targets.map(ns => {
      const path = ns === null ? `${base}/${plural}` : `${base}/namespaces/${ns}/${plural}`
      const listFn = async (): Promise<k8s.KubernetesListObject<AnyObject>> => await (list(ns) as Promise<k8s.KubernetesListObject<AnyObject>>)
      const informer = new k8s.ListWatch<AnyObject>(path, new BookmarkWatch(this.kc), listFn, false)
      const w = new Watched(ns === null ? plural : `${ns}/${plural}`, informer, this.opts.log, this.opts.backoffMs ?? 1_000, () => { this.#changed() })
      this.#watched.push(w)
      return w
    })
  }

  async #waitSynced (): Promise<void> {
    const all = Promise.all(this.#watched.map(async w => await w.start().catch(() => {})))
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>(resolve => { timer = setTimeout(resolve, this.opts.syncTimeoutMs ?? 30_000) })
    await Promise.race([all, timeout])
    clearTimeout(timer)
    // Failed first lists retry in the background; give them until the deadline.
    const deadline = Date.now() + (this.opts.syncTimeoutMs ?? 30_000)
    while (this.#watched.some(w => !w.synced) && Date.now() < deadline && !this.#stopped) {
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  #changed (): void {
    if (!this.#started || this.#stopped) return
    if (this.#debounce !== null) return
    this.#debounce = setTimeout(() => {
      this.#debounce = null
      if (this.#listener === null) this.#missed = true
      else this.#listener()
    }, this.opts.debounceMs ?? 100)
  }

  #keepSecret (o: AnyObject): void {
    const key = `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`
    const data: Record<string, string> = {}
    // Only the keys a credential can have are decoded and kept.
    const raw = (o as { data?: Record<string, string> }).data ?? {}
    for (const [k, v] of Object.entries(raw)) {
      if (CREDENTIAL_KEYS.has(k) && typeof v === 'string') data[k] = Buffer.from(v, 'base64').toString('utf8')
    }
    if (Object.keys(data).length === 0) { this.#secretData.delete(key); return }
    this.#secretData.set(key, data)
    this.#deletedSecrets.delete(key)
  }

  #secretDeleted (o: AnyObject): void {
    const ns = o.metadata?.namespace ?? ''
    const name = o.metadata?.name ?? ''
    const key = `${ns}/${name}`
    if (!this.#secretData.has(key)) return
    if (this.#isCredential(ns, name)) {
      // Istio keeps serving the last certificate it pushed; so does meshgate, loudly.
      this.#deletedSecrets.add(key)
      this.opts.log.error({ secret: key }, 'kubernetes: a Secret a Gateway uses was deleted; its last certificate keeps serving until it is recreated')
    } else {
      this.#secretData.delete(key)
    }
  }

  #isCredential (ns: string, name: string): boolean {
    if (this.workloadNamespace !== null && ns !== this.workloadNamespace) return false
    const gateways = this.#custom.get('Gateway')?.watched ?? []
    for (const w of gateways) {
      for (const gw of w.informer.list()) {
        const servers = (gw.spec as { servers?: Array<{ tls?: { credentialName?: string } }> } | undefined)?.servers ?? []
        for (const s of Array.isArray(servers) ? servers : []) {
          const cn = s?.tls?.credentialName
          if (cn === name || cn === name.replace(/-cacert$/, '')) return true
        }
      }
    }
    return false
  }

  /** A Secret key by its `SECRETS_ROOT` path; undefined for paths that are not Secrets. */
  readFile (path: string): string | null | undefined {
    if (!path.startsWith(`${SECRETS_ROOT}/`)) return undefined
    const parts = path.slice(SECRETS_ROOT.length + 1).split('/')
    if (parts.length !== 3) return null
    const [ns, name, key] = parts as [string, string, string]
    return this.#secretData.get(`${ns}/${name}`)?.[key] ?? null
  }

  /** The Secrets root for `credentialName`s: the workload's namespace. */
  credentialsDir (): string | null {
    return this.workloadNamespace === null ? null : `${SECRETS_ROOT}/${this.workloadNamespace}`
  }

  /** Everything watched, as pipeline resources, and a version that changes whenever any of it does. */
  resources (): { resources: SourceResource[], version: string } {
    const out: SourceResource[] = []
    const hash = createHash('sha256')
    for (const { kind, version, watched } of this.#custom.values()) {
      for (const w of watched) {
        for (const o of w.informer.list()) {
          out.push(resourceFromObject(o, `${kind.group}/${version}`, kind.kind))
          hash.update(`${kind.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}@${o.metadata?.resourceVersion ?? ''}\0`)
        }
      }
    }
    const podLabels = new Map<string, Record<string, string>>()
    for (const w of this.#pods) {
      for (const p of w.informer.list()) podLabels.set(`${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`, p.metadata?.labels ?? {})
    }
    const slicesByService = new Map<string, EndpointSliceObject[]>()
    for (const w of this.#slices) {
      for (const s of w.informer.list()) {
        const svc = s.metadata?.labels?.['kubernetes.io/service-name']
        if (svc === undefined) continue
        const key = `${s.metadata?.namespace ?? ''}/${svc}`
        const list = slicesByService.get(key) ?? []
        list.push(s as EndpointSliceObject)
        slicesByService.set(key, list)
        hash.update(`EndpointSlice/${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}@${s.metadata?.resourceVersion ?? ''}\0`)
      }
    }
    const labelsOf = (ns: string, name: string): Record<string, string> | undefined => podLabels.get(`${ns}/${name}`)
    for (const w of this.#services) {
      for (const svc of w.informer.list()) {
        const key = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`
        const se = serviceEntryOf(svc, slicesByService.get(key) ?? [], labelsOf)
        out.push(se)
        hash.update(`Service/${key}@${svc.metadata?.resourceVersion ?? ''}\0`)
        // Pod labels feed subsets: hash what this Service's endpoints carry.
        hash.update(JSON.stringify((se.value.spec as { endpoints?: unknown }).endpoints ?? null))
      }
    }
    for (const [key, data] of [...this.#secretData].sort((a, b) => a[0] < b[0] ? -1 : 1)) {
      hash.update(`Secret/${key}\0${JSON.stringify(data)}\0`)
    }
    hash.update(JSON.stringify([...this.portMap()]))
    return { resources: out, version: hash.digest('hex').slice(0, 12) }
  }

  /**
   * Gateway port → the port to listen on. Istio reads a Gateway server's port
   * as a port of the Service in front of the gateway pods and has the pods
   * listen on that port's targetPort (80 → 8080, so the pod needs no
   * privileged port). The Services are those in this pod's namespace whose
   * selector matches its labels.
   */
  portMap (): ReadonlyMap<number, number> {
    const map = new Map<number, number>()
    const ns = this.workloadNamespace
    const labels = this.ownLabels
    if (ns === null || labels === null) return map
    for (const w of this.#services) {
      for (const svc of w.informer.list(ns)) {
        const spec = svc.spec as { selector?: Record<string, string>, ports?: Array<{ port?: number, targetPort?: number | string, protocol?: string }> } | undefined
        const selector = spec?.selector ?? {}
        if (Object.keys(selector).length === 0 || !Object.entries(selector).every(([k, v]) => labels[k] === v)) continue
        for (const p of spec?.ports ?? []) {
          if (typeof p.port !== 'number' || (p.protocol ?? 'TCP') !== 'TCP' || map.has(p.port)) continue
          const target = typeof p.targetPort === 'number' ? p.targetPort : typeof p.targetPort === 'string' ? (/^\d+$/.test(p.targetPort) ? Number(p.targetPort) : this.#ownPorts.get(p.targetPort)) : undefined
          if (target !== undefined && target > 0) map.set(p.port, target)
        }
      }
    }
    return map
  }

  /** For /config_dump and logs: what is watched and whether its first list completed. */
  status (): Array<{ watch: string, synced: boolean }> {
    return this.#watched.map(w => ({ watch: w.label, synced: w.synced }))
  }
}
