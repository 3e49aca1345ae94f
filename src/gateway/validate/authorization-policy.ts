// AuthorizationPolicy (ISTIO-SEMANTICS §6, §8).
import { get, type Checker, type Obj, type Path } from './checker.js'
import { ipOrCidrProblem } from './common.js'
import type { ValidateContext } from './context.js'
import { validatePolicySelection, type TargetRef } from './policy-scope.js'
import { CODES } from './codes.js'

const SPEC_FIELDS = ['selector', 'targetRef', 'targetRefs', 'rules', 'action', 'provider'] as const
const RULE_FIELDS = ['from', 'to', 'when'] as const
const SOURCE_FIELDS = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces',
  'serviceAccounts', 'notServiceAccounts', 'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const
const IP_FIELDS = new Set(['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'])
/** Source fields that are about the connection, not the HTTP request (Istio's "TCP attributes"). */
const TCP_SOURCE_FIELDS = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts',
  'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks']
const ACTIONS = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']

const EXACT_KEYS = new Set(['source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'source.serviceAccount', 'source.trustDomain',
  'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter', 'destination.ip', 'destination.port', 'connection.sni'])
const MAP_KEY_PREFIXES = ['request.headers', 'request.experimental.inline.headers', 'request.auth.claims', 'experimental.envoy.filters.']

export function validateAuthorizationPolicy (c: Checker, spec: Obj, ctx: ValidateContext, meta: Checker): TargetRef[] {
  c.fields([], spec, SPEC_FIELDS)
  const refs = validatePolicySelection(c, spec, ctx)
  const actionRaw = c.str(['action'], get(spec, 'action'))
  let action = 'ALLOW'
  if (actionRaw !== undefined) {
    if (ACTIONS.includes(actionRaw)) action = actionRaw
    else c.error(['action'], `unknown action ${JSON.stringify(actionRaw)}, expected ALLOW, DENY or AUDIT`, CODES.INVALID)
  }
  if (action === 'CUSTOM') c.error(['action'], 'action CUSTOM (external authorization) is not supported by meshgate', CODES.UNSUPPORTED)
  if (get(spec, 'provider') !== undefined && action !== 'CUSTOM') c.error(['provider'], `provider must not be set with action ${action}`, CODES.CONFLICT)

  const dryRun = annotation(meta, 'istio.io/dry-run')
  if (dryRun !== undefined) {
    if (dryRun !== 'true' && dryRun !== 'false') meta.error(['metadata', 'annotations', 'istio.io/dry-run'], `istio.io/dry-run must be "true" or "false", got ${JSON.stringify(dryRun)}`, CODES.INVALID)
    if (action !== 'ALLOW' && action !== 'DENY') meta.error(['metadata', 'annotations', 'istio.io/dry-run'], `istio.io/dry-run only supports ALLOW and DENY, not ${action}`, CODES.INVALID)
  }

  const rawRules = get(spec, 'rules')
  if (rawRules === undefined && action === 'DENY') {
    c.error(['rules'], 'a DENY policy without rules never triggers; add `rules: [{}]` to deny every request', CODES.REQUIRED)
  }
  c.list(['rules'], rawRules)?.forEach((raw, i) => {
    const p = ['rules', i]
    if (raw === null || raw === undefined) {
      c.error(p, 'a rule may not be null', CODES.REQUIRED)
      return
    }
    const rule = c.map(p, raw)
    if (rule !== undefined) validateRule(c, p, rule, action)
  })
  return refs
}

function annotation (meta: Checker, key: string): string | undefined {
  const md = meta.res.value.metadata
  if (md === null || typeof md !== 'object' || Array.isArray(md)) return undefined
  const ann = (md as Obj).annotations
  if (ann === null || typeof ann !== 'object' || Array.isArray(ann)) return undefined
  const v = (ann as Obj)[key]
  return typeof v === 'string' ? v : undefined
}

