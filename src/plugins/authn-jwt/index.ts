// RequestAuthentication at the edge, with Istio's semantics (ISTIO-SEMANTICS §5):
// no token → the request passes anonymous; a token that does not validate →
// 401 with Envoy's jwt_verify text; a valid one sets the request principal
// (`<iss>/<sub>`), claims, audiences and presenter for AuthorizationPolicy and
// claim routing. Signatures are checked with jose. A verification costs a few
// hundred µs (WebCrypto), so results are kept per token in a bounded LRU until
// the token expires, and dropped whenever the rules or any key set change.
import type { JWSHeaderParameters, JWTPayload } from 'jose'
import { jose } from './jose.js'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { AuthnConfig, JwtLocation, JwtRule } from '../../gateway/snapshot.js'
import type { RequestFacts } from '../../gateway/dataplane/request-facts.js'
import { cookieValue } from '../../gateway/dataplane/route-request.js'
import { JwksStore, type JwksStoreOptions, type KeySet } from './jwks-store.js'

export { JwksStore } from './jwks-store.js'

/** Envoy's clock skew for `exp`/`nbf`. */
const CLOCK_SKEW_S = 60

export const MSG = Object.freeze({
  malformed: 'Jwt is not in the form of Header.Payload.Signature',
  expired: 'Jwt is expired',
  notYetValid: 'Jwt not yet valid',
  unknownIssuer: 'Jwt issuer is not configured',
  audience: 'Audiences in Jwt are not allowed',
  signature: 'Jwt verification fails',
  noKey: "Jwks doesn't have key to match kid or alg from Jwt",
  fetch: 'Jwks remote fetch is failed'
})

interface Verified {
  readonly payload: JWTPayload
  readonly principal: string
  readonly audiences: readonly string[]
  readonly presenter: string
  /** ms since the epoch after which the cached result is stale (exp + skew), or Infinity. */
  readonly until: number
  readonly rule: JwtRule
  readonly location: JwtLocation
}

interface Failure { readonly message: string, readonly until: number }

interface Found { readonly token: string, readonly location: JwtLocation, header: JWSHeaderParameters | null }

/** null: continue (anonymous or authenticated); a string: answer 401 with it. */
export type AuthnOutcome = string | null

export class JwtAuthenticator {
  readonly jwks: JwksStore
  readonly #cache = new LRUCache<string, Verified | Failure>({ max: 10_000 })
  #cachedFor: AuthnConfig | null = null
  /** Per config: headers a validated token writes (client copies are dropped first). */
  #outputs = new WeakMap<AuthnConfig, readonly string[]>()
  /**
   * Per connection: the last header value that carried a valid token. A client
   * sends the same token on every request of a keep-alive connection; comparing
   * the header with the previous one costs a memcmp, where the token LRU would
   * hash several hundred characters per request.
   */
  #perConnection = new WeakMap<object, { cfg: AuthnConfig, generation: number, raw: string, found: Found, entry: Verified }>()
  /** Bumped when a key set changes: remembered results from before are not trusted. */
  #generation = 0

