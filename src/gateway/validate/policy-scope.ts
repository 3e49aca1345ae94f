// Workload selection for RequestAuthentication and AuthorizationPolicy:
// `selector.matchLabels`, `targetRef`/`targetRefs`, and whether the policy
// reaches this gateway (CONTRACT "Which resources apply to this gateway").
import { get, type Checker, type Obj } from './checker.js'
import { checkLabels, formatLabels, selectorMatches } from './common.js'
import type { ValidateContext } from './context.js'
import { CODES } from './codes.js'

const TARGET_REF_FIELDS = ['group', 'kind', 'name', 'namespace'] as const
/** Kinds a policy may target (Istio), by group. meshgate applies only Gateway references. */
const TARGET_KINDS: Readonly<Record<string, string[]>> = {
  'gateway.networking.k8s.io': ['Gateway', 'GatewayClass'],
  'networking.istio.io': ['ServiceEntry', 'Gateway'],
  '': ['Service'],
  core: ['Service']
}

export interface TargetRef { index: number, field: 'targetRef' | 'targetRefs', kind: string, name: string }

/** Validates selector/targetRef(s) and returns the Gateway references for the analyzer. */
export function validatePolicySelection (c: Checker, spec: Obj, ctx: ValidateContext): TargetRef[] {
  const refs: TargetRef[] = []
  let selectorLabels: Record<string, string> | undefined
  const selector = c.map(['selector'], get(spec, 'selector'))
  if (selector !== undefined) {
    c.fields(['selector'], selector, ['matchLabels'])
    selectorLabels = checkLabels(c, ['selector', 'matchLabels'], get(selector, 'matchLabels'))
    if (selectorLabels !== undefined) {
      for (const [k, v] of Object.entries(selectorLabels)) {
        if (k.includes('*') || v.includes('*')) c.error(['selector', 'matchLabels', k], `wildcards are not supported in a selector: ${k}=${v}`, CODES.INVALID)
      }
    }
    if (selectorLabels === undefined || Object.keys(selectorLabels).length === 0) {
      c.warn(['selector'], 'selector without matchLabels selects every workload in the namespace', CODES.SELECTOR)
    }
  }
  const single = c.map(['targetRef'], get(spec, 'targetRef'))
  if (single !== undefined) {
    const r = checkTargetRef(c, ['targetRef'], single)
    if (r !== undefined) refs.push({ index: 0, field: 'targetRef', ...r })
  }
  c.list(['targetRefs'], get(spec, 'targetRefs'))?.forEach((raw, i) => {
    const t = c.item(['targetRefs', i], raw, 'targetRef')
    if (t === undefined) return
    const r = checkTargetRef(c, ['targetRefs', i], t)
    if (r !== undefined) refs.push({ index: i, field: 'targetRefs', ...r })
  })
  const rawRefs = get(spec, 'targetRefs')
  const hasSelector = get(spec, 'selector') !== undefined
  const hasRef = get(spec, 'targetRef') !== undefined
  const hasRefs = Array.isArray(rawRefs) && rawRefs.length > 0
  if ([hasSelector, hasRef, hasRefs].filter(Boolean).length > 1) c.error(['selector'], 'only one of selector, targetRef and targetRefs may be set', CODES.CONFLICT)

  noteScope(c, selectorLabels, hasRef || hasRefs, ctx)
  return refs.filter(r => r.kind === 'Gateway')
}

function checkTargetRef (c: Checker, p: Array<string | number>, t: Obj): { kind: string, name: string } | undefined {
  c.fields(p, t, TARGET_REF_FIELDS)
  const group = c.str([...p, 'group'], get(t, 'group')) ?? ''
  const kind = c.str([...p, 'kind'], get(t, 'kind'))
  const name = c.str([...p, 'name'], get(t, 'name'))
  if (get(t, 'namespace') !== undefined) c.error([...p, 'namespace'], 'targetRef namespace must not be set: cross-namespace references are not supported', CODES.INVALID)
  if (name === undefined || name === '') {
    if (get(t, 'name') === undefined || name === '') c.error([...p, 'name'], 'targetRef name is required', CODES.REQUIRED)
  }
  if (kind === undefined) {
    if (get(t, 'kind') === undefined) c.error([...p, 'kind'], 'targetRef kind is required', CODES.REQUIRED)
    return undefined
  }
  const allowed = TARGET_KINDS[group]
  if (allowed === undefined || !allowed.includes(kind)) {
    c.error([...p, 'kind'], `targetRef must name a Gateway, GatewayClass, Service or ServiceEntry, got ${group === '' ? '' : group + '/'}${kind}`, CODES.INVALID)
    return undefined
  }
  if (name === undefined || name === '') return undefined
  return { kind, name }
}

function noteScope (c: Checker, selector: Record<string, string> | undefined, targeted: boolean, ctx: ValidateContext): void {
  if (selector !== undefined && Object.keys(selector).length > 0 && !selectorMatches(selector, ctx.gatewayLabels)) {
    c.warn(['selector'], `selector ${formatLabels(selector)} does not match this gateway's labels ${formatLabels(ctx.gatewayLabels)}: the policy does not apply here`, CODES.SELECTOR)
    return
  }
  // Istio's namespace rule: a policy reaches a workload from the workload's own namespace or the root namespace.
  if (!targeted && ctx.namespace !== null && c.namespace !== ctx.namespace && c.namespace !== ctx.rootNamespace) {
    c.warn([], `the policy is in namespace ${c.namespace}; with --namespace ${ctx.namespace} only policies from ${ctx.namespace} and ${ctx.rootNamespace} apply`, CODES.SELECTOR)
  }
}
