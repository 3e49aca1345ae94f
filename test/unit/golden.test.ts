// Golden files for the config pipeline: test/golden/<case>.yaml →
// <case>.snapshot.json (the compiled snapshot) and <case>.validate.txt (the
// findings as `validate` prints them). Regenerate with UPDATE_GOLDEN=1 and
// review the diff.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { loadConfig } from '../../src/gateway/config-loader.js'
import { formatIssue } from '../../src/gateway/validate/issues.js'
import type { Snapshot } from '../../src/gateway/snapshot.js'
import { repoRoot } from '../helpers/processes.js'

const dir = join(repoRoot, 'test/golden')
const update = process.env.UPDATE_GOLDEN === '1'

/** Deterministic JSON: Maps as objects, Sets as arrays, RE2 as its source, Buffers as text; the content-hash version blanked. */
function serialize (snapshot: Snapshot | null): string {
  if (snapshot === null) return 'null\n'
  return JSON.stringify(snapshot, function (key, value: unknown) {
    if (key === 'version' && this === snapshot) return '<version>'
    if (key === 'fingerprint') return '<hash>'
    if (key === 'resources' && this === snapshot) return undefined
    if (value instanceof Map) return Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), v]))
    if (value instanceof Set) return [...value]
    if (Buffer.isBuffer(value)) return value.toString('utf8')
    if (value !== null && typeof value === 'object' && (value as { constructor?: { name?: string } }).constructor?.name === 'RE2') return `RE2(${(value as { source: string }).source})`
    if (value !== null && typeof value === 'object' && 'type' in value && (value as { type: unknown }).type === 'Buffer' && 'data' in value) return Buffer.from((value as { data: number[] }).data).toString('utf8')
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && ['virtualService', 'gateway', 'destinationRule'].includes(key)) {
      // Resource references: kind/namespace/name is enough to review.
      const v = value as Record<string, unknown>
      return `${String(v.kind ?? '')}/${String(v.namespace ?? '')}/${String(v.name ?? '')}`
    }
    return value
  }, 2) + '\n'
}

const cases = readdirSync(dir).filter(f => f.endsWith('.yaml')).sort()

test('golden cases exist', () => {
  assert.ok(cases.length >= 3)
})

for (const file of cases) {
  const name = file.slice(0, -'.yaml'.length)
  test(`golden: ${name}`, async () => {
    const result = await loadConfig([join(dir, file)], { gatewayLabels: { istio: 'ingressgateway' }, credentialsDir: null })
    const validate = result.issues.map(i => formatIssue({ ...i, file: relative(repoRoot, join(repoRoot, i.file)).replace(/^.*test\/golden\//, '') })).join('\n') + '\n'
    const snap = serialize(result.snapshot)
    const vPath = join(dir, `${name}.validate.txt`)
    const sPath = join(dir, `${name}.snapshot.json`)
    if (update || !existsSync(vPath) || !existsSync(sPath)) {
      writeFileSync(vPath, validate)
      writeFileSync(sPath, snap)
      if (!update) assert.fail(`wrote missing golden files for ${name}; review and commit them`)
      return
    }
    assert.equal(validate, readFileSync(vPath, 'utf8'), `${name}.validate.txt differs (UPDATE_GOLDEN=1 to regenerate)`)
    assert.equal(snap, readFileSync(sPath, 'utf8'), `${name}.snapshot.json differs (UPDATE_GOLDEN=1 to regenerate)`)
  })
}
