// The fast YAML path (js-yaml values, positions on demand) must give exactly
// what the position-aware path gives: the same resources, document lines and
// field lines, on every file of the Istio corpus and the examples.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseText, type SourceResource } from '../../src/gateway/sources/yaml-documents.js'
import type { Issue } from '../../src/gateway/validate/issues.js'
import { repoRoot } from '../helpers/processes.js'
import { filesUnder, isYaml } from '../helpers/files.js'

function leafPaths (v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (Array.isArray(v)) return [prefix, ...v.flatMap((x, i) => leafPaths(x, [...prefix, i]))]
  if (v !== null && typeof v === 'object') return [prefix, ...Object.entries(v).flatMap(([k, x]) => leafPaths(x, [...prefix, k]))]
  return [prefix]
}

const corpus = process.env.MESHGATE_COMPAT_DIR ?? join(repoRoot, '../shared/compat/istio-samples')
const files = [corpus, join(repoRoot, 'config/examples'), join(repoRoot, 'test/golden')].flatMap(d => filesUnder(d, isYaml))

/** One file parsed by the fast path and by the position-aware path, with each one's issues. */
function bothPaths (file: string, text: string): { fast: SourceResource[], slow: SourceResource[], fi: Issue[], si: Issue[] } {
  const fast: SourceResource[] = []
  const slow: SourceResource[] = []
  const fi: Issue[] = []
  const si: Issue[] = []
  parseText(file, text, fast, fi)
  parseText(file, text, slow, si, { fast: false })
  return { fast, slow, fi, si }
}

test('the fast path agrees with the position-aware path on every sample file', () => {
  assert.ok(files.length > 50)
  for (const f of files) {
    const text = readFileSync(f, 'utf8')
    const { fast, slow, fi, si } = bothPaths(f, text)
    assert.deepEqual(fi, si, f)
    assert.equal(fast.length, slow.length, f)
    fast.forEach((r, i) => {
      const s = slow[i]!
      assert.deepEqual(r.value, s.value, f)
      assert.equal(r.line, s.line, `${f}: document line`)
      for (const p of leafPaths(r.value)) {
        assert.equal(r.lineOf(p), s.lineOf(p), `${f}: line of ${p.join('.')}`)
        assert.deepEqual(r.keysAt(p), s.keysAt(p), `${f}: keys at ${p.join('.')}`)
      }
    })
  }
})

test('forms the fast path does not follow fall back to the position-aware path', () => {
  const cases = [
    '%YAML 1.2\n---\nkind: A\n',
    '--- {kind: A}\n',
    'a: &x {b: 1}\nc: *x\n',
    'kind: A\nkind: B\n'
  ]
  for (const text of cases) {
    const { fast, slow, fi, si } = bothPaths('t.yaml', text)
    assert.deepEqual(fi, si, text)
    assert.deepEqual(fast.map(r => [r.value, r.line]), slow.map(r => [r.value, r.line]), text)
  }
})

test('plain scalars and keys resolve as YAML 1.2 core schema resolves them, on both paths', () => {
  // Forms where js-yaml's own core schema or its key handling would differ from the yaml library.
  const scalars = ['012', '0o17', '0x1F', '0b101', '-0x1F', '+0o17', '-.5', '+.5', '.5', '-0', '1.', '1e3', '-1.5e+3', '.inf', '-.Inf', '.NaN', '~', 'Null', 'TRUE', 'yes', '1_000', '1_000.5', '!!float 3', '!!float 3.5', '!!int "12"', '2001-12-14', '0X1F']
  const bodies = scalars.flatMap(x => [`  k: ${x}\n`, `  l: [${x}]\n`, `  m: {k: ${x}}\n`, `  ${x}: v\n`])
  bodies.push('  [a, b]: v\n', '  {a: 1}: v\n', '  ? x\n  : v\n', '  m: {[a]: v}\n', '  ~: v\n', '  null: v\n', '  m: {NULL: v}\n')
  const plain = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => Object.is(x, -0) ? '-0' : typeof x === 'number' && !Number.isFinite(x) ? String(x) : x)
  for (const body of bodies) {
    const text = `apiVersion: v1\nkind: A\nmetadata: {name: a}\nspec:\n${body}`
    const { fast, slow, fi, si } = bothPaths('t.yaml', text)
    assert.equal(plain([fast.map(r => r.value), fi.map(i => i.message)]), plain([slow.map(r => r.value), si.map(i => i.message)]), body)
  }
})

test('documents separated by markers, comments and empty documents keep their lines', () => {
  const text = '# header\n---\n# only a comment\n---\napiVersion: v1\nkind: A\nmetadata:\n  name: a\n...\n---\n\nkind: B\nmetadata: {name: b}\n'
  const out: SourceResource[] = []
  parseText('t.yaml', text, out, [])
  assert.deepEqual(out.map(r => [r.kind, r.name, r.line]), [['A', 'a', 5], ['B', 'b', 12]])
  assert.equal(out[0]!.lineOf(['metadata', 'name']), 8)
  assert.equal(out[1]!.lineOf(['metadata', 'name']), 13)
})
