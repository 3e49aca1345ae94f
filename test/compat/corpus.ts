// The Istio sample corpus (compat/istio-samples) as the compat tests read it:
// the `cases:` of expectations.yaml, the in-memory adjustments a case needs
// (mesh-only VirtualServices bound to gateway-bindings.yaml, `kubectl apply`
// replacement), and which stub upstream ports a case may reach. The sample
// files themselves are only ever read.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, parseAllDocuments } from 'yaml'
import type { SourceResource } from '../../src/gateway/sources/yaml-documents.js'

export interface CaseRequest {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly clientIp: string
}

export interface CaseExpect {
  readonly virtualService: string | null
  readonly route?: { readonly index: number }
  readonly destination: { readonly host: string, readonly port?: number, readonly subset?: string } | null
  readonly weights?: ReadonlyArray<{ readonly subset: string, readonly weight: number }>
  readonly status: number | null
  readonly upstreamContacted?: boolean
  readonly fault?: { readonly delay?: string, readonly abort?: number, readonly percentage?: number }
  readonly timeout?: string
  readonly retries?: { readonly attempts: number, readonly perTryTimeout?: string, readonly retryOn?: string | null }
  readonly mirror?: { readonly host: string, readonly subset?: string, readonly percentage?: number }
  readonly authz?: unknown
  readonly explainExit?: number
  readonly tls?: string
  readonly note?: string
}

export type CaseScope = 'gateway' | 'mesh' | 'workload'

export interface CorpusCase {
  readonly name: string
  readonly source: string
  readonly scope: CaseScope
  readonly config: readonly string[]
  readonly requires?: readonly string[]
  readonly replaces?: readonly string[]
  readonly request: CaseRequest
  readonly expect: CaseExpect
}

/** Gateway `default/mesh-bindings` of gateway-bindings.yaml, for `scope: mesh` cases. */
export const MESH_BINDINGS_FILE = 'gateway-bindings.yaml'
export const MESH_BINDINGS_GATEWAY = 'default/mesh-bindings'

/** The corpus folder: $MESHGATE_COMPAT_DIR, or ../shared/compat/istio-samples next to the repository. */
export function corpusDir (): string {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const candidates = [
    process.env.MESHGATE_COMPAT_DIR,
    path.resolve(process.cwd(), '../shared/compat/istio-samples'),
    // dist/test/compat/ → the repository root is three levels up.
    path.resolve(here, '../../../../shared/compat/istio-samples')
  ]
  for (const c of candidates) if (c !== undefined && c !== '' && existsSync(path.join(c, 'expectations.yaml'))) return c
  throw new Error(`compat corpus not found (tried ${candidates.filter(Boolean).join(', ')}); set MESHGATE_COMPAT_DIR`)
}

export function loadCases (dir: string): CorpusCase[] {
  const doc = parse(readFileSync(path.join(dir, 'expectations.yaml'), 'utf8')) as { cases?: CorpusCase[] }
  return doc.cases ?? []
}

/** Files to load for a case, in `kubectl apply` order; mesh cases add gateway-bindings.yaml. */
export function caseFiles (dir: string, c: CorpusCase): string[] {
  const files = c.scope === 'mesh' ? [...c.config, MESH_BINDINGS_FILE] : [...c.config]
  return files.map(f => path.join(dir, f))
}

/** Header values `{{file:PATH}}` are the trimmed contents of that corpus file. */
export function requestHeaders (dir: string, c: CorpusCase): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(c.request.headers ?? {})) {
    // "{{file:PATH}}" anywhere in the value ("Bearer {{file:jwt/demo.jwt}}") is that file's trimmed text.
    out[k] = String(v).replace(/\{\{file:([^}]+)\}\}/g, (_m, f: string) => readFileSync(path.join(dir, f), 'utf8').trim())
  }
  return out
}

/** Plain objects of every document in a case's files (for the plan and the stub expectations). */
export interface RawResource { readonly file: string, readonly kind: string, readonly namespace: string, readonly name: string, readonly spec: Record<string, unknown> }

