// ServiceEntry: the services meshgate can route to (ISTIO-SEMANTICS §4, §8).
import { get, type Checker, type Obj } from './checker.js'
import { checkExportTo, checkLabels, checkPort, fqdnProblem, ipOrCidrProblem, isDnsLabel, isIpAddress, wildcardHostProblem } from './common.js'
import { CODES } from './codes.js'

const SPEC_FIELDS = ['hosts', 'addresses', 'ports', 'location', 'resolution', 'endpoints', 'workloadSelector', 'exportTo', 'subjectAltNames'] as const
const PORT_FIELDS = ['number', 'protocol', 'name', 'targetPort'] as const
const ENDPOINT_FIELDS = ['address', 'ports', 'labels', 'network', 'locality', 'weight', 'serviceAccount'] as const

/** Istio's protocol names, matched case-insensitively (`protocol: http` is fine). */
const PROTOCOLS = new Set(['HTTP', 'HTTPS', 'HTTP2', 'GRPC', 'GRPC-WEB', 'TCP', 'TLS', 'UDP', 'MONGO', 'REDIS', 'MYSQL', 'THRIFT', 'HTTP_PROXY'])
const HTTP_OR_TLS = new Set(['HTTP', 'HTTPS', 'HTTP2', 'GRPC', 'GRPC-WEB', 'TLS', 'HTTP_PROXY'])
const RESOLUTIONS = ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN']

