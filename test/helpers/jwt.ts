// Keys, tokens and a JWKS server for JWT tests: real key pairs from jose, a real
// HTTP server on 127.0.0.1 that serves whatever key set the test puts in it.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'

export interface SigningKey {
  readonly kid: string
  readonly alg: string
  readonly privateKey: CryptoKey | Uint8Array
  /** The public JWK (with kid and alg) to publish. */
  readonly jwk: JWK
}

export async function makeKey (kid: string, alg: 'RS256' | 'ES256' | 'PS256' | 'EdDSA' = 'RS256'): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  return { kid, alg, privateKey, jwk: { ...jwk, kid, alg, use: 'sig' } }
}

/** An HMAC key: the secret doubles as the published `oct` JWK (inline JWKS only). */
export function makeHmacKey (kid: string, secret: string): SigningKey {
  const bytes = new TextEncoder().encode(secret)
  return { kid, alg: 'HS256', privateKey: bytes, jwk: { kty: 'oct', kid, alg: 'HS256', k: Buffer.from(bytes).toString('base64url') } }
}

export interface TokenOptions {
  iss?: string
  sub?: string
  aud?: string | string[]
  /** Seconds from now; null for no `exp`. Default 3600. */
  expIn?: number | null
  /** Seconds from now for `nbf`. */
  nbfIn?: number
  claims?: JWTPayload
  /** Override the header's kid. */
  kid?: string
}

export async function signToken (key: SigningKey, o: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const payload: JWTPayload = { ...(o.claims ?? {}) }
  if (o.iss !== undefined) payload.iss = o.iss
  if (o.sub !== undefined) payload.sub = o.sub
  if (o.aud !== undefined) payload.aud = o.aud
  payload.iat = now
  if (o.expIn !== null) payload.exp = now + (o.expIn ?? 3600)
  if (o.nbfIn !== undefined) payload.nbf = now + o.nbfIn
  return await new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: o.kid ?? key.kid, typ: 'JWT' }).sign(key.privateKey)
}

/** A token with `alg: none` and no signature. */
export function unsignedToken (payload: JWTPayload): string {
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url')
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(payload)}.`
}

export function jwksOf (...keys: SigningKey[]): string {
  return JSON.stringify({ keys: keys.map(k => k.jwk) })
}

export class JwksServer {
  readonly server: http.Server
  readonly port: number
  body: string
  fetches = 0

  constructor (server: http.Server, port: number, body: string) {
    this.server = server
    this.port = port
    this.body = body
  }

  get url (): string { return `http://127.0.0.1:${this.port}/jwks.json` }

  async close (): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }
}

export async function startJwksServer (body: string): Promise<JwksServer> {
  let jwks: JwksServer | null = null
  const server = http.createServer((req, res) => {
    if (jwks === null || req.url !== '/jwks.json') { res.statusCode = 404; res.end(); return }
    jwks.fetches++
    res.setHeader('content-type', 'application/json')
    res.end(jwks.body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  jwks = new JwksServer(server, (server.address() as AddressInfo).port, body)
  return jwks
}
