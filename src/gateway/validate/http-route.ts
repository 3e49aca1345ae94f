// One VirtualService `http[]` rule: destinations, redirect, direct response,
// rewrite, retries, fault, mirror, CORS, header operations, timeout
// (ISTIO-SEMANTICS §2.3-§2.9 and §8).
import { get, isObj, type Checker, type Obj, type Path } from './checker.js'
import {
  checkDuration, checkHeaderOperations, checkHttpStatus, checkPercent, checkPort, checkStringMatch,
  headerOpNameProblem, isAuthorityHeader, isDnsLabel, isHeaderToken, regexProblem, wildcardHostProblem
} from './common.js'
import { validateMatchList } from './http-match.js'
import { CODES } from './codes.js'

const ROUTE_FIELDS = ['name', 'match', 'route', 'redirect', 'directResponse', 'delegate', 'rewrite', 'timeout', 'retries',
  'fault', 'mirror', 'mirrors', 'mirrorPercent', 'mirror_percent', 'mirrorPercentage', 'corsPolicy', 'headers'] as const
const DESTINATION_FIELDS = ['host', 'subset', 'port'] as const
const ROUTE_DESTINATION_FIELDS = ['destination', 'weight', 'headers'] as const
const REDIRECT_FIELDS = ['uri', 'authority', 'port', 'derivePort', 'scheme', 'redirectCode', 'prefixRewrite'] as const
const REWRITE_FIELDS = ['uri', 'authority', 'uriRegexRewrite'] as const
const RETRY_FIELDS = ['attempts', 'perTryTimeout', 'retryOn', 'retryRemoteLocalities', 'backoff', 'retryIgnorePreviousHosts'] as const
const CORS_FIELDS = ['allowOrigins', 'allowOrigin', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'maxAge',
  'allowCredentials', 'unmatchedPreflights'] as const

const RETRY_ON = new Set(['5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'retriable-4xx',
  'refused-stream', 'retriable-status-codes', 'retriable-headers', 'envoy-ratelimited', 'http3-post-connect-failure',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'])
const CORS_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', '*'])
const GRPC_STATUSES = new Set(['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND',
  'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'])
/** Codes Envoy can send for a redirect; other 3xx pass Istio's validation but the route is dropped (§2.4). */
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308])

const MB = 1024 * 1024

export interface RouteOptions { gatewayBound: boolean }

export function validateHttpRoute (c: Checker, p: Path, rule: Obj, opts: RouteOptions): void {
  c.fields(p, rule, ROUTE_FIELDS)
  c.str([...p, 'name'], get(rule, 'name'))
  validateMatchList(c, [...p, 'match'], get(rule, 'match'), opts)

  if (get(rule, 'delegate') !== undefined) {
    c.error([...p, 'delegate'], 'delegate (VirtualService chaining) is not supported by meshgate; put the routes in this VirtualService', CODES.UNSUPPORTED)
  }
  const route = c.list([...p, 'route'], get(rule, 'route'))
  const hasRoute = route !== undefined && route.length > 0
  const hasRedirect = get(rule, 'redirect') !== undefined
  const hasDirect = get(rule, 'directResponse') !== undefined
  const actions = [hasRoute && 'route', hasRedirect && 'redirect', hasDirect && 'directResponse'].filter(Boolean)
  if (actions.length === 0 && get(rule, 'delegate') === undefined) {
    c.error(p, 'a rule needs exactly one of route, redirect or directResponse, got none', CODES.REQUIRED)
  } else if (actions.length > 1) {
    c.error(p, `a rule needs exactly one of route, redirect or directResponse, got ${actions.join(' and ')}`, CODES.CONFLICT)
  }
  for (const other of ['fault', 'rewrite'] as const) {
    if (get(rule, other) === undefined) continue
    if (hasRedirect) c.error([...p, other], `${other} cannot be combined with redirect`, CODES.CONFLICT)
    if (hasDirect) c.error([...p, other], `${other} cannot be combined with directResponse`, CODES.CONFLICT)
  }

  if (route !== undefined) validateRouteDestinations(c, [...p, 'route'], route)
  if (hasRedirect) validateRedirect(c, [...p, 'redirect'], get(rule, 'redirect'), get(rule, 'match'))
  if (hasDirect) validateDirectResponse(c, [...p, 'directResponse'], get(rule, 'directResponse'))
  validateRewrite(c, [...p, 'rewrite'], get(rule, 'rewrite'))
  checkDuration(c, [...p, 'timeout'], get(rule, 'timeout'))
  validateRetries(c, [...p, 'retries'], get(rule, 'retries'))
  validateFault(c, [...p, 'fault'], get(rule, 'fault'))
  validateMirror(c, p, rule)
  validateCors(c, [...p, 'corsPolicy'], get(rule, 'corsPolicy'))
  checkHeaderOperations(c, [...p, 'headers'], get(rule, 'headers'))
  checkAuthoritySources(c, p, rule)
}

