// The compatibility matrix in docs/compat-matrix.md (and in README.md once the
// lead includes it between the markers) must be exactly what the generator
// prints today: a change to field-support.ts, case-plan.ts or the corpus
// without regenerating the file fails here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { MATRIX_END, MATRIX_START, matrixFile, matrixSection, renderCompatMatrix, repoRoot } from './compat-matrix.js'
import { corpusDir, loadCases } from './corpus.js'

const REGENERATE = 'regenerate with `npm run build && node scripts/compat-matrix.mjs --write`'
const generated = renderCompatMatrix()

test('docs/compat-matrix.md is what scripts/compat-matrix.mjs generates', () => {
  assert.ok(existsSync(matrixFile), `${path.relative(repoRoot, matrixFile)} is missing: ${REGENERATE}`)
  const section = matrixSection(readFileSync(matrixFile, 'utf8'))
  assert.ok(section !== null, `${path.relative(repoRoot, matrixFile)} lacks the ${MATRIX_START} / ${MATRIX_END} markers: ${REGENERATE}`)
  assert.equal(section, matrixSection(generated), `docs/compat-matrix.md is stale: ${REGENERATE}`)
})

test('the README section between the compat-matrix markers matches the generator', (t) => {
  const readme = path.join(repoRoot, 'README.md')
  const section = existsSync(readme) ? matrixSection(readFileSync(readme, 'utf8')) : null
  if (section === null) { t.skip('README.md does not include the compat-matrix section yet'); return }
  assert.equal(section, matrixSection(generated), `README.md's compat-matrix section is stale: copy docs/compat-matrix.md into it after ${REGENERATE}`)
})

test('the matrix lists every request case of the corpus', () => {
  for (const c of loadCases(corpusDir())) assert.ok(generated.includes(`| ${c.name} |`), `case ${c.name} is missing`)
})
