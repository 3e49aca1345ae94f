// The compatibility matrix in README.md must be exactly what the generator
// prints today: a change to field-support.ts, case-plan.ts or the corpus
// without regenerating the file fails here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { MATRIX_END, MATRIX_START, matrixFile, matrixSection, renderCompatMatrix, repoRoot } from './compat-matrix.js'
import { corpusDir, loadCases } from './corpus.js'

const REGENERATE = 'regenerate with `npm run build && node scripts/compat-matrix.mjs --write`'
const generated = renderCompatMatrix()

test('README.md carries the compatibility matrix the generator prints today', () => {
  assert.ok(existsSync(matrixFile), 'README.md is missing')
  const section = matrixSection(readFileSync(matrixFile, 'utf8'))
  assert.ok(section !== null, `README.md lacks the ${MATRIX_START} / ${MATRIX_END} markers`)
  assert.equal(section, matrixSection(generated), `README.md's compat-matrix section is stale: ${REGENERATE}`)
})

test('the matrix lists every request case of the corpus', () => {
  for (const c of loadCases(corpusDir())) assert.ok(generated.includes(`| ${c.name} |`), `case ${c.name} is missing`)
})
