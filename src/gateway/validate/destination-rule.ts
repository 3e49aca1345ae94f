// DestinationRule: host, traffic policies, subsets (ISTIO-SEMANTICS §3, §8).
import { get, type Checker, type Obj, type Path } from './checker.js'
import { checkCertFile, checkCredentialName, checkKeyPair } from './credentials.js'
import { checkDuration, checkExportTo, checkLabels, checkNonNegativeInt, checkPort, isDnsLabel, isHeaderToken, wildcardHostProblem } from './common.js'
import type { ValidateContext } from './context.js'
import { CODES } from './codes.js'

const SPEC_FIELDS = ['host', 'trafficPolicy', 'subsets', 'exportTo', 'workloadSelector'] as const
const POLICY_FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget'] as const
const PORT_POLICY_FIELDS = ['port', 'loadBalancer', 'connectionPool', 'outlierDetection', 'tls'] as const
const LB_FIELDS = ['simple', 'consistentHash', 'localityLbSetting', 'warmupDurationSecs', 'warmup'] as const
const HASH_FIELDS = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName', 'ringHash', 'maglev', 'minimumRingSize'] as const
const TCP_FIELDS = ['maxConnections', 'connectTimeout', 'tcpKeepalive', 'maxConnectionDuration', 'idleTimeout'] as const
const HTTP_POOL_FIELDS = ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'idleTimeout',
  'h2UpgradePolicy', 'useClientProtocol', 'maxConcurrentStreams'] as const
const OUTLIER_FIELDS = ['consecutiveErrors', 'consecutive5xxErrors', 'consecutiveGatewayErrors', 'consecutiveLocalOriginFailures',
  'splitExternalLocalOriginErrors', 'interval', 'baseEjectionTime', 'maxEjectionPercent', 'minHealthPercent'] as const
const TLS_FIELDS = ['mode', 'clientCertificate', 'privateKey', 'caCertificates', 'caCrl', 'credentialName', 'subjectAltNames', 'sni', 'insecureSkipVerify'] as const

const LB_SIMPLE = ['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']
const CLIENT_TLS_MODES = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']
const MAGLEV_MAX = 5000011

export function validateDestinationRule (c: Checker, spec: Obj, ctx: ValidateContext): void {
  c.fields([], spec, SPEC_FIELDS)
  const host = c.str(['host'], get(spec, 'host'))
  if (host === undefined) {
    if (get(spec, 'host') === undefined) c.error(['host'], 'host is required', CODES.REQUIRED)
  } else {
    const problem = wildcardHostProblem(host)
    if (problem !== null) c.error(['host'], problem, CODES.HOST)
  }
  if (get(spec, 'workloadSelector') !== undefined) {
    c.warn(['workloadSelector'], 'workloadSelector limits the rule to selected sidecars; meshgate ignores it and applies the rule', CODES.UNSUPPORTED)
  }
  validateTrafficPolicy(c, ['trafficPolicy'], get(spec, 'trafficPolicy'), ctx)
  checkExportTo(c, get(spec, 'exportTo'), false)

  const subsets = c.list(['subsets'], get(spec, 'subsets'))
  const names = new Map<string, number>()
  subsets?.forEach((raw, i) => {
    const p = ['subsets', i]
    const s = c.item(p, raw, 'subset')
    if (s === undefined) return
    c.fields(p, s, ['name', 'labels', 'trafficPolicy'])
    const name = c.str([...p, 'name'], get(s, 'name'))
    if (name === undefined || name === '') {
      // A wrong type was reported by str().
      if (get(s, 'name') === undefined || name === '') c.error([...p, 'name'], 'subset name is required', CODES.REQUIRED)
    } else {
      if (!isDnsLabel(name)) c.error([...p, 'name'], `subset name ${JSON.stringify(name)} is not a valid DNS label`, CODES.INVALID)
      const first = names.get(name)
      if (first !== undefined) c.error([...p, 'name'], `duplicate subset name ${JSON.stringify(name)} (also subsets[${first}])`, CODES.CONFLICT)
      else names.set(name, i)
    }
    checkLabels(c, [...p, 'labels'], get(s, 'labels'))
    validateTrafficPolicy(c, [...p, 'trafficPolicy'], get(s, 'trafficPolicy'), ctx)
  })
}

