// Keeps the code table honest: each key names its code, each code is used,
// and no MG_* literal is written outside the table.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CODES, UPSTREAM_CODES } from '../../src/gateway/errors.js'
import { repoRoot } from '../helpers/processes.js'
import { filesUnder } from '../helpers/files.js'

const files = filesUnder(join(repoRoot, 'src'), n => n.endsWith('.ts')).map(f => ({ f, text: readFileSync(f, 'utf8') }))

test('each key is its code without the area prefix', () => {
  for (const [k, v] of Object.entries(CODES)) assert.equal(v, `MG_CFG_${k}`)
  for (const [k, v] of Object.entries(UPSTREAM_CODES)) assert.equal(v, `MG_UP_${k}`)
})

test('codes are unique', () => {
  const all = [...Object.values(CODES), ...Object.values(UPSTREAM_CODES)]
  assert.equal(new Set(all).size, all.length)
})

test('every code in the table is used somewhere in src/', () => {
  const unused = Object.keys(CODES).filter(k => !files.some(({ f, text }) => !f.endsWith('errors.ts') && new RegExp(`CODES\\.${k}\\b`).test(text)))
  assert.deepEqual(unused, [])
})

test('no MG_* code is spelled out as a string outside the table', () => {
  const offenders = files.filter(({ f, text }) => !f.endsWith('/gateway/errors.ts') && /'MG_[A-Z_]+'/.test(text)).map(({ f }) => f)
  assert.deepEqual(offenders, [])
})