  constructor (log: Logger | null, opts: JwksStoreOptions = {}) {
    this.jwks = new JwksStore(log, () => { this.#cache.clear(); this.#generation++ }, opts)
  }

  /** A new snapshot: start fetching its key sets, forget unused ones. */
  sync (cfg: AuthnConfig): void {
    // Loaded with the first rule, off the request path.
    if (cfg.rules.length > 0) jose()
    const used = new Set<string>()
    for (const r of cfg.rules) {
      if (r.jwks !== null) { used.add(`inline:${r.jwks}`); continue }
      const source = sourceOf(r)
      used.add(source)
      this.jwks.ensure(source, r.timeoutMs)
    }
    this.jwks.retain(used)
  }

  close (): void { this.jwks.close() }

  /** `connection` (the client's socket) lets a keep-alive client's repeated token skip the cache lookup. */
  authenticate (f: RequestFacts, cfg: AuthnConfig, connection: object | null = null): AuthnOutcome | Promise<AuthnOutcome> {
    if (cfg !== this.#cachedFor) { this.#cache.clear(); this.#cachedFor = cfg }
    const h = f.headers
    for (const name of this.#outputHeaders(cfg)) if (h[name] !== undefined) h[name] = undefined
    if (connection !== null) {
      const last = this.#perConnection.get(connection)
      if (last !== undefined && last.cfg === cfg && last.generation === this.#generation && h[last.found.location.name] === last.raw && last.entry.until > Date.now()) {
        // The remembered string in place of its equal copy: later comparisons
        // of this value (the cache's per-connection key) find the same string
        // and skip comparing a few hundred characters again.
        h[last.found.location.name] = last.raw
        apply(f, last.entry, last.found)
        return null
      }
    }
    const found = findToken(f, cfg)
    if (found === null) return null
    const hit = this.#cache.get(found.token)
    if (hit !== undefined && hit.until > Date.now()) {
      if ('message' in hit) return hit.message
      // The same token in another location may be for another rule (or none).
      if (sameLocation(hit.location, found.location)) {
        this.#remember(connection, cfg, f, found, hit)
        apply(f, hit, found)
        return null
      }
    }
    return this.#verify(f, cfg, found, connection)
  }

  #remember (connection: object | null, cfg: AuthnConfig, f: RequestFacts, found: Found, entry: Verified): void {
    if (connection === null || found.location.kind !== 'header') return
    const raw = f.headers[found.location.name]
    if (typeof raw === 'string') this.#perConnection.set(connection, { cfg, generation: this.#generation, raw, found, entry })
  }

  async #verify (f: RequestFacts, cfg: AuthnConfig, found: Found, connection: object | null): Promise<AuthnOutcome> {
    let iss: string
    try {
      const { decodeProtectedHeader, decodeJwt } = jose()
      found.header = decodeProtectedHeader(found.token)
      const p = decodeJwt(found.token)
      iss = typeof p.iss === 'string' ? p.iss : ''
    } catch {
      return this.#fail(found.token, MSG.malformed)
    }
    // Rules that read the location the token came from and name its issuer.
    const candidates = cfg.rules.filter(r => (r.issuer === '' || r.issuer === iss) && r.locations.some(l => sameLocation(l, found.location)))
    if (candidates.length === 0) return this.#fail(found.token, MSG.unknownIssuer)
    let firstError = ''
    for (const rule of candidates) {
      const result = await this.#verifyWith(found.token, found.header!, rule)
      if (typeof result !== 'string') {
        const v: Verified = { ...result, rule, location: found.location }
        this.#cache.set(found.token, v)
        this.#remember(connection, cfg, f, found, v)
        apply(f, v, found)
        return null
      }
      if (firstError === '') firstError = result
    }
    return this.#fail(found.token, firstError)
  }

  async #verifyWith (token: string, header: JWSHeaderParameters, rule: JwtRule): Promise<Omit<Verified, 'rule' | 'location'> | string> {
    let keys: KeySet | string
    const source = rule.jwks !== null ? '' : sourceOf(rule)
    if (rule.jwks !== null) keys = this.jwks.inline(rule.jwks)
    else keys = this.jwks.keysNow(source) ?? await this.jwks.keys(source, rule.timeoutMs)
    if (typeof keys === 'string') return MSG.fetch
    let r = await check(token, header, keys, rule)
    if (r === MSG.noKey && source !== '' && await this.jwks.refetch(source)) {
      const again = this.jwks.keysNow(source)
      if (again !== null && typeof again !== 'string') r = await check(token, header, again, rule)
    }
    return r
  }

  #fail (token: string, message: string): string {
    // Repeated bad tokens are answered from the cache for a minute; a key set
    // change clears it. A token whose key is unknown is kept only until the
    // refetch cooldown is over, so it gets its own refetch then even when no
    // other fetch changed the set.
    const ttl = message === MSG.noKey ? Math.min(60_000, this.jwks.cooldownMs) : 60_000
    this.#cache.set(token, { message, until: Date.now() + ttl })
    return message
  }

  #outputHeaders (cfg: AuthnConfig): readonly string[] {
    let names = this.#outputs.get(cfg)
    if (names === undefined) {
      const set = new Set<string>()
      for (const r of cfg.rules) {
        if (r.outputPayloadToHeader !== '') set.add(r.outputPayloadToHeader)
        for (const o of r.outputClaimToHeaders) set.add(o.header)
      }
      names = Object.freeze([...set])
      this.#outputs.set(cfg, names)
    }
    return names
  }
}

function sourceOf (r: JwtRule): string {
  return r.jwksUri !== '' ? r.jwksUri : `discovery:${r.issuer}`
}

