#!/usr/bin/env node
// Prints the Istio compatibility matrix (field support and the Istio sample
// corpus results) as Markdown, between `<!-- compat-matrix:start -->` and
// `<!-- compat-matrix:end -->`. Needs `npm run build` first: the generator is
// test/compat/compat-matrix.ts, compiled to dist/.
//
//   node scripts/compat-matrix.mjs           print to stdout
//   node scripts/compat-matrix.mjs --write   replace the section between the markers in README.md
//
// The corpus is found at $MESHGATE_COMPAT_DIR or ../shared/compat/istio-samples.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const generator = path.join(root, 'dist', 'test', 'compat', 'compat-matrix.js')
const args = process.argv.slice(2)
const unknown = args.filter((a) => a !== '--write')
if (unknown.length > 0) {
  console.error(`compat-matrix: unknown argument ${unknown[0]}; usage: node scripts/compat-matrix.mjs [--write]`)
  process.exit(2)
}
if (!existsSync(generator)) {
  console.error(`compat-matrix: ${path.relative(root, generator)} is missing: run \`npm run build\` first`)
  process.exit(1)
}

const { renderCompatMatrix, matrixFile } = await import(pathToFileURL(generator).href)
let text
try {
  text = renderCompatMatrix()
} catch (err) {
  console.error(`compat-matrix: ${err.message}`)
  process.exit(1)
}
if (args.includes('--write')) {
  const current = readFileSync(matrixFile, 'utf8')
  const start = current.indexOf('<!-- compat-matrix:start -->')
  const endMarker = '<!-- compat-matrix:end -->'
  const end = current.indexOf(endMarker)
  if (start === -1 || end === -1 || end < start) {
    console.error(`compat-matrix: ${path.relative(root, matrixFile)} lacks the compat-matrix markers`)
    process.exit(1)
  }
  const generated = text.slice(text.indexOf('<!-- compat-matrix:start -->'), text.indexOf(endMarker) + endMarker.length)
  writeFileSync(matrixFile, current.slice(0, start) + generated + current.slice(end + endMarker.length))
  console.log(`compat-matrix: updated ${path.relative(root, matrixFile)}`)
} else {
  process.stdout.write(text)
}
