// sources → validate → compile, shared by `serve` (initial load and every
// reload), `validate`, `explain` and `test`.
import { readFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { readSources, parseSources, type SourceResource } from './sources/yaml-documents.js'
import { validateResources } from './validate/index.js'
import { makeIssue, sortIssues, type Issue } from './validate/issues.js'
import { compile, referencedFiles } from './compile/compile.js'
import { sharingRegexes } from './compile/string-matcher.js'
import { CODES } from './errors.js'
import type { Snapshot } from './snapshot.js'
import { KUBERNETES_SOURCE } from './sources/kube-resources.js'

/** Resources from elsewhere than files (`serve --kubernetes`), admitted one by one. */
export interface ConfigProvider {
  /** The current resources and a version that changes whenever they do. */
  resources (): { resources: SourceResource[], version: string }
  /** Contents of a path the provider owns (Secrets), undefined for paths it does not. */
  readFile (path: string): string | null | undefined
  /** Where `credentialName`s resolve (instead of `--credentials-dir`), or null. */
  credentialsDir (): string | null
  /** Registers the reload to run after changes. */
  onChange? (fn: () => void): void
  stop? (): Promise<void>
  /** For /config_dump. */
  status? (): unknown
  /** Gateway port → port to bind, when the provider knows better (Kubernetes Service targetPorts). */
  portMap? (): ReadonlyMap<number, number>
}

export interface LoadOptions {
  readonly gatewayLabels: Readonly<Record<string, string>>
  readonly credentialsDir: string | null
  /** `--namespace`: Istio's namespace scoping for selector-less policies. */
  readonly namespace?: string | null
  readonly rootNamespace?: string
  /** Lets tests and `explain` adjust resources in memory before validation. */
  readonly transform?: (resources: SourceResource[]) => SourceResource[]
  /** Kubernetes: more resources, each refused on its own instead of refusing the version. */
  readonly provider?: ConfigProvider | null
}

export interface LoadResult {
  /** null when the version is refused (admission errors), could not be compiled, or is unchanged. */
  readonly snapshot: Snapshot | null
  /** The sources hash to the `previous` version given: nothing was parsed or compiled. */
  readonly unchanged: boolean
  readonly issues: readonly Issue[]
  readonly version: string
  /** Every file the version depends on (YAML and referenced certs), for the watcher. */
  readonly watched: readonly string[]
  /** The referenced cert/key/CA files alone (for the next `previous`). */
  readonly refs: readonly string[]
}

export function parseLabels (text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of text.split(',')) {
    const eq = part.indexOf('=')
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim()
  }
  return out
}

/** What a reload compares against: the last loaded version and the referenced files it read. */
export interface PreviousVersion { readonly version: string, readonly refs: readonly string[] }

async function readRefs (refs: readonly string[], provider: ConfigProvider | null): Promise<Map<string, string | null>> {
  const files = new Map<string, string | null>()
  await Promise.all(refs.map(async p => {
    const owned = provider?.readFile(p)
    if (owned !== undefined) { files.set(p, owned); return }
    try {
      files.set(p, await readFile(p, 'utf8'))
    } catch {
      files.set(p, null)
    }
  }))
  return files
}

function versionOf (yaml: ReadonlyArray<{ path: string, text: string }>, refs: readonly string[], files: ReadonlyMap<string, string | null>, providerVersion: string): string {
  const hash = createHash('sha256')
  hash.update(providerVersion).update('\0')
  for (const f of yaml) hash.update(f.path).update('\0').update(f.text).update('\0')
  for (const p of refs) hash.update(p).update('\0').update(files.get(p) ?? '').update('\0')
  return hash.digest('hex').slice(0, 12)
}

/**
 * sources → validate → compile. With `previous`, the files are read and hashed
 * first and nothing is parsed when they are unchanged, so file events and the
 * safety poll cost a read, not a compile.
 */
