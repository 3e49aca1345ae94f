// What the gateway would do with one request, from the same snapshot and
// matcher as `serve`: no second implementation to drift.
import type { IncomingHttpHeaders } from 'node:http'
import type { Snapshot, RouteDestination, CompiledRule } from './snapshot.js'
import { RequestFacts } from './dataplane/request-facts.js'
import { newSelection, pickDestination, selectRoute, stickyPoint, stickyValue } from './dataplane/route-request.js'
import { findToken, JwtAuthenticator } from '../plugins/authn-jwt/index.js'
import { explainAuthz, type AuthzDecision } from '../plugins/authz.js'
import { checkApiKeys } from '../plugins/api-keys.js'
import { covers } from '../plugins/targets.js'
import { EdgeFactsEngine } from '../plugins/edge-facts/index.js'
import { describeMatcher } from './compile/string-matcher.js'
import { isWorkingRedirect, redirectLocation } from './dataplane/redirect.js'
import { applyResponseOps, type ResponseHeaders } from './dataplane/headers.js'
import { formatIssue } from './validate/issues.js'

export interface ExplainRequest {
  readonly url: string
  readonly method: string
  readonly headers: Readonly<Record<string, string>>
  readonly clientIp: string
}

export interface Explanation {
  readonly matched: boolean
  readonly status: number | null
  readonly result: Record<string, unknown>
}

export class UsageError extends Error {}

export interface ExplainTools {
  /** Derives geo/device facts as `serve` does (give one holding the --geoip database). */
  readonly edge?: EdgeFactsEngine
  /** Validates JWTs as `serve` does; a jwksUri is fetched when a token needs it. */
  readonly jwt?: JwtAuthenticator
}