function validateRule (c: Checker, p: Path, rule: Obj, action: string): void {
  c.fields(p, rule, RULE_FIELDS)
  let fromExists = false
  let toExists = false
  let tcpInFrom = false
  let tcpInTo = false

  const from = c.list([...p, 'from'], get(rule, 'from'))
  if (from !== undefined && from.length === 0) c.error([...p, 'from'], '`from` must not be an empty list', CODES.INVALID)
  from?.forEach((raw, j) => {
    const fp = [...p, 'from', j]
    const f = c.item(fp, raw, '`from` entry')
    if (f === undefined) return
    c.fields(fp, f, ['source'])
    const src = c.map([...fp, 'source'], get(f, 'source'))
    if (src === undefined) {
      if (get(f, 'source') === undefined) c.error([...fp, 'source'], '`from.source` must be set', CODES.REQUIRED)
      return
    }
    fromExists = true
    const sp = [...fp, 'source']
    c.fields(sp, src, SOURCE_FIELDS)
    const lists: Record<string, string[]> = {}
    for (const field of SOURCE_FIELDS) {
      const l = c.strList([...sp, field], get(src, field))
      if (l === undefined) continue
      lists[field] = l
      l.forEach((v, k) => {
        if (v === '') c.error([...sp, field, k], `empty value in ${field}`, CODES.INVALID)
        else if (IP_FIELDS.has(field)) {
          const problem = ipOrCidrProblem(v)
          if (problem !== null) c.error([...sp, field, k], problem, CODES.IP)
        }
      })
    }
    if (Object.values(lists).every(l => l.length === 0)) c.error(sp, '`from.source` must not be empty', CODES.INVALID)
    const sa = [...(lists.serviceAccounts ?? []), ...(lists.notServiceAccounts ?? [])]
    if (sa.length > 0 && ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'].some(k => (lists[k]?.length ?? 0) > 0)) {
      c.error(sp, 'serviceAccounts cannot be combined with principals or namespaces', CODES.CONFLICT)
    }
    for (const field of ['serviceAccounts', 'notServiceAccounts']) {
      lists[field]?.forEach((v, k) => {
        const problem = serviceAccountProblem(v)
        if (problem !== null) c.error([...sp, field, k], problem, CODES.INVALID)
      })
    }
    if (TCP_SOURCE_FIELDS.some(k => get(src, k) !== undefined)) tcpInFrom = true
  })

  const to = c.list([...p, 'to'], get(rule, 'to'))
  if (to !== undefined && to.length === 0) c.error([...p, 'to'], '`to` must not be an empty list', CODES.INVALID)
  to?.forEach((raw, j) => {
    const tp = [...p, 'to', j]
    const t = c.item(tp, raw, '`to` entry')
    if (t === undefined) return
    c.fields(tp, t, ['operation'])
    const op = c.map([...tp, 'operation'], get(t, 'operation'))
    if (op === undefined) {
      if (get(t, 'operation') === undefined) c.error([...tp, 'operation'], '`to.operation` must be set', CODES.REQUIRED)
      return
    }
    toExists = true
    const op2 = [...tp, 'operation']
    c.fields(op2, op, OPERATION_FIELDS)
    let any = false
    for (const field of OPERATION_FIELDS) {
      const l = c.strList([...op2, field], get(op, field))
      if (l === undefined) continue
      if (l.length > 0) any = true
      l.forEach((v, k) => {
        if (v === '') c.error([...op2, field, k], `empty value in ${field}`, CODES.INVALID)
        else if (field === 'ports' || field === 'notPorts') {
          if (!/^\d+$/.test(v) || Number(v) > 65535) c.error([...op2, field, k], `bad port ${JSON.stringify(v)}`, CODES.PORT)
        } else if (field === 'paths' || field === 'notPaths') {
          const problem = pathTemplateProblem(v)
          if (problem !== null) c.error([...op2, field, k], problem, CODES.INVALID)
        }
      })
    }
    if (!any) c.error(op2, '`to.operation` must not be empty', CODES.INVALID)
    if (get(op, 'ports') !== undefined || get(op, 'notPorts') !== undefined) tcpInTo = true
  })

  c.list([...p, 'when'], get(rule, 'when'))?.forEach((raw, j) => {
    const wp = [...p, 'when', j]
    const w = c.item(wp, raw, 'condition')
    if (w !== undefined) validateCondition(c, wp, w)
  })

  if (action === 'DENY' && ((fromExists && !toExists && !tcpInFrom) || (toExists && !tcpInTo))) {
    c.warn(p, 'this DENY rule uses only HTTP attributes; in Istio it would also deny all TCP traffic in scope (meshgate serves HTTP only)', CODES.RUNTIME_HINT)
  }
}

