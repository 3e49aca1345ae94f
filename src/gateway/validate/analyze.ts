// Cross-resource analysis, as `istioctl analyze` does it: references to
// services, subsets, gateways and policy targets that nothing defines
// (errors, admission: false), and bindings that will never be used (warnings).
// Values are read defensively: admission checks already reported bad shapes.
import { hostCovers, intersectHosts, resolveGatewayName, resolveHost, splitServerHost } from '../compile/names.js'
import type { SourceResource } from '../sources/yaml-documents.js'
import { isObj, type Checker, type Obj, type Path } from './checker.js'
import { selectorMatches } from './common.js'
import type { ValidateContext } from './context.js'
import { CODES } from './codes.js'

export interface Analyzed {
  res: SourceResource
  checker: Checker
  spec: Obj
}

interface GatewayInfo { res: SourceResource, served: boolean, servers: Obj[] }
interface RuleInfo { host: string, subsets: Set<string>, names: string[] }

export interface PolicyRef { checker: Checker, path: Path, kind: string, name: string, namespace: string, required: boolean }

const str = (v: unknown): string | undefined => typeof v === 'string' ? v : undefined
const arr = (v: unknown): unknown[] => Array.isArray(v) ? v : []
const obj = (v: unknown): Obj | undefined => isObj(v) ? v : undefined

export class Analyzer {
  readonly gateways = new Map<string, GatewayInfo>()
  readonly virtualServices = new Set<string>()
  readonly serviceHosts: string[] = []
  readonly rules: RuleInfo[] = []

  constructor (items: readonly Analyzed[], ctx: ValidateContext) {
    for (const { res, spec } of items) {
      const key = `${res.namespace}/${res.name}`
      if (res.kind === 'Gateway') {
        const selector = obj(spec.selector)
        const labels: Record<string, string> = {}
        for (const [k, v] of Object.entries(selector ?? {})) if (typeof v === 'string') labels[k] = v
        const served = selector === undefined || selectorMatches(labels, ctx.gatewayLabels)
        if (!this.gateways.has(key)) this.gateways.set(key, { res, served, servers: arr(spec.servers).filter(isObj) })
      } else if (res.kind === 'VirtualService') {
        this.virtualServices.add(key)
      } else if (res.kind === 'ServiceEntry') {
        // Istio does not expand short names in ServiceEntry hosts.
        for (const h of arr(spec.hosts)) if (typeof h === 'string') this.serviceHosts.push(h.toLowerCase())
      } else if (res.kind === 'DestinationRule') {
        const host = str(spec.host)
        if (host === undefined || host === '') continue
        const subsets = new Set<string>()
        for (const s of arr(spec.subsets)) {
          const n = str(obj(s)?.name)
          if (n !== undefined) subsets.add(n)
        }
        this.rules.push({ host: resolveHost(host, res.namespace), subsets, names: [`${res.namespace}/${res.name}`] })
      }
    }
  }

  analyzeVirtualService (c: Checker, spec: Obj): void {
    const ns = c.namespace
    const bound: GatewayInfo[] = []
    arr(spec.gateways).forEach((g, i) => {
      if (typeof g !== 'string') return
      const info = this.checkGatewayRef(c, ['gateways', i], g)
      if (info !== undefined) bound.push(info)
    })
    arr(spec.http).forEach((rawRule, i) => {
      const rule = obj(rawRule)
      if (rule === undefined) return
      arr(rule.match).forEach((m, j) => {
        arr(obj(m)?.gateways).forEach((g, k) => {
          if (typeof g === 'string') this.checkGatewayRef(c, ['http', i, 'match', j, 'gateways', k], g)
        })
      })
      arr(rule.route).forEach((rd, j) => {
        this.checkDestination(c, ['http', i, 'route', j, 'destination'], obj(rd)?.destination, ns)
      })
      if (rule.mirror !== undefined && rule.mirror !== null) this.checkDestination(c, ['http', i, 'mirror'], rule.mirror, ns)
      arr(rule.mirrors).forEach((m, j) => {
        this.checkDestination(c, ['http', i, 'mirrors', j, 'destination'], obj(m)?.destination, ns)
      })
    })
    this.checkHostBinding(c, spec, bound)
  }

  /** `gateways` entries must name a Gateway in the set (`mesh` is reserved). */
  private checkGatewayRef (c: Checker, path: Path, ref: string): GatewayInfo | undefined {
    const key = resolveGatewayName(ref, c.namespace)
    if (key === 'mesh') return undefined
    const info = this.gateways.get(key)
    if (info === undefined) {
      c.finding(path, `gateway ${JSON.stringify(ref)} (${key}) is not defined by any Gateway`, CODES.REF_GATEWAY)
      return undefined
    }
    return info
  }

  private checkDestination (c: Checker, path: Path, raw: unknown, ns: string): void {
    const d = obj(raw)
    const host = str(d?.host)
    if (d === undefined || host === undefined || host === '' || host === '*') return
    const fqdn = resolveHost(host, ns)
    if (!this.serviceHosts.some(h => hostCovers(h, fqdn))) {
      c.finding([...path, 'host'], `${JSON.stringify(host)} (${fqdn}) is not a known service: no ServiceEntry has this host`, CODES.REF_HOST)
    }
    const subset = str(d.subset)
    if (subset === undefined || subset === '') return
    const rules = this.rulesFor(fqdn)
    if (rules.length === 0) {
      c.finding([...path, 'subset'], `subset ${JSON.stringify(subset)} of ${fqdn} is defined by no DestinationRule (no DestinationRule for this host); requests answer 503`, CODES.REF_SUBSET)
    } else if (!rules.some(r => r.subsets.has(subset))) {
      const names = rules.flatMap(r => r.names).join(', ')
      const known = [...new Set(rules.flatMap(r => [...r.subsets]))]
      c.finding([...path, 'subset'], `subset ${JSON.stringify(subset)} of ${fqdn} is defined by no DestinationRule (${names} define ${known.length === 0 ? 'no subsets' : known.join(', ')}); requests answer 503`, CODES.REF_SUBSET)
    }
  }