function validateTrafficPolicy (c: Checker, p: Path, v: unknown, ctx: ValidateContext): void {
  const tp = c.map(p, v)
  if (tp === undefined) return
  c.fields(p, tp, POLICY_FIELDS)
  if (POLICY_FIELDS.every(f => get(tp, f) === undefined)) {
    c.error(p, 'trafficPolicy must set at least one field', CODES.REQUIRED)
    return
  }
  for (const f of ['tunnel', 'proxyProtocol', 'retryBudget'] as const) {
    if (get(tp, f) !== undefined) c.warn([...p, f], `${f} is not supported by meshgate and is ignored`, CODES.UNSUPPORTED)
  }
  validateSections(c, p, tp, ctx)
  const pls = c.list([...p, 'portLevelSettings'], get(tp, 'portLevelSettings'))
  pls?.forEach((raw, i) => {
    const pp = [...p, 'portLevelSettings', i]
    const pl = c.item(pp, raw, 'port traffic policy')
    if (pl === undefined) return
    c.fields(pp, pl, PORT_POLICY_FIELDS)
    const port = c.map([...pp, 'port'], get(pl, 'port'))
    if (port === undefined) {
      if (get(pl, 'port') === undefined) c.error([...pp, 'port'], 'a port-level setting needs port.number', CODES.REQUIRED)
    } else {
      c.fields([...pp, 'port'], port, ['number'])
      if (get(port, 'number') === undefined) c.error([...pp, 'port', 'number'], 'port.number is required', CODES.REQUIRED)
      else checkPort(c, [...pp, 'port', 'number'], get(port, 'number'))
    }
    if (['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'].every(f => get(pl, f) === undefined)) {
      c.error(pp, 'a port-level setting must set at least one of loadBalancer, connectionPool, outlierDetection, tls', CODES.REQUIRED)
      return
    }
    validateSections(c, pp, pl, ctx)
  })
}

function validateSections (c: Checker, p: Path, tp: Obj, ctx: ValidateContext): void {
  validateLoadBalancer(c, [...p, 'loadBalancer'], get(tp, 'loadBalancer'))
  validateConnectionPool(c, [...p, 'connectionPool'], get(tp, 'connectionPool'))
  validateOutlierDetection(c, [...p, 'outlierDetection'], get(tp, 'outlierDetection'))
  validateClientTLS(c, [...p, 'tls'], get(tp, 'tls'), ctx)
}