function validateCondition (c: Checker, p: Path, w: Obj): void {
  c.fields(p, w, ['key', 'values', 'notValues'])
  const key = c.str([...p, 'key'], get(w, 'key'))
  const values = c.strList([...p, 'values'], get(w, 'values')) ?? []
  const notValues = c.strList([...p, 'notValues'], get(w, 'notValues')) ?? []
  if (key === undefined || key === '') {
    if (get(w, 'key') === undefined || key === '') c.error([...p, 'key'], '`key` must not be empty', CODES.REQUIRED)
    return
  }
  if (values.length === 0 && notValues.length === 0) {
    c.error(p, `at least one of values or notValues must be set for key ${key}`, CODES.REQUIRED)
    return
  }
  const keyProblem = conditionKeyProblem(key)
  if (keyProblem !== null) {
    c.error([...p, 'key'], keyProblem, CODES.INVALID)
    return
  }
  for (const [field, list] of [['values', values], ['notValues', notValues]] as const) {
    list.forEach((v, k) => {
      const vp = [...p, field, k]
      if (v === '') c.error(vp, `empty value for key ${key}`, CODES.INVALID)
      else if (key === 'source.ip' || key === 'remote.ip' || key === 'destination.ip') {
        const problem = ipOrCidrProblem(v)
        if (problem !== null) c.error(vp, problem, CODES.IP)
      } else if (key === 'destination.port' && (!/^\d+$/.test(v) || Number(v) > 65535)) {
        c.error(vp, `bad port ${JSON.stringify(v)}`, CODES.PORT)
      } else if (key === 'source.serviceAccount') {
        const problem = serviceAccountProblem(v)
        if (problem !== null) c.error(vp, problem, CODES.INVALID)
      }
    })
  }
}

function conditionKeyProblem (key: string): string | null {
  if (EXACT_KEYS.has(key)) return null
  for (const prefix of MAP_KEY_PREFIXES) {
    if (!key.startsWith(prefix)) continue
    const open = key.indexOf('[')
    if (prefix.endsWith('.') || (key.endsWith(']') && open > 0 && open < key.length - 2)) return null
    return `bad key ${JSON.stringify(key)}: expected the form ${prefix}[name]`
  }
  if (key === 'destination.namespace') return 'destination.namespace is replaced by metadata.namespace'
  if (key.startsWith('destination.labels')) return 'destination.labels is replaced by the selector'
  if (key === 'destination.name' || key === 'destination.user') return `${key} is no longer supported`
  return `unknown attribute ${JSON.stringify(key)}`
}

function serviceAccountProblem (v: string): string | null {
  if (v.includes('*')) return `wildcards are not allowed in serviceAccounts: ${JSON.stringify(v)}`
  if (v.length > 320) return 'a service account may not exceed 320 characters'
  const parts = v.split('/')
  if (parts.length > 2 || parts.some(s => s === '')) return `expected "serviceAccount" or "namespace/serviceAccount", got ${JSON.stringify(v)}`
  return null
}

const PATH_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/

/** Path templates: `{*}` one segment, `{**}` the rest (last only); no other braces. */
function pathTemplateProblem (path: string): string | null {
  const templated = path.includes('{*}') || path.includes('{**}')
  let sawAny = false
  for (const seg of path.replace(/^\/+|\/+$/g, '').split('/')) {
    if (seg === '{*}' || seg === '{**}') {
      if (sawAny) return `invalid path ${JSON.stringify(path)}: {**} must be the last segment`
      if (seg === '{**}') sawAny = true
      continue
    }
    if (seg.includes('{') || seg.includes('}')) return `invalid path ${JSON.stringify(path)}: braces are only allowed as whole {*} or {**} segments`
    if (templated && seg !== '' && !PATH_LITERAL.test(seg)) return `invalid path ${JSON.stringify(path)}: segment ${JSON.stringify(seg)} has characters not allowed in a path template`
  }
  return null
}
