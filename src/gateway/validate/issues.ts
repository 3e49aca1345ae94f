// A config finding. Validators collect every one of them and never stop at the first.

export type Severity = 'error' | 'warning'

/**
 * `admission` findings are what Istio's admission webhook refuses: `serve` refuses the
 * whole version. Analyzer findings (`admission: false`) are what `istioctl analyze`
 * reports: `validate` prints them, `serve` logs them and serves with Istio's runtime
 * behaviour (a dangling subset answers 503).
 */
export interface Issue {
  readonly severity: Severity
  readonly admission: boolean
  readonly code: string
  readonly file: string
  readonly line: number
  readonly kind: string
  readonly namespace: string
  readonly name: string
  readonly field: string
  readonly message: string
}

export interface IssueInit {
  severity: Severity
  admission?: boolean
  code: string
  file: string
  line: number
  kind?: string
  namespace?: string
  name?: string
  field: string
  message: string
}

export function makeIssue (i: IssueInit): Issue {
  return {
    severity: i.severity,
    admission: i.admission ?? i.severity === 'error',
    code: i.code,
    file: i.file,
    line: i.line,
    kind: i.kind ?? '',
    namespace: i.namespace ?? '',
    name: i.name ?? '',
    field: i.field,
    message: i.message
  }
}

/** `file:line: error|warning: Kind/namespace/name: field: message` (CONTRACT, `validate`). */
export function formatIssue (i: Issue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}` : i.file
  const parts = [`${where}: ${i.severity}`]
  if (i.kind !== '') parts.push(`${i.kind}/${i.namespace}/${i.name}`)
  if (i.field !== '') parts.push(i.field)
  parts.push(i.message)
  return parts.join(': ')
}

export function sortIssues (issues: Issue[]): Issue[] {
  return issues.sort((a, b) => a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || (a.field < b.field ? -1 : a.field > b.field ? 1 : 0))
}

/** Renders a field path as Istio/zod do: `http[0].route[1].destination.host`. */
export function fieldPath (path: ReadonlyArray<string | number>): string {
  let out = ''
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`
    else out += out === '' ? p : `.${p}`
  }
  return out
}
