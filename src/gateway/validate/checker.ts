// One Checker per resource: it turns a field path into `file:line` and an
// issue, and reads untyped YAML values so that a wrong type becomes a finding
// ("expected a string, got number") instead of an exception.
import type { FieldPath, SourceResource } from '../sources/yaml-documents.js'
import { fieldPath, makeIssue, type Issue } from './issues.js'
import { CODES } from './codes.js'

export type Path = ReadonlyArray<string | number>
export type Obj = Record<string, unknown>

export function isObj (v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** `null` in YAML (`key:` with nothing after it) means "not set", as the Kubernetes API reads it. */
export function get (o: Obj | undefined, key: string): unknown {
  if (o === undefined) return undefined
  const v = Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined
  return v === null ? undefined : v
}

export function typeName (v: unknown): string {
  if (v === null) return 'null'
  if (v === undefined) return 'nothing'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  if (typeof v === 'number') return `number ${v}`
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`
  return typeof v
}

export class Checker {
  readonly res: SourceResource
  readonly issues: Issue[]
  /** Where field paths start in the document (`spec` for Istio kinds). */
  readonly base: FieldPath

  constructor (res: SourceResource, issues: Issue[], base: FieldPath = ['spec']) {
    this.res = res
    this.issues = issues
    this.base = base
  }

  get namespace (): string { return this.res.namespace }

  lineOf (path: Path): number {
    try {
      return this.res.lineOf([...this.base, ...path])
    } catch {
      return this.res.line
    }
  }

  private push (severity: 'error' | 'warning', admission: boolean, path: Path, message: string, code: string): void {
    this.issues.push(makeIssue({
      severity,
      admission,
      code,
      file: this.res.file,
      line: this.lineOf(path),
      kind: this.res.kind,
      namespace: this.res.namespace,
      name: this.res.name,
      field: fieldPath(path),
      message
    }))
  }

  /** What Istio's admission webhook refuses. */
  error (path: Path, message: string, code: string = CODES.INVALID): void {
    this.push('error', true, path, message, code)
  }

  /** An `istioctl analyze` error: reported, exit 1, but `serve` still serves the version. */
  finding (path: Path, message: string, code: string): void {
    this.push('error', false, path, message, code)
  }

  warn (path: Path, message: string, code: string = CODES.INVALID): void {
    this.push('warning', false, path, message, code)
  }

  // ---- typed readers: undefined when absent or of the wrong type (reported) ----

  map (path: Path, v: unknown): Obj | undefined {
    if (v === undefined || v === null) return undefined
    if (isObj(v)) return v
    this.error(path, `expected a mapping, got ${typeName(v)}`, CODES.TYPE)
    return undefined
  }

  list (path: Path, v: unknown): unknown[] | undefined {
    if (v === undefined || v === null) return undefined
    if (Array.isArray(v)) return v
    this.error(path, `expected a list, got ${typeName(v)}`, CODES.TYPE)
    return undefined
  }

  str (path: Path, v: unknown): string | undefined {
    if (v === undefined || v === null) return undefined
    if (typeof v === 'string') return v
    this.error(path, `expected a string, got ${typeName(v)}`, CODES.TYPE)
    return undefined
  }

  num (path: Path, v: unknown): number | undefined {
    if (v === undefined || v === null) return undefined
    if (typeof v === 'number' && Number.isFinite(v)) return v
    this.error(path, `expected a number, got ${typeName(v)}`, CODES.TYPE)
    return undefined
  }

  int (path: Path, v: unknown): number | undefined {
    if (v === undefined || v === null) return undefined
    if (typeof v === 'number' && Number.isInteger(v)) return v
    this.error(path, `expected an integer, got ${typeName(v)}`, CODES.TYPE)
    return undefined
  }

  bool (path: Path, v: unknown): boolean | undefined {
    if (v === undefined || v === null) return undefined
    if (typeof v === 'boolean') return v
    this.error(path, `expected true or false, got ${typeName(v)}`, CODES.TYPE)
    return undefined
  }

  /** A list of strings; wrong items are reported and left out. */
  strList (path: Path, v: unknown): string[] | undefined {
    const l = this.list(path, v)
    if (l === undefined) return undefined
    const out: string[] = []
    l.forEach((item, i) => {
      if (typeof item === 'string') out.push(item)
      else this.error([...path, i], `expected a string, got ${typeName(item)}`, CODES.TYPE)
    })
    return out
  }

  /** A map of string to string (labels, header ops); wrong values are reported and left out. */
  strMap (path: Path, v: unknown): Record<string, string> | undefined {
    const m = this.map(path, v)
    if (m === undefined) return undefined
    const out: Record<string, string> = {}
    for (const [k, val] of Object.entries(m)) {
      if (typeof val === 'string') out[k] = val
      else this.error([...path, k], `expected a string, got ${typeName(val)}`, CODES.TYPE)
    }
    return out
  }

  /** A required mapping member of a list: null or a scalar is reported. */
  item (path: Path, v: unknown, what: string): Obj | undefined {
    if (isObj(v)) return v
    if (v === null || v === undefined) this.error(path, `${what} may not be null`, CODES.REQUIRED)
    else this.error(path, `expected a mapping, got ${typeName(v)}`, CODES.TYPE)
    return undefined
  }

  /** Unknown fields are warnings: Kubernetes prunes or refuses them, Istio never sees them. */
  fields (path: Path, o: Obj, known: readonly string[]): void {
    let keys: string[]
    try {
      keys = this.res.keysAt([...this.base, ...path])
    } catch {
      keys = []
    }
    if (keys.length === 0) keys = Object.keys(o)
    for (const k of keys) {
      if (!known.includes(k)) {
        this.warn([...path, k], `unknown field "${k}" is ignored${suggest(k, known)}`, CODES.UNKNOWN_FIELD)
      }
    }
  }
}

function suggest (k: string, known: readonly string[]): string {
  const lower = k.toLowerCase().replace(/[_-]/g, '')
  const hit = known.find(c => c.toLowerCase() === lower)
  return hit !== undefined ? ` (did you mean "${hit}"?)` : ''
}