export function rawResources (dir: string, files: readonly string[]): RawResource[] {
  const out: RawResource[] = []
  for (const f of files) {
    const abs = path.isAbsolute(f) ? f : path.join(dir, f)
    for (const d of parseAllDocuments(readFileSync(abs, 'utf8'))) {
      const v = d.toJS() as Record<string, unknown> | null
      if (v === null || typeof v !== 'object') continue
      const meta = (v.metadata ?? {}) as Record<string, unknown>
      out.push({
        file: path.relative(dir, abs),
        kind: String(v.kind ?? ''),
        namespace: typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default',
        name: String(meta.name ?? ''),
        spec: (v.spec ?? {}) as Record<string, unknown>
      })
    }
  }
  return out
}

/** The Gateway `tls` fields that name files (the file-mount samples use /etc/istio/...). */
export const GATEWAY_CERT_FIELDS = ['serverCertificate', 'privateKey', 'caCertificates'] as const

export interface CaseTransformOptions {
  /**
   * Certificates "at the sample's file paths" (corpus README): a Gateway `tls`
   * path of the samples → the file the harness wrote instead, in a temp folder.
   * The samples stay unchanged and nothing is written under /etc.
   */
  readonly certFiles?: ReadonlyMap<string, string>
  /**
   * "The JWKS behind a jwksUri (use jwt/jwks.json)": every RequestAuthentication
   * jwksUri is pointed at this URL, where the harness serves the corpus's key set.
   */
  readonly jwksUrl?: string
  /** The gateway's labels: `scope: workload` policies are bound to them (see bindToGateway). */
  readonly gatewayLabels?: Readonly<Record<string, string>>
}

/**
 * The in-memory changes a case needs before validation, as the corpus README
 * asks: `replaces` keeps only the later of two resources with the same
 * kind/namespace/name (kubectl apply), a `scope: mesh` case binds its
 * mesh-only VirtualServices (no `gateways`) to default/mesh-bindings, and
 * Gateway certificate paths in `opts.certFiles` point at the harness's files
 * (loadConfig reads referenced files after the transform).
 */
export function caseTransform (c: CorpusCase, opts: CaseTransformOptions = {}): (resources: SourceResource[]) => SourceResource[] {
  const replaced = new Set(c.replaces ?? [])
  const certFiles = opts.certFiles ?? new Map<string, string>()
  return (resources) => {
    let out = resources
    if (replaced.size > 0) {
      const keyOf = (r: SourceResource): string => `${r.kind}/${r.namespace}/${r.name}`
      const last = new Map<string, SourceResource>()
      for (const r of out) if (replaced.has(keyOf(r))) last.set(keyOf(r), r)
      out = out.filter(r => !replaced.has(keyOf(r)) || last.get(keyOf(r)) === r)
    }
    if (c.scope === 'mesh') out = out.map(bindToMeshBindings)
    if (certFiles.size > 0) out = out.map(r => redirectCertFiles(r, certFiles))
    if (opts.jwksUrl !== undefined) out = out.map(r => redirectJwks(r, opts.jwksUrl!))
    if (c.scope === 'workload' && opts.gatewayLabels !== undefined) out = out.map(r => bindPolicyToGateway(r, opts.gatewayLabels!))
    return out
  }
}

function redirectCertFiles (r: SourceResource, certFiles: ReadonlyMap<string, string>): SourceResource {
  if (r.kind !== 'Gateway') return r
  const named = (server: unknown): boolean => {
    const tls = obj(obj(server).tls)
    return GATEWAY_CERT_FIELDS.some(f => typeof tls[f] === 'string' && certFiles.has(tls[f]))
  }
  if (!arr(obj(r.value.spec).servers).some(named)) return r
  const value = structuredClone(r.value)
  for (const server of arr(obj(value.spec).servers)) {
    const tls = obj(obj(server).tls)
    for (const f of GATEWAY_CERT_FIELDS) {
      const p = tls[f]
      if (typeof p === 'string' && certFiles.has(p)) tls[f] = certFiles.get(p)
    }
  }
  // Same positions (lineOf/keysAt) as the file: only `value` changes.
  return { ...r, value }
}

