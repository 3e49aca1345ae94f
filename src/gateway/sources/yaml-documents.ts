// Reads YAML files and folders into resources that remember where each of
// their fields came from, so every finding can name `file:line`.
import { readFile, readdir, stat } from 'node:fs/promises'
import { join, resolve, relative, isAbsolute } from 'node:path'
import { LineCounter, parseAllDocuments, parseDocument, isMap, isSeq, isScalar, isPair, type Document, type Node } from 'yaml'
import { loadAll as loadAllFast, FAILSAFE_SCHEMA, Type as YamlType } from 'js-yaml'
import { makeIssue, type Issue } from '../validate/issues.js'
import { CODES } from '../errors.js'

export type FieldPath = ReadonlyArray<string | number>

export interface SourceResource {
  readonly file: string
  /** Line (1-based) where the document starts. */
  readonly line: number
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly namespace: string
  /** Plain JS value of the whole document. */
  readonly value: Record<string, unknown>
  /** Line of the node at `path` (relative to the document root), or the closest ancestor that exists. */
  lineOf(path: FieldPath): number
  /** Keys present in the mapping at `path` (for unknown-field warnings). */
  keysAt(path: FieldPath): string[]
}

export interface SourceSet {
  readonly resources: SourceResource[]
  /** Parse-level problems (bad YAML, not a mapping, missing kind). Always admission errors. */
  readonly issues: Issue[]
  /** Files read, with their content hash input. */
  readonly files: ReadonlyArray<{ path: string, text: string }>
}

/** Expands folders into the `*.yaml` / `*.yml` files below them, in a stable order. */
export async function listConfigFiles (paths: readonly string[]): Promise<string[]> {
  const out: string[] = []
  for (const p of paths) {
    const st = await stat(p)
    if (st.isDirectory()) await walk(p, out)
    else out.push(p)
  }
  return out
}

async function walk (dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true })
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.isDirectory()) await walk(p, out)
    else if (e.isFile() && /\.ya?ml$/i.test(e.name)) out.push(p)
  }
}

export function displayPath (file: string): string {
  const rel = relative(process.cwd(), resolve(file))
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file
}

export async function loadSources (paths: readonly string[]): Promise<SourceSet> {
  const read = await readSources(paths)
  return parseSources(read.files, read.issues)
}

/** Reads the YAML files below `paths` without parsing them (a reload first checks whether anything changed). */
export async function readSources (paths: readonly string[]): Promise<{ files: Array<{ path: string, text: string }>, issues: Issue[] }> {
  const issues: Issue[] = []
  const files: Array<{ path: string, text: string }> = []
  let list: string[] = []
  try {
    list = await listConfigFiles(paths)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    issues.push(makeIssue({ severity: 'error', code: CODES.SOURCE, file: e.path ?? String(paths[0] ?? ''), line: 0, field: '', message: `cannot read: ${e.code ?? e.message}` }))
    return { issues, files }
  }
  for (const file of list) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      issues.push(makeIssue({ severity: 'error', code: CODES.SOURCE, file: displayPath(file), line: 0, field: '', message: `cannot read: ${e.code ?? e.message}` }))
      continue
    }
    files.push({ path: file, text })
  }
  return { files, issues }
}

export function parseSources (files: ReadonlyArray<{ path: string, text: string }>, readIssues: readonly Issue[]): SourceSet {
  const issues = [...readIssues]
  const resources: SourceResource[] = []
  for (const f of files) parseText(displayPath(f.path), f.text, resources, issues)
  return { resources, issues, files }
}

/**
 * Parses one file's text; exported for tests and for in-memory sources.
 *
 * Values come from js-yaml (an order of magnitude faster on large files);
 * positions come from the `yaml` library, parsed per document only when a
 * finding asks for a line. Anything the fast path cannot map with certainty
 * (directives, content on a `---` line, anchors, keys that may be
 * collections, a document count that does not line up, a parse error) goes
 * through `yaml` alone, which also words the errors.
 */
