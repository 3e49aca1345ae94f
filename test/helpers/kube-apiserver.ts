// A Kubernetes API server double: an in-process HTTP(S) server on 127.0.0.1 that
// speaks enough of the real list/watch protocol for @kubernetes/client-node's
// informers (ListWatch), Watch and typed API clients to run against it unchanged.
//
//   const kube = await startKubeApiServer()
//   const kc = new KubeConfig(); kc.loadFromString(kube.kubeconfig())
//   kube.apply({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'default' }, spec: {} })
//   kube.expireWatches()       // clients see 410 Expired and must re-list
//   kube.failNext(1, 503)      // the next list/watch request fails
//   await kube.stop()
//
// What it serves: discovery (/api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>),
// get, list and watch of the resource types in GROUPS below. Writes go through
// the in-process control API (apply/create/update/remove); over HTTP only GET is
// served (405 otherwise), which is all a watching controller needs.
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import path from 'node:path'
import { stringify } from 'yaml'

// ---------------------------------------------------------------------------
// Resource catalogue

export interface ResourceType {
  /** API group; '' for the core group (served under /api). */
  group: string
  /** Served versions, preferred first. */
  versions: readonly string[]
  plural: string
  singular: string
  kind: string
  namespaced: boolean
  shortNames?: string[]
}

export interface ApiGroupDef {
  name: string
  versions: readonly string[]
  resources: readonly ResourceType[]
}

function group (name: string, versions: string[], kinds: Array<[kind: string, plural: string, namespaced?: boolean, shortNames?: string[]]>): ApiGroupDef {
  return {
    name,
    versions,
    resources: kinds.map(([kind, plural, namespaced = true, shortNames]) => ({
      group: name, versions, plural, singular: kind.toLowerCase(), kind, namespaced, ...(shortNames !== undefined ? { shortNames } : {})
    }))
  }
}

const CORE_GROUP = group('', ['v1'], [
  ['Service', 'services', true, ['svc']],
  ['Pod', 'pods', true, ['po']],
  ['Secret', 'secrets'],
  ['Namespace', 'namespaces', false, ['ns']]
])

const DISCOVERY_GROUP = group('discovery.k8s.io', ['v1'], [['EndpointSlice', 'endpointslices']])

/** The CustomResourceDefinition groups; `startKubeApiServer({ groups })` picks among them. */
export const CRD_GROUPS: readonly ApiGroupDef[] = [
  group('networking.istio.io', ['v1', 'v1beta1', 'v1alpha3'], [
    ['Gateway', 'gateways', true, ['gw']],
    ['VirtualService', 'virtualservices', true, ['vs']],
    ['DestinationRule', 'destinationrules', true, ['dr']],
    ['ServiceEntry', 'serviceentries', true, ['se']],
    ['Sidecar', 'sidecars']
  ]),
  group('security.istio.io', ['v1', 'v1beta1'], [
    ['RequestAuthentication', 'requestauthentications', true, ['ra']],
    ['AuthorizationPolicy', 'authorizationpolicies', true, ['ap']],
    ['PeerAuthentication', 'peerauthentications', true, ['pa']]
  ]),
  group('meshgate.io', ['v1alpha1'], [
    ['RateLimitPolicy', 'ratelimitpolicies'],
    ['CachePolicy', 'cachepolicies'],
    ['ApiKeyPolicy', 'apikeypolicies'],
    ['EdgeFacts', 'edgefacts']
  ])
]

function groupVersion (groupName: string, version: string): string {
  return groupName === '' ? version : `${groupName}/${version}`
}

// ---------------------------------------------------------------------------
// Objects, Status bodies, selectors

export interface KubeMetadata {
  name?: string
  generateName?: string
  namespace?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  resourceVersion?: string
  uid?: string
  creationTimestamp?: string
  generation?: number
  [key: string]: unknown
}

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: KubeMetadata
  [key: string]: unknown
}

/** What the store keeps: no apiVersion/kind (added per served version on the way out). */
interface StoredObject {
  metadata: KubeMetadata & { name: string, resourceVersion: string, uid: string, creationTimestamp: string, generation: number }
  [key: string]: unknown
}

export interface KubeStatus {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: Record<string, never>
  status: 'Failure'
  message: string
  reason: string
  code: number
  details?: { name?: string, group?: string, kind?: string }
}

const STATUS_REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout'
}

function statusBody (code: number, message: string, reason = STATUS_REASONS[code] ?? 'Unknown', details?: KubeStatus['details']): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(details !== undefined ? { details } : {}) }
}

/** Thrown by the control API, carrying the Status the real server would answer. */
export class KubeApiError extends Error {
  readonly status: KubeStatus
  constructor (status: KubeStatus) {
    super(status.message)
    this.name = 'KubeApiError'
    this.status = status
  }
}