function validateLoadBalancer (c: Checker, p: Path, v: unknown): void {
  const lb = c.map(p, v)
  if (lb === undefined) return
  c.fields(p, lb, LB_FIELDS)
  const simple = c.str([...p, 'simple'], get(lb, 'simple'))
  if (simple !== undefined && !LB_SIMPLE.includes(simple)) {
    c.error([...p, 'simple'], `unknown load balancer ${JSON.stringify(simple)}, expected one of ROUND_ROBIN, LEAST_REQUEST, RANDOM`, CODES.INVALID)
  }
  if (simple !== undefined && get(lb, 'consistentHash') !== undefined) c.error(p, 'only one of simple and consistentHash may be set', CODES.CONFLICT)
  if (get(lb, 'localityLbSetting') !== undefined) c.warn([...p, 'localityLbSetting'], 'locality load balancing is not supported by meshgate and is ignored', CODES.UNSUPPORTED)
  checkDuration(c, [...p, 'warmupDurationSecs'], get(lb, 'warmupDurationSecs'))

  const ch = c.map([...p, 'consistentHash'], get(lb, 'consistentHash'))
  if (ch === undefined) return
  const hp = [...p, 'consistentHash']
  c.fields(hp, ch, HASH_FIELDS)
  const keys = (['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const).filter(k => get(ch, k) !== undefined)
  if (keys.length > 1) c.error(hp, `only one hash key may be set, got ${keys.join(' and ')}`, CODES.CONFLICT)
  const header = c.str([...hp, 'httpHeaderName'], get(ch, 'httpHeaderName'))
  if (header !== undefined && !isHeaderToken(header)) c.error([...hp, 'httpHeaderName'], `${JSON.stringify(header)} is not a valid header name`, CODES.HEADER_NAME)
  c.bool([...hp, 'useSourceIp'], get(ch, 'useSourceIp'))
  c.str([...hp, 'httpQueryParameterName'], get(ch, 'httpQueryParameterName'))
  const cookie = c.map([...hp, 'httpCookie'], get(ch, 'httpCookie'))
  if (cookie !== undefined) {
    const cp = [...hp, 'httpCookie']
    c.fields(cp, cookie, ['name', 'path', 'ttl', 'attributes'])
    const name = c.str([...cp, 'name'], get(cookie, 'name'))
    if (name === undefined || name === '') c.error([...cp, 'name'], 'httpCookie.name is required', CODES.REQUIRED)
    c.str([...cp, 'path'], get(cookie, 'path'))
    checkDuration(c, [...cp, 'ttl'], get(cookie, 'ttl'), { allowZero: true })
  }
  const minRing = c.int([...hp, 'minimumRingSize'], get(ch, 'minimumRingSize'))
  if (minRing !== undefined && minRing !== 0) {
    c.warn([...hp, 'minimumRingSize'], 'minimumRingSize is deprecated; use ringHash.minimumRingSize', CODES.DEPRECATED)
    if (get(ch, 'ringHash') !== undefined || get(ch, 'maglev') !== undefined) c.error([...hp, 'minimumRingSize'], 'only one of minimumRingSize and ringHash/maglev may be set', CODES.CONFLICT)
  }
  if (get(ch, 'ringHash') !== undefined && get(ch, 'maglev') !== undefined) c.error(hp, 'only one of ringHash and maglev may be set', CODES.CONFLICT)
  const ring = c.map([...hp, 'ringHash'], get(ch, 'ringHash'))
  if (ring !== undefined) {
    c.fields([...hp, 'ringHash'], ring, ['minimumRingSize'])
    checkNonNegativeInt(c, [...hp, 'ringHash', 'minimumRingSize'], get(ring, 'minimumRingSize'))
  }
  const maglev = c.map([...hp, 'maglev'], get(ch, 'maglev'))
  if (maglev !== undefined) {
    const mp = [...hp, 'maglev', 'tableSize']
    c.fields([...hp, 'maglev'], maglev, ['tableSize'])
    const size = c.int(mp, get(maglev, 'tableSize')) ?? 0
    if (size <= 0) c.error(mp, 'maglev.tableSize must be set', CODES.REQUIRED)
    else if (size >= MAGLEV_MAX) c.error(mp, `maglev.tableSize must be less than ${MAGLEV_MAX}`, CODES.INVALID)
    else if (!isPrime(size)) c.error(mp, `maglev.tableSize ${size} must be a prime number`, CODES.INVALID)
  }
}

function isPrime (n: number): boolean {
  if (n < 2) return false
  if (n < 4) return true
  if (n % 2 === 0) return false
  for (let f = 3; f * f <= n; f += 2) if (n % f === 0) return false
  return true
}

function validateConnectionPool (c: Checker, p: Path, v: unknown): void {
  const cp = c.map(p, v)
  if (cp === undefined) return
  c.fields(p, cp, ['tcp', 'http'])
  const tcp = c.map([...p, 'tcp'], get(cp, 'tcp'))
  const http = c.map([...p, 'http'], get(cp, 'http'))
  if (get(cp, 'tcp') === undefined && get(cp, 'http') === undefined) c.error(p, 'connectionPool must set tcp and/or http', CODES.REQUIRED)
  if (tcp !== undefined) {
    const tp = [...p, 'tcp']
    c.fields(tp, tcp, TCP_FIELDS)
    checkNonNegativeInt(c, [...tp, 'maxConnections'], get(tcp, 'maxConnections'))
    checkDuration(c, [...tp, 'connectTimeout'], get(tcp, 'connectTimeout'))
    checkDuration(c, [...tp, 'maxConnectionDuration'], get(tcp, 'maxConnectionDuration'))
    // 0s disables the idle timeout (Istio skips validation for it).
    checkDuration(c, [...tp, 'idleTimeout'], get(tcp, 'idleTimeout'), { allowZero: true })
    const ka = c.map([...tp, 'tcpKeepalive'], get(tcp, 'tcpKeepalive'))
    if (ka !== undefined) {
      const kp = [...tp, 'tcpKeepalive']
      c.fields(kp, ka, ['probes', 'time', 'interval'])
      checkNonNegativeInt(c, [...kp, 'probes'], get(ka, 'probes'))
      checkDuration(c, [...kp, 'time'], get(ka, 'time'))
      checkDuration(c, [...kp, 'interval'], get(ka, 'interval'))
    }
  }
  if (http !== undefined) {
    const hp = [...p, 'http']
    c.fields(hp, http, HTTP_POOL_FIELDS)
    for (const f of ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'maxConcurrentStreams']) {
      checkNonNegativeInt(c, [...hp, f], get(http, f))
    }
    checkDuration(c, [...hp, 'idleTimeout'], get(http, 'idleTimeout'))
    const upgrade = c.str([...hp, 'h2UpgradePolicy'], get(http, 'h2UpgradePolicy'))
    if (upgrade !== undefined && !['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'].includes(upgrade)) {
      c.error([...hp, 'h2UpgradePolicy'], `unknown h2UpgradePolicy ${JSON.stringify(upgrade)}, expected DEFAULT, DO_NOT_UPGRADE or UPGRADE`, CODES.INVALID)
    }
    const useClient = c.bool([...hp, 'useClientProtocol'], get(http, 'useClientProtocol'))
    if (upgrade === 'UPGRADE' && useClient === true) c.error([...hp, 'useClientProtocol'], 'useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE', CODES.CONFLICT)
  }
}

/** UInt32Value fields may be written as a number or as `{value: N}`. */
function checkWrappedCount (c: Checker, p: Path, v: unknown): number | undefined {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Obj
    c.fields(p, o, ['value'])
    return checkNonNegativeInt(c, [...p, 'value'], get(o, 'value'))
  }
  return checkNonNegativeInt(c, p, v)
}