export function validateDestination (c: Checker, p: Path, v: unknown): void {
  const d = c.map(p, v)
  if (d === undefined) {
    if (v === undefined || v === null) c.error(p, 'destination is required', CODES.REQUIRED)
    return
  }
  c.fields(p, d, DESTINATION_FIELDS)
  const host = c.str([...p, 'host'], get(d, 'host'))
  if (host === undefined) {
    if (get(d, 'host') === undefined) c.error([...p, 'host'], 'destination.host is required', CODES.REQUIRED)
  } else if (host === '*') {
    c.error([...p, 'host'], 'destination host "*" is not allowed', CODES.HOST)
  } else {
    const problem = wildcardHostProblem(host)
    if (problem !== null) c.error([...p, 'host'], problem, CODES.HOST)
  }
  const subset = c.str([...p, 'subset'], get(d, 'subset'))
  if (subset !== undefined && !isDnsLabel(subset)) c.error([...p, 'subset'], `subset name ${JSON.stringify(subset)} is not a valid DNS label`, CODES.INVALID)
  const port = c.map([...p, 'port'], get(d, 'port'))
  if (port !== undefined) {
    c.fields([...p, 'port'], port, ['number'])
    if (get(port, 'number') !== undefined) checkPort(c, [...p, 'port', 'number'], get(port, 'number'))
  }
}

function validateRouteDestinations (c: Checker, p: Path, list: unknown[]): void {
  let total = 0
  let counted = 0
  list.forEach((raw, i) => {
    const dp = [...p, i]
    const rd = c.item(dp, raw, 'route destination')
    if (rd === undefined) return
    c.fields(dp, rd, ROUTE_DESTINATION_FIELDS)
    validateDestination(c, [...dp, 'destination'], get(rd, 'destination'))
    const w = c.int([...dp, 'weight'], get(rd, 'weight'))
    if (w !== undefined && w < 0) c.error([...dp, 'weight'], `weight ${w} must not be negative`, CODES.WEIGHT)
    if (w !== undefined && w >= 0) { total += w; counted++ }
    checkHeaderOperations(c, [...dp, 'headers'], get(rd, 'headers'))
  })
  if (list.length > 1 && total === 0) {
    c.error(p, 'the total weight of the destinations is 0: give at least one destination a positive weight', CODES.WEIGHT)
  } else if (list.length > 1 && counted === list.length && total !== 100) {
    // Istio normalises (each gets w/Σw); people usually mean percentages, so say so.
    c.warn(p, `weights sum to ${total}, not 100; each destination gets weight/${total} of the requests`, CODES.WEIGHT_SUM)
  } else if (list.length > 1 && counted > 0 && counted < list.length) {
    c.warn(p, 'some destinations have no weight (0): they receive no requests', CODES.WEIGHT_SUM)
  }
}

