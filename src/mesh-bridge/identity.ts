// The gateway's workload identity for ISTIO_MUTUAL (`--identity-dir`), in
// Istio's file layout: cert-chain.pem (the workload certificate and any
// intermediates), key.pem, root-cert.pem (the mesh root). Loaded and checked
// at start (the key matches, the certificate is valid now, it chains to the
// root); then polled: a valid replacement is used by every new upstream
// connection at once while open ones drain, an invalid one is refused with a
// log line and the last good identity stays.
import { readFile } from 'node:fs/promises'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import type { Logger } from 'pino'

export interface IdentityMaterial {
  readonly certChain: string
  readonly key: string
  readonly root: string
  /** The workload's SPIFFE ID (first URI SAN of the leaf). */
  readonly spiffeId: string
  readonly serial: string
  readonly notAfter: Date
  /** Bumped on every accepted change: connection factories key on it. */
  readonly generation: number
}

export const IDENTITY_FILES = ['cert-chain.pem', 'key.pem', 'root-cert.pem'] as const

export class WorkloadIdentity {
  readonly dir: string
  #current: IdentityMaterial
  #timer: NodeJS.Timeout | null = null
  #log: Logger | null = null
  #lastText = ''

  private constructor (dir: string, m: IdentityMaterial, text: string) {
    this.dir = dir
    this.#current = m
    this.#lastText = text
  }

  /** Loads and checks the identity; throws a message naming the file and the problem. */
  static async load (dir: string): Promise<WorkloadIdentity> {
    const { text, parts } = await readParts(dir)
    return new WorkloadIdentity(dir, check(dir, parts, 1, new Date()), text)
  }

  get current (): IdentityMaterial { return this.#current }

  /** Seconds until the certificate expires (negative once it has). */
  secondsLeft (now = Date.now()): number {
    return Math.floor((this.#current.notAfter.getTime() - now) / 1000)
  }

  watch (log: Logger, intervalMs = 2_000): void {
    this.#log = log
    if (this.#timer !== null) return
    this.#timer = setInterval(() => { void this.#poll() }, intervalMs)
    this.#timer.unref()
  }

  close (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  #lastExpiryWarning = 0

  async #poll (): Promise<void> {
    const left = this.secondsLeft()
    if (left < 86_400 && Date.now() - this.#lastExpiryWarning > 3_600_000) {
      this.#lastExpiryWarning = Date.now()
      this.#log?.warn({ identity: this.#current.spiffeId, serial: this.#current.serial, secondsLeft: left }, left < 0 ? 'workload identity has expired: mesh peers will refuse new connections' : 'workload identity expires within a day: replace the files in --identity-dir')
    }
    let read: { text: string, parts: [string, string, string] }
    try {
      read = await readParts(this.dir)
    } catch {
      return // a writer may be halfway through replacing the files; look again next time
    }
    if (read.text === this.#lastText) return
    this.#lastText = read.text
    try {
      const next = check(this.dir, read.parts, this.#current.generation + 1, new Date())
      this.#current = next
      this.#log?.info({ identity: next.spiffeId, serial: next.serial, notAfter: next.notAfter.toISOString() }, 'workload identity rotated: new upstream connections use it')
    } catch (err) {
      this.#log?.error({ dir: this.dir, err: (err as Error).message, kept: this.#current.serial }, 'workload identity changed but is not usable; the last good one stays')
    }
  }
}

async function readParts (dir: string): Promise<{ text: string, parts: [string, string, string] }> {
  const parts = await Promise.all(IDENTITY_FILES.map(async f => {
    try {
      return await readFile(`${dir}/${f}`, 'utf8')
    } catch (err) {
      throw new Error(`--identity-dir ${dir}: ${f}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
    }
  })) as [string, string, string]
  return { text: parts.join('\n--\n'), parts }
}

function check (dir: string, [certChain, key, root]: [string, string, string], generation: number, now: Date): IdentityMaterial {
  const where = `--identity-dir ${dir}`
  let leaf: X509Certificate
  let rootCert: X509Certificate
  try {
    leaf = new X509Certificate(certChain)
  } catch (err) {
    throw new Error(`${where}: cert-chain.pem is not a PEM certificate (${(err as Error).message})`)
  }
  try {
    rootCert = new X509Certificate(root)
  } catch (err) {
    throw new Error(`${where}: root-cert.pem is not a PEM certificate (${(err as Error).message})`)
  }
  let pk
  try {
    pk = createPrivateKey(key)
  } catch (err) {
    throw new Error(`${where}: key.pem is not a PEM private key (${(err as Error).message})`)
  }
  if (!leaf.checkPrivateKey(pk)) throw new Error(`${where}: key.pem does not belong to the certificate in cert-chain.pem`)
  const notBefore = new Date(leaf.validFrom)
  const notAfter = new Date(leaf.validTo)
  if (now < notBefore) throw new Error(`${where}: the certificate is not valid before ${notBefore.toISOString()}`)
  if (now > notAfter) throw new Error(`${where}: the certificate expired at ${notAfter.toISOString()}`)
  // The chain's last certificate (or the leaf) must be signed by the root.
  const chain = certChain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  const top = new X509Certificate(chain[chain.length - 1] ?? certChain)
  if (!top.verify(rootCert.publicKey) && top.fingerprint256 !== rootCert.fingerprint256) {
    throw new Error(`${where}: cert-chain.pem is not issued by root-cert.pem`)
  }
  const uri = (leaf.subjectAltName ?? '').split(/,\s*/).find(s => s.startsWith('URI:'))?.slice(4) ?? ''
  if (!uri.startsWith('spiffe://')) throw new Error(`${where}: the certificate has no SPIFFE URI SAN (spiffe://<trust domain>/ns/<ns>/sa/<sa>)`)
  return Object.freeze({ certChain, key, root, spiffeId: uri, serial: leaf.serialNumber, notAfter, generation })
}