function validateOutlierDetection (c: Checker, p: Path, v: unknown): void {
  const od = c.map(p, v)
  if (od === undefined) return
  c.fields(p, od, OUTLIER_FIELDS)
  const legacy = checkNonNegativeInt(c, [...p, 'consecutiveErrors'], get(od, 'consecutiveErrors'))
  if (legacy !== undefined && legacy !== 0) c.warn([...p, 'consecutiveErrors'], 'consecutiveErrors is deprecated; use consecutive5xxErrors or consecutiveGatewayErrors', CODES.DEPRECATED)
  checkWrappedCount(c, [...p, 'consecutive5xxErrors'], get(od, 'consecutive5xxErrors'))
  checkWrappedCount(c, [...p, 'consecutiveGatewayErrors'], get(od, 'consecutiveGatewayErrors'))
  const local = checkWrappedCount(c, [...p, 'consecutiveLocalOriginFailures'], get(od, 'consecutiveLocalOriginFailures'))
  const split = c.bool([...p, 'splitExternalLocalOriginErrors'], get(od, 'splitExternalLocalOriginErrors'))
  if ((local ?? 0) > 0 && split !== true) {
    c.error([...p, 'consecutiveLocalOriginFailures'], 'consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true', CODES.CONFLICT)
  }
  checkDuration(c, [...p, 'interval'], get(od, 'interval'))
  checkDuration(c, [...p, 'baseEjectionTime'], get(od, 'baseEjectionTime'))
  for (const f of ['maxEjectionPercent', 'minHealthPercent']) {
    const n = c.int([...p, f], get(od, f))
    if (n !== undefined && (n < 0 || n > 100)) c.error([...p, f], `${f} ${n} is outside 0-100`, CODES.PERCENT)
  }
}