function validateRedirect (c: Checker, p: Path, v: unknown, match: unknown): void {
  const r = c.map(p, v)
  if (r === undefined) return
  c.fields(p, r, REDIRECT_FIELDS)
  const uri = c.str([...p, 'uri'], get(r, 'uri'))
  const prefixRewrite = c.str([...p, 'prefixRewrite'], get(r, 'prefixRewrite'))
  const authority = c.str([...p, 'authority'], get(r, 'authority'))
  const scheme = c.str([...p, 'scheme'], get(r, 'scheme'))
  const port = get(r, 'port') !== undefined ? checkPort(c, [...p, 'port'], get(r, 'port')) : undefined
  const derive = c.str([...p, 'derivePort'], get(r, 'derivePort'))
  if (derive !== undefined && derive !== 'FROM_PROTOCOL_DEFAULT' && derive !== 'FROM_REQUEST_PORT') {
    c.error([...p, 'derivePort'], `unknown derivePort ${JSON.stringify(derive)}, expected FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT`, CODES.INVALID)
  }
  if (get(r, 'port') !== undefined && derive !== undefined) c.error([...p, 'derivePort'], 'only one of port and derivePort may be set', CODES.CONFLICT)
  if ((uri ?? '') === '' && (authority ?? '') === '' && (scheme ?? '') === '' && port === undefined && derive === undefined && (prefixRewrite ?? '') === '') {
    c.error(p, 'redirect must set at least one of uri, authority, scheme, port or derivePort', CODES.REQUIRED)
  }
  if (uri !== undefined && prefixRewrite !== undefined) c.error([...p, 'prefixRewrite'], 'only one of uri and prefixRewrite may be set', CODES.CONFLICT)
  if (prefixRewrite !== undefined && !allMatchesArePrefix(match)) {
    c.error([...p, 'prefixRewrite'], 'prefixRewrite needs every match block of the rule to use a uri prefix match', CODES.CONFLICT)
  }
  if (scheme !== undefined && scheme !== '' && scheme !== 'http' && scheme !== 'https') {
    c.error([...p, 'scheme'], `redirect scheme must be "http" or "https", got ${JSON.stringify(scheme)}`, CODES.INVALID)
  }
  const code = c.int([...p, 'redirectCode'], get(r, 'redirectCode'))
  if (code !== undefined && code !== 0) {
    if (code < 300 || code > 399) c.error([...p, 'redirectCode'], `${code} is not a redirect code (3xx)`, CODES.STATUS)
    else if (!REDIRECT_CODES.has(code)) c.warn([...p, 'redirectCode'], `Envoy cannot send redirect code ${code}: the rule is dropped (use 301, 302, 303, 307 or 308)`, CODES.STATUS)
  }
}

function allMatchesArePrefix (match: unknown): boolean {
  if (!Array.isArray(match) || match.length === 0) return false
  return match.every(m => isObj(m) && isObj(m.uri) && typeof m.uri.prefix === 'string')
}

function validateDirectResponse (c: Checker, p: Path, v: unknown): void {
  const d = c.map(p, v)
  if (d === undefined) return
  c.fields(p, d, ['status', 'body'])
  if (get(d, 'status') === undefined) c.error([...p, 'status'], 'directResponse.status is required', CODES.REQUIRED)
  else checkHttpStatus(c, [...p, 'status'], get(d, 'status'))
  const body = c.map([...p, 'body'], get(d, 'body'))
  if (body === undefined) return
  c.fields([...p, 'body'], body, ['string', 'bytes'])
  const s = c.str([...p, 'body', 'string'], get(body, 'string'))
  const b = c.str([...p, 'body', 'bytes'], get(body, 'bytes'))
  if (s !== undefined && b !== undefined) c.error([...p, 'body'], 'only one of body.string and body.bytes may be set', CODES.CONFLICT)
  let size = 0
  if (s !== undefined) size = Buffer.byteLength(s)
  if (b !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b.replace(/\s+/g, ''))) c.error([...p, 'body', 'bytes'], 'body.bytes must be base64', CODES.INVALID)
    size = Buffer.from(b, 'base64').length
  }
  if (size > MB) c.error([...p, 'body'], `direct response body is ${size} bytes; the limit is 1 MB`, CODES.INVALID)
  else if (size > 100 * 1024) c.warn([...p, 'body'], `direct response body is ${size} bytes; large bodies slow config reloads`, CODES.INVALID)
}

