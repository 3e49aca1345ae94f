// Resource-level admission checks: apiVersion, kind, metadata, and
// kind/namespace/name uniqueness across the whole set.
import type { SourceResource } from '../sources/yaml-documents.js'
import { get, isObj, typeName, type Checker } from './checker.js'
import { isDnsLabel, isDnsSubdomain } from './common.js'
import { CODES } from './codes.js'
import { makeIssue, type Issue } from './issues.js'

interface Group { versions: readonly string[], kinds: readonly string[], ignored: readonly string[] }

/** What meshgate reads, by API group; `ignored` kinds are Istio's but do nothing at a meshgate gateway. */
export const GROUPS: Readonly<Record<string, Group>> = {
  'networking.istio.io': {
    versions: ['v1', 'v1beta1', 'v1alpha3'],
    kinds: ['Gateway', 'VirtualService', 'DestinationRule', 'ServiceEntry'],
    ignored: ['Sidecar', 'EnvoyFilter', 'WorkloadEntry', 'WorkloadGroup', 'ProxyConfig']
  },
  'security.istio.io': {
    versions: ['v1', 'v1beta1'],
    kinds: ['RequestAuthentication', 'AuthorizationPolicy'],
    ignored: ['PeerAuthentication']
  },
  'meshgate.io': {
    versions: ['v1alpha1'],
    kinds: ['RateLimitPolicy', 'CachePolicy', 'ApiKeyPolicy', 'EdgeFacts'],
    ignored: []
  }
}

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'] as const
const METADATA_FIELDS = ['name', 'namespace', 'labels', 'annotations', 'creationTimestamp', 'uid', 'resourceVersion',
  'generation', 'managedFields', 'ownerReferences', 'finalizers', 'generateName', 'deletionTimestamp', 'selfLink'] as const

export type KindStatus = 'validate' | 'ignored' | 'refused'

/** Checks apiVersion/kind/metadata. Returns whether the spec should be validated. */
export function checkResourceHeader (c: Checker): KindStatus {
  const v = c.res.value
  c.fields([], v, TOP_FIELDS)
  const status = checkKind(c, v)
  checkMetadata(c, v)
  return status
}

function checkKind (c: Checker, v: Record<string, unknown>): KindStatus {
  const apiVersion = get(v, 'apiVersion')
  const kind = get(v, 'kind')
  let refused = false
  if (kind === undefined) {
    c.error(['kind'], 'kind is required', CODES.KIND)
    refused = true
  } else if (typeof kind !== 'string' || kind === '') {
    c.error(['kind'], `expected a kind name, got ${typeName(kind)}`, CODES.KIND)
    refused = true
  }
  if (apiVersion === undefined) {
    c.error(['apiVersion'], 'apiVersion is required', CODES.API_VERSION)
    return 'refused'
  }
  if (typeof apiVersion !== 'string') {
    c.error(['apiVersion'], `expected an apiVersion string, got ${typeName(apiVersion)}`, CODES.API_VERSION)
    return 'refused'
  }
  const slash = apiVersion.indexOf('/')
  const group = slash === -1 ? '' : apiVersion.slice(0, slash)
  const version = slash === -1 ? apiVersion : apiVersion.slice(slash + 1)
  const g = GROUPS[group]
  if (g === undefined) {
    c.error(['apiVersion'], `unknown apiVersion ${JSON.stringify(apiVersion)}${typeof kind === 'string' && kind !== '' ? ` for kind ${kind}` : ''}: meshgate reads networking.istio.io, security.istio.io and meshgate.io resources`, CODES.API_VERSION)
    return 'refused'
  }
  if (!g.versions.includes(version)) {
    c.error(['apiVersion'], `apiVersion ${JSON.stringify(apiVersion)} is not supported, use ${g.versions.map(x => `${group}/${x}`).join(', ')}`, CODES.API_VERSION)
    refused = true
  }
  if (refused || typeof kind !== 'string') return 'refused'
  if (g.kinds.includes(kind)) return 'validate'
  if (g.ignored.includes(kind)) {
    c.warn(['kind'], `${kind} is not used by meshgate and is ignored`, CODES.KIND_IGNORED)
    return 'ignored'
  }
  const elsewhere = Object.entries(GROUPS).find(([, other]) => other.kinds.includes(kind))
  c.error(['kind'], elsewhere !== undefined
    ? `kind ${kind} belongs to ${elsewhere[0]}, not ${group}`
    : `unknown kind ${JSON.stringify(kind)} for ${group}, expected one of ${g.kinds.join(', ')}`, CODES.KIND)
  return 'refused'
}