export async function explain (snapshot: Snapshot, r: ExplainRequest, tools: ExplainTools = {}): Promise<Explanation> {
  const edge = tools.edge ?? new EdgeFactsEngine(null)
  let url: URL
  try {
    url = new URL(r.url)
  } catch {
    throw new UsageError(`--url ${JSON.stringify(r.url)} is not an absolute http(s) URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url must be http:// or https://, got ${url.protocol}`)
  const scheme = url.protocol.slice(0, -1)
  const port = url.port !== '' ? Number(url.port) : scheme === 'https' ? 443 : 80
  const headers: IncomingHttpHeaders = {}
  for (const [k, v] of Object.entries(r.headers)) headers[k.toLowerCase()] = v
  const authority = headers.host ?? (url.port !== '' ? `${url.hostname}:${url.port}` : url.hostname)
  headers.host = authority
  const facts = new RequestFacts(r.method.toUpperCase(), scheme, authority, `${url.pathname}${url.search}`, headers, port, r.clientIp, scheme === 'https' ? url.hostname : '')
  edge.apply(facts, snapshot.edgeFacts)
  // The gates before routing, in Envoy's order: JWT, then AuthorizationPolicy.
  let authnFailure: string | null = null
  let authn: Record<string, unknown> | null = null
  if (snapshot.authn.rules.length > 0) {
    const found = findToken(facts, snapshot.authn)
    const hadToken = found === null ? null : `${found.location.kind} ${found.location.name}`
    if (facts.method !== 'OPTIONS' || facts.headers['access-control-request-method'] === undefined) {
      authnFailure = await (tools.jwt ?? new JwtAuthenticator(null)).authenticate(facts, snapshot.authn)
    }
    authn = {
      token: hadToken === null ? 'none' : authnFailure === null ? 'valid' : 'invalid',
      location: hadToken,
      requestPrincipal: facts.requestPrincipal === '' ? null : facts.requestPrincipal,
      error: authnFailure,
      rules: snapshot.authn.rules.map(j => `${j.policy.namespace}/${j.policy.name} jwtRules[${j.index}] issuer ${JSON.stringify(j.issuer)}`)
    }
  }
  const sel = selectRoute(snapshot, facts, newSelection())
  if (authnFailure === null && snapshot.apiKeys.policies.length > 0) {
    authnFailure = checkApiKeys(snapshot.apiKeys, facts, sel)
    authn = { ...(authn ?? {}), apiKey: authnFailure ?? (facts.consumer === '' ? 'no ApiKeyPolicy covers the request' : `consumer ${facts.consumer}`), requestPrincipal: facts.requestPrincipal === '' ? null : facts.requestPrincipal }
  }
  const az = authnFailure === null ? explainAuthz(snapshot.authz, facts) : null
  const rateLimits = snapshot.rateLimits.policies.filter(p => covers(p.targets, facts, sel)).map(p => ({
    policy: p.id,
    failOpen: p.failOpen,
    limits: p.limits.map(l => `${l.name}: ${l.requests} per ${l.periodMs / 1000}s by ${l.key.kind}${l.key.name === '' ? '' : `:${l.key.name}`}`)
  }))
  const out: Record<string, unknown> = {
    configVersion: snapshot.version,
    request: { method: facts.method, scheme, authority, path: facts.path, query: facts.query, port, peerIp: facts.peerIp, headers: r.headers },
    facts: describeFacts(snapshot, facts, edge),
    listener: sel.listener === null ? null : { port: sel.listener.port, tls: sel.listener.tls, gateways: sel.listener.gatewayNames },
    gatewayServer: sel.tlsServer === null
      ? (sel.listener === null ? null : { gateways: sel.listener.gatewayNames, routeTable: sel.table?.name ?? null })
      : { gateway: `${sel.tlsServer.gateway.namespace}/${sel.tlsServer.gateway.name}`, server: sel.tlsServer.serverIndex, portName: sel.tlsServer.portName, mode: sel.tlsServer.mode, routeTable: sel.table?.name ?? null },
    virtualHost: sel.vhost === null ? null : { name: sel.vhost.name, domains: sel.vhost.domains },
    authn,
    rateLimits,
    authz: az === null ? null : { decision: az.decision.allowed ? 'ALLOW' : 'DENY', policy: decidingPolicy(snapshot, az.decision), reason: az.summary, policies: az.policies },
    virtualService: null,
    route: null,
    findings: snapshot.issues.filter(i => i.severity === 'error').map(formatIssue)
  }
  if (sel.listener === null) {
    out.reason = `no Gateway server listens on port ${port}`
    return { matched: false, status: null, result: out }
  }
  // A refused token or an authorization denial is answered before routing, even
  // where no route would match; the route below is what routing would pick.
  const gateStatus = authnFailure !== null ? 401 : az !== null && !az.decision.allowed ? 403 : null
  if (sel.listener.tls && sel.tlsServer === null) {
    out.reason = `no TLS server on port ${port} accepts SNI ${JSON.stringify(facts.sni)}: the handshake fails`
    return { matched: false, status: null, result: out }
  }
  if (sel.vhost !== null && sel.vhost.requireTls && scheme === 'http') {
    out.action = 'httpsRedirect'
    out.status = gateStatus ?? 301
    out.location = `https://${authority}${facts.rawPath}`
    return { matched: true, status: gateStatus ?? 301, result: out }
  }
  if (sel.vhost === null || sel.route === null) {
    out.reason = sel.vhost === null ? `no virtual host for ${JSON.stringify(facts.host)} on port ${port}` : `no route of ${sel.vhost.name} matches`
    out.status = gateStatus ?? 404
    return { matched: false, status: gateStatus ?? 404, result: out }
  }
  const route = sel.route
  const rule = route.rule
  out.virtualService = `${rule.virtualService.namespace}/${rule.virtualService.name}`
  out.virtualServiceSource = rule.virtualService.line > 0 ? `${rule.virtualService.file}:${rule.virtualService.line}` : rule.virtualService.file
  out.route = {
    index: rule.index,
    name: route.name === '' ? null : route.name,
    matchIndex: route.matchIndex,
    match: route.match === null ? 'everything' : describeMatch(route.match),
    position: sel.vhost.routes.indexOf(route),
    ordering: 'VirtualServices for one host are merged oldest creationTimestamp first, then by name and namespace; catch-all routes move to the end'
  }
  out.action = rule.action
  let status: number | null = null
  // The response headers the gateway itself sets, as the data plane applies
  // them; `origin` says whether the upstream's own headers come on top.
  const set: ResponseHeaders = {}
  let chosen: RouteDestination | null = null
  /** Whether the answer carries the route's response-header operations. */
  let routeOps = false
  if (rule.action === 'redirect') {
    const rd = rule.redirect!
    out.redirect = { code: rd.code, uri: rd.uri, authority: rd.authority, scheme: rd.scheme, port: rd.port }
    if (isWorkingRedirect(rd)) {
      status = rd.code
      out.location = redirectLocation(rd, facts, route.match?.uri?.kind === 'prefix' ? route.match.uri.value : null)
      set.location = out.location as string
      routeOps = true
    } else {
      status = 404
      out.reason = `redirectCode ${rd.code} is not one Envoy sends (301, 302, 303, 307, 308): the route is dropped`
    }
  } else if (rule.action === 'direct') {
    out.directResponse = { status: rule.directStatus, body: rule.directBody?.toString('utf8') ?? null }
    status = rule.directStatus
    routeOps = true
  } else {
    out.destinations = rule.destinations.map(d => destinationFacts(d, rule, snapshot))
    out.destination = rule.destinations.length === 1 ? destinationOf(rule.destinations[0]!) : { host: commonHost(rule.destinations) }
    out.weights = rule.destinations.length > 1 ? rule.destinations.map(d => ({ host: d.host, subset: d.subset || null, weight: d.weight, percent: round(d.weight / rule.totalWeight * 100) })) : null
    out.stickySplit = null
    if (rule.stickyKey !== null) {
      const k = rule.stickyKey
      const value = stickyValue(k, facts)
      const key = `${k.kind}${k.name === '' ? '' : `:${k.name}`}`
      if (value === undefined) {
        out.stickySplit = { key, value: null, lands: null, note: 'the request lacks the key: the side is chosen at random (counted in meshgate_sticky_split_fallback_total)' }
      } else {
        const d = pickDestination(rule, value)!
        out.stickySplit = { key, value, point: round(stickyPoint(value) * 100), lands: destinationOf(d), note: 'point is where the key falls on the 0-100 weight line, in route order; the same on every worker and replica' }
        out.destination = destinationOf(d)
        chosen = d
      }
    }
    if (rule.destinations.length === 1) chosen = rule.destinations[0]!
    const missing = rule.destinations.find(d => !snapshot.clusters.has(d.clusterKey))
    const empty = rule.destinations.find(d => snapshot.clusters.get(d.clusterKey)?.endpoints.length === 0)
    if (rule.destinations.length === 0 || (rule.destinations.length === 1 && missing !== undefined)) status = 503
    else if (rule.destinations.length === 1 && empty !== undefined) status = 503
  }
  const f = rule.fault
  if (f !== null) {
    out.fault = {
      delay: f.delayMs > 0 ? `${f.delayMs / 1000}s` : null,
      delayPercentage: f.delayMs > 0 ? f.delayPercent : null,
      abort: f.abortStatus > 0 ? f.abortStatus : null,
      abortGrpcStatus: f.abortGrpcStatus >= 0 ? f.abortGrpcStatus : null,
      abortPercentage: f.abortStatus > 0 ? f.abortPercent : null
    }
    if (f.abortStatus > 0 && f.abortPercent >= 100) {
      status = f.abortGrpcStatus >= 0 ? 200 : f.abortStatus
      routeOps = false
      delete set.location
    }
  }
  out.timeout = rule.timeoutMs > 0 ? `${rule.timeoutMs / 1000}s` : null
  out.retries = { attempts: rule.retry.attempts, perTryTimeout: rule.retry.perTryTimeoutMs > 0 ? `${rule.retry.perTryTimeoutMs / 1000}s` : null, retryOn: rule.retry.raw }
  out.mirror = rule.mirrors.length === 0 ? null : rule.mirrors.map(m => ({ host: m.host, subset: m.subset || null, port: m.port, percentage: m.percent }))
  out.rewrite = rule.rewrite === null ? null : { uri: rule.rewrite.uri, authority: rule.rewrite.authority, uriRegexRewrite: rule.rewrite.regex !== null }
  out.cors = rule.cors !== null
  if (gateStatus !== null) status = gateStatus
  if (gateStatus === null) {
    // A forwarded route's own local answers (no upstream, a fault abort) carry
    // none of the route's operations, as in the data plane.
    const local = rule.action !== 'route' || status !== null
    const multi = rule.destinations.length > 1
    if (rule.action === 'route' && status === null) {
      // Same order as the data plane: a weighted route's destination ops first.
      if (multi && chosen?.responseHeaders != null) applyResponseOps(chosen.responseHeaders, set, facts)
      if (rule.responseHeaders !== null) applyResponseOps(rule.responseHeaders, set, facts)
      if (!multi && chosen?.responseHeaders != null) applyResponseOps(chosen.responseHeaders, set, facts)
    } else if (routeOps && rule.responseHeaders !== null) {
      applyResponseOps(rule.responseHeaders, set, facts)
    }
    const removed = local ? [] : [...(rule.responseHeaders?.remove ?? []), ...(chosen?.responseHeaders?.remove ?? [])].filter(n => set[n] === undefined)
    out.responseHeaders = {
      set,
      removed,
      origin: local ? 'local' : 'upstream',
      note: local
        ? 'a local answer: these are all its headers besides content-length, date and server'
        : rule.destinations.length > 1 && chosen === null
          ? 'headers of the route; the weighted destination\'s own operations depend on the side chosen at random; the upstream\'s headers come on top'
          : 'headers the gateway sets on top of the upstream\'s own'
    }
  }
  out.status = status
  return { matched: true, status, result: out }
}

function destinationFacts (d: RouteDestination, rule: CompiledRule, snapshot: Snapshot): Record<string, unknown> {
  const c = snapshot.clusters.get(d.clusterKey)
  return {
    host: d.host,
    subset: d.subset || null,
    port: d.port,
    weight: rule.destinations.length > 1 ? d.weight : 100,
    cluster: d.clusterKey,
    endpoints: c === undefined ? null : c.endpoints.map(e => e.key),
    loadBalancer: c === undefined ? null : c.hash === null ? c.lb : `consistentHash(${c.hash.kind}${c.hash.name === '' ? '' : `:${c.hash.name}`})`,
    outcome: c === undefined ? '503: no cluster (unknown host or undefined subset)' : c.endpoints.length === 0 ? '503: no healthy upstream' : 'forwarded'
  }
}

function describeMatch (m: import('./snapshot.js').CompiledMatch): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  if (m.uri !== null) o.uri = describeMatcher(m.uri)
  if (m.method !== null) o.method = describeMatcher(m.method)
  if (m.authority !== null) o.authority = describeMatcher(m.authority)
  if (m.scheme !== null) o.scheme = describeMatcher(m.scheme)
  if (m.headers.length > 0) o.headers = Object.fromEntries(m.headers.map(h => [h.name, describeMatcher(h.matcher)]))
  if (m.withoutHeaders.length > 0) o.withoutHeaders = Object.fromEntries(m.withoutHeaders.map(h => [h.name, describeMatcher(h.matcher)]))
  if (m.queryParams.length > 0) o.queryParams = Object.fromEntries(m.queryParams.map(h => [h.name, describeMatcher(h.matcher)]))
  if (m.claims.length > 0) o.claims = Object.fromEntries(m.claims.map(c => [c.path.join('.'), describeMatcher(c.matcher)]))
  if (m.port !== 0) o.port = m.port
  return o
}

