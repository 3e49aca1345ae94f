// Gateway: Istio's admission rules for servers, ports, hosts and TLS
// (ISTIO-SEMANTICS §1, §8), plus what meshgate cannot serve.
import { get, type Checker, type Obj, type Path } from './checker.js'
import { checkCertFile, checkCredentialName, checkKeyPair } from './credentials.js'
import { checkLabels, checkPort, formatLabels, isDnsLabel, isIpAddress, selectorMatches, wildcardHostProblem } from './common.js'
import type { ValidateContext } from './context.js'
import { CODES } from './codes.js'

const SPEC_FIELDS = ['selector', 'servers'] as const
const SERVER_FIELDS = ['port', 'bind', 'hosts', 'tls', 'name', 'defaultEndpoint'] as const
const PORT_FIELDS = ['number', 'protocol', 'name', 'targetPort'] as const
const TLS_FIELDS = ['httpsRedirect', 'mode', 'serverCertificate', 'privateKey', 'caCertificates', 'caCrl', 'credentialName',
  'credentialNames', 'tlsCertificates', 'subjectAltNames', 'verifyCertificateSpki', 'verifyCertificateHash',
  'minProtocolVersion', 'maxProtocolVersion', 'cipherSuites'] as const

/** Protocols Istio knows (case-insensitive). Only the HTTP family can be served by meshgate. */
const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB'])
const TLS_PROTOCOLS = new Set(['HTTPS', 'TLS'])
const OTHER_PROTOCOLS = new Set(['TCP', 'UDP', 'MONGO', 'REDIS', 'MYSQL', 'THRIFT', 'HTTP_PROXY', 'HBONE'])
const SERVER_TLS_MODES = ['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL']
const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3']

export function validateGateway (c: Checker, spec: Obj, ctx: ValidateContext): void {
  c.fields([], spec, SPEC_FIELDS)
  const selector = checkLabels(c, ['selector'], get(spec, 'selector'))
  const served = selector === undefined || selectorMatches(selector, ctx.gatewayLabels)
  if (!served && selector !== undefined) {
    c.warn(['selector'], `selector ${formatLabels(selector)} does not match this gateway's labels ${formatLabels(ctx.gatewayLabels)}: the Gateway is not served here`, CODES.SELECTOR)
  }

  const rawServers = get(spec, 'servers')
  const servers = c.list(['servers'], rawServers)
  if (servers === undefined || servers.length === 0) {
    // A wrong type was already reported by list().
    if (rawServers === undefined || servers !== undefined) c.error(['servers'], 'a Gateway needs at least one server', CODES.REQUIRED)
    return
  }
  const portNames = new Map<string, number>()
  servers.forEach((raw, i) => {
    const p: Path = ['servers', i]
    const server = c.item(p, raw, 'server')
    if (server === undefined) return
    const portName = validateServer(c, p, server, ctx, served)
    if (portName !== undefined) {
      const first = portNames.get(portName)
      if (first !== undefined) c.error([...p, 'port', 'name'], `port name ${JSON.stringify(portName)} is already used by servers[${first}]; port names must be unique in a Gateway`, CODES.CONFLICT)
      else portNames.set(portName, i)
    }
  })
}

/** Returns the port name (for the uniqueness check). */
function validateServer (c: Checker, p: Path, server: Obj, ctx: ValidateContext, served: boolean): string | undefined {
  c.fields(p, server, SERVER_FIELDS)
  c.str([...p, 'name'], get(server, 'name'))

  const hosts = c.strList([...p, 'hosts'], get(server, 'hosts'))
  if (hosts === undefined || hosts.length === 0) c.error([...p, 'hosts'], 'a server needs at least one host', CODES.REQUIRED)
  hosts?.forEach((h, j) => {
    const problem = serverHostProblem(h)
    if (problem !== null) c.error([...p, 'hosts', j], problem, CODES.HOST)
  })

  const bind = c.str([...p, 'bind'], get(server, 'bind'))
  if (bind !== undefined && bind !== '' && !isIpAddress(bind)) {
    c.error([...p, 'bind'], bind.startsWith('unix://') ? 'unix domain socket binds are not supported by meshgate' : `${JSON.stringify(bind)} is not an IP address`, CODES.INVALID)
  }
  if (get(server, 'defaultEndpoint') !== undefined) c.warn([...p, 'defaultEndpoint'], 'defaultEndpoint is a Sidecar field and is ignored on a Gateway', CODES.UNSUPPORTED)

  const portPath = [...p, 'port']
  const port = c.map(portPath, get(server, 'port'))
  let protocol: string | undefined
  let portName: string | undefined
  if (port === undefined) {
    c.error(portPath, 'a server needs a port', CODES.REQUIRED)
  } else {
    c.fields(portPath, port, PORT_FIELDS)
    if (get(port, 'number') === undefined) c.error([...portPath, 'number'], 'port.number is required', CODES.REQUIRED)
    else checkPort(c, [...portPath, 'number'], get(port, 'number'))
    portName = c.str([...portPath, 'name'], get(port, 'name'))
    if (portName === undefined || portName === '') {
      if (get(port, 'name') === undefined) c.error([...portPath, 'name'], 'port.name is required', CODES.REQUIRED)
      portName = undefined
    }
    if (get(port, 'targetPort') !== undefined) c.error([...portPath, 'targetPort'], 'targetPort has no effect on a Gateway; remove it', CODES.INVALID)
    protocol = checkServerProtocol(c, [...portPath, 'protocol'], get(port, 'protocol'))
  }

  const tlsPath = [...p, 'tls']
  const tls = c.map(tlsPath, get(server, 'tls'))
  if (protocol !== undefined) {
    if (TLS_PROTOCOLS.has(protocol) && tls === undefined) {
      c.error(tlsPath, `a ${protocol} server needs tls settings`, CODES.REQUIRED)
    }
  }
  if (tls !== undefined) validateServerTLS(c, tlsPath, tls, protocol, ctx, served)
  return portName
}

