#!/usr/bin/env node
// Runs the compiled test suite (`npm run build` first) with node's own test runner:
// dist/test/unit, then dist/test/integration, then dist/test/compat.
//
//   node scripts/run-tests.mjs                 every test file
//   node scripts/run-tests.mjs unit echo       only files whose path contains "unit" or "echo"
//
// One `node --test` run over all files, so its closing lines (`# pass N`,
// `# fail N`) count the whole suite and are the last thing printed. It runs one
// file at a time: integration tests start servers and measure timeouts, and the
// machine has two cores shared with the test's own servers; unit files are quick
// enough that running them one by one costs a few seconds at most.
//
// Environment: MESHGATE_TEST_TIMEOUT_MS (default 120000) caps each test and each
// file; MESHGATE_TEST_REPORTER (default: spec on a terminal, tap otherwise).
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const GROUPS = ['unit', 'integration', 'compat']

function collectTestFiles (dir) {
  if (!existsSync(dir)) return []
  const found = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) found.push(...collectTestFiles(full))
    else if (entry.isFile() && entry.name.endsWith('.test.js')) found.push(full)
  }
  return found.sort()
}

const distTest = path.join(root, 'dist', 'test')
if (!existsSync(distTest)) {
  console.error(`run-tests: ${path.relative(root, distTest)} is missing: run \`npm run build\` first`)
  process.exit(1)
}

const filters = process.argv.slice(2)
const counts = {}
const files = []
for (const group of GROUPS) {
  const groupFiles = collectTestFiles(path.join(distTest, group))
    .filter((f) => filters.length === 0 || filters.some((word) => path.relative(root, f).includes(word)))
  counts[group] = groupFiles.length
  files.push(...groupFiles)
}
if (files.length === 0) {
  console.error(`run-tests: no test files found under dist/test/{${GROUPS.join(',')}}${filters.length > 0 ? ` matching ${filters.join(' ')}` : ''}`)
  process.exit(1)
}

const timeoutMs = Number(process.env.MESHGATE_TEST_TIMEOUT_MS ?? 120_000)
const reporter = process.env.MESHGATE_TEST_REPORTER ?? (process.stdout.isTTY ? 'spec' : 'tap')
console.log(`run-tests: node ${process.version}: ${files.length} files (${GROUPS.map((g) => `${g} ${counts[g]}`).join(', ')}), one at a time, ${timeoutMs} ms per test and per file`)

const child = spawn(process.execPath, [
  '--enable-source-maps',
  '--test',
  `--test-reporter=${reporter}`,
  '--test-reporter-destination=stdout',
  '--test-concurrency=1',
  `--test-timeout=${timeoutMs}`,
  // No --test-force-exit: with it, a file's process exits as its last test
  // ends, and the results still on their way to this process are lost (the
  // totals then varied from run to run, 936 to 956 of 956). Every file closes
  // what it opens; one that did not would show up as a cancelled file.
  ...files.map((f) => path.relative(root, f))
], { cwd: root, stdio: 'inherit' })

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { child.kill(sig) })
}
child.on('close', (code, signal) => {
  process.exit(code ?? (signal !== null ? 1 : 0))
})