function validateRewrite (c: Checker, p: Path, v: unknown): void {
  const r = c.map(p, v)
  if (r === undefined) return
  c.fields(p, r, REWRITE_FIELDS)
  const uri = c.str([...p, 'uri'], get(r, 'uri'))
  const authority = c.str([...p, 'authority'], get(r, 'authority'))
  const rx = c.map([...p, 'uriRegexRewrite'], get(r, 'uriRegexRewrite'))
  if ((uri ?? '') !== '' && rx !== undefined) c.error(p, 'rewrite may set only one of uri and uriRegexRewrite', CODES.CONFLICT)
  if ((uri ?? '') === '' && rx === undefined && (authority ?? '') === '' && get(r, 'uriRegexRewrite') === undefined) {
    c.error(p, 'rewrite must set at least one of uri, uriRegexRewrite or authority', CODES.REQUIRED)
  }
  if (rx !== undefined) {
    const rp = [...p, 'uriRegexRewrite']
    c.fields(rp, rx, ['match', 'rewrite'])
    const m = c.str([...rp, 'match'], get(rx, 'match'))
    const w = c.str([...rp, 'rewrite'], get(rx, 'rewrite'))
    if ((m ?? '') === '' || (w ?? '') === '') c.error(rp, 'uriRegexRewrite needs both match and rewrite', CODES.REQUIRED)
    if (m !== undefined && m !== '') {
      const problem = regexProblem(m)
      if (problem !== null) c.error([...rp, 'match'], problem, CODES.REGEX)
    }
  }
}

function validateRetries (c: Checker, p: Path, v: unknown): void {
  const r = c.map(p, v)
  if (r === undefined) return
  c.fields(p, r, RETRY_FIELDS)
  const attempts = c.int([...p, 'attempts'], get(r, 'attempts')) ?? 0
  if (attempts < 0) c.error([...p, 'attempts'], `attempts ${attempts} must not be negative`, CODES.INVALID)
  const others = (['perTryTimeout', 'retryOn', 'retryRemoteLocalities', 'backoff'] as const).filter(f => get(r, f) !== undefined)
  if (attempts === 0 && others.length > 0) {
    c.error(p, `${others.join(', ')} set while attempts is 0 (retries disabled); set attempts or remove them`, CODES.CONFLICT)
  }
  checkDuration(c, [...p, 'perTryTimeout'], get(r, 'perTryTimeout'))
  checkDuration(c, [...p, 'backoff'], get(r, 'backoff'))
  c.bool([...p, 'retryRemoteLocalities'], get(r, 'retryRemoteLocalities'))
  c.bool([...p, 'retryIgnorePreviousHosts'], get(r, 'retryIgnorePreviousHosts'))
  const on = c.str([...p, 'retryOn'], get(r, 'retryOn'))
  if (on !== undefined && on !== '') {
    for (const token of on.split(',')) {
      const t = token.trim()
      const isStatus = /^\d{3}$/.test(t) && Number(t) >= 100 && Number(t) <= 599
      if (!isStatus && !RETRY_ON.has(t)) c.error([...p, 'retryOn'], `${JSON.stringify(t)} is not a valid retryOn policy`, CODES.INVALID)
    }
  }
}