export function parseText (file: string, text: string, resources: SourceResource[], issues: Issue[], opts: { fast?: boolean } = {}): void {
  if (opts.fast !== false && parseFast(file, text, resources, issues)) return
  const lc = new LineCounter()
  let docs: Array<Document.Parsed>
  try {
    docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false }) as Array<Document.Parsed>
  } catch (err) {
    issues.push(makeIssue({ severity: 'error', code: CODES.YAML, file, line: 1, field: '', message: `invalid YAML: ${(err as Error).message}` }))
    return
  }
  if (!Array.isArray(docs)) docs = [docs as unknown as Document.Parsed]
  for (const doc of docs) {
    const docLine = doc.contents !== null && doc.contents !== undefined && (doc.contents as Node).range !== undefined
      ? lc.linePos((doc.contents as Node).range![0]).line
      : 1
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line
        issues.push(makeIssue({ severity: 'error', code: CODES.YAML, file, line, field: '', message: `invalid YAML: ${firstLine(e.message)}` }))
      }
      continue
    }
    if (doc.contents === null || doc.contents === undefined) continue // empty document (e.g. trailing ---)
    let value: unknown
    try {
      value = doc.toJS({ maxAliasCount: 100 })
    } catch (err) {
      issues.push(makeIssue({ severity: 'error', code: CODES.YAML, file, line: docLine, field: '', message: `invalid YAML: ${firstLine((err as Error).message)}` }))
      continue
    }
    addResource(file, docLine, value, () => ({ root: doc.contents, lc, offset: 0 }), resources, issues)
  }
}

interface Positions { readonly root: unknown, readonly lc: LineCounter, readonly offset: number }

interface Segment { readonly start: number, readonly end: number, readonly explicit: boolean, readonly firstContent: number }