function redirectJwks (r: SourceResource, url: string): SourceResource {
  if (r.kind !== 'RequestAuthentication') return r
  const value = structuredClone(r.value)
  for (const rule of arr(obj(value.spec).jwtRules)) {
    if (typeof obj(rule).jwksUri === 'string') obj(rule).jwksUri = url
  }
  return { ...r, value }
}

/**
 * `scope: workload`: the policy selects an application pod whose sidecar
 * enforces it; the client sees the same answer when the gateway enforces it, so
 * in memory the selector is pointed at the gateway's labels.
 */
function bindPolicyToGateway (r: SourceResource, labels: Readonly<Record<string, string>>): SourceResource {
  if (r.kind !== 'AuthorizationPolicy' && r.kind !== 'RequestAuthentication') return r
  const spec = obj(r.value.spec)
  if (spec.selector === undefined) return r
  const value = structuredClone(r.value)
  obj(value.spec).selector = { matchLabels: { ...labels } }
  return { ...r, value }
}

function bindToMeshBindings (r: SourceResource): SourceResource {
  if (r.kind !== 'VirtualService') return r
  const spec = r.value.spec as Record<string, unknown> | undefined
  if (spec === undefined || spec === null || typeof spec !== 'object') return r
  const gateways = spec.gateways
  if (Array.isArray(gateways) && gateways.length > 0) return r
  const value = structuredClone(r.value)
  ;(value.spec as Record<string, unknown>).gateways = [MESH_BINDINGS_GATEWAY]
  // Same positions (lineOf/keysAt) as the file: only `value` changes.
  return { ...r, value }
}

/** Every endpoint port of the ServiceEntries in services.yaml: one stub upstream each. */
export function stubPorts (dir: string): number[] {
  const ports = new Set<number>()
  for (const r of rawResources(dir, ['services.yaml'])) {
    if (r.kind !== 'ServiceEntry') continue
    for (const ep of arr(r.spec.endpoints)) {
      for (const p of Object.values(obj(obj(ep).ports))) if (typeof p === 'number') ports.add(p)
    }
  }
  return [...ports].sort((a, b) => a - b)
}

/**
 * The stub ports that may answer a destination: endpoints of the ServiceEntry
 * with that host whose labels carry the subset's labels (from the case's own
 * DestinationRules). Worked out from the YAML here, not from meshgate's snapshot,
 * so the live run checks the gateway against an independent reading.
 */
export function portsFor (resources: readonly RawResource[], host: string, subset: string | undefined): number[] {
  const se = resources.find(r => r.kind === 'ServiceEntry' && arr(r.spec.hosts).includes(host))
  if (se === undefined) return []
  let wanted: Record<string, unknown> = {}
  if (subset !== undefined) {
    const rule = resources.find(r => r.kind === 'DestinationRule' && fqdn(String(r.spec.host ?? ''), r.namespace) === host &&
      arr(r.spec.subsets).some(s => obj(s).name === subset))
    if (rule === undefined) return []
    wanted = obj(obj(arr(rule.spec.subsets).find(s => obj(s).name === subset)).labels)
  }
  const out: number[] = []
  for (const ep of arr(se.spec.endpoints)) {
    const labels = obj(obj(ep).labels)
    if (Object.entries(wanted).every(([k, v]) => labels[k] === v)) {
      for (const p of Object.values(obj(obj(ep).ports))) if (typeof p === 'number') out.push(p)
    }
  }
  return out.sort((a, b) => a - b)
}

/** Istio's short-name expansion for VirtualService/DestinationRule hosts. */
export function fqdn (host: string, namespace: string): string {
  const h = host.toLowerCase()
  return h.includes('.') || h === '*' ? h : `${h}.${namespace}.svc.cluster.local`
}

/** `7s`, `0.5s`, `100ms`, `1m`, `1h` → milliseconds (NaN if unreadable). */
export function durationMs (d: string | null | undefined): number {
  if (d === null || d === undefined) return NaN
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(d.trim())
  if (m === null) return NaN
  const n = Number(m[1])
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'])
}

function arr (v: unknown): unknown[] {
  return Array.isArray(v) ? v : []
}

function obj (v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {}
}