function validateFault (c: Checker, p: Path, v: unknown): void {
  const f = c.map(p, v)
  if (f === undefined) return
  c.fields(p, f, ['delay', 'abort'])
  const delay = c.map([...p, 'delay'], get(f, 'delay'))
  const abort = c.map([...p, 'abort'], get(f, 'abort'))
  if (get(f, 'delay') === undefined && get(f, 'abort') === undefined) c.error(p, 'fault needs a delay and/or an abort', CODES.REQUIRED)

  if (delay !== undefined) {
    const dp = [...p, 'delay']
    c.fields(dp, delay, ['fixedDelay', 'exponentialDelay', 'percentage', 'percent'])
    if (get(delay, 'exponentialDelay') !== undefined) c.error([...dp, 'exponentialDelay'], 'exponentialDelay is not supported (Istio refuses it too)', CODES.UNSUPPORTED)
    if (get(delay, 'fixedDelay') === undefined) c.error([...dp, 'fixedDelay'], 'delay.fixedDelay is required', CODES.REQUIRED)
    else checkDuration(c, [...dp, 'fixedDelay'], get(delay, 'fixedDelay'))
    checkPercent(c, [...dp, 'percentage'], get(delay, 'percentage'))
    const percent = c.int([...dp, 'percent'], get(delay, 'percent'))
    if (percent !== undefined) {
      if (percent < 0 || percent > 100) c.error([...dp, 'percent'], `percent ${percent} is outside 0-100`, CODES.PERCENT)
      c.warn([...dp, 'percent'], 'delay.percent is deprecated; use percentage.value', CODES.DEPRECATED)
    }
    if (get(delay, 'percentage') === undefined && get(delay, 'percent') === undefined) {
      c.warn(dp, 'delay has no percentage, so it is injected into 0% of requests (Istio semantics); set percentage.value', CODES.RUNTIME_HINT)
    }
  }
  if (abort !== undefined) {
    const ap = [...p, 'abort']
    c.fields(ap, abort, ['httpStatus', 'grpcStatus', 'http2Error', 'percentage'])
    const kinds = (['httpStatus', 'grpcStatus', 'http2Error'] as const).filter(k => get(abort, k) !== undefined)
    if (kinds.length > 1) c.error(ap, `only one of ${kinds.join(', ')} may be set`, CODES.CONFLICT)
    if (kinds.length === 0) c.warn(ap, 'abort has no httpStatus or grpcStatus, so it does nothing', CODES.INVALID)
    if (get(abort, 'httpStatus') !== undefined) checkHttpStatus(c, [...ap, 'httpStatus'], get(abort, 'httpStatus'))
    const grpc = c.str([...ap, 'grpcStatus'], get(abort, 'grpcStatus'))
    if (grpc !== undefined && !GRPC_STATUSES.has(grpc)) c.error([...ap, 'grpcStatus'], `unknown gRPC status ${JSON.stringify(grpc)} (e.g. UNAVAILABLE, NOT_FOUND)`, CODES.INVALID)
    if (get(abort, 'http2Error') !== undefined) c.error([...ap, 'http2Error'], 'http2Error aborts are not supported (Istio refuses them too)', CODES.UNSUPPORTED)
    checkPercent(c, [...ap, 'percentage'], get(abort, 'percentage'))
    if (get(abort, 'percentage') === undefined) {
      c.warn(ap, 'abort has no percentage, so it is injected into 0% of requests (Istio semantics); set percentage.value', CODES.RUNTIME_HINT)
    }
  }
}

function checkMirrorPercentage (c: Checker, p: Path, v: unknown): void {
  const m = c.map(p, v)
  if (m === undefined) return
  c.fields(p, m, ['value'])
  const n = c.num([...p, 'value'], get(m, 'value'))
  if (n !== undefined && (n < 0 || n > 100)) c.error([...p, 'value'], `mirror percentage ${n} is outside 0-100`, CODES.PERCENT)
}

function validateMirror (c: Checker, p: Path, rule: Obj): void {
  if (get(rule, 'mirror') !== undefined) validateDestination(c, [...p, 'mirror'], get(rule, 'mirror'))
  checkMirrorPercentage(c, [...p, 'mirrorPercentage'], get(rule, 'mirrorPercentage'))
  for (const f of ['mirrorPercent', 'mirror_percent'] as const) {
    const n = c.int([...p, f], get(rule, f))
    if (n === undefined) continue
    if (n < 0 || n > 100) c.error([...p, f], `${f} ${n} is outside 0-100`, CODES.PERCENT)
    c.warn([...p, f], `${f} is deprecated; use mirrorPercentage.value`, CODES.DEPRECATED)
  }
  const mirrors = c.list([...p, 'mirrors'], get(rule, 'mirrors'))
  if (mirrors !== undefined && mirrors.length > 0 && get(rule, 'mirror') !== undefined) {
    c.error([...p, 'mirrors'], 'mirror and mirrors cannot both be set', CODES.CONFLICT)
  }
  mirrors?.forEach((raw, i) => {
    const mp = [...p, 'mirrors', i]
    const m = c.item(mp, raw, 'mirror')
    if (m === undefined) return
    c.fields(mp, m, ['destination', 'percentage'])
    validateDestination(c, [...mp, 'destination'], get(m, 'destination'))
    checkMirrorPercentage(c, [...mp, 'percentage'], get(m, 'percentage'))
  })
}

