// VirtualService: hosts, gateways, rules (ISTIO-SEMANTICS §2, §8), and Istio's
// VirtualServiceUnreachableRule / VirtualServiceIneffectiveMatch warnings.
import { hostCovers } from '../compile/names.js'
import { get, isObj, type Checker, type Obj } from './checker.js'
import { checkExportTo, isIpAddress, wildcardHostProblem } from './common.js'
import { checkGatewayName } from './gateway-names.js'
import { validateHttpRoute } from './http-route.js'
import { CODES } from './codes.js'
import { parseStickyKey, STICKY_ANNOTATION } from '../compile/sticky-key.js'

const SPEC_FIELDS = ['hosts', 'gateways', 'http', 'tcp', 'tls', 'exportTo'] as const

/** `gateways` lists a gateway other than `mesh` (Istio: any `mesh` entry makes it mesh-bound for these checks). */
export function isGatewayBound (spec: Obj): boolean {
  const g = get(spec, 'gateways')
  if (!Array.isArray(g) || g.length === 0) return false
  return !g.includes('mesh')
}

export function validateVirtualService (c: Checker, spec: Obj, meta: Checker): void {
  c.fields([], spec, SPEC_FIELDS)
  const md = meta.res.value.metadata
  const sticky = isObj(md) && isObj(md.annotations) ? md.annotations[STICKY_ANNOTATION] : undefined
  if (sticky !== undefined) {
    const k = typeof sticky === 'string' ? parseStickyKey(sticky) : 'expected a string'
    if (typeof k === 'string') meta.error(['metadata', 'annotations', STICKY_ANNOTATION], k, CODES.INVALID)
  }
  const gateways = c.strList(['gateways'], get(spec, 'gateways'))
  gateways?.forEach((g, i) => { checkGatewayName(c, ['gateways', i], g) })
  const gatewayBound = isGatewayBound(spec)
  const appliesToMesh = gateways === undefined || gateways.length === 0 || gateways.includes('mesh')

  validateHosts(c, spec, appliesToMesh)

  let otherRoutes = 0
  for (const f of ['tcp', 'tls'] as const) {
    const l = c.list([f], get(spec, f))
    if (l !== undefined && l.length > 0) {
      otherRoutes += l.length
      c.error([f], `${f} routes are not supported by meshgate (HTTP only)`, CODES.UNSUPPORTED)
    }
  }
  const httpRaw = get(spec, 'http')
  const http = c.list(['http'], httpRaw)
  // A wrong type for http was reported by list().
  const wrongType = httpRaw !== undefined && http === undefined
  if ((http?.length ?? 0) === 0 && otherRoutes === 0 && !wrongType) {
    c.error(['http'], 'a VirtualService needs http routes', CODES.REQUIRED)
  }
  http?.forEach((raw, i) => {
    const rule = c.item(['http', i], raw, 'http route')
    if (rule !== undefined) validateHttpRoute(c, ['http', i], rule, { gatewayBound })
  })
  if (http !== undefined) analyzeUnreachableRules(c, http)

  checkExportTo(c, get(spec, 'exportTo'), false)

  if (gateways === undefined || gateways.every(g => g === 'mesh')) {
    c.warn(['gateways'], 'no gateways: this VirtualService applies to the mesh (sidecars) only, and a gateway does not use it', CODES.MESH_ONLY)
  }
}

function validateHosts (c: Checker, spec: Obj, appliesToMesh: boolean): void {
  const hosts = c.strList(['hosts'], get(spec, 'hosts'))
  if (hosts === undefined || hosts.length === 0) {
    if (get(spec, 'hosts') === undefined || hosts !== undefined) {
      c.error(['hosts'], 'hosts is required (delegate VirtualServices without hosts are not supported by meshgate)', CODES.REQUIRED)
    }
    return
  }
  let allValid = true
  hosts.forEach((h, i) => {
    if (isIpAddress(h)) return
    const problem = wildcardHostProblem(h)
    if (problem !== null) {
      c.error(['hosts', i], problem, CODES.HOST)
      allValid = false
    } else if (h === '*' && appliesToMesh) {
      c.error(['hosts', i], 'wildcard host "*" is not allowed for a VirtualService bound to the mesh (set gateways)', CODES.HOST)
      allValid = false
    }
  })
  if (!allValid) return
  // Duplicates include overlaps: `*.foo.com` and `a.foo.com` in one VirtualService.
  for (let i = 0; i < hosts.length; i++) {
    for (let j = i + 1; j < hosts.length; j++) {
      const a = hosts[i]!.toLowerCase()
      const b = hosts[j]!.toLowerCase()
      if (hostCovers(a, b) || hostCovers(b, a)) {
        c.error(['hosts', j], `duplicate or overlapping hosts in one VirtualService: ${hosts[i]} and ${hosts[j]}`, CODES.CONFLICT)
      }
    }
  }
}

/** A canonical JSON of a match block without its name, for duplicate detection. */
function matchKey (m: unknown): string {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip)
    if (!isObj(v)) return v
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) out[k] = strip(v[k])
    return out
  }
  if (isObj(m)) {
    const { name: _name, ...rest } = m
    return JSON.stringify(strip(rest))
  }
  return JSON.stringify(strip(m))
}

/** A match block that every request meets: `{}`, or only `uri: {prefix: /}` / `uri: {regex: .*}`. */
function isCatchAllBlock (m: unknown): boolean {
  if (!isObj(m)) return false
  for (const k of Object.keys(m)) {
    if (k === 'name' || k === 'ignoreUriCase' || k === 'statPrefix') continue
    if (k !== 'uri') return false
  }
  const uri = m.uri
  if (uri === undefined || uri === null) return true
  if (!isObj(uri)) return false
  return (uri.prefix === '/' && Object.keys(uri).length === 1) || (uri.regex === '.*' && Object.keys(uri).length === 1)
}

/**
 * Istio's VirtualServiceUnreachableRule: only the last rule may have no
 * match; rules after such a rule, and rules whose every match block repeats an
 * earlier one, are never used. meshgate also treats a `prefix: /` block as
 * matching everything (ISTIO-SEMANTICS §2.1).
 */
function analyzeUnreachableRules (c: Checker, http: unknown[]): void {
  const seen = new Map<string, number>()
  let catchAll = -1
  let catchAllNoMatch = false
  http.forEach((rule, i) => {
    if (!isObj(rule)) return
    const match = rule.match
    const blocks = Array.isArray(match) ? match : []
    if (catchAll >= 0) {
      const reason = catchAllNoMatch && blocks.length === 0
        ? 'only the last rule may have no match'
        : `rule http[${catchAll}] before it matches every request`
      c.warn(['http', i], `rule http[${i}] is never used: ${reason} (Istio VirtualServiceUnreachableRule)`, CODES.UNREACHABLE_RULE)
      return
    }
    if (blocks.length === 0) {
      catchAll = i
      catchAllNoMatch = true
      return
    }
    let duplicates = 0
    blocks.forEach((m, k) => {
      const key = matchKey(m)
      const first = seen.get(key)
      if (first !== undefined) {
        duplicates++
        c.warn(['http', i, 'match', k], `this match repeats one in rule http[${first}], so it never applies (Istio VirtualServiceIneffectiveMatch)`, CODES.INEFFECTIVE_MATCH)
      } else {
        seen.set(key, i)
      }
    })
    if (duplicates === blocks.length) {
      c.warn(['http', i], `rule http[${i}] is never used: all its matches are used by earlier rules (Istio VirtualServiceUnreachableRule)`, CODES.UNREACHABLE_RULE)
    }
    if (blocks.some(isCatchAllBlock)) catchAll = i
  })
}
