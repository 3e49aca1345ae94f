// Analyzer checks for TLS material: certificate/key files named by path, and
// `credentialName` folders under --credentials-dir. Istio's admission never
// opens files; `istioctl analyze` reports a missing secret, so these are
// analyzer errors (admission: false): `serve` skips the server, other teams'
// changes still apply.
import { join } from 'node:path'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import type { Checker, Path } from './checker.js'
import type { ValidateContext } from './context.js'
import { CODES } from './codes.js'

export function checkCertFile (c: Checker, ctx: ValidateContext, path: Path, file: string | undefined, what: string): void {
  if (file === undefined || file === '') return
  if (ctx.readFile(file) === null) {
    c.finding(path, `${what} file ${JSON.stringify(file)} cannot be read`, CODES.FILE_MISSING)
  }
}

/**
 * A certificate file and its key file that both read: they must parse, belong
 * together and be valid now. A version that fails this is refused whole, so a
 * rotation caught halfway (the key replaced, the certificate not yet) keeps
 * the last good pair serving instead of breaking every new connection.
 */
export function checkKeyPair (c: Checker, ctx: ValidateContext, certPath: Path, keyPath: Path, certFile: string, keyFile: string): void {
  if (certFile === '' || keyFile === '') return
  const certText = ctx.readFile(certFile)
  const keyText = ctx.readFile(keyFile)
  if (certText === null || keyText === null) return
  let cert: X509Certificate
  try {
    cert = new X509Certificate(certText)
  } catch (err) {
    // Content that does not parse is a warning (the connection will fail and say why);
    // only a pair that parses and does not fit is refused.
    c.warn(certPath, `${JSON.stringify(certFile)} is not a PEM certificate (${(err as Error).message})`, CODES.INVALID)
    return
  }
  let key
  try {
    key = createPrivateKey(keyText)
  } catch (err) {
    c.warn(keyPath, `${JSON.stringify(keyFile)} is not a PEM private key (${(err as Error).message})`, CODES.INVALID)
    return
  }
  if (!cert.checkPrivateKey(key)) {
    c.error(keyPath, `${JSON.stringify(keyFile)} is not the key of the certificate in ${JSON.stringify(certFile)}`, CODES.INVALID)
    return
  }
  const now = Date.now()
  if (now < Date.parse(cert.validFrom)) c.error(certPath, `the certificate in ${JSON.stringify(certFile)} is not valid before ${new Date(cert.validFrom).toISOString()}`, CODES.INVALID)
  else if (now > Date.parse(cert.validTo)) c.error(certPath, `the certificate in ${JSON.stringify(certFile)} expired at ${new Date(cert.validTo).toISOString()}`, CODES.INVALID)
}

/** The Secret's keys as files, in the two layouts Istio reads (`tls.crt`/`tls.key`/`ca.crt` or `cert`/`key`/`cacert`). */
const CERT_FILES = ['tls.crt', 'cert']
const KEY_FILES = ['tls.key', 'key']
const CA_FILES = ['ca.crt', 'cacert']

function hasAny (ctx: ValidateContext, dir: string, names: readonly string[]): boolean {
  return names.some(n => ctx.readFile(join(dir, n)) !== null)
}

export interface CredentialNeeds {
  /** Server side, or client side MUTUAL: a certificate and its key. */
  certAndKey: boolean
  /** MUTUAL / OPTIONAL_MUTUAL server, or client SIMPLE/MUTUAL verification: a CA bundle. */
  ca: boolean
}

/**
 * Gateway/DestinationRule `credentialName`: the folder `<credentialsDir>/<name>/`.
 * For the CA, Istio also accepts a separate secret `<name>-cacert`.
 */
export function checkCredentialName (c: Checker, ctx: ValidateContext, path: Path, name: string, needs: CredentialNeeds): void {
  if (name === '') return
  if (ctx.credentialsDir === null) {
    c.finding(path, `secret ${JSON.stringify(name)} not found: no --credentials-dir is set, so no credentialName can be resolved`, CODES.REF_SECRET)
    return
  }
  const dir = join(ctx.credentialsDir, name)
  const missing: string[] = []
  if (needs.certAndKey) {
    if (!hasAny(ctx, dir, CERT_FILES)) missing.push('tls.crt (or cert)')
    if (!hasAny(ctx, dir, KEY_FILES)) missing.push('tls.key (or key)')
  }
  if (needs.ca && !hasAny(ctx, dir, CA_FILES) && !hasAny(ctx, join(ctx.credentialsDir, `${name}-cacert`), CA_FILES)) {
    missing.push('ca.crt (or cacert)')
  }
  if (missing.length > 0) {
    c.finding(path, `secret ${JSON.stringify(name)} not found: ${dir} has no ${missing.join(', ')}`, CODES.REF_SECRET)
  }
}
