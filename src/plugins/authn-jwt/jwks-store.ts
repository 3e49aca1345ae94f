// JSON Web Key Sets for RequestAuthentication: inline `jwks` parsed once,
// `jwksUri` fetched, cached and refreshed in the background, refetched when a
// token names a key the set lacks (at most once per cooldown), and kept when a
// fetch fails. A rule with only an `issuer` finds its keys through OpenID
// discovery (`<issuer>/.well-known/openid-configuration` → `jwks_uri`).
import type { CryptoKey, JWK, JWSHeaderParameters } from 'jose'
import { jose } from './jose.js'
import type { Logger } from 'pino'
import { undici } from '../../mesh-bridge/undici.js'

const MAX_JWKS_BYTES = 1024 * 1024

export type VerifyKey = CryptoKey | Uint8Array

/**
 * The keys of one set that may have signed a token with this header: same key
 * type and curve as its `alg`, the same `kid` when the token names one, and no
 * conflicting `alg`/`use` on the key. `oct` keys (HMAC) exist only where the set
 * was configured with them, so an HMAC token can never be checked against a
 * public RSA key.
 */
export interface KeySet {
  candidates (header: JWSHeaderParameters): Promise<VerifyKey[]>
}


export interface JwksStoreOptions {
  /** Background refresh of fetched sets, ms (default 5 min, as Envoy's cache duration). */
  readonly refreshMs?: number
  /** Least time between two fetches of one set triggered by unknown key ids, ms (default 30 s). */
  readonly cooldownMs?: number
}

interface RemoteSet {
  readonly source: string
  timeoutMs: number
  keys: KeySet | null
  /** Raw JSON of the current keys: a refetch that returns the same set changes nothing. */
  raw: string
  error: string
  lastFetch: number
  inflight: Promise<void> | null
}

export class JwksStore {
  readonly #remote = new Map<string, RemoteSet>()
  readonly #inline = new Map<string, KeySet | string>()
  readonly #refreshMs: number
  readonly #cooldownMs: number
  readonly #log: Logger | null
  readonly #onChange: () => void
  #timer: NodeJS.Timeout | null = null

  constructor (log: Logger | null, onChange: () => void, opts: JwksStoreOptions = {}) {
    this.#log = log
    this.#onChange = onChange
    this.#refreshMs = opts.refreshMs ?? 5 * 60_000
    this.#cooldownMs = opts.cooldownMs ?? 30_000
  }

  /** Key set for inline JWKS text, or the parse error. */
  inline (text: string): KeySet | string {
    let set = this.#inline.get(text)
    if (set === undefined) {
      set = localSet(text)
      this.#inline.set(text, set)
    }
    return set
  }

  /** Starts fetching `source` (a jwksUri, or `discovery:<issuer>`) unless it is known already. */
  ensure (source: string, timeoutMs: number): void {
    const known = this.#remote.get(source)
    if (known !== undefined) { known.timeoutMs = timeoutMs; return }
    const s: RemoteSet = { source, timeoutMs, keys: null, raw: '', error: 'Jwks remote fetch is failed', lastFetch: 0, inflight: null }
    this.#remote.set(source, s)
    void this.#fetch(s)
    if (this.#timer === null) {
      this.#timer = setInterval(() => { for (const r of this.#remote.values()) if (r.inflight === null) void this.#fetch(r) }, this.#refreshMs)
      this.#timer.unref()
    }
  }

  /** The current keys of `source`; waits for the first fetch when none has finished yet. */
  async keys (source: string, timeoutMs: number): Promise<KeySet | string> {
    this.ensure(source, timeoutMs)
    const s = this.#remote.get(source)!
    if (s.keys === null && s.inflight !== null) await s.inflight
    return s.keys ?? s.error
  }

  /** Current keys without waiting: null while the first fetch runs. */
  keysNow (source: string): KeySet | string | null {
    const s = this.#remote.get(source)
    if (s === undefined) return null
    return s.keys ?? (s.inflight !== null ? null : s.error)
  }