function validateClientTLS (c: Checker, p: Path, v: unknown, ctx: ValidateContext): void {
  const tls = c.map(p, v)
  if (tls === undefined) return
  c.fields(p, tls, TLS_FIELDS)
  const modeRaw = c.str([...p, 'mode'], get(tls, 'mode'))
  const mode = modeRaw ?? 'DISABLE'
  if (modeRaw !== undefined && !CLIENT_TLS_MODES.includes(modeRaw)) {
    c.error([...p, 'mode'], `unknown tls.mode ${JSON.stringify(modeRaw)}, expected one of ${CLIENT_TLS_MODES.join(', ')}`, CODES.INVALID)
    return
  }
  const files = {
    clientCertificate: c.str([...p, 'clientCertificate'], get(tls, 'clientCertificate')) ?? '',
    privateKey: c.str([...p, 'privateKey'], get(tls, 'privateKey')) ?? '',
    caCertificates: c.str([...p, 'caCertificates'], get(tls, 'caCertificates')) ?? '',
    caCrl: c.str([...p, 'caCrl'], get(tls, 'caCrl')) ?? ''
  }
  const credential = c.str([...p, 'credentialName'], get(tls, 'credentialName')) ?? ''
  const sans = c.strList([...p, 'subjectAltNames'], get(tls, 'subjectAltNames'))
  c.str([...p, 'sni'], get(tls, 'sni'))
  const skip = c.bool([...p, 'insecureSkipVerify'], get(tls, 'insecureSkipVerify'))

  if (mode === 'ISTIO_MUTUAL') {
    for (const [f, val] of Object.entries({ ...files, credentialName: credential })) {
      if (val !== '') c.error([...p, f], `ISTIO_MUTUAL cannot have ${f}`, CODES.CONFLICT)
    }
    c.warn([...p, 'mode'], 'ISTIO_MUTUAL presents the gateway\'s workload identity from --identity-dir; started without one, these connections fail (503)', CODES.RUNTIME_HINT)
    return
  }
  if (skip === true && (files.caCertificates !== '' || (sans !== undefined && sans.length > 0) || (mode === 'SIMPLE' && credential !== ''))) {
    c.error([...p, 'insecureSkipVerify'], 'insecureSkipVerify cannot be combined with caCertificates, subjectAltNames or credentialName', CODES.CONFLICT)
  }
  if (mode === 'DISABLE') return
  if (credential !== '') {
    for (const [f, val] of Object.entries(files)) {
      if (val !== '') c.error([...p, f], `${f} cannot be set together with credentialName`, CODES.CONFLICT)
    }
    checkCredentialName(c, ctx, [...p, 'credentialName'], credential, { certAndKey: mode === 'MUTUAL', ca: mode === 'SIMPLE' && skip !== true })
    return
  }
  if (mode === 'MUTUAL') {
    if (files.clientCertificate === '') c.error([...p, 'clientCertificate'], 'MUTUAL TLS requires clientCertificate', CODES.REQUIRED)
    if (files.privateKey === '') c.error([...p, 'privateKey'], 'MUTUAL TLS requires privateKey', CODES.REQUIRED)
  }
  for (const [f, val] of Object.entries(files)) checkCertFile(c, ctx, [...p, f], val, f)
  if (mode === 'MUTUAL') checkKeyPair(c, ctx, [...p, 'clientCertificate'], [...p, 'privateKey'], files.clientCertificate, files.privateKey)
}