/** The same JSON text for the same value whatever its key order (for change detection). */
function canonicalJson (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/** Everything but metadata and status: what `metadata.generation` tracks for custom resources. */
function desiredState (obj: StoredObject): string {
  const { metadata: _metadata, status: _status, ...rest } = obj
  return canonicalJson(rest)
}

type Predicate = (obj: StoredObject) => boolean

class SelectorError extends Error {}

// Splits `a=b,c in (x,y),!d` on the commas that are not inside parentheses.
function splitTerms (selector: string): string[] {
  const terms: string[] = []
  let depth = 0
  let current = ''
  for (const ch of selector) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) {
      terms.push(current)
      current = ''
    } else {
      current += ch
    }
  }
  terms.push(current)
  return terms.map((t) => t.trim()).filter((t) => t !== '')
}

const LABEL_KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`

/**
 * A label selector as the API server reads it: equality (`a=b`, `a==b`,
 * `a!=b`), existence (`a`, `!a`) and sets (`a in (x,y)`, `a notin (x)`), all
 * required (comma = AND). `a!=b` and `notin` also match objects without the label.
 */
function parseLabelSelector (selector: string): Predicate {
  const requirements: Predicate[] = []
  const labelsOf = (obj: StoredObject): Record<string, string> => obj.metadata.labels ?? {}
  for (const term of splitTerms(selector)) {
    let m: RegExpExecArray | null
    if ((m = new RegExp(`^!\\s*(${LABEL_KEY})$`).exec(term)) !== null) {
      const key = m[1] as string
      requirements.push((o) => !(key in labelsOf(o)))
    } else if ((m = new RegExp(`^(${LABEL_KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(term)) !== null) {
      const key = m[1] as string
      const values = new Set((m[3] as string).split(',').map((v) => v.trim()))
      const negate = m[2] === 'notin'
      requirements.push((o) => {
        const value = labelsOf(o)[key]
        const inSet = value !== undefined && values.has(value)
        return negate ? !inSet : inSet
      })
    } else if ((m = new RegExp(`^(${LABEL_KEY})\\s*(==|!=|=)\\s*([-A-Za-z0-9_.]*)$`).exec(term)) !== null) {
      const key = m[1] as string
      const value = m[3] as string
      const negate = m[2] === '!='
      requirements.push((o) => (labelsOf(o)[key] === value) !== negate)
    } else if (new RegExp(`^${LABEL_KEY}$`).test(term)) {
      requirements.push((o) => term in labelsOf(o))
    } else {
      throw new SelectorError(`unable to parse requirement: ${JSON.stringify(term)}`)
    }
  }
  return (obj) => requirements.every((r) => r(obj))
}

/** A field selector: only `metadata.name` and `metadata.namespace`, as for most kinds. */
function parseFieldSelector (selector: string): Predicate {
  const requirements: Predicate[] = []
  for (const term of splitTerms(selector)) {
    const m = /^([A-Za-z.]+)\s*(==|!=|=)\s*(.*)$/.exec(term)
    if (m === null) throw new SelectorError(`invalid field selector: ${JSON.stringify(term)}`)
    const [, field, op, value] = m as unknown as [string, string, string, string]
    const read = field === 'metadata.name'
      ? (o: StoredObject) => o.metadata.name
      : field === 'metadata.namespace'
        ? (o: StoredObject) => o.metadata.namespace ?? ''
        : undefined
    if (read === undefined) throw new SelectorError(`field label not supported: ${field}`)
    requirements.push((o) => (read(o) === value) !== (op === '!='))
  }
  return (obj) => requirements.every((r) => r(obj))
}

// ---------------------------------------------------------------------------
// Store: objects and the event history, with one global resourceVersion

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED'

interface StoreEvent {
  rv: number
  type: EventType
  resource: ResourceType
  /** The state after the change; for DELETED, the last state with the deletion's resourceVersion. */
  object: StoredObject
  /** For MODIFIED: the state before (to turn a selector match change into ADDED/DELETED). */
  previous?: StoredObject
}

/**
 * Etcd keeps a single revision counter for the whole keyspace; every write
 * bumps it, and that revision is the object's resourceVersion. Lists report the
 * current revision; watches resume from any revision still in the history.
 * Compaction forgets history: a watch from before the compaction point gets
 * 410 Gone ("too old resource version").
 */
class ObjectStore {
  /** Keeps the history bounded, as etcd's periodic compaction does. */
  static readonly MAX_HISTORY = 10_000

  #rv = 1
  #compactedRv = 0
  #objects = new Map<ResourceType, Map<string, StoredObject>>()
  #history: StoreEvent[] = []
  readonly #onEvent: (event: StoreEvent) => void

  constructor (onEvent: (event: StoreEvent) => void) {
    this.#onEvent = onEvent
  }

