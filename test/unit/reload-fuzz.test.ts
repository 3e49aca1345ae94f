// Property: whatever a config edit does to valid YAML, loading it (the reload
// path: sources → validate → compile) and explaining requests against it never
// throws. A version is either served or refused with findings.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile, readFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { parseAllDocuments, stringify } from 'yaml'
import { loadConfig } from '../../src/gateway/config-loader.js'
import { explain } from '../../src/gateway/explain.js'
import { repoRoot } from '../helpers/processes.js'

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

const junk: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer({ min: -70000, max: 70000 }), fc.double({ noNaN: true }),
  fc.string({ maxLength: 12 }), fc.constantFrom('*', '', '%', '/', '.*', '(', '1s', '-1ms', 'v1', '[', '::1'),
  fc.constant([] as Json[]), fc.constant({} as Json), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 })
)

/** All paths to nodes inside a JSON value. */
function paths (v: Json, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix)
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out))
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k]!, [...prefix, k], out)
  return out
}

function mutate (doc: Json, path: Array<string | number>, op: number, value: Json): Json {
  if (path.length === 0) return op === 0 ? value : doc
  const copy = structuredClone(doc)
  let parent: Json = copy
  for (const k of path.slice(0, -1)) parent = (parent as Record<string, Json>)[k as string]!
  const last = path[path.length - 1]!
  const container = parent as Record<string | number, Json> & Json[]
  if (op === 0) container[last] = value
  else if (op === 1) { if (Array.isArray(container)) container.splice(Number(last), 1); else delete container[last] }
  else if (op === 2) container[last] = [container[last]!] as Json
  else container[last] = String(container[last]) as Json
  return copy
}

test('random mutations of valid config never make a reload or explain throw', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-fuzz-'))
  const qs = join(repoRoot, 'config/examples/quickstart')
  const docs: Json[] = []
  for (const f of (await readdir(qs)).sort()) {
    for (const d of parseAllDocuments(await readFile(join(qs, f), 'utf8'))) docs.push(d.toJS() as Json)
  }
  const file = join(dir, 'config.yaml')
  let served = 0
  let refused = 0
  try {
    await fc.assert(fc.asyncProperty(
      fc.nat({ max: docs.length - 1 }), fc.nat(), fc.nat({ max: 3 }), junk,
      async (docIndex, pathSeed, op, value) => {
        const doc = docs[docIndex]!
        const all = paths(doc)
        const p = all[pathSeed % all.length]!
        const next = docs.map((d, i) => i === docIndex ? mutate(d, p, op, value) : d)
        await writeFile(file, next.map(d => stringify(d)).join('---\n'))
        const result = await loadConfig([dir], { gatewayLabels: { istio: 'ingressgateway' }, credentialsDir: null })
        assert.ok(Array.isArray(result.issues))
        if (result.snapshot === null) {
          refused++
          assert.ok(result.issues.some(i => i.severity === 'error'), 'a refused version names its errors')
          return
        }
        served++
        for (const url of ['http://shop.example:8080/', 'http://shop.example:8080/catalogue/x?y=1', 'https://a.shop.example/healthz']) {
          explain(result.snapshot, { url, method: 'GET', headers: { 'x-canary': 'always', cookie: 'session=abc' }, clientIp: '203.0.113.9' })
        }
      }
    ), { numRuns: 250, seed: 20261122 })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  assert.ok(served > 0 && refused > 0, `both outcomes occur (served ${served}, refused ${refused})`)
})