export function validateServiceEntry (c: Checker, spec: Obj): void {
  c.fields([], spec, SPEC_FIELDS)
  const hosts = c.strList(['hosts'], get(spec, 'hosts'))
  if (hosts === undefined || hosts.length === 0) {
    if (get(spec, 'hosts') === undefined || hosts !== undefined) c.error(['hosts'], 'a ServiceEntry needs at least one host', CODES.REQUIRED)
  }
  hosts?.forEach((h, i) => {
    if (h === '*') {
      c.error(['hosts', i], 'host "*" is not allowed in a ServiceEntry', CODES.HOST)
    } else if (h.includes('*') && !h.startsWith('*.')) {
      // Istio only warns about partial wildcards; nothing will match them.
      c.warn(['hosts', i], `partial wildcard ${JSON.stringify(h)} never matches a request`, CODES.HOST)
    } else {
      const problem = wildcardHostProblem(h)
      if (problem !== null) c.error(['hosts', i], problem, CODES.HOST)
    }
  })

  const resolutionRaw = c.str(['resolution'], get(spec, 'resolution'))
  let resolution = 'NONE'
  if (resolutionRaw !== undefined) {
    if (RESOLUTIONS.includes(resolutionRaw)) resolution = resolutionRaw
    else c.error(['resolution'], `unknown resolution ${JSON.stringify(resolutionRaw)}, expected one of ${RESOLUTIONS.join(', ')}`, CODES.INVALID)
  }
  const location = c.str(['location'], get(spec, 'location'))
  if (location !== undefined && location !== 'MESH_EXTERNAL' && location !== 'MESH_INTERNAL') {
    c.error(['location'], `unknown location ${JSON.stringify(location)}, expected MESH_EXTERNAL or MESH_INTERNAL`, CODES.INVALID)
  }
  c.strList(['subjectAltNames'], get(spec, 'subjectAltNames'))
  checkExportTo(c, get(spec, 'exportTo'), true)

  let cidr = false
  c.strList(['addresses'], get(spec, 'addresses'))?.forEach((a, i) => {
    if (a.includes('/')) cidr = true
    const problem = ipOrCidrProblem(a)
    if (problem !== null) c.error(['addresses', i], problem, CODES.IP)
  })
  if (cidr && resolution !== 'NONE' && resolution !== 'STATIC') c.error(['addresses'], 'CIDR addresses are allowed only with resolution NONE or STATIC', CODES.CONFLICT)

  const portNames = new Set<string>()
  const protocols: string[] = []
  const ports = c.list(['ports'], get(spec, 'ports'))
  const portNumbers = new Set<number>()
  ports?.forEach((raw, i) => {
    const p = ['ports', i]
    const port = c.item(p, raw, 'port')
    if (port === undefined) return
    c.fields(p, port, PORT_FIELDS)
    const num = get(port, 'number') === undefined ? undefined : checkPort(c, [...p, 'number'], get(port, 'number'))
    if (get(port, 'number') === undefined) c.error([...p, 'number'], 'port.number is required', CODES.REQUIRED)
    if (num !== undefined) {
      if (portNumbers.has(num)) c.error([...p, 'number'], `port ${num} is already defined`, CODES.CONFLICT)
      portNumbers.add(num)
    }
    const name = c.str([...p, 'name'], get(port, 'name'))
    if (name === undefined || !isDnsLabel(name)) {
      if (typeof get(port, 'name') === 'string' || get(port, 'name') === undefined) c.error([...p, 'name'], `invalid port name ${JSON.stringify(name ?? '')} (a DNS label is required)`, CODES.INVALID)
    } else {
      if (portNames.has(name)) c.error([...p, 'name'], `port name ${JSON.stringify(name)} is already defined`, CODES.CONFLICT)
      portNames.add(name)
    }
    const proto = c.str([...p, 'protocol'], get(port, 'protocol'))
    if (proto !== undefined && proto !== '') {
      if (!PROTOCOLS.has(proto.toUpperCase())) c.error([...p, 'protocol'], `unknown protocol ${JSON.stringify(proto)}`, CODES.INVALID)
      else protocols.push(proto.toUpperCase())
    } else {
      protocols.push('TCP')
    }
    if (get(port, 'targetPort') !== undefined) checkPort(c, [...p, 'targetPort'], get(port, 'targetPort'), 'targetPort')
  })

  if (resolution !== 'NONE' && (hosts?.length ?? 0) > 1 && protocols.some(p => !HTTP_OR_TLS.has(p))) {
    c.error(['hosts'], 'several hosts cannot share non-HTTP, non-TLS ports (nothing tells the hosts apart)', CODES.CONFLICT)
  }

  if (get(spec, 'workloadSelector') !== undefined) {
    if (get(spec, 'endpoints') !== undefined) c.error(['workloadSelector'], 'only one of workloadSelector and endpoints may be set', CODES.CONFLICT)
    c.warn(['workloadSelector'], 'workloadSelector picks Kubernetes pods; meshgate has none, so this ServiceEntry has no endpoints', CODES.UNSUPPORTED)
  }
  const endpoints = c.list(['endpoints'], get(spec, 'endpoints')) ?? []
  if (resolution === 'NONE') {
    if (endpoints.length > 0) c.error(['endpoints'], 'endpoints must not be set with resolution NONE', CODES.CONFLICT)
    else c.warn(['resolution'], 'resolution NONE forwards to the original destination address, which a gateway does not have: routes to these hosts answer 503; use STATIC or DNS', CODES.RUNTIME_HINT)
  }
  if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) c.error(['endpoints'], 'DNS_ROUND_ROBIN allows at most one endpoint', CODES.CONFLICT)
  if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && endpoints.length === 0) {
    hosts?.forEach((h, i) => {
      if (h.startsWith('*') || fqdnProblem(h) !== null) c.error(['hosts', i], `with resolution ${resolution} and no endpoints the hosts are resolved themselves, so ${JSON.stringify(h)} must be a fully qualified name`, CODES.HOST)
    })
  }
  endpoints.forEach((raw, i) => {
    const p = ['endpoints', i]
    const ep = c.item(p, raw, 'endpoint')
    if (ep === undefined) return
    c.fields(p, ep, ENDPOINT_FIELDS)
    const addr = c.str([...p, 'address'], get(ep, 'address'))
    if (addr === undefined || addr === '') {
      if (get(ep, 'address') === undefined || addr === '') c.error([...p, 'address'], 'endpoint address is required', CODES.REQUIRED)
    } else if (addr.startsWith('unix://')) {
      if (resolution !== 'STATIC') c.error([...p, 'address'], 'unix:// endpoints need resolution STATIC', CODES.CONFLICT)
      c.warn([...p, 'address'], 'unix domain socket endpoints are not supported by meshgate', CODES.UNSUPPORTED)
    } else if (resolution === 'STATIC' && !isIpAddress(addr)) {
      c.error([...p, 'address'], `endpoint address ${JSON.stringify(addr)} must be an IP address with resolution STATIC`, CODES.IP)
    } else if (!isIpAddress(addr) && fqdnProblem(addr) !== null) {
      c.error([...p, 'address'], `endpoint address ${JSON.stringify(addr)} is not a valid host name or IP address`, CODES.HOST)
    }
    const epPorts = c.map([...p, 'ports'], get(ep, 'ports'))
    if (epPorts !== undefined) {
      for (const [name, v] of Object.entries(epPorts)) {
        if (!portNames.has(name)) c.error([...p, 'ports', name], `endpoint port name ${JSON.stringify(name)} is not one of the ServiceEntry's ports`, CODES.INVALID)
        checkPort(c, [...p, 'ports', name], v)
      }
    }
    checkLabels(c, [...p, 'labels'], get(ep, 'labels'))
    const w = c.int([...p, 'weight'], get(ep, 'weight'))
    if (w !== undefined && w < 0) c.error([...p, 'weight'], `weight ${w} must not be negative`, CODES.WEIGHT)
    for (const f of ['network', 'locality', 'serviceAccount']) c.str([...p, f], get(ep, f))
  })
}