/**
 * The policy a decision comes from. A denial because no ALLOW rule matched
 * names the ALLOW policy when there is exactly one (it is that policy's
 * rules the request missed), else none.
 */
function decidingPolicy (snapshot: Snapshot, d: AuthzDecision): string | null {
  if (d.policy !== '') return d.policy
  if (!d.allowed && snapshot.authz.allow.length === 1) return snapshot.authz.allow[0]!.id
  return null
}


function destinationOf (d: RouteDestination): { host: string, port: number, subset: string | null } {
  return { host: d.host, port: d.port, subset: d.subset || null }
}

function describeFacts (snapshot: Snapshot, f: RequestFacts, edge: EdgeFactsEngine): Record<string, unknown> {
  const cfg = snapshot.edgeFacts
  const exposed: Record<string, string> = {}
  for (const name of cfg.headerNames) {
    const v = f.headers[name]
    if (typeof v === 'string') exposed[name] = v
  }
  return {
    clientIp: f.clientIp,
    peerIp: f.peerIp,
    trustedProxy: cfg.trustedProxies?.has(f.peerIp) ?? false,
    geo: f.geo.country === '' ? null : { country: f.geo.country, region: f.geo.region || null, city: f.geo.city || null },
    geoSource: edge.geo === null && cfg.geoHeaders.country === '' ? 'none (no --geoip and no geoHeaders)' : edge.geo !== null ? edge.geo.files.map(x => x.path).join(', ') : 'geoHeaders',
    device: f.device.device === '' ? null : { os: f.device.os || null, device: f.device.device, browser: f.device.browser || null },
    headers: exposed,
    edgeFacts: cfg.source === null ? 'defaults' : `${cfg.source.namespace}/${cfg.source.name}`
  }
}

function commonHost (ds: readonly RouteDestination[]): string | null {
  const hosts = new Set(ds.map(d => d.host))
  return hosts.size === 1 ? ds[0]!.host : null
}

function round (n: number): number {
  return Math.round(n * 100) / 100
}
