// ApiKeyPolicy → ApiKeyConfig: key digests (a `valueFrom` file is read by the
// sources stage and hashed here), targets and the optional match. Keys
// themselves never reach the snapshot, /config_dump or a log.
import { createHash } from 'node:crypto'
import type { SourceResource } from '../sources/yaml-documents.js'
import type { ApiKeyConfig, ApiKeyPolicyRule } from '../snapshot.js'
import type { FileLookup } from './clusters.js'
import { compileTargets } from './targets.js'

export const NO_API_KEYS: ApiKeyConfig = Object.freeze({ policies: Object.freeze([]) })

export function compileApiKeys (ordered: readonly SourceResource[], files: FileLookup): ApiKeyConfig {
  const policies: ApiKeyPolicyRule[] = []
  for (const r of ordered) {
    if (r.kind !== 'ApiKeyPolicy') continue
    const spec = (r.value.spec ?? {}) as Record<string, unknown>
    const where = typeof spec.in === 'string' ? /^(header|query):(.+)$/.exec(spec.in) : null
    const location = where === null
      ? { kind: 'header' as const, name: 'x-api-key' }
      : { kind: where[1] as 'header' | 'query', name: where[1] === 'header' ? where[2]!.toLowerCase() : where[2]! }
    const digests: Buffer[] = []
    const consumers: string[] = []
    for (const raw of Array.isArray(spec.keys) ? spec.keys : []) {
      const k = raw as { name?: unknown, valueSha256?: unknown, valueFrom?: unknown }
      if (typeof k?.name !== 'string' || k.name === '') continue
      let digest: Buffer | null = null
      if (typeof k.valueSha256 === 'string' && /^[0-9a-fA-F]{64}$/.test(k.valueSha256)) digest = Buffer.from(k.valueSha256, 'hex')
      const file = valueFromPath(k.valueFrom)
      if (file !== null) {
        const text = files(file)
        if (text !== null && text.trim() !== '') digest = createHash('sha256').update(text.trim()).digest()
      }
      if (digest === null) continue
      digests.push(digest)
      consumers.push(k.name)
    }
    policies.push(Object.freeze({
      ref: Object.freeze({ kind: r.kind, namespace: r.namespace, name: r.name, file: r.file, line: r.line }),
      id: `${r.namespace}/${r.name}`,
      targets: compileTargets(r),
      location: Object.freeze(location),
      digests: Object.freeze(digests),
      consumers: Object.freeze(consumers)
    }))
  }
  return policies.length === 0 ? NO_API_KEYS : Object.freeze({ policies: Object.freeze(policies) })
}

/** `valueFrom: PATH` or `valueFrom: {file: PATH}`. */
export function valueFromPath (v: unknown): string | null {
  if (typeof v === 'string' && v !== '') return v
  if (typeof v === 'object' && v !== null && typeof (v as { file?: unknown }).file === 'string') return (v as { file: string }).file
  return null
}
