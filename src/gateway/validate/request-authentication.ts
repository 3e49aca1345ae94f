// RequestAuthentication (ISTIO-SEMANTICS §5, §8). Validation never fetches a
// jwksUri; it only checks its form.
import { get, isObj, type Checker, type Obj, type Path } from './checker.js'
import { checkDuration, isHeaderToken } from './common.js'
import type { ValidateContext } from './context.js'
import { validatePolicySelection, type TargetRef } from './policy-scope.js'
import { CODES } from './codes.js'

const SPEC_FIELDS = ['selector', 'targetRef', 'targetRefs', 'jwtRules'] as const
const RULE_FIELDS = ['issuer', 'audiences', 'jwksUri', 'jwks', 'fromHeaders', 'fromParams', 'fromCookies', 'outputPayloadToHeader',
  'forwardOriginalToken', 'outputClaimToHeaders', 'timeout'] as const
/** outputClaimToHeaders headers: Istio's strict header-name rule. */
const STRICT_HEADER = /^[-A-Za-z0-9]+$/

export function validateRequestAuthentication (c: Checker, spec: Obj, ctx: ValidateContext): TargetRef[] {
  c.fields([], spec, SPEC_FIELDS)
  const refs = validatePolicySelection(c, spec, ctx)
  c.list(['jwtRules'], get(spec, 'jwtRules'))?.forEach((raw, i) => {
    const p = ['jwtRules', i]
    const rule = c.item(p, raw, 'jwt rule')
    if (rule !== undefined) validateJwtRule(c, p, rule)
  })
  return refs
}

function validateJwtRule (c: Checker, p: Path, r: Obj): void {
  c.fields(p, r, RULE_FIELDS)
  const issuer = c.str([...p, 'issuer'], get(r, 'issuer'))
  const uri = c.str([...p, 'jwksUri'], get(r, 'jwksUri'))
  if ((issuer ?? '') === '' && (uri ?? '') === '') c.error([...p, 'issuer'], 'issuer or jwksUri must be set', CODES.REQUIRED)
  if (uri !== undefined && uri !== '') {
    const problem = jwksUriProblem(uri)
    if (problem !== null) c.error([...p, 'jwksUri'], problem, CODES.INVALID)
  }
  const jwks = c.str([...p, 'jwks'], get(r, 'jwks'))
  if (jwks !== undefined && jwks !== '') checkJwks(c, [...p, 'jwks'], jwks)

  c.strList([...p, 'audiences'], get(r, 'audiences'))?.forEach((a, i) => {
    if (a === '') c.error([...p, 'audiences', i], 'audience must not be empty', CODES.INVALID)
  })
  c.list([...p, 'fromHeaders'], get(r, 'fromHeaders'))?.forEach((raw, i) => {
    const hp = [...p, 'fromHeaders', i]
    const h = c.item(hp, raw, 'fromHeaders entry')
    if (h === undefined) return
    c.fields(hp, h, ['name', 'prefix'])
    const name = c.str([...hp, 'name'], get(h, 'name'))
    if (name === undefined || name === '') {
      if (get(h, 'name') === undefined || name === '') c.error([...hp, 'name'], 'header name must not be empty', CODES.REQUIRED)
    } else if (!isHeaderToken(name)) {
      c.error([...hp, 'name'], `${JSON.stringify(name)} is not a valid header name`, CODES.HEADER_NAME)
    }
    c.str([...hp, 'prefix'], get(h, 'prefix'))
  })
  for (const f of ['fromParams', 'fromCookies'] as const) {
    c.strList([...p, f], get(r, f))?.forEach((v, i) => {
      if (v === '') c.error([...p, f, i], `${f === 'fromParams' ? 'query parameter' : 'cookie'} name must not be empty`, CODES.INVALID)
    })
  }
  const payloadHeader = c.str([...p, 'outputPayloadToHeader'], get(r, 'outputPayloadToHeader'))
  if (payloadHeader !== undefined && payloadHeader !== '' && !isHeaderToken(payloadHeader)) {
    c.error([...p, 'outputPayloadToHeader'], `${JSON.stringify(payloadHeader)} is not a valid header name`, CODES.HEADER_NAME)
  }
  c.bool([...p, 'forwardOriginalToken'], get(r, 'forwardOriginalToken'))
  checkDuration(c, [...p, 'timeout'], get(r, 'timeout'))

  const seen = new Map<string, number>()
  c.list([...p, 'outputClaimToHeaders'], get(r, 'outputClaimToHeaders'))?.forEach((raw, i) => {
    const op = [...p, 'outputClaimToHeaders', i]
    const o = c.item(op, raw, 'outputClaimToHeaders entry')
    if (o === undefined) return
    c.fields(op, o, ['header', 'claim'])
    const header = c.str([...op, 'header'], get(o, 'header')) ?? ''
    const claim = c.str([...op, 'claim'], get(o, 'claim')) ?? ''
    if (header === '' || claim === '') {
      c.error(op, 'outputClaimToHeaders needs a non-empty header and claim', CODES.REQUIRED)
      return
    }
    if (!STRICT_HEADER.test(header)) c.error([...op, 'header'], `${JSON.stringify(header)} is not a valid header name (letters, digits and "-")`, CODES.HEADER_NAME)
    const first = seen.get(header.toLowerCase())
    if (first !== undefined) c.warn([...op, 'header'], `header ${header} is also written by outputClaimToHeaders[${first}]`, CODES.CONFLICT)
    else seen.set(header.toLowerCase(), i)
  })
}

function jwksUriProblem (uri: string): string | null {
  let u: URL
  try {
    u = new URL(uri)
  } catch {
    return `jwksUri ${JSON.stringify(uri)} is not a valid URL`
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `jwksUri scheme ${JSON.stringify(u.protocol.replace(/:$/, ''))} is not supported (http or https)`
  return null
}

/** Inline JWKS: a JSON key set (or a single JWK). Private key material is legal but almost always a mistake. */
function checkJwks (c: Checker, p: Path, text: string): void {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    c.error(p, `jwks is not valid JSON: ${(err as Error).message}`, CODES.INVALID)
    return
  }
  const keys = isObj(parsed) && Array.isArray(parsed.keys) ? parsed.keys : isObj(parsed) && typeof parsed.kty === 'string' ? [parsed] : null
  if (keys === null) {
    c.error(p, 'jwks must be a JSON Web Key Set ({"keys": [...]}) or a single JWK', CODES.INVALID)
    return
  }
  keys.forEach((k, i) => {
    if (!isObj(k) || typeof k.kty !== 'string') c.error(p, `jwks key ${i} has no "kty"`, CODES.INVALID)
    else if (k.d !== undefined) c.warn(p, `jwks key ${i} contains private key material ("d"); publish only public keys`, CODES.RUNTIME_HINT)
  })
}
