// A development CA for local meshes (`meshgate ca init`, `meshgate ca issue`):
// a root and SPIFFE workload certificates in Istio's file layout, made with
// @peculiar/x509 on WebCrypto (ECDSA P-256). For tests and laptops only: the
// root key sits unencrypted in a folder.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { randomBytes, webcrypto } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'

x509.cryptoProvider.set(webcrypto as unknown as Crypto)

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
const DAY_MS = 86_400_000

export interface DevCa {
  readonly dir: string
  readonly certPem: string
  readonly keyPem: string
}

function serial (): string {
  // Positive, 16 bytes: unique enough for a dev CA and never negative in DER.
  const b = randomBytes(16)
  b[0] = b[0]! & 0x7f
  return b.toString('hex')
}

async function keyPem (key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key))
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`
}

/** `ca init`: a self-signed root for `trustDomain`, written as root-cert.pem and root-key.pem. */
export async function initCa (dir: string, opts: { trustDomain?: string, days?: number } = {}): Promise<DevCa> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `O=${opts.trustDomain ?? 'cluster.local'}, CN=meshgate development root`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (opts.days ?? 3650) * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
    ]
  })
  await mkdir(dir, { recursive: true })
  const certPem = cert.toString('pem') + '\n'
  const pem = await keyPem(keys.privateKey)
  await writeFile(path.join(dir, 'root-cert.pem'), certPem)
  await writeFile(path.join(dir, 'root-key.pem'), pem, { mode: 0o600 })
  return { dir, certPem, keyPem: pem }
}

export async function loadCa (dir: string): Promise<DevCa> {
  const [certPem, pem] = await Promise.all([readFile(path.join(dir, 'root-cert.pem'), 'utf8'), readFile(path.join(dir, 'root-key.pem'), 'utf8')])
  return { dir, certPem, keyPem: pem }
}

export interface IssueOptions {
  readonly spiffe: string
  readonly dns?: readonly string[]
  readonly days?: number
  /** Start of validity (default: a minute ago), for tests of not-yet-valid and expired identities. */
  readonly notBefore?: Date
  readonly notAfter?: Date
}

/** `ca issue`: a workload certificate with the SPIFFE ID, in Istio's layout (cert-chain.pem, key.pem, root-cert.pem). */
export async function issueWorkload (ca: DevCa, outDir: string, o: IssueOptions): Promise<{ serial: string }> {
  if (!/^spiffe:\/\/[^/]+\/.+/.test(o.spiffe)) throw new Error(`--spiffe must look like spiffe://cluster.local/ns/NS/sa/SA, got ${JSON.stringify(o.spiffe)}`)
  const caCert = new x509.X509Certificate(ca.certPem)
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBody(ca.keyPem), ALG, false, ['sign'])
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair
  const now = Date.now()
  const sn = serial()
  const names: x509.JsonGeneralName[] = [{ type: 'url', value: o.spiffe }, ...(o.dns ?? []).map(d => ({ type: 'dns' as const, value: d }))]
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: sn,
    issuer: caCert.subject,
    subject: '',
    notBefore: o.notBefore ?? new Date(now - 60_000),
    notAfter: o.notAfter ?? new Date(now + (o.days ?? 30) * DAY_MS),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      // SPIFFE X.509-SVIDs carry the ID as a URI SAN, and an empty subject makes the SAN critical.
      new x509.SubjectAlternativeNameExtension(names, true),
      await x509.AuthorityKeyIdentifierExtension.create(caCert)
    ]
  })
  await mkdir(outDir, { recursive: true })
  await writeFile(path.join(outDir, 'cert-chain.pem'), cert.toString('pem') + '\n')
  await writeFile(path.join(outDir, 'key.pem'), await keyPem(keys.privateKey), { mode: 0o600 })
  await writeFile(path.join(outDir, 'root-cert.pem'), ca.certPem)
  return { serial: sn }
}

function pemBody (pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64')
}
