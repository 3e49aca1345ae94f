// RequestAuthentication → AuthnConfig: every jwtRule of the policies that reach
// this gateway, with Istio's default token locations filled in. Key material is
// not touched here (compile is pure): inline JWKS are parsed and jwksUri
// fetched by the authentication plugin.
import type { SourceResource } from '../sources/yaml-documents.js'
import type { AuthnConfig, JwtLocation, JwtRule } from '../snapshot.js'
import type { Issue } from '../validate/issues.js'
import { parseDurationMs } from '../durations.js'

/** Istio's locations when a rule names none: `Authorization: Bearer <t>` and `?access_token=`. */
const DEFAULT_LOCATIONS: readonly JwtLocation[] = Object.freeze([
  Object.freeze({ kind: 'header' as const, name: 'authorization', prefix: 'Bearer ' }),
  Object.freeze({ kind: 'param' as const, name: 'access_token', prefix: '' })
])

const DEFAULT_JWKS_TIMEOUT_MS = 5_000

export const NO_AUTHN: AuthnConfig = Object.freeze({ rules: Object.freeze([]) })

export function compileAuthn (resources: readonly SourceResource[], issues: Issue[]): AuthnConfig {
  void issues
  const rules: JwtRule[] = []
  for (const r of resources) {
    const spec = (r.value.spec ?? {}) as Record<string, unknown>
    const list = Array.isArray(spec.jwtRules) ? spec.jwtRules : []
    list.forEach((raw, index) => {
      if (typeof raw !== 'object' || raw === null) return
      const j = raw as Record<string, unknown>
      const locations: JwtLocation[] = []
      for (const h of Array.isArray(j.fromHeaders) ? j.fromHeaders : []) {
        const hh = h as { name?: unknown, prefix?: unknown }
        if (typeof hh.name === 'string' && hh.name !== '') locations.push(Object.freeze({ kind: 'header', name: hh.name.toLowerCase(), prefix: typeof hh.prefix === 'string' ? hh.prefix : '' }))
      }
      for (const p of Array.isArray(j.fromParams) ? j.fromParams : []) if (typeof p === 'string' && p !== '') locations.push(Object.freeze({ kind: 'param', name: p, prefix: '' }))
      for (const c of Array.isArray(j.fromCookies) ? j.fromCookies : []) if (typeof c === 'string' && c !== '') locations.push(Object.freeze({ kind: 'cookie', name: c, prefix: '' }))
      const claims = Array.isArray(j.outputClaimToHeaders) ? j.outputClaimToHeaders : []
      const timeout = parseDurationMs(j.timeout)
      rules.push(Object.freeze({
        policy: Object.freeze({ kind: r.kind, namespace: r.namespace, name: r.name, file: r.file, line: r.line }),
        index,
        issuer: typeof j.issuer === 'string' ? j.issuer : '',
        audiences: Object.freeze(Array.isArray(j.audiences) ? j.audiences.filter((a): a is string => typeof a === 'string' && a !== '') : []),
        jwks: typeof j.jwks === 'string' && j.jwks !== '' ? j.jwks : null,
        jwksUri: typeof j.jwksUri === 'string' ? j.jwksUri : '',
        timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_JWKS_TIMEOUT_MS,
        locations: locations.length === 0 ? DEFAULT_LOCATIONS : Object.freeze(locations),
        forwardOriginalToken: j.forwardOriginalToken === true,
        outputPayloadToHeader: typeof j.outputPayloadToHeader === 'string' ? j.outputPayloadToHeader.toLowerCase() : '',
        outputClaimToHeaders: Object.freeze(claims
          .filter((o): o is { header: string, claim: string } => typeof o === 'object' && o !== null && typeof (o as { header?: unknown }).header === 'string' && typeof (o as { claim?: unknown }).claim === 'string')
          .map(o => Object.freeze({ header: o.header.toLowerCase(), claim: o.claim })))
      }))
    })
  }
  return rules.length === 0 ? NO_AUTHN : Object.freeze({ rules: Object.freeze(rules) })
}