  /**
   * A token named a key the set does not have: refetch, unless the set was
   * fetched within the cooldown. Resolves true when the keys changed.
   */
  async refetch (source: string): Promise<boolean> {
    const s = this.#remote.get(source)
    if (s === undefined) return false
    if (s.inflight !== null) { const before = s.raw; await s.inflight; return s.raw !== before }
    if (Date.now() - s.lastFetch < this.#cooldownMs) return false
    const before = s.raw
    await this.#fetch(s)
    return s.raw !== before
  }

  /** How long a token naming an unknown key waits at most before the set may be fetched again for it. */
  get cooldownMs (): number { return this.#cooldownMs }

  /** Forgets sets no rule uses any more. */
  retain (sources: ReadonlySet<string>): void {
    for (const k of [...this.#remote.keys()]) if (!sources.has(k)) this.#remote.delete(k)
    for (const k of [...this.#inline.keys()]) if (!sources.has(`inline:${k}`)) this.#inline.delete(k)
  }

  close (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  #fetch (s: RemoteSet): Promise<void> {
    s.lastFetch = Date.now()
    const p = this.#load(s).finally(() => { s.inflight = null })
    s.inflight = p
    return p
  }

  async #load (s: RemoteSet): Promise<void> {
    try {
      let uri = s.source
      if (uri.startsWith('discovery:')) {
        const issuer = uri.slice('discovery:'.length).replace(/\/+$/, '')
        const doc = JSON.parse(await getText(`${issuer}/.well-known/openid-configuration`, s.timeoutMs)) as { jwks_uri?: unknown }
        if (typeof doc.jwks_uri !== 'string') throw new Error('the OpenID configuration has no jwks_uri')
        uri = doc.jwks_uri
      }
      const raw = await getText(uri, s.timeoutMs)
      if (raw === s.raw) return
      // A published key set is public: a symmetric (`oct`) key in it would let
      // anyone sign tokens, so HMAC keys are taken from inline sets only.
      const set = localSet(raw, false)
      if (typeof set === 'string') throw new Error(set)
      s.keys = set
      s.raw = raw
      this.#log?.info({ jwks: s.source }, 'jwks loaded')
      this.#onChange()
    } catch (err) {
      // Keep the last good keys; tokens keep validating against them.
      this.#log?.warn({ jwks: s.source, err: (err as Error).message, keptPrevious: s.keys !== null }, 'jwks fetch failed')
    }
  }
}

function localSet (text: string, allowSymmetric = true): KeySet | string {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return 'Jwks is not valid JSON'
  }
  const p = parsed as { keys?: unknown, kty?: unknown }
  const keys = Array.isArray(p?.keys) ? p.keys as JWK[] : typeof p?.kty === 'string' ? [p as JWK] : null
  if (keys === null) return 'Jwks is not a key set'
  return new LocalKeySet(keys.filter(k => typeof k === 'object' && k !== null && typeof k.kty === 'string' && (allowSymmetric || k.kty !== 'oct')))
}

const CURVES: Readonly<Record<string, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521', ES256K: 'secp256k1' }

function keyTypeOf (alg: string): string {
  if (alg.startsWith('RS') || alg.startsWith('PS')) return 'RSA'
  if (alg.startsWith('ES')) return 'EC'
  if (alg.startsWith('HS')) return 'oct'
  if (alg === 'EdDSA' || alg === 'Ed25519') return 'OKP'
  return ''
}

class LocalKeySet implements KeySet {
  readonly #keys: readonly JWK[]
  /** Imported keys by index and algorithm: importing is async and not free. */
  readonly #imported = new Map<string, Promise<VerifyKey | null>>()

  constructor (keys: readonly JWK[]) { this.#keys = keys }

  async candidates (header: JWSHeaderParameters): Promise<VerifyKey[]> {
    const alg = header.alg ?? ''
    const kty = keyTypeOf(alg)
    if (kty === '') return []
    const out: VerifyKey[] = []
    for (let i = 0; i < this.#keys.length; i++) {
      const k = this.#keys[i]!
      if (k.kty !== kty) continue
      if (header.kid !== undefined && k.kid !== header.kid) continue
      if (k.alg !== undefined && k.alg !== alg) continue
      if (k.use !== undefined && k.use !== 'sig') continue
      if (kty === 'EC' && k.crv !== CURVES[alg]) continue
      const id = `${i}:${alg}`
      let p = this.#imported.get(id)
      if (p === undefined) {
        p = jose().importJWK(k, alg).then(key => key as VerifyKey, () => null)
        this.#imported.set(id, p)
      }
      const key = await p
      if (key !== null) out.push(key)
    }
    return out
  }
}

async function getText (url: string, timeoutMs: number): Promise<string> {
  const res = await undici().request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } })
  if (res.statusCode !== 200) {
    await res.body.dump()
    throw new Error(`${url} answered ${res.statusCode}`)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of res.body) {
    size += (c as Buffer).length
    if (size > MAX_JWKS_BYTES) { res.body.destroy(); throw new Error(`${url}: answer larger than 1 MiB`) }
    chunks.push(c as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}