const MARKER = /^(---|\.\.\.)(?:[ \t]+(#.*)?)?$/

/** Splits a stream at its document markers; null when the text has forms the split cannot follow. */
function splitDocuments (lines: readonly string[]): Segment[] | null {
  const out: Segment[] = []
  let start = 0
  let explicit = false
  let firstContent = -1
  const close = (end: number): void => { out.push({ start, end, explicit, firstContent }) }
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!
    if (l.startsWith('%')) return null
    if (l.startsWith('---') || l.startsWith('...')) {
      if (!MARKER.test(l.trimEnd())) {
        if (l.startsWith('---') && /^---[ \t]/.test(l)) return null // content on the marker line
        // A plain scalar that merely begins with dashes or dots is content.
      } else {
        close(i)
        start = i + 1
        explicit = l.startsWith('---')
        firstContent = -1
        continue
      }
    }
    if (firstContent === -1 && l.trim() !== '' && !l.trimStart().startsWith('#')) firstContent = i
  }
  close(lines.length)
  return out.filter(s => s.explicit || s.firstContent !== -1)
}

/** An anchor: js-yaml shares aliased nodes without a cap, so such files take the capped path. */
const ANCHOR = /(^|[\s[{,:-])&[^\s]/m
/**
 * A key that may be a collection (`[a, b]: v`, `{a: 1}: v`, `? x`) or null
 * (`~: v`): js-yaml turns such keys into strings its own way (`a,b`, `null`),
 * so files that may hold one take the position-aware path. A match where
 * there is none (a quoted `]:`) only costs speed.
 */
const ODD_KEY = /[\]}][ \t]*:|(^|[\s[{,])\?([ \t]|$)|(^|[\s[{,])(~|[Nn]ull|NULL|!!null[^:\n]*)[ \t]*:([ \t]|$)/m

function scalarType (tag: string, test: RegExp, construct: (s: string) => unknown): YamlType {
  return new YamlType(tag, { kind: 'scalar', resolve: (s: string | null) => s === null ? tag.endsWith(':null') : test.test(s), construct })
}

/**
 * YAML 1.2's core schema, resolved exactly as the `yaml` library resolves it,
 * so both paths give the same values: js-yaml 4's own CORE_SCHEMA also reads
 * `0b101`, `-0x1F` and `+0o17` as numbers and `-.5` as a string.
 */
const CORE_1_2 = FAILSAFE_SCHEMA.extend({
  implicit: [
    scalarType('tag:yaml.org,2002:null', /^(?:~|[Nn]ull|NULL)?$/, () => null),
    scalarType('tag:yaml.org,2002:bool', /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, s => s[0] === 't' || s[0] === 'T'),
    scalarType('tag:yaml.org,2002:int', /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/, s => s[1] === 'o' ? parseInt(s.slice(2), 8) : s[1] === 'x' ? parseInt(s.slice(2), 16) : parseInt(s, 10)),
    scalarType('tag:yaml.org,2002:float', /^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/, s => {
      const tail = s.slice(-3).toLowerCase()
      if (tail === 'nan') return NaN
      if (tail === 'inf') return s[0] === '-' ? -Infinity : Infinity
      return parseFloat(s)
    })
  ]
})

function parseFast (file: string, text: string, resources: SourceResource[], issues: Issue[]): boolean {
  if (ANCHOR.test(text) || ODD_KEY.test(text)) return false
  let values: unknown[]
  try {
    values = loadAllFast(text, null, { schema: CORE_1_2 }) as unknown[]
  } catch {
    return false
  }
  for (let i = 0; i < values.length; i++) values[i] = exactArrays(values[i])
  const lines = text.split(/\r?\n/)
  const segments = splitDocuments(lines)
  if (segments === null || segments.length !== values.length) return false
  segments.forEach((seg, i) => {
    if (seg.firstContent === -1) return
    let positions: Positions | null = null
    const lazy = (): Positions => {
      if (positions === null) {
        const lc = new LineCounter()
        const doc = parseDocument(lines.slice(seg.start, seg.end).join('\n'), { lineCounter: lc, uniqueKeys: true })
        positions = { root: doc.contents, lc, offset: seg.start }
      }
      return positions
    }
    addResource(file, seg.firstContent + 1, values[i], lazy, resources, issues)
  })
  return true
}

/**
 * js-yaml grows every sequence by push(), which leaves room for 17 items; the
 * snapshot keeps each resource's spec, so 10,000 one-item `match` and `route`
 * lists held 3.5 MB. Copies hold exactly their items.
 */
function exactArrays (v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map(exactArrays)
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) {
    const x = o[k]
    if (x !== null && typeof x === 'object') o[k] = exactArrays(x)
  }
  return o
}

function addResource (file: string, docLine: number, value: unknown, positions: () => Positions, resources: SourceResource[], issues: Issue[]): void {
  if (value === null || value === undefined) return
  if (typeof value !== 'object' || Array.isArray(value)) {
    issues.push(makeIssue({ severity: 'error', code: CODES.SHAPE, file, line: docLine, field: '', message: 'a resource must be a mapping with apiVersion, kind and metadata' }))
    return
  }
  const v = value as Record<string, unknown>
  // A route test file (`meshgate test`) may sit beside the config it tests.
  if (isRouteTestDocument(v)) return
  const meta = isRecord(v.metadata) ? v.metadata : {}
  const kind = typeof v.kind === 'string' ? v.kind : ''
  const name = typeof meta.name === 'string' ? meta.name : ''
  const namespace = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default'
  const apiVersion = typeof v.apiVersion === 'string' ? v.apiVersion : ''
  resources.push(makeResource(file, docLine, apiVersion, kind, name, namespace, v, positions))
}

/** `cases:` and neither kind nor apiVersion: a `meshgate test` file, not a resource. */
export function isRouteTestDocument (v: Record<string, unknown>): boolean {
  return Array.isArray(v.cases) && v.kind === undefined && v.apiVersion === undefined
}

function makeResource (file: string, line: number, apiVersion: string, kind: string, name: string, namespace: string,
  value: Record<string, unknown>, positions: () => Positions): SourceResource {
  return {
    file, line, apiVersion, kind, name, namespace, value,
    lineOf (path: FieldPath): number {
      const { root, lc, offset } = positions()
      let node: unknown = root
      let best = line
      for (const key of path) {
        const next = childOf(node, key)
        if (next === undefined) break
        node = next.value
        const r = next.keyRange ?? (node as Node | null)?.range
        if (r !== undefined && r !== null) best = lc.linePos(r[0]).line + offset
      }
      return best
    },
    // From the plain value: asked for every mapping, it must not need positions.
    keysAt: (path: FieldPath): string[] => keysAtValue(value, path)
  }
}

/** Keys of the mapping at `path` inside a plain value ([] when there is none). */
export function keysAtValue (value: unknown, path: FieldPath): string[] {
  let v: unknown = value
  for (const key of path) {
    if (v === null || typeof v !== 'object') return []
    v = (v as Record<string | number, unknown>)[key]
  }
  return isRecord(v) ? Object.keys(v) : []
}

function childOf (node: unknown, key: string | number): { value: unknown, keyRange: [number, number, number] | undefined } | undefined {
  if (isMap(node)) {
    for (const item of node.items) {
      if (isPair(item) && isScalar(item.key) && String(item.key.value) === String(key)) {
        return { value: item.value, keyRange: (item.key as Node).range ?? undefined }
      }
    }
    return undefined
  }
  if (isSeq(node) && typeof key === 'number') {
    const v = node.items[key]
    return v === undefined ? undefined : { value: v, keyRange: undefined }
  }
  return undefined
}

function firstLine (s: string): string {
  const i = s.indexOf('\n')
  return i === -1 ? s : s.slice(0, i)
}

export function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