export async function loadConfig (paths: readonly string[], opts: LoadOptions, previous: PreviousVersion | null = null): Promise<LoadResult> {
  const provider = opts.provider ?? null
  const read = paths.length === 0 ? { files: [], issues: [] } : await readSources(paths)
  const fromProvider = provider?.resources() ?? { resources: [], version: '' }
  if (previous !== null && read.issues.length === 0) {
    const same = versionOf(read.files, previous.refs, await readRefs(previous.refs, provider), fromProvider.version)
    if (same === previous.version) {
      return { snapshot: null, unchanged: true, issues: [], version: same, watched: [...read.files.map(f => f.path), ...previous.refs], refs: previous.refs }
    }
  }
  const src = parseSources(read.files, read.issues)
  const all = [...src.resources, ...fromProvider.resources]
  let resources = opts.transform !== undefined ? opts.transform(all) : all
  const credentialsDir = provider?.credentialsDir() ?? opts.credentialsDir
  const refs = referencedFiles(resources, credentialsDir)
  const files = await readRefs(refs, provider)
  const lookup = (p: string): string | null => files.get(p) ?? null
  const version = versionOf(src.files, refs, files, fromProvider.version)
  // From here on the load is synchronous: one compiled RE2 per regex source
  // serves validation and compile.
  return sharingRegexes(() => {
    const issues: Issue[] = [...src.issues]
    const validate = (list: readonly SourceResource[]): Issue[] => {
      try {
        return validateResources(list, {
          gatewayLabels: { ...opts.gatewayLabels },
          credentialsDir,
          namespace: opts.namespace ?? null,
          rootNamespace: opts.rootNamespace ?? 'istio-system',
          readFile: lookup
        })
      } catch (err) {
        return [makeIssue({ severity: 'error', code: CODES.INTERNAL, file: paths.join(','), line: 0, field: '', message: `validation failed unexpectedly: ${(err as Error).message}` })]
      }
    }
    const admitted = admitEach(resources, validate)
    resources = admitted.resources
    issues.push(...admitted.issues)
    sortIssues(issues)
    const watched = [...src.files.map(f => f.path), ...refs]
    if (issues.some(i => i.severity === 'error' && i.admission)) return { snapshot: null, unchanged: false, issues, version, watched, refs }
    let snapshot: Snapshot | null = null
    try {
      const carried = issues.filter(i => !i.admission)
      snapshot = compile({ resources, files: lookup, gatewayLabels: opts.gatewayLabels, credentialsDir, portMap: provider?.portMap?.(), namespace: opts.namespace ?? null, rootNamespace: opts.rootNamespace ?? 'istio-system', issues: carried, version })
      // Findings only the compiler can make (servers skipped, kinds not enforced yet).
      issues.push(...snapshot.issues.slice(carried.length))
      sortIssues(issues)
    } catch (err) {
      issues.push(makeIssue({ severity: 'error', code: CODES.INTERNAL, file: paths.join(','), line: 0, field: '', message: `compile failed unexpectedly: ${(err as Error).message}` }))
    }
    return { snapshot, unchanged: false, issues, version, watched, refs }
  })
}

/**
 * Istio's webhook admits Kubernetes resources one at a time, so one team's bad
 * VirtualService never blocks another's: a resource from Kubernetes with an
 * admission error is left out (its findings stay, as non-blocking errors) and
 * the rest validated again, since leaving one out can change what others
 * reference. File resources keep the all-or-nothing rule.
 */
function admitEach (resources: readonly SourceResource[], validate: (list: readonly SourceResource[]) => Issue[]): { resources: SourceResource[], issues: Issue[] } {
  let kept = [...resources]
  const skipped: Issue[] = []
  const keyOf = (kind: string, ns: string, name: string): string => `${kind}/${ns}/${name}`
  for (let round = 0; ; round++) {
    const issues = validate(kept)
    const refused = new Set(issues.filter(i => i.file === KUBERNETES_SOURCE && i.admission && i.severity === 'error').map(i => keyOf(i.kind, i.namespace, i.name)))
    if (refused.size === 0 || round === 4) return { resources: kept, issues: [...issues, ...skipped] }
    for (const i of issues) {
      if (i.file === KUBERNETES_SOURCE && refused.has(keyOf(i.kind, i.namespace, i.name))) {
        skipped.push({ ...i, admission: false, message: i.admission && i.severity === 'error' ? `${i.message} (resource not applied; the others are)` : i.message })
      }
    }
    kept = kept.filter(r => !(r.file === KUBERNETES_SOURCE && refused.has(keyOf(r.kind, r.namespace, r.name))))
  }
}