function checkServerProtocol (c: Checker, path: Path, v: unknown): string | undefined {
  if (v === undefined || v === null) {
    c.error(path, 'port.protocol is required (HTTP, HTTPS or HTTP2)', CODES.REQUIRED)
    return undefined
  }
  const s = c.str(path, v)
  if (s === undefined) return undefined
  const up = s.toUpperCase()
  if (HTTP_PROTOCOLS.has(up) || up === 'HTTPS') return up
  if (up === 'TLS' || OTHER_PROTOCOLS.has(up)) {
    c.error(path, `protocol ${s} is not supported by meshgate (HTTP, HTTPS, HTTP2, GRPC)`, CODES.UNSUPPORTED)
    return undefined
  }
  c.error(path, `unknown protocol ${JSON.stringify(s)}, expected one of HTTP, HTTPS, HTTP2, GRPC`, CODES.INVALID)
  return undefined
}

/** `[ns/]dnsName`: ns is `*`, `.` or a namespace; dnsName `*`, `*.suffix`, an FQDN or an IP. Short names are refused. */
export function serverHostProblem (entry: string): string | null {
  const slash = entry.indexOf('/')
  let host = entry
  if (slash !== -1) {
    const ns = entry.slice(0, slash)
    host = entry.slice(slash + 1)
    if (ns === '' || host === '') return `host ${JSON.stringify(entry)}: namespace and dnsName must not be empty`
    if (ns !== '*' && ns !== '.' && !isDnsLabel(ns)) return `host ${JSON.stringify(entry)}: ${JSON.stringify(ns)} is not a valid namespace`
  }
  if (host === '*') return null
  if (isIpAddress(host)) return null
  if (!host.includes('.')) return `host ${JSON.stringify(entry)}: short names are not allowed on a Gateway, use a fully qualified name`
  return wildcardHostProblem(host)
}

