// Analyzer checks for TLS material: certificate/key files named by path, and
// `credentialName` folders under --credentials-dir. Istio's admission never
// opens files; `istioctl analyze` reports a missing secret, so these are
// analyzer errors (admission: false): `serve` skips the server, other teams'
// changes still apply.
import { join } from 'node:path'
import type { Checker, Path } from './checker.js'
import type { ValidateContext } from './context.js'
import { CODES } from './codes.js'

export function checkCertFile (c: Checker, ctx: ValidateContext, path: Path, file: string | undefined, what: string): void {
  if (file === undefined || file === '') return
  if (ctx.readFile(file) === null) {
    c.finding(path, `${what} file ${JSON.stringify(file)} cannot be read`, CODES.FILE_MISSING)
  }
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
