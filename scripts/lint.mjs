#!/usr/bin/env node
// Dependency-free checks that `tsc --noEmit` does not make (run by `npm run lint`).
// Prints one `file:line: rule: message` per finding and exits 1 if there is any.
//
// Rules:
//   no-console-log     console.log/console.debug in src/ outside src/cli/ (the
//                      gateway logs through pino; stdout carries access logs)
//   no-only            .only( or { only: true } in tests: it silently skips the rest
//   no-debugger        a `debugger` statement in src/ or test/
//   max-lines          a file in src/ over 800 lines (STYLE §10: split it by concern)
//   trailing-space     trailing spaces or tabs in code, scripts, docs and example config
//   conflict-marker    a leftover merge conflict marker
//   final-newline      a code file that does not end with a newline
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const MAX_SRC_LINES = 800
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', 'coverage', '.tmp'])
const CODE_EXT = new Set(['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '.sh'])
const TEXT_EXT = new Set([...CODE_EXT, '.json', '.yaml', '.yml', '.md'])
const CODE_NAMES = new Set(['Dockerfile', '.dockerignore', 'run'])

function walk (dir) {
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return []
  }
  const files = []
  for (const entry of entries) {
    if (SKIP_DIRS.has(entry.name)) continue
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) files.push(...walk(full))
    else if (entry.isFile()) files.push(full)
  }
  return files
}

const findings = []
const report = (file, line, rule, message) => { findings.push({ file, line, rule, message }) }

// Strips string and template literals and comments well enough for line-based
// rules, so `'console.log('` in a message or a comment does not count.
function codeOnly (line) {
  return line
    .replace(/\/\/.*$/, '')
    .replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/g, '""')
}

function lintFile (abs) {
  const rel = path.relative(root, abs).split(path.sep).join('/')
  const ext = path.extname(abs)
  const base = path.basename(abs)
  const isCode = CODE_EXT.has(ext) || CODE_NAMES.has(base) || rel.startsWith('.ci/')
  if (!isCode && !TEXT_EXT.has(ext)) return false
  const text = readFileSync(abs, 'utf8')
  if (text.includes('\u0000')) return false
  const lines = text.split('\n')
  if (text.endsWith('\n')) lines.pop()
  const inSrc = rel.startsWith('src/')
  const inTest = rel.startsWith('test/')
  const isTs = ext === '.ts' || ext === '.mts' || ext === '.cts'
  // Golden outputs and vendored compat samples keep their bytes as they are.
  const checkSpaces = isCode || (!inTest && (ext === '.md' || ext === '.yaml' || ext === '.yml'))

  if (inSrc && lines.length > MAX_SRC_LINES) {
    report(rel, lines.length, 'max-lines', `${lines.length} lines, more than ${MAX_SRC_LINES}: split the file by concern`)
  }
  if (isCode && text.length > 0 && !text.endsWith('\n')) report(rel, lines.length, 'final-newline', 'no newline at end of file')

  let inBlockComment = false
  lines.forEach((raw, i) => {
    const n = i + 1
    if (/^(<{7}|>{7})( |$)|^={7}$/.test(raw)) report(rel, n, 'conflict-marker', 'merge conflict marker')
    if (checkSpaces && /[ \t]+\r?$/.test(raw)) report(rel, n, 'trailing-space', 'trailing whitespace')
    if (!(isTs || ext === '.js' || ext === '.mjs')) return
    let line = raw
    if (inBlockComment) {
      const end = line.indexOf('*/')
      if (end === -1) return
      inBlockComment = false
      line = line.slice(end + 2)
    }
    line = line.replace(/\/\*.*?\*\//g, '')
    const open = line.indexOf('/*')
    if (open !== -1) {
      inBlockComment = true
      line = line.slice(0, open)
    }
    const code = codeOnly(line)
    if (inSrc && !rel.startsWith('src/cli/') && /\bconsole\.(log|debug)\s*\(/.test(code)) {
      report(rel, n, 'no-console-log', 'console output in the gateway: log through pino (console is for src/cli/ only)')
    }
    if (inTest && (/\b(test|it|describe|suite)\.only\s*\(/.test(code) || /\bonly\s*:\s*true\b/.test(code))) {
      report(rel, n, 'no-only', '.only focuses one test and silently skips the rest')
    }
    if ((inSrc || inTest) && /(^|[^\w$.])debugger\s*;?\s*$/.test(code)) report(rel, n, 'no-debugger', 'debugger statement')
  })
  return true
}

const roots = ['src', 'test', 'scripts', 'bin', 'config', '.ci', 'docs']
const files = roots.flatMap((dir) => walk(path.join(root, dir)))
for (const name of readdirSync(root)) {
  if (name === 'Dockerfile' || name === '.dockerignore' || name.endsWith('.md') || name === 'package.json') files.push(path.join(root, name))
}
let checked = 0
for (const file of files.sort()) {
  if (lintFile(file)) checked++
}

for (const f of findings) console.log(`${f.file}:${f.line}: ${f.rule}: ${f.message}`)
if (findings.length > 0) {
  const fileCount = new Set(findings.map((f) => f.file)).size
  console.log(`lint: ${findings.length} problem${findings.length === 1 ? '' : 's'} in ${fileCount} file${fileCount === 1 ? '' : 's'} (${checked} checked)`)
  process.exit(1)
}
console.log(`lint: ok (${checked} files checked)`)