  get resourceVersion (): number { return this.#rv }
  /** History holds every event with rv greater than this. */
  get compactedRv (): number { return this.#compactedRv }

  #bucket (resource: ResourceType): Map<string, StoredObject> {
    let bucket = this.#objects.get(resource)
    if (bucket === undefined) {
      bucket = new Map()
      this.#objects.set(resource, bucket)
    }
    return bucket
  }

  list (resource: ResourceType, namespace?: string): StoredObject[] {
    return [...this.#bucket(resource).values()]
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .sort((a, b) => key(a.metadata.namespace, a.metadata.name) < key(b.metadata.namespace, b.metadata.name) ? -1 : 1)
  }

  get (resource: ResourceType, namespace: string | undefined, name: string): StoredObject | undefined {
    return this.#bucket(resource).get(key(resource.namespaced ? namespace : undefined, name))
  }

  create (resource: ResourceType, input: KubeObject): StoredObject {
    const { apiVersion: _apiVersion, kind: _kind, metadata: inputMeta = {}, ...body } = structuredClone(input)
    let name = inputMeta.name
    if ((name === undefined || name === '') && inputMeta.generateName !== undefined) {
      name = inputMeta.generateName + randomBytes(4).toString('hex').slice(0, 5)
    }
    if (name === undefined || name === '') throw new KubeApiError(statusBody(400, `${resource.kind}: metadata.name: Required value`, 'Invalid'))
    const namespace = resource.namespaced ? (inputMeta.namespace ?? 'default') : undefined
    const bucket = this.#bucket(resource)
    const k = key(namespace, name)
    if (bucket.has(k)) {
      throw new KubeApiError(statusBody(409, `${qualifiedPlural(resource)} ${JSON.stringify(name)} already exists`, 'AlreadyExists', detailsOf(resource, name)))
    }
    const rv = ++this.#rv
    const { namespace: _ns, resourceVersion: _rv, uid: _uid, creationTimestamp: _ts, generation: _gen, ...userMeta } = inputMeta
    const object: StoredObject = {
      metadata: {
        ...userMeta,
        name,
        ...(namespace !== undefined ? { namespace } : {}),
        uid: randomUUID(),
        resourceVersion: String(rv),
        generation: 1,
        creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
      },
      ...body
    }
    bucket.set(k, object)
    this.#record({ rv, type: 'ADDED', resource, object })
    return object
  }

  /**
   * Replaces an object. Like the real server: a stale `metadata.resourceVersion`
   * is a 409 Conflict (leave it out to overwrite unconditionally); uid and
   * creationTimestamp are kept; generation goes up when anything but metadata
   * and status changed; an update that changes nothing writes nothing (no new
   * resourceVersion, no event).
   */
  update (resource: ResourceType, input: KubeObject): StoredObject {
    const { apiVersion: _apiVersion, kind: _kind, metadata: inputMeta = {}, ...body } = structuredClone(input)
    const name = inputMeta.name ?? ''
    const namespace = resource.namespaced ? (inputMeta.namespace ?? 'default') : undefined
    const bucket = this.#bucket(resource)
    const k = key(namespace, name)
    const existing = bucket.get(k)
    if (existing === undefined) throw notFound(resource, name)
    if (inputMeta.resourceVersion !== undefined && inputMeta.resourceVersion !== existing.metadata.resourceVersion) {
      throw new KubeApiError(statusBody(409,
        `Operation cannot be fulfilled on ${qualifiedPlural(resource)} ${JSON.stringify(name)}: the object has been modified; please apply your changes to the latest version and try again`,
        'Conflict', detailsOf(resource, name)))
    }
    const { namespace: _ns, resourceVersion: _rv, uid: _uid, creationTimestamp: _ts, generation: _gen, generateName: _gn, ...userMeta } = inputMeta
    const candidate: StoredObject = {
      metadata: {
        ...userMeta,
        name,
        ...(namespace !== undefined ? { namespace } : {}),
        uid: existing.metadata.uid,
        resourceVersion: existing.metadata.resourceVersion,
        generation: existing.metadata.generation,
        creationTimestamp: existing.metadata.creationTimestamp
      },
      ...body
    }
    if (desiredState(candidate) !== desiredState(existing)) candidate.metadata.generation++
    if (canonicalJson(candidate) === canonicalJson(existing)) return existing
    const rv = ++this.#rv
    candidate.metadata.resourceVersion = String(rv)
    bucket.set(k, candidate)
    this.#record({ rv, type: 'MODIFIED', resource, object: candidate, previous: existing })
    return candidate
  }

  delete (resource: ResourceType, namespace: string | undefined, name: string): StoredObject | undefined {
    const bucket = this.#bucket(resource)
    const k = key(resource.namespaced ? namespace : undefined, name)
    const existing = bucket.get(k)
    if (existing === undefined) return undefined
    bucket.delete(k)
    const rv = ++this.#rv
    const object: StoredObject = { ...existing, metadata: { ...existing.metadata, resourceVersion: String(rv) } }
    this.#record({ rv, type: 'DELETED', resource, object })
    return object
  }

  /** The history events of one resource type after `rv`, oldest first. */
  eventsSince (resource: ResourceType, rv: number): StoreEvent[] {
    return this.#history.filter((e) => e.resource === resource && e.rv > rv)
  }

  compact (): void {
    this.#history = []
    this.#compactedRv = this.#rv
  }

  #record (event: StoreEvent): void {
    this.#history.push(event)
    if (this.#history.length > ObjectStore.MAX_HISTORY) {
      const dropped = this.#history.shift() as StoreEvent
      this.#compactedRv = dropped.rv
    }
    this.#onEvent(event)
  }
}

function key (namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`
}

function qualifiedPlural (resource: ResourceType): string {
  return resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`
}

function detailsOf (resource: ResourceType, name: string): KubeStatus['details'] {
  return { name, group: resource.group, kind: resource.plural }
}

function notFound (resource: ResourceType, name: string): KubeApiError {
  return new KubeApiError(statusBody(404, `${qualifiedPlural(resource)} ${JSON.stringify(name)} not found`, 'NotFound', detailsOf(resource, name)))
}

/** The object as served through one version: apiVersion and kind first, like the real server. */
function render (resource: ResourceType, version: string, obj: StoredObject): KubeObject {
  return { apiVersion: groupVersion(resource.group, version), kind: resource.kind, ...structuredClone(obj) }
}

// ---------------------------------------------------------------------------
// Watches

type WireEventType = EventType | 'BOOKMARK' | 'ERROR'

/** One open watch response: a chunked stream of one JSON event per line. */
class WatchStream {
  readonly resource: ResourceType
  readonly version: string
  readonly #res: http.ServerResponse
  readonly #namespace: string | undefined
  readonly #matches: Predicate
  readonly bookmarks: boolean
  /** The newest resourceVersion this watch has been brought up to (sent or filtered out). */
  lastRv: number
  #timer: NodeJS.Timeout | undefined

