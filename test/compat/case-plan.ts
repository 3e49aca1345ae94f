// Which corpus cases the compat suite runs, offline (loadConfig + explain) and
// live (a real gateway and stub upstreams), and why a part is skipped. The rules
// read the case's own files and `requires`, so a new case in expectations.yaml
// runs unless one of them applies. The compat matrix prints the same verdicts.
import { durationMs, rawResources, type CorpusCase, type RawResource } from './corpus.js'

export type Verdict =
  | { readonly kind: 'run' }
  | { readonly kind: 'skip', readonly reason: string }
  | { readonly kind: 'todo', readonly reason: string }

export interface CasePlan {
  readonly offline: Verdict
  readonly live: Verdict
  /** Gateway `credentialName`s the harness provides through `--credentials-dir`, with the server hosts for the certificate. */
  readonly credentials: ReadonlyArray<{ readonly name: string, readonly hosts: readonly string[] }>
}

/** A live fault delay longer than this is checked through explain only (the file should stay near 30 s). */
export const MAX_LIVE_DELAY_MS = 3_000

/**
 * Cases that fail because of a known meshgate gap, by case name: marked `todo`
 * (reported, not counted as failures) until the gateway is fixed.
 */
export const KNOWN_FAILURES: Readonly<Record<string, { readonly offline?: string, readonly live?: string }>> = {}

const RUN: Verdict = Object.freeze({ kind: 'run' })

/** RequestAuthentication and AuthorizationPolicy are validated by meshgate but not enforced yet (a later issue). */
function notEnforced (kinds: ReadonlySet<string>): string | null {
  const missing = ['RequestAuthentication', 'AuthorizationPolicy'].filter(k => kinds.has(k))
  if (missing.length === 0) return null
  const what = missing.length === 2 ? 'RequestAuthentication and AuthorizationPolicy are' : `${missing[0]} is`
  const jwt = kinds.has('RequestAuthentication') ? ' (no JWT validation: no 401s, no request principals, no claims for `@request.auth.claims` routing)' : ''
  return `${what} not implemented in meshgate yet: validated, but not enforced${jwt}; planned in a later issue`
}

export function planCase (dir: string, c: CorpusCase): CasePlan {
  const resources = rawResources(dir, c.config)
  const credentials = credentialsOf(resources)
  const both = (v: Verdict): CasePlan => ({ offline: v, live: v, credentials })

  const security = notEnforced(new Set(resources.map(r => r.kind)))
  if (security !== null) return both(skip(security))

  const certFiles = certFilePaths(resources)
  if (certFiles.length > 0) {
    return both(skip(`the Gateway reads its certificates from fixed file paths (${certFiles.join(', ')}); ` +
      'the test does not write into /etc of a shared machine, and the sample may not be edited to point elsewhere'))
  }

  let offline: Verdict = RUN
  let live: Verdict = RUN
  for (const req of c.requires ?? []) {
    if (/\bDNS\b/.test(req)) {
      live = skip(`the case requires "${req}": the live run stays on 127.0.0.1 and does not reach the internet`)
    } else if (/secret/i.test(req) && credentials.length > 0) {
      // Provided: the harness writes each credentialName as a --credentials-dir folder with test certificates.
    } else {
      offline = live = skip(`requires ${req}, which the harness cannot provide`)
    }
  }
  const delayMs = durationMs(c.expect.fault?.delay)
  if (live.kind === 'run' && delayMs > MAX_LIVE_DELAY_MS) {
    live = skip(`a ${c.expect.fault!.delay} fault delay is too slow for the live run; the offline run checks the delay through explain`)
  }
  const known = KNOWN_FAILURES[c.name]
  if (known?.offline !== undefined && offline.kind === 'run') offline = { kind: 'todo', reason: known.offline }
  if (known?.live !== undefined && live.kind === 'run') live = { kind: 'todo', reason: known.live }
  return { offline, live, credentials }
}

function skip (reason: string): Verdict {
  return { kind: 'skip', reason }
}

function servers (resources: readonly RawResource[]): Array<Record<string, unknown>> {
  return resources.filter(r => r.kind === 'Gateway')
    .flatMap(r => Array.isArray(r.spec.servers) ? r.spec.servers as Array<Record<string, unknown>> : [])
}

function credentialsOf (resources: readonly RawResource[]): Array<{ name: string, hosts: string[] }> {
  const out: Array<{ name: string, hosts: string[] }> = []
  for (const s of servers(resources)) {
    const tls = s.tls as Record<string, unknown> | undefined
    const name = tls?.credentialName
    if (typeof name !== 'string' || name === '') continue
    const hosts = (Array.isArray(s.hosts) ? s.hosts : []).map(h => String(h).replace(/^.*\//, ''))
    const known = out.find(x => x.name === name)
    if (known === undefined) out.push({ name, hosts })
    else for (const h of hosts) if (!known.hosts.includes(h)) known.hosts.push(h)
  }
  return out
}

/** File paths a Gateway server names (the file-mount samples use /etc/istio/...). */
function certFilePaths (resources: readonly RawResource[]): string[] {
  const out: string[] = []
  for (const s of servers(resources)) {
    const tls = s.tls as Record<string, unknown> | undefined
    for (const f of ['serverCertificate', 'privateKey', 'caCertificates']) {
      const p = tls?.[f]
      if (typeof p === 'string' && p !== '' && !out.includes(p)) out.push(p)
    }
  }
  return out
}