  /** The DestinationRules that apply to a host: the most specific host wins (exact, then the longest wildcard). */
  private rulesFor (fqdn: string): RuleInfo[] {
    const matching = this.rules.filter(r => hostCovers(r.host, fqdn))
    if (matching.length === 0) return []
    const exact = matching.filter(r => r.host === fqdn)
    if (exact.length > 0) return exact
    const longest = Math.max(...matching.map(r => r.host.length))
    return matching.filter(r => r.host.length === longest)
  }

  /** A gateway-bound VirtualService whose hosts meet no server host of its gateways is never used. */
  private checkHostBinding (c: Checker, spec: Obj, bound: GatewayInfo[]): void {
    const served = bound.filter(g => g.served)
    if (served.length === 0) {
      if (bound.length > 0) {
        c.warn(['gateways'], `none of its gateways (${bound.map(g => `${g.res.namespace}/${g.res.name}`).join(', ')}) is served here (their selectors do not match this gateway's labels): it is never used`, CODES.SELECTOR)
      }
      return
    }
    const hosts = arr(spec.hosts).filter((h): h is string => typeof h === 'string').map(h => resolveHost(h, c.namespace))
    if (hosts.length === 0) return
    for (const g of served) {
      for (const server of g.servers) {
        for (const entry of arr(server.hosts)) {
          if (typeof entry !== 'string') continue
          const { namespace, host } = splitServerHost(entry, g.res.namespace)
          if (namespace !== '*' && namespace !== c.namespace) continue
          if (hosts.some(h => intersectHosts(host, h) !== null)) return
        }
      }
    }
    c.warn(['hosts'], `no host of this VirtualService matches a server host of its gateways (${served.map(g => `${g.res.namespace}/${g.res.name}`).join(', ')}): it is never used`, CODES.UNBOUND_HOST)
  }

  /**
   * Istio gives a TLS host on one port to the first server that claims it and
   * skips any later server claiming it again; HTTP and HTTPS on one port clash.
   */
  analyzeServerConflicts (checkers: ReadonlyMap<string, Checker>): void {
    const byPort = new Map<number, { tls: boolean, owner: string, hosts: Map<string, string> }>()
    for (const [key, g] of this.gateways) {
      const c = checkers.get(key)
      if (c === undefined || !g.served) continue
      arr(c.res.value.spec !== undefined && isObj(c.res.value.spec) ? c.res.value.spec.servers : []).forEach((raw, i) => {
        const s = obj(raw)
        const port = obj(s?.port)
        const num = port?.number
        const proto = str(port?.protocol)?.toUpperCase()
        if (s === undefined || typeof num !== 'number' || proto === undefined) return
        const tls = proto === 'HTTPS'
        const where = `Gateway ${key} servers[${i}]`
        const entry = byPort.get(num)
        if (entry === undefined) {
          const hosts = new Map<string, string>()
          if (tls) for (const h of arr(s.hosts)) if (typeof h === 'string') hosts.set(splitServerHost(h, g.res.namespace).host, where)
          byPort.set(num, { tls, owner: where, hosts })
          return
        }
        if (entry.tls !== tls) {
          c.warn(['servers', i], `port ${num} is already served as ${entry.tls ? 'HTTPS' : 'plain text'} by ${entry.owner}; Istio skips this server`, CODES.CONFLICT)
          return
        }
        if (!tls) return
        for (const h of arr(s.hosts)) {
          if (typeof h !== 'string') continue
          const host = splitServerHost(h, g.res.namespace).host
          const owner = entry.hosts.get(host)
          if (owner !== undefined && owner !== where) {
            c.warn(['servers', i], `TLS host ${host} on port ${num} is already claimed by ${owner}; Istio skips this whole server`, CODES.CONFLICT)
            return
          }
        }
        for (const h of arr(s.hosts)) if (typeof h === 'string') entry.hosts.set(splitServerHost(h, g.res.namespace).host, where)
      })
    }
  }

  /** targetRefs of meshgate kinds (errors when dangling) and of Istio policies (warnings). */
  checkPolicyRef (ref: PolicyRef): void {
    const key = `${ref.namespace}/${ref.name}`
    if (ref.kind === 'VirtualService') {
      if (!this.virtualServices.has(key)) ref.checker.finding(ref.path, `VirtualService ${key} is not defined`, CODES.REF_TARGET)
      return
    }
    const g = this.gateways.get(key)
    if (g === undefined) {
      if (ref.required) ref.checker.finding(ref.path, `Gateway ${key} is not defined`, CODES.REF_TARGET)
      else ref.checker.warn(ref.path, `Gateway ${key} is not defined: the policy applies nowhere`, CODES.REF_TARGET)
    } else if (!g.served) {
      ref.checker.warn(ref.path, `Gateway ${key} is not served by this gateway (selector does not match): the policy does not apply here`, CODES.SELECTOR)
    }
  }
}
