// EdgeFacts resources → the one EdgeFactsConfig the gateway applies to every
// request before routing. Facts are a property of the edge, not of a route, so a
// gateway has one set: the oldest EdgeFacts resource wins (Istio's tie-break for
// competing resources), the others are reported and ignored.
import type { SourceResource } from '../sources/yaml-documents.js'
import type { EdgeFact, EdgeFactsConfig, GeoFact } from '../snapshot.js'
import { CidrSet } from '../../plugins/edge-facts/client-address.js'
import { makeIssue, type Issue } from '../validate/issues.js'
import { CODES } from '../errors.js'

export const EDGE_FACTS: readonly EdgeFact[] = ['country', 'region', 'city', 'os', 'device', 'browser']
export const GEO_FACTS: readonly GeoFact[] = ['country', 'region', 'city']

export const DEFAULT_FACT_HEADERS: Readonly<Record<EdgeFact, string>> = Object.freeze({
  country: 'x-geo-country',
  region: 'x-geo-region',
  city: 'x-geo-city',
  os: 'x-ua-os',
  device: 'x-ua-device',
  browser: 'x-ua-browser'
})

const NO_GEO_HEADERS: Readonly<Record<GeoFact, string>> = Object.freeze({ country: '', region: '', city: '' })

export const DEFAULT_EDGE_FACTS: EdgeFactsConfig = Object.freeze({
  source: null,
  headers: DEFAULT_FACT_HEADERS,
  headerNames: new Set(Object.values(DEFAULT_FACT_HEADERS)),
  trustedProxies: null,
  geoHeaders: NO_GEO_HEADERS,
  forwardHeaders: true
})

/** `ordered` is in compile order (oldest first); validation has already checked every field. */
export function compileEdgeFacts (ordered: readonly SourceResource[], issues: Issue[]): EdgeFactsConfig {
  const all = ordered.filter(r => r.kind === 'EdgeFacts')
  if (all.length === 0) return DEFAULT_EDGE_FACTS
  const r = all[0]!
  for (const other of all.slice(1)) {
    issues.push(makeIssue({ severity: 'warning', admission: false, code: CODES.CONFLICT, file: other.file, line: other.line, kind: other.kind, namespace: other.namespace, name: other.name, field: 'kind', message: `only one EdgeFacts applies per gateway; ${r.namespace}/${r.name} (the oldest) is used and this one is ignored` }))
  }
  const spec = (r.value.spec ?? {}) as Record<string, unknown>
  if (spec.targetRefs !== undefined || spec.match !== undefined) {
    issues.push(makeIssue({ severity: 'warning', admission: false, code: CODES.NOT_ENFORCED, file: r.file, line: r.line, kind: r.kind, namespace: r.namespace, name: r.name, field: spec.targetRefs !== undefined ? 'spec.targetRefs' : 'spec.match', message: 'facts are derived for every request before routing; targetRefs and match do not narrow EdgeFacts' }))
  }
  const headers: Record<EdgeFact, string> = { ...DEFAULT_FACT_HEADERS }
  const h = spec.headers as Record<string, unknown> | undefined
  for (const f of EDGE_FACTS) if (typeof h?.[f] === 'string') headers[f] = (h[f] as string).toLowerCase()
  const geoHeaders: Record<GeoFact, string> = { ...NO_GEO_HEADERS }
  const g = spec.geoHeaders as Record<string, unknown> | undefined
  for (const f of GEO_FACTS) if (typeof g?.[f] === 'string') geoHeaders[f] = (g[f] as string).toLowerCase()
  const cidrs = Array.isArray(spec.trustedProxies) ? spec.trustedProxies.filter((c): c is string => typeof c === 'string') : []
  return Object.freeze({
    source: Object.freeze({ kind: r.kind, namespace: r.namespace, name: r.name, file: r.file, line: r.line }),
    headers: Object.freeze(headers),
    headerNames: new Set(Object.values(headers)),
    trustedProxies: cidrs.length === 0 ? null : new CidrSet(cidrs),
    geoHeaders: Object.freeze(geoHeaders),
    forwardHeaders: spec.forwardHeaders !== false
  })
}
