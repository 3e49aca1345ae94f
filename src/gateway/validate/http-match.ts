// HTTPMatchRequest, shared by VirtualService `http[].match[]` and the
// meshgate.io kinds' `spec.match` (ISTIO-SEMANTICS §2.2).
import { get, type Checker, type Obj, type Path } from './checker.js'
import { checkLabels, checkPort, checkStringMatch, isClaimKey, isDnsLabel, matchHeaderNameProblem } from './common.js'
import { checkGatewayName } from './gateway-names.js'
import { CODES } from './codes.js'

export const MATCH_FIELDS = ['name', 'uri', 'scheme', 'method', 'authority', 'headers', 'withoutHeaders', 'queryParams',
  'port', 'ignoreUriCase', 'gateways', 'sourceLabels', 'sourceNamespace', 'statPrefix'] as const

export interface MatchOptions {
  /** The VirtualService is bound to a gateway (claims routing allowed). */
  gatewayBound: boolean
}

export function validateMatch (c: Checker, p: Path, m: Obj, opts: MatchOptions): void {
  c.fields(p, m, MATCH_FIELDS)
  c.str([...p, 'name'], get(m, 'name'))
  c.str([...p, 'statPrefix'], get(m, 'statPrefix'))
  // uri may have an empty prefix; scheme/method/authority may not (Envoy's StringMatcher rule).
  checkStringMatch(c, [...p, 'uri'], get(m, 'uri'), { allowEmptyPrefix: true })
  for (const f of ['scheme', 'method', 'authority'] as const) {
    if (get(m, f) !== undefined) checkStringMatch(c, [...p, f], get(m, f))
  }
  for (const f of ['headers', 'withoutHeaders'] as const) {
    const hp = [...p, f]
    const headers = c.map(hp, get(m, f))
    if (headers === undefined) continue
    for (const [name, sm] of Object.entries(headers)) {
      const problem = matchHeaderNameProblem(name)
      if (problem !== null) c.error([...hp, name], problem, CODES.HEADER_NAME)
      if (isClaimKey(name) && !opts.gatewayBound) {
        c.error([...hp, name], `JWT claim routing (${name}) is only supported on VirtualServices bound to a gateway`, CODES.INVALID)
      }
      // Istio refuses `name:` with no value in headers (write `{}` for "present").
      if (sm === null && f === 'headers') c.error([...hp, name], `header match ${name} cannot be null; use {} to match any value`, CODES.REQUIRED)
      else checkStringMatch(c, [...hp, name], sm, { starIsPresent: f === 'withoutHeaders' })
    }
  }
  const qp = c.map([...p, 'queryParams'], get(m, 'queryParams'))
  if (qp !== undefined) {
    for (const [name, sm] of Object.entries(qp)) {
      if (name === '') c.error([...p, 'queryParams', name], 'query parameter name must not be empty', CODES.INVALID)
      checkStringMatch(c, [...p, 'queryParams', name], sm)
    }
  }
  if (get(m, 'port') !== undefined) checkPort(c, [...p, 'port'], get(m, 'port'))
  c.bool([...p, 'ignoreUriCase'], get(m, 'ignoreUriCase'))
  const gws = c.strList([...p, 'gateways'], get(m, 'gateways'))
  gws?.forEach((g, i) => { checkGatewayName(c, [...p, 'gateways', i], g) })

  // sourceLabels / sourceNamespace select client proxies; a gateway has none, so the block never matches.
  if (get(m, 'sourceLabels') !== undefined) {
    checkLabels(c, [...p, 'sourceLabels'], get(m, 'sourceLabels'))
    c.warn([...p, 'sourceLabels'], 'sourceLabels select client workloads; a gateway has none, so this match never applies here', CODES.SOURCE_MATCH)
  }
  const ns = c.str([...p, 'sourceNamespace'], get(m, 'sourceNamespace'))
  if (ns !== undefined) {
    if (!isDnsLabel(ns)) c.error([...p, 'sourceNamespace'], `sourceNamespace ${JSON.stringify(ns)} is not a valid namespace`, CODES.INVALID)
    c.warn([...p, 'sourceNamespace'], 'sourceNamespace selects client workloads; a gateway has none, so this match never applies here', CODES.SOURCE_MATCH)
  }
}

/** A list of match blocks (`match:`); null items are refused. */
export function validateMatchList (c: Checker, p: Path, v: unknown, opts: MatchOptions): void {
  const list = c.list(p, v)
  list?.forEach((raw, i) => {
    const m = c.item([...p, i], raw, 'match')
    if (m !== undefined) validateMatch(c, [...p, i], m, opts)
  })
}
