// The config validator: every admission error (what Istio's webhook refuses;
// `serve` refuses the whole version) and every analyzer finding (what
// `istioctl analyze` reports; `serve` logs it and still serves). It never
// throws: each resource is checked inside one try/catch, and validators read
// values through Checker, which turns wrong types into findings.
import type { SourceResource } from '../sources/yaml-documents.js'
import { Analyzer, type Analyzed, type PolicyRef } from './analyze.js'
import { Checker, isObj, typeName } from './checker.js'
import { CODES } from './codes.js'
import { makeContext, type ValidateContext, type ValidateOptions } from './context.js'
import { validateAuthorizationPolicy } from './authorization-policy.js'
import { validateDestinationRule } from './destination-rule.js'
import { validateGateway } from './gateway.js'
import { makeIssue, sortIssues, type Issue } from './issues.js'
import { validateMeshgateKind } from './meshgate-kinds.js'
import { validateRequestAuthentication } from './request-authentication.js'
import { checkDuplicates, checkResourceHeader } from './resource.js'
import { validateServiceEntry } from './service-entry.js'
import { validateVirtualService } from './virtual-service.js'

export type { ValidateOptions } from './context.js'
export type { Issue } from './issues.js'
export { CODES } from './codes.js'

export function validateResources (resources: readonly SourceResource[], opts: ValidateOptions): Issue[] {
  const issues: Issue[] = []
  let ctx: ValidateContext
  try {
    ctx = makeContext(opts ?? { gatewayLabels: {}, credentialsDir: null })
  } catch {
    ctx = makeContext({ gatewayLabels: {}, credentialsDir: null })
  }
  const list = Array.isArray(resources) ? resources : []
  const analyzed: Analyzed[] = []
  const refs: PolicyRef[] = []

  for (const res of list) {
    const c = new Checker(res, issues)
    try {
      const spec = validateOne(res, c, ctx, issues, refs)
      if (spec !== undefined) analyzed.push({ res, checker: c, spec })
    } catch (err) {
      issues.push(internalError(res, err))
    }
  }
  try {
    checkDuplicates(list, issues)
  } catch (err) {
    issues.push(internalError(undefined, err))
  }
  try {
    analyzeAll(analyzed, refs, ctx)
  } catch (err) {
    issues.push(internalError(undefined, err))
  }
  return sortIssues(issues)
}

/** Validates one resource; returns its spec when cross-resource analysis should see it. */
function validateOne (res: SourceResource, c: Checker, ctx: ValidateContext, issues: Issue[], refs: PolicyRef[]): Record<string, unknown> | undefined {
  const meta = new Checker(res, issues, [])
  if (!isObj(res.value)) {
    meta.error([], `a resource must be a mapping, got ${typeName(res.value)}`, CODES.TYPE)
    return undefined
  }
  if (checkResourceHeader(meta) !== 'validate') return undefined
  const rawSpec = res.value.spec
  let spec: Record<string, unknown> = {}
  if (rawSpec !== undefined && rawSpec !== null) {
    if (!isObj(rawSpec)) {
      meta.error(['spec'], `expected a mapping, got ${typeName(rawSpec)}`, CODES.TYPE)
      return undefined
    }
    spec = rawSpec
  }
  switch (res.kind) {
    case 'Gateway': validateGateway(c, spec, ctx); break
    case 'VirtualService': validateVirtualService(c, spec, meta); break
    case 'DestinationRule': validateDestinationRule(c, spec, ctx); break
    case 'ServiceEntry': validateServiceEntry(c, spec); break
    case 'AuthorizationPolicy':
      for (const r of validateAuthorizationPolicy(c, spec, ctx, meta)) refs.push(policyRef(c, r.field, r.index, r.name, false))
      break
    case 'RequestAuthentication':
      for (const r of validateRequestAuthentication(c, spec, ctx)) refs.push(policyRef(c, r.field, r.index, r.name, false))
      break
    default:
      for (const r of validateMeshgateKind(c, res.kind, spec, ctx)) {
        refs.push({ checker: c, path: ['targetRefs', r.index, 'name'], kind: r.kind, name: r.name, namespace: r.namespace, required: true })
      }
  }
  return spec
}

function policyRef (c: Checker, field: 'targetRef' | 'targetRefs', index: number, name: string, required: boolean): PolicyRef {
  const path = field === 'targetRef' ? ['targetRef', 'name'] : ['targetRefs', index, 'name']
  return { checker: c, path, kind: 'Gateway', name, namespace: c.namespace, required }
}

function analyzeAll (analyzed: readonly Analyzed[], refs: readonly PolicyRef[], ctx: ValidateContext): void {
  const analyzer = new Analyzer(analyzed, ctx)
  const gatewayCheckers = new Map<string, Checker>()
  for (const a of analyzed) {
    if (a.res.kind === 'Gateway' && !gatewayCheckers.has(`${a.res.namespace}/${a.res.name}`)) {
      gatewayCheckers.set(`${a.res.namespace}/${a.res.name}`, a.checker)
    }
  }
  for (const a of analyzed) {
    if (a.res.kind === 'VirtualService') guard(a.checker, () => { analyzer.analyzeVirtualService(a.checker, a.spec) })
  }
  for (const ref of refs) guard(ref.checker, () => { analyzer.checkPolicyRef(ref) })
  analyzer.analyzeServerConflicts(gatewayCheckers)
}

/** Analysis of one resource must not stop the others. */
function guard (c: Checker, fn: () => void): void {
  try {
    fn()
  } catch (err) {
    c.issues.push(internalError(c.res, err))
  }
}

function internalError (res: SourceResource | undefined, err: unknown): Issue {
  let file = ''
  let line = 0
  let kind = ''
  let namespace = ''
  let name = ''
  try {
    file = String(res?.file ?? '')
    line = typeof res?.line === 'number' ? res.line : 0
    kind = String(res?.kind ?? '')
    namespace = String(res?.namespace ?? '')
    name = String(res?.name ?? '')
  } catch { /* a broken resource object: keep the blanks */ }
  let message = 'unknown error'
  try { message = err instanceof Error ? err.message : String(err) } catch { /* unprintable */ }
  return makeIssue({
    severity: 'error',
    admission: true,
    code: CODES.INTERNAL,
    file,
    line,
    kind,
    namespace,
    name,
    field: '',
    message: `internal validator error (please report): ${message}`
  })
}
