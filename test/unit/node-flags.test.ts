// meshgate's Node flags (src/cli/node-flags.ts) are written where it is
// launched; these hold the container image to the list. The workers' share
// is checked in test/integration/lifecycle.test.ts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { NODE_FLAGS, workerExecArgv } from '../../src/cli/node-flags.js'
import { meshgateBin, repoRoot } from '../helpers/processes.js'

test('bin/meshgate.js runs when executed directly, through a first line every env understands', () => {
  // Flags on this line would need `env -S`, which BusyBox's env lacks: they live in the Dockerfile and the workers' argv.
  assert.equal(readFileSync(meshgateBin, 'utf8').split('\n')[0], '#!/usr/bin/env node')
  const out = execFileSync(meshgateBin, ['validate', '--config', path.join(repoRoot, 'config', 'examples', 'quickstart')], { encoding: 'utf8' })
  assert.match(out, /^0 error\(s\), 0 warning\(s\)/)
})

test('the container image starts node with NODE_FLAGS', () => {
  const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8')
  const m = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)
  assert.ok(m !== null)
  assert.deepEqual(JSON.parse(m[1]!), ['node', ...NODE_FLAGS, '/app/bin/meshgate.js', 'serve'])
})

test('a worker gets NODE_FLAGS first, so flags the primary was started with win', () => {
  assert.deepEqual(workerExecArgv([]), NODE_FLAGS)
  assert.deepEqual(workerExecArgv(['--max-semi-space-size=64']), [...NODE_FLAGS, '--max-semi-space-size=64'])
})