function validateServerTLS (c: Checker, p: Path, tls: Obj, protocol: string | undefined, ctx: ValidateContext, served: boolean): void {
  c.fields(p, tls, TLS_FIELDS)
  const redirect = c.bool([...p, 'httpsRedirect'], get(tls, 'httpsRedirect'))
  const modeRaw = c.str([...p, 'mode'], get(tls, 'mode'))
  let mode: string | undefined
  if (modeRaw !== undefined) {
    if (SERVER_TLS_MODES.includes(modeRaw)) mode = modeRaw
    else c.error([...p, 'mode'], `unknown tls.mode ${JSON.stringify(modeRaw)}, expected one of SIMPLE, MUTUAL, OPTIONAL_MUTUAL`, CODES.INVALID)
  }
  const cert = c.str([...p, 'serverCertificate'], get(tls, 'serverCertificate')) ?? ''
  const key = c.str([...p, 'privateKey'], get(tls, 'privateKey')) ?? ''
  const ca = c.str([...p, 'caCertificates'], get(tls, 'caCertificates')) ?? ''
  const crl = c.str([...p, 'caCrl'], get(tls, 'caCrl')) ?? ''
  const credential = c.str([...p, 'credentialName'], get(tls, 'credentialName')) ?? ''
  c.strList([...p, 'subjectAltNames'], get(tls, 'subjectAltNames'))
  c.strList([...p, 'verifyCertificateSpki'], get(tls, 'verifyCertificateSpki'))
  c.strList([...p, 'verifyCertificateHash'], get(tls, 'verifyCertificateHash'))
  for (const f of ['minProtocolVersion', 'maxProtocolVersion']) {
    const v = c.str([...p, f], get(tls, f))
    if (v !== undefined && !TLS_VERSIONS.includes(v)) c.error([...p, f], `unknown TLS version ${JSON.stringify(v)}, expected one of ${TLS_VERSIONS.join(', ')}`, CODES.INVALID)
  }
  c.strList([...p, 'cipherSuites'], get(tls, 'cipherSuites'))
  for (const f of ['credentialNames', 'tlsCertificates']) {
    if (get(tls, f) !== undefined) c.error([...p, f], `${f} is not supported by meshgate; use credentialName or serverCertificate/privateKey`, CODES.UNSUPPORTED)
  }
  const hasCerts = cert !== '' || key !== '' || ca !== '' || credential !== ''

  if (protocol !== undefined && HTTP_PROTOCOLS.has(protocol)) {
    // A plain-text server may carry only httpsRedirect.
    const terminating = mode !== undefined && mode !== 'PASSTHROUGH' && mode !== 'AUTO_PASSTHROUGH'
    if (hasCerts || terminating) c.error(p, `a plain-text ${protocol} server cannot have TLS settings other than httpsRedirect`, CODES.INVALID)
    return
  }
  if (redirect === true && protocol !== undefined) {
    c.warn([...p, 'httpsRedirect'], 'httpsRedirect should only be used on HTTP servers', CODES.INVALID)
  }
  if (protocol === undefined) return

  if (mode === 'ISTIO_MUTUAL') {
    for (const [f, v] of [['serverCertificate', cert], ['privateKey', key], ['caCertificates', ca], ['credentialName', credential]] as const) {
      if (v !== '') c.error([...p, f], `ISTIO_MUTUAL cannot have ${f}`, CODES.CONFLICT)
    }
    c.error([...p, 'mode'], 'tls.mode ISTIO_MUTUAL needs mesh workload certificates, which meshgate does not have; use SIMPLE or MUTUAL', CODES.UNSUPPORTED)
    return
  }
  if (mode === undefined || mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') {
    // An unknown mode was reported above; here the mode is absent or a passthrough one.
    if (modeRaw === undefined || mode !== undefined) {
      c.error([...p, 'mode'], `tls.mode ${mode ?? 'PASSTHROUGH (the default)'} does not terminate TLS and needs tls routes, which meshgate does not support; set mode SIMPLE, MUTUAL or OPTIONAL_MUTUAL`, CODES.UNSUPPORTED)
    }
    return
  }
  // SIMPLE, MUTUAL, OPTIONAL_MUTUAL
  if (cert !== '' && key !== '' && credential !== '') {
    c.error([...p, 'credentialName'], 'only one certificate source may be set: credentialName or serverCertificate/privateKey', CODES.CONFLICT)
  }
  if (crl !== '') {
    if (credential !== '') c.error([...p, 'caCrl'], 'caCrl is not supported with credentialName; put the CRL in the credential', CODES.CONFLICT)
    if (mode === 'SIMPLE') c.error([...p, 'caCrl'], 'caCrl is not supported with SIMPLE TLS', CODES.CONFLICT)
  }
  const mutual = mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL'
  if (credential === '') {
    if (cert === '') c.error([...p, 'serverCertificate'], `${mode} TLS requires serverCertificate (or credentialName)`, CODES.REQUIRED)
    if (key === '') c.error([...p, 'privateKey'], `${mode} TLS requires privateKey (or credentialName)`, CODES.REQUIRED)
    if (mutual && ca === '') c.error([...p, 'caCertificates'], `${mode} TLS requires caCertificates (the client CA bundle)`, CODES.REQUIRED)
  }
  // Files and secrets are only looked for on Gateways this gateway serves.
  if (!served) return
  if (credential !== '') {
    checkCredentialName(c, ctx, [...p, 'credentialName'], credential, { certAndKey: true, ca: mutual && ca === '' })
  } else {
    checkCertFile(c, ctx, [...p, 'serverCertificate'], cert, 'serverCertificate')
    checkCertFile(c, ctx, [...p, 'privateKey'], key, 'privateKey')
    checkKeyPair(c, ctx, [...p, 'serverCertificate'], [...p, 'privateKey'], cert, key)
  }
  if (mutual) checkCertFile(c, ctx, [...p, 'caCertificates'], ca, 'caCertificates')
  if (crl !== '') checkCertFile(c, ctx, [...p, 'caCrl'], crl, 'caCrl')
}
