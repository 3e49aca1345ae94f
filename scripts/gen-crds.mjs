#!/usr/bin/env node
// Writes the CustomResourceDefinitions of the meshgate.io kinds, one file per
// kind, to deploy/crds/ and deploy/helm/meshgate/crds/ (the same bytes: Helm
// installs a chart's crds/ folder as it is). The schemas come from
// src/gateway/validate/meshgate-schema.ts, the one the validator checks
// resources with; needs `npm run build` first (the generator is
// src/gateway/validate/crds.ts, compiled to dist/).
//
//   node scripts/gen-crds.mjs           write the files (and remove stale meshgate.io_*.yaml ones)
//   node scripts/gen-crds.mjs --check   exit 1 if any file differs from what would be written
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const schema = path.join(root, 'dist', 'src', 'gateway', 'validate', 'meshgate-schema.js')
const generator = path.join(root, 'dist', 'src', 'gateway', 'validate', 'crds.js')
const args = process.argv.slice(2)
const unknown = args.filter((a) => a !== '--check')
if (unknown.length > 0) {
  console.error(`gen-crds: unknown argument ${unknown[0]}; usage: node scripts/gen-crds.mjs [--check]`)
  process.exit(2)
}
const check = args.includes('--check')
for (const f of [schema, generator]) {
  if (!existsSync(f)) {
    console.error(`gen-crds: ${path.relative(root, f)} is missing: run \`npm run build\` first`)
    process.exit(1)
  }
}

const { renderCrds, CRD_DIRS } = await import(pathToFileURL(generator).href)
const files = renderCrds()
const wanted = new Set(files.map((f) => f.file))
const problems = []
let written = 0

for (const dir of CRD_DIRS) {
  const abs = path.join(root, dir)
  for (const f of files) {
    const target = path.join(abs, f.file)
    const rel = path.relative(root, target)
    const current = existsSync(target) ? readFileSync(target, 'utf8') : null
    if (current === f.text) continue
    if (check) {
      problems.push(`${rel} is ${current === null ? 'missing' : 'out of date'}`)
    } else {
      mkdirSync(abs, { recursive: true })
      writeFileSync(target, f.text)
      written++
    }
  }
  const stale = existsSync(abs) ? readdirSync(abs).filter((n) => n.startsWith('meshgate.io_') && n.endsWith('.yaml') && !wanted.has(n)) : []
  for (const name of stale) {
    const rel = path.relative(root, path.join(abs, name))
    if (check) problems.push(`${rel} is not generated any more`)
    else {
      rmSync(path.join(abs, name))
      console.log(`gen-crds: removed ${rel}`)
    }
  }
}

if (check) {
  if (problems.length > 0) {
    for (const p of problems) console.error(`gen-crds: ${p}`)
    console.error('gen-crds: run `npm run build && npm run crds` and commit the result')
    process.exit(1)
  }
  console.log(`gen-crds: ${files.length * CRD_DIRS.length} CRD files are up to date`)
} else {
  console.log(`gen-crds: ${written} of ${files.length * CRD_DIRS.length} CRD files written (${CRD_DIRS.join(', ')})`)
}