  constructor (res: http.ServerResponse, opts: { resource: ResourceType, version: string, namespace: string | undefined, matches: Predicate, bookmarks: boolean, fromRv: number }) {
    this.#res = res
    this.resource = opts.resource
    this.version = opts.version
    this.#namespace = opts.namespace
    this.#matches = opts.matches
    this.bookmarks = opts.bookmarks
    this.lastRv = opts.fromRv
  }

  get open (): boolean {
    return !this.#res.writableEnded && !this.#res.destroyed
  }

  endAfter (ms: number): void {
    this.#timer = setTimeout(() => { this.end() }, ms)
  }

  #write (type: WireEventType, object: unknown): void {
    if (!this.open) return
    // Each write on a chunked response goes out as its own chunk right away.
    this.#res.write(`${JSON.stringify({ type, object })}\n`)
  }

  /**
   * Sends one change as this watch sees it. The watch cache turns changes that
   * cross the selector boundary into ADDED (starts matching) or DELETED (stops
   * matching), so a filtered watch still ends up with the right set.
   */
  deliver (event: StoreEvent): void {
    if (event.resource !== this.resource) return
    this.lastRv = Math.max(this.lastRv, event.rv)
    if (this.#namespace !== undefined && event.object.metadata.namespace !== this.#namespace) return
    const now = this.#matches(event.object)
    let type: EventType | undefined
    if (event.type === 'MODIFIED' && event.previous !== undefined) {
      const before = this.#matches(event.previous)
      type = before && now ? 'MODIFIED' : now ? 'ADDED' : before ? 'DELETED' : undefined
    } else if (now) {
      type = event.type
    }
    if (type !== undefined) this.#write(type, render(this.resource, this.version, event.object))
  }

  /** A synthetic ADDED for an object that exists when the watch starts. */
  deliverInitial (obj: StoredObject): void {
    if (this.#namespace !== undefined && obj.metadata.namespace !== this.#namespace) return
    if (this.#matches(obj)) this.#write('ADDED', render(this.resource, this.version, obj))
  }

  bookmark (rv: number, annotations?: Record<string, string>): void {
    if (!this.bookmarks) return
    this.lastRv = Math.max(this.lastRv, rv)
    this.#write('BOOKMARK', {
      apiVersion: groupVersion(this.resource.group, this.version),
      kind: this.resource.kind,
      metadata: { resourceVersion: String(rv), ...(annotations !== undefined ? { annotations } : {}) }
    })
  }

  /** The real server answers 200 and then this ERROR event when the requested history is gone. */
  expire (compactedRv: number): void {
    this.#write('ERROR', statusBody(410, `too old resource version: ${this.lastRv} (${compactedRv})`, 'Expired'))
    this.end()
  }

  end (): void {
    clearTimeout(this.#timer)
    if (this.open) this.#res.end()
  }

  destroy (): void {
    clearTimeout(this.#timer)
    this.#res.destroy()
  }
}

class WatchRegistry {
  readonly #watches = new Set<WatchStream>()

  add (watch: WatchStream): void { this.#watches.add(watch) }
  delete (watch: WatchStream): void { this.#watches.delete(watch) }
  all (): WatchStream[] { return [...this.#watches] }

  dispatch (event: StoreEvent): void {
    for (const w of this.#watches) w.deliver(event)
  }

  count (plural?: string): number {
    return this.all().filter((w) => w.open && (plural === undefined || w.resource.plural === plural)).length
  }
}

// ---------------------------------------------------------------------------
// Routing

type Route =
  | { kind: 'coreVersions' }
  | { kind: 'groupList' }
  | { kind: 'group', group: ApiGroupDef }
  | { kind: 'resourceList', group: ApiGroupDef, version: string }
  | { kind: 'collection', resource: ResourceType, version: string, namespace: string | undefined }
  | { kind: 'object', resource: ResourceType, version: string, namespace: string | undefined, name: string }
  | { kind: 'version' }
  | { kind: 'health' }
  | { kind: 'notFound' }

/**
 * /api                                   APIVersions
 * /api/v1, /apis/<g>/<v>                 APIResourceList
 * /apis, /apis/<g>                       APIGroupList, APIGroup
 * <gv>/<plural>[/<name>]                 cluster-wide list (or a cluster-scoped object)
 * <gv>/namespaces/<ns>/<plural>[/<name>] namespaced list, namespaced object
 */
function resolveRoute (groups: readonly ApiGroupDef[], pathname: string): Route {
  const segments = pathname.split('/').filter((s) => s !== '').map(decodeURIComponent)
  const [root, ...rest] = segments
  if (root === 'version' && rest.length === 0) return { kind: 'version' }
  if ((root === 'healthz' || root === 'readyz' || root === 'livez') && rest.length === 0) return { kind: 'health' }
  let apiGroup: ApiGroupDef | undefined
  let version: string | undefined
  let tail: string[]
  if (root === 'api') {
    if (rest.length === 0) return { kind: 'coreVersions' }
    apiGroup = groups.find((g) => g.name === '')
    version = rest[0]
    tail = rest.slice(1)
  } else if (root === 'apis') {
    if (rest.length === 0) return { kind: 'groupList' }
    apiGroup = groups.find((g) => g.name !== '' && g.name === rest[0])
    if (apiGroup !== undefined && rest.length === 1) return { kind: 'group', group: apiGroup }
    version = rest[1]
    tail = rest.slice(2)
  } else {
    return { kind: 'notFound' }
  }
  if (apiGroup === undefined || version === undefined || !apiGroup.versions.includes(version)) return { kind: 'notFound' }
  if (tail.length === 0) return { kind: 'resourceList', group: apiGroup, version }

  let namespace: string | undefined
  let plural: string | undefined
  let name: string | undefined
  if (tail[0] === 'namespaces' && tail.length >= 3) {
    [, namespace, plural, name] = tail
    if (tail.length > 4) return { kind: 'notFound' }
  } else {
    [plural, name] = tail
    if (tail.length > 2) return { kind: 'notFound' }
  }
  const resource = apiGroup.resources.find((r) => r.plural === plural)
  if (resource === undefined) return { kind: 'notFound' }
  if (namespace !== undefined && !resource.namespaced) return { kind: 'notFound' }
  if (name === undefined) return { kind: 'collection', resource, version, namespace }
  if (resource.namespaced && namespace === undefined) return { kind: 'notFound' }
  return { kind: 'object', resource, version, namespace, name }
}

// ---------------------------------------------------------------------------
// The server

export interface KubeApiServerOptions {
  /** Require `Authorization: Bearer <token>` on every request (401 otherwise). */
  token?: string
  /** Serve HTTPS with these PEMs; with `ca`, the kubeconfig trusts it, else it skips verification. */
  tls?: { cert: string, key: string, ca?: string }
  /** CRD groups to serve (default all); core and discovery.k8s.io are always served. */
  groups?: 'all' | string[]
  /** Send a BOOKMARK to every watch that allows them this often. */
  bookmarkIntervalMs?: number
}

export interface RecordedKubeRequest {
  method: string
  path: string
  query: Record<string, string>
  /** Date.now() when it arrived. */
  at: number
}

export interface KubeApiServer {
  readonly url: string
  readonly port: number
  /** Every request received, oldest first. */
  readonly requests: RecordedKubeRequest[]
  /** The current global resourceVersion. */
  readonly resourceVersion: number
  /** Kubeconfig YAML for this server (context `meshgate-test`, namespace default); `token` overrides the server's (null: none). */
  kubeconfig (opts?: { token?: string | null }): string
  /** Writes kubeconfig() to `<dir>/kubeconfig` and returns that path. */
  writeKubeconfig (dir: string, opts?: { token?: string | null }): Promise<string>
  /** Creates or updates by apiVersion/kind/namespace/name; returns the stored object. */
  apply (obj: KubeObject): KubeObject
  /** Creates; throws KubeApiError (AlreadyExists) if it exists. */
  create (obj: KubeObject): KubeObject
  /** Updates; throws KubeApiError (NotFound, or Conflict on a stale metadata.resourceVersion). */
  update (obj: KubeObject): KubeObject
  /** Deletes; returns the deleted object (with the deletion's resourceVersion) or undefined. */
  remove (apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined
  get (apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined
  list (apiVersion: string, kind: string, namespace?: string): KubeObject[]
  /** Forgets the history up to now: watches from an older resourceVersion get 410. */
  compact (): void
  /** compact(), then a 410 ERROR event to every open watch, which then ends. */
  expireWatches (): void
  /** Ends every open watch normally (clients resume from their last resourceVersion). */
  closeWatches (): void
  /** Sends a BOOKMARK to every open watch that asked for them (allowWatchBookmarks=true). */
  bookmark (): void
  /** The next `count` list/watch requests answer `status` with a Status body. */
  failNext (count: number, status?: number): void
  /** Open watch streams, optionally only those of one resource (plural). */
  openWatches (plural?: string): number
  stop (): Promise<void>
}

class KubeApiServerDouble implements KubeApiServer {
  readonly requests: RecordedKubeRequest[] = []
  readonly #server: http.Server | https.Server
  readonly #opts: KubeApiServerOptions
  readonly #groups: readonly ApiGroupDef[]
  readonly #store: ObjectStore
  readonly #watches = new WatchRegistry()
  readonly #sockets = new Set<Socket>()
  #failures: number[] = []
  #bookmarkTimer: NodeJS.Timeout | undefined
  #port = 0

  constructor (opts: KubeApiServerOptions) {
    this.#opts = opts
    const wanted = opts.groups ?? 'all'
    for (const name of wanted === 'all' ? [] : wanted) {
      if (!CRD_GROUPS.some((g) => g.name === name)) throw new Error(`startKubeApiServer: unknown CRD group ${name} (known: ${CRD_GROUPS.map((g) => g.name).join(', ')})`)
    }
    this.#groups = [CORE_GROUP, DISCOVERY_GROUP, ...CRD_GROUPS.filter((g) => wanted === 'all' || wanted.includes(g.name))]
    this.#store = new ObjectStore((event) => { this.#watches.dispatch(event) })
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => { this.#handle(req, res) }
    this.#server = opts.tls !== undefined
      ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler)
      : http.createServer(handler)
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket)
      socket.once('close', () => { this.#sockets.delete(socket) })
    })
  }

  async listen (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(0, '127.0.0.1', () => {
        this.#server.off('error', reject)
        resolve()
      })
    })
    this.#port = (this.#server.address() as AddressInfo).port
    if (this.#opts.bookmarkIntervalMs !== undefined) {
      this.#bookmarkTimer = setInterval(() => { this.bookmark() }, this.#opts.bookmarkIntervalMs)
      this.#bookmarkTimer.unref()
    }
  }

  get port (): number { return this.#port }
  get url (): string { return `${this.#opts.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${this.#port}` }
  get resourceVersion (): number { return this.#store.resourceVersion }

  kubeconfig (opts: { token?: string | null } = {}): string {
    const token = opts.token === undefined ? this.#opts.token : opts.token ?? undefined
    const tls = this.#opts.tls
    // client-node refuses an http:// server unless insecure-skip-tls-verify is set.
    const cluster: Record<string, unknown> = { server: this.url }
    if (tls?.ca !== undefined) cluster['certificate-authority-data'] = Buffer.from(tls.ca).toString('base64')
    else cluster['insecure-skip-tls-verify'] = true
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'meshgate-test', cluster }],
      // client-node applies the cluster's TLS settings only when the context has a user.
      users: [{ name: 'meshgate-test', user: token !== undefined ? { token } : {} }],
      contexts: [{ name: 'meshgate-test', context: { cluster: 'meshgate-test', user: 'meshgate-test', namespace: 'default' } }],
      'current-context': 'meshgate-test',
      preferences: {}
    })
  }

  async writeKubeconfig (dir: string, opts?: { token?: string | null }): Promise<string> {
    await mkdir(dir, { recursive: true })
    const file = path.join(dir, 'kubeconfig')
    await writeFile(file, this.kubeconfig(opts), { mode: 0o600 })
    return file
  }

  // --- control API -------------------------------------------------------

  #typeOf (apiVersion: string | undefined, kind: string | undefined): { resource: ResourceType, version: string } {
    if (apiVersion === undefined || kind === undefined) throw new Error('kube-apiserver double: the object needs apiVersion and kind')
    const slash = apiVersion.indexOf('/')
    const groupName = slash === -1 ? '' : apiVersion.slice(0, slash)
    const version = slash === -1 ? apiVersion : apiVersion.slice(slash + 1)
    const apiGroup = this.#groups.find((g) => g.name === groupName)
    if (apiGroup === undefined) throw new Error(`kube-apiserver double: API group ${groupName} is not served (see the groups option)`)
    if (!apiGroup.versions.includes(version)) throw new Error(`kube-apiserver double: ${apiVersion} is not served (versions: ${apiGroup.versions.join(', ')})`)
    const resource = apiGroup.resources.find((r) => r.kind === kind)
    if (resource === undefined) throw new Error(`kube-apiserver double: no kind ${kind} in ${apiVersion}`)
    return { resource, version }
  }

  apply (obj: KubeObject): KubeObject {
    const { resource, version } = this.#typeOf(obj.apiVersion, obj.kind)
    const name = obj.metadata?.name
    const exists = name !== undefined && this.#store.get(resource, obj.metadata?.namespace ?? 'default', name) !== undefined
    if (!exists) return render(resource, version, this.#store.create(resource, obj))
    // apply overwrites whatever is stored, so a resourceVersion in obj is not a precondition here.
    const { resourceVersion: _rv, ...metadata } = obj.metadata ?? {}
    return render(resource, version, this.#store.update(resource, { ...obj, metadata }))
  }

  create (obj: KubeObject): KubeObject {
    const { resource, version } = this.#typeOf(obj.apiVersion, obj.kind)
    return render(resource, version, this.#store.create(resource, obj))
  }

  update (obj: KubeObject): KubeObject {
    const { resource, version } = this.#typeOf(obj.apiVersion, obj.kind)
    return render(resource, version, this.#store.update(resource, obj))
  }

  remove (apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const { resource, version } = this.#typeOf(apiVersion, kind)
    const deleted = this.#store.delete(resource, namespace ?? 'default', name)
    return deleted === undefined ? undefined : render(resource, version, deleted)
  }

  get (apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const { resource, version } = this.#typeOf(apiVersion, kind)
    const obj = this.#store.get(resource, namespace ?? 'default', name)
    return obj === undefined ? undefined : render(resource, version, obj)
  }

  list (apiVersion: string, kind: string, namespace?: string): KubeObject[] {
    const { resource, version } = this.#typeOf(apiVersion, kind)
    return this.#store.list(resource, namespace).map((o) => render(resource, version, o))
  }

  compact (): void {
    this.#store.compact()
  }

  expireWatches (): void {
    this.compact()
    for (const w of this.#watches.all()) w.expire(this.#store.compactedRv)
  }

  closeWatches (): void {
    for (const w of this.#watches.all()) w.end()
  }

  bookmark (): void {
    for (const w of this.#watches.all()) w.bookmark(this.#store.resourceVersion)
  }

  failNext (count: number, status = 500): void {
    for (let i = 0; i < count; i++) this.#failures.push(status)
  }

  openWatches (plural?: string): number {
    return this.#watches.count(plural)
  }

  async stop (): Promise<void> {
    clearInterval(this.#bookmarkTimer)
    for (const w of this.#watches.all()) w.destroy()
    const closed = new Promise<void>((resolve) => { this.#server.close(() => { resolve() }) })
    this.#server.closeAllConnections()
    for (const socket of this.#sockets) socket.destroy()
    await closed
  }

  // --- HTTP --------------------------------------------------------------

  #handle (req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://kube.invalid')
    const query: Record<string, string> = Object.fromEntries(url.searchParams)
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query, at: Date.now() })
    try {
      if (this.#opts.token !== undefined && req.headers.authorization !== `Bearer ${this.#opts.token}`) {
        sendJson(res, 401, statusBody(401, 'Unauthorized'))
        return
      }
      if (req.method !== 'GET') {
        sendJson(res, 405, statusBody(405, `the server does not allow this method on the requested resource (${req.method ?? ''} ${url.pathname})`))
        return
      }
      const route = resolveRoute(this.#groups, url.pathname)
      if (route.kind === 'collection' && this.#failures.length > 0) {
        const status = this.#failures.shift() as number
        sendJson(res, status, statusBody(status, `injected failure (${status}) for ${url.pathname}`))
        return
      }
      this.#serve(route, query, req, res)
    } catch (err) {
      if (err instanceof SelectorError) sendJson(res, 400, statusBody(400, err.message))
      else if (err instanceof KubeApiError) sendJson(res, err.status.code, err.status)
      else if (!res.headersSent) sendJson(res, 500, statusBody(500, (err as Error).message))
      else res.destroy()
    }
  }

  #serve (route: Route, query: Record<string, string>, req: http.IncomingMessage, res: http.ServerResponse): void {
    switch (route.kind) {
      case 'version':
        sendJson(res, 200, { major: '1', minor: '31', gitVersion: 'v1.31.0-meshgate-double', platform: 'linux/amd64' })
        return
      case 'health':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
        return
      case 'coreVersions':
        sendJson(res, 200, {
          kind: 'APIVersions',
          versions: CORE_GROUP.versions,
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.#port}` }]
        })
        return
      case 'groupList':
        sendJson(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: this.#groups.filter((g) => g.name !== '').map(apiGroupBody) })
        return
      case 'group':
        sendJson(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...apiGroupBody(route.group) })
        return
      case 'resourceList':
        sendJson(res, 200, {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: groupVersion(route.group.name, route.version),
          resources: route.group.resources.map((r) => ({
            name: r.plural,
            singularName: r.singular,
            namespaced: r.namespaced,
            kind: r.kind,
            // Only what this double serves over HTTP.
            verbs: ['get', 'list', 'watch'],
            ...(r.shortNames !== undefined ? { shortNames: r.shortNames } : {})
          }))
        })
        return
      case 'object': {
        const obj = this.#store.get(route.resource, route.namespace, route.name)
        if (obj === undefined) throw notFound(route.resource, route.name)
        sendJson(res, 200, render(route.resource, route.version, obj))
        return
      }
      case 'collection': {
        const matches = selectorsOf(query)
        if (query.watch === 'true' || query.watch === '1') {
          this.#watch(route, query, matches, req, res)
          return
        }
        // limit/continue are not implemented: the whole list comes in one page,
        // as it does from the watch cache for resourceVersion=0.
        const items = this.#store.list(route.resource, route.namespace)
          .filter(matches)
          .map((o) => render(route.resource, route.version, o))
        sendJson(res, 200, {
          apiVersion: groupVersion(route.resource.group, route.version),
          kind: `${route.resource.kind}List`,
          metadata: { resourceVersion: String(this.#store.resourceVersion) },
          items
        })
        return
      }
      case 'notFound':
        sendJson(res, 404, statusBody(404, 'the server could not find the requested resource'))
    }
  }

  /**
   * Watch semantics of the real server:
   * - resourceVersion unset, '' or '0': a synthetic ADDED for every current
   *   object, then live events;
   * - resourceVersion RV: every event after RV from the history, then live; if
   *   RV is older than the compaction point, 200 with one ERROR event (Status
   *   410 Expired) and the end of the stream;
   * - sendInitialEvents=true (with allowWatchBookmarks=true): the synthetic
   *   ADDEDs, then a BOOKMARK annotated k8s.io/initial-events-end;
   * - timeoutSeconds: the stream ends cleanly after that long (fractions are
   *   accepted here so tests can be quick; the real server wants an integer).
   * A resourceVersion newer than the current one is served from now on
   * (the real server waits for it, then gives up with 504).
   */
  #watch (route: Extract<Route, { kind: 'collection' }>, query: Record<string, string>, matches: Predicate, req: http.IncomingMessage, res: http.ServerResponse): void {
    const rvParam = query.resourceVersion ?? ''
    if (rvParam !== '' && !/^\d+$/.test(rvParam)) {
      sendJson(res, 400, statusBody(400, `invalid resource version: ${JSON.stringify(rvParam)}`))
      return
    }
    const timeoutSeconds = query.timeoutSeconds !== undefined ? Number(query.timeoutSeconds) : undefined
    if (timeoutSeconds !== undefined && !(timeoutSeconds >= 0)) {
      sendJson(res, 400, statusBody(400, `invalid timeoutSeconds: ${JSON.stringify(query.timeoutSeconds)}`))
      return
    }
    const initial = rvParam === '' || rvParam === '0' || query.sendInitialEvents === 'true'
    const fromRv = initial ? this.#store.resourceVersion : Number(rvParam)
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' })
    res.flushHeaders()
    const stream = new WatchStream(res, {
      resource: route.resource,
      version: route.version,
      namespace: route.namespace,
      matches,
      bookmarks: query.allowWatchBookmarks === 'true' || query.allowWatchBookmarks === '1',
      fromRv
    })
    if (!initial && fromRv < this.#store.compactedRv) {
      stream.expire(this.#store.compactedRv)
      return
    }
    if (initial) {
      for (const obj of this.#store.list(route.resource, route.namespace)) stream.deliverInitial(obj)
      if (query.sendInitialEvents === 'true') stream.bookmark(this.#store.resourceVersion, { 'k8s.io/initial-events-end': 'true' })
    } else {
      for (const event of this.#store.eventsSince(route.resource, fromRv)) stream.deliver(event)
    }
    this.#watches.add(stream)
    res.once('close', () => {
      stream.end()
      this.#watches.delete(stream)
    })
    req.socket.setTimeout(0)
    if (timeoutSeconds !== undefined) stream.endAfter(timeoutSeconds * 1000)
  }
}

function apiGroupBody (g: ApiGroupDef): Record<string, unknown> {
  const versions = g.versions.map((v) => ({ groupVersion: groupVersion(g.name, v), version: v }))
  return { name: g.name, versions, preferredVersion: versions[0] }
}

function selectorsOf (query: Record<string, string>): Predicate {
  const label = query.labelSelector !== undefined && query.labelSelector !== '' ? parseLabelSelector(query.labelSelector) : undefined
  const field = query.fieldSelector !== undefined && query.fieldSelector !== '' ? parseFieldSelector(query.fieldSelector) : undefined
  return (obj) => (label === undefined || label(obj)) && (field === undefined || field(obj))
}

function sendJson (res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Starts the double on 127.0.0.1 (a free port). */
export async function startKubeApiServer (opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const server = new KubeApiServerDouble(opts)
  await server.listen()
  return server
}