async function check (token: string, header: JWSHeaderParameters, keys: KeySet, rule: JwtRule): Promise<Omit<Verified, 'rule' | 'location'> | string> {
  if (header.alg === undefined || header.alg === 'none') return MSG.signature
  const candidates = await keys.candidates(header)
  if (candidates.length === 0) return MSG.noKey
  // Without a kid every key of the right type is tried, as Envoy does.
  let firstError: unknown = null
  const { jwtVerify, errors } = jose()
  for (const key of candidates) {
    try {
      return verified(await jwtVerify(token, key, {
        algorithms: [header.alg],
        issuer: rule.issuer === '' ? undefined : rule.issuer,
        audience: rule.audiences.length === 0 ? undefined : rule.audiences as string[],
        clockTolerance: CLOCK_SKEW_S
      }))
    } catch (err) {
      // A claim error means the signature was good: that is the answer.
      if (!(err instanceof errors.JWSSignatureVerificationFailed)) return messageOf(err)
      firstError ??= err
    }
  }
  return messageOf(firstError)
}

function verified ({ payload }: { payload: JWTPayload }): Omit<Verified, 'rule' | 'location'> {
  const iss = typeof payload.iss === 'string' ? payload.iss : ''
  const sub = typeof payload.sub === 'string' ? payload.sub : ''
  const aud = payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud]
  return {
    payload,
    principal: `${iss}/${sub}`,
    audiences: Object.freeze(aud),
    presenter: typeof payload.azp === 'string' ? payload.azp : '',
    until: typeof payload.exp === 'number' ? (payload.exp + CLOCK_SKEW_S) * 1000 : Infinity
  }
}

function messageOf (err: unknown): string {
  const { errors } = jose()
  if (err instanceof errors.JWTExpired) return MSG.expired
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || err.claim === 'iat') return MSG.notYetValid
    if (err.claim === 'aud') return MSG.audience
    if (err.claim === 'iss') return MSG.unknownIssuer
    return MSG.signature
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return MSG.noKey
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return MSG.malformed
  return MSG.signature
}

/** The first token any rule's locations find in the request, with where it was found. */
export function findToken (f: RequestFacts, cfg: AuthnConfig): Found | null {
  for (const r of cfg.rules) {
    for (const l of r.locations) {
      const t = tokenAt(f, l)
      if (t !== null) return { token: t, location: l, header: null }
    }
  }
  return null
}

function tokenAt (f: RequestFacts, l: JwtLocation): string | null {
  let v: string | undefined
  if (l.kind === 'header') {
    const raw = f.headers[l.name]
    v = typeof raw === 'string' ? raw : Array.isArray(raw) ? raw[0] : undefined
    if (v === undefined) return null
    if (l.prefix !== '') {
      if (!v.startsWith(l.prefix)) return null
      v = v.slice(l.prefix.length)
    }
  } else if (l.kind === 'param') {
    v = f.queryParam(l.name)
  } else {
    v = cookieValue(f.header('cookie'), l.name)
  }
  if (v === undefined) return null
  v = v.trim()
  return v === '' ? null : v
}

function sameLocation (a: JwtLocation, b: JwtLocation): boolean {
  return a.kind === b.kind && a.name === b.name && a.prefix === b.prefix
}

function apply (f: RequestFacts, v: Verified, found: Found): void {
  f.claims = v.payload as Record<string, unknown>
  f.requestPrincipal = v.principal
  f.authAudiences = v.audiences
  f.authPresenter = v.presenter
  const rule = v.rule
  const h = f.headers
  if (!rule.forwardOriginalToken && found.location.kind === 'header') {
    const name = found.location.name
    const sent = h[name]
    if (typeof sent === 'string') f.tookCredential(name, sent)
    h[name] = undefined
  }
  if (rule.outputPayloadToHeader !== '') h[rule.outputPayloadToHeader] = found.token.split('.')[1] ?? ''
  for (const o of rule.outputClaimToHeaders) {
    const value = claimAt(v.payload, o.claim)
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') h[o.header] = String(value)
  }
}

/** A claim by name, with `.` descending into nested objects when no claim has the dotted name itself. */
export function claimAt (payload: Record<string, unknown>, claim: string): unknown {
  if (claim in payload) return payload[claim]
  let cur: unknown = payload
  for (const part of claim.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}