function validateCors (c: Checker, p: Path, v: unknown): void {
  const cors = c.map(p, v)
  if (cors === undefined) return
  c.fields(p, cors, CORS_FIELDS)
  const origins = c.list([...p, 'allowOrigins'], get(cors, 'allowOrigins'))
  origins?.forEach((o, i) => {
    const op = [...p, 'allowOrigins', i]
    const kind = checkStringMatch(c, op, o)
    if (kind === 'present') c.error(op, 'an allowOrigins entry needs a non-empty exact, prefix or regex', CODES.INVALID)
    else if (kind === 'exact' && isObj(o) && o.exact === '') c.error(op, 'an allowOrigins entry needs a non-empty exact, prefix or regex', CODES.INVALID)
  })
  if (get(cors, 'allowOrigin') !== undefined) {
    c.strList([...p, 'allowOrigin'], get(cors, 'allowOrigin'))
    c.warn([...p, 'allowOrigin'], 'allowOrigin is deprecated; use allowOrigins with exact matches', CODES.DEPRECATED)
  }
  c.strList([...p, 'allowMethods'], get(cors, 'allowMethods'))?.forEach((m, i) => {
    if (!CORS_METHODS.has(m)) c.error([...p, 'allowMethods', i], `${JSON.stringify(m)} is not a supported HTTP method`, CODES.INVALID)
  })
  for (const f of ['allowHeaders', 'exposeHeaders'] as const) {
    c.strList([...p, f], get(cors, f))?.forEach((h, i) => {
      if (h !== '*' && !isHeaderToken(h)) c.error([...p, f, i], `${JSON.stringify(h)} is not a valid header name`, CODES.HEADER_NAME)
    })
  }
  const maxAge = checkDuration(c, [...p, 'maxAge'], get(cors, 'maxAge'))
  if (maxAge !== undefined && maxAge % 1000 !== 0) c.error([...p, 'maxAge'], 'maxAge is sent in whole seconds; use a whole number of seconds', CODES.DURATION)
  c.bool([...p, 'allowCredentials'], get(cors, 'allowCredentials'))
  const unmatched = c.str([...p, 'unmatchedPreflights'], get(cors, 'unmatchedPreflights'))
  if (unmatched !== undefined && !['FORWARD', 'IGNORE', 'UNSPECIFIED'].includes(unmatched)) {
    c.error([...p, 'unmatchedPreflights'], `unknown unmatchedPreflights ${JSON.stringify(unmatched)}, expected FORWARD or IGNORE`, CODES.INVALID)
  }
}

/** The authority may be rewritten in one place only: rewrite.authority, or one request set/add of :authority/host. */
function checkAuthoritySources (c: Checker, p: Path, rule: Obj): void {
  const sources: Path[] = []
  const rw = get(rule, 'rewrite')
  if (isObj(rw) && typeof rw.authority === 'string' && rw.authority !== '') sources.push([...p, 'rewrite', 'authority'])
  const h = get(rule, 'headers')
  const req = isObj(h) ? h.request : undefined
  for (const op of ['set', 'add'] as const) {
    const m = isObj(req) ? req[op] : undefined
    if (!isObj(m)) continue
    for (const name of Object.keys(m)) {
      if (isAuthorityHeader(name) && headerOpNameProblem(name, true) === null) sources.push([...p, 'headers', 'request', op, name])
    }
  }
  if (sources.length > 1) {
    const second = sources[1]!
    c.error(second, 'the authority is rewritten in more than one place (rewrite.authority, headers.request set/add of :authority or host); keep one', CODES.CONFLICT)
  }
}