function checkMetadata (c: Checker, v: Record<string, unknown>): void {
  const raw = get(v, 'metadata')
  if (raw === undefined) {
    c.error(['metadata'], 'metadata.name is required', CODES.METADATA)
    return
  }
  if (!isObj(raw)) {
    c.error(['metadata'], `expected a mapping, got ${typeName(raw)}`, CODES.METADATA)
    return
  }
  c.fields(['metadata'], raw, METADATA_FIELDS)
  const name = get(raw, 'name')
  if (name === undefined || name === '') {
    c.error(['metadata', 'name'], 'metadata.name is required', CODES.METADATA)
  } else if (typeof name !== 'string') {
    c.error(['metadata', 'name'], `expected a string, got ${typeName(name)}`, CODES.METADATA)
  } else if (c.res.kind === 'Gateway' ? !isDnsLabel(name) : !isDnsSubdomain(name)) {
    // Istio: Gateway names are DNS labels (no dots); other objects follow Kubernetes' subdomain rule.
    c.error(['metadata', 'name'], c.res.kind === 'Gateway'
      ? `invalid Gateway name ${JSON.stringify(name)}: a DNS label is required (lowercase letters, digits, "-", no dots)`
      : `invalid name ${JSON.stringify(name)}: lowercase letters, digits, "-" and "." are allowed`, CODES.METADATA)
  }
  const ns = get(raw, 'namespace')
  if (ns !== undefined) {
    if (typeof ns !== 'string') c.error(['metadata', 'namespace'], `expected a string, got ${typeName(ns)}`, CODES.METADATA)
    else if (ns !== '' && (!isDnsLabel(ns) || ns !== ns.toLowerCase())) c.error(['metadata', 'namespace'], `invalid namespace ${JSON.stringify(ns)}`, CODES.METADATA)
  }
  for (const f of ['labels', 'annotations']) c.strMap(['metadata', f], get(raw, f))
  const ts = get(raw, 'creationTimestamp')
  if (ts !== undefined && !(ts instanceof Date) && (typeof ts !== 'string' || Number.isNaN(Date.parse(ts)))) {
    c.error(['metadata', 'creationTimestamp'], `creationTimestamp must be an RFC 3339 time, got ${typeName(ts)}`, CODES.METADATA)
  }
}

/** One kind/namespace/name per set: the later one is refused, pointing at the first. */
export function checkDuplicates (resources: readonly SourceResource[], issues: Issue[]): void {
  const seen = new Map<string, SourceResource>()
  for (const r of resources) {
    if (r.kind === '' || r.name === '') continue
    const key = `${r.kind}/${r.namespace}/${r.name}`
    const first = seen.get(key)
    if (first === undefined) {
      seen.set(key, r)
      continue
    }
    let line = r.line
    try { line = r.lineOf(['metadata', 'name']) } catch { /* keep the document line */ }
    issues.push(makeIssue({
      severity: 'error',
      admission: true,
      code: CODES.DUPLICATE,
      file: r.file,
      line,
      kind: r.kind,
      namespace: r.namespace,
      name: r.name,
      field: 'metadata.name',
      message: `duplicate ${r.kind} ${r.namespace}/${r.name}: already defined at ${first.file}:${first.line}`
    }))
  }
}
