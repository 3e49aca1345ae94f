// Which corpus cases the compat suite runs, offline (loadConfig + explain) and
// live (a real gateway and stub upstreams), and why a part is skipped. The rules
// read the case's own files and `requires`, so a new case in expectations.yaml
// runs unless one of them applies. The compat matrix prints the same verdicts.
import { durationMs, GATEWAY_CERT_FIELDS, rawResources, type CorpusCase, type RawResource } from './corpus.js'

export type Verdict =
  | { readonly kind: 'run' }
  | { readonly kind: 'skip', readonly reason: string }
  | { readonly kind: 'todo', readonly reason: string }

export interface CasePlan {
  readonly offline: Verdict
  readonly live: Verdict
  /** Gateway `credentialName`s the harness provides through `--credentials-dir`, with the server hosts for the certificate. */
  readonly credentials: ReadonlyArray<{ readonly name: string, readonly hosts: readonly string[] }>
  /**
   * Gateway servers that name certificate files (the file-mount samples): the
   * harness writes test certificates into a temp folder and the case's
   * transform points these paths there in memory (nothing is written to /etc).
   */
  readonly certFiles: readonly CertFileNeed[]
}

export interface CertFileNeed {
  readonly serverCertificate: string | null
  readonly privateKey: string | null
  readonly caCertificates: string | null
  /** The server's hosts, for the certificate's DNS names. */
  readonly hosts: readonly string[]
}

/** A live fault delay longer than this is checked through explain only (the file should stay near 30 s). */
export const MAX_LIVE_DELAY_MS = 3_000

/**
 * Cases that fail because of a known meshgate gap, by case name: marked `todo`
 * (reported, not counted as failures) until the gateway is fixed.
 */
export const KNOWN_FAILURES: Readonly<Record<string, { readonly offline?: string, readonly live?: string }>> = {}

/**
 * `tls: handshake-fails` cases whose note says what happens once the client
 * does send a certificate from the CA: the case whose expectation applies
 * then. The live run checks that too, so a gateway that never listened (or
 * refuses every client) cannot pass the "handshake fails" check.
 */
export const WITH_CLIENT_CERTIFICATE: Readonly<Record<string, string>> = {
  // "With one, the request gets 418 as in tls/simple-file-mount."
  'tls/mutual-without-client-certificate': 'tls/simple-file-mount'
}

const RUN: Verdict = Object.freeze({ kind: 'run' })

/**
 * An AuthorizationPolicy deciding on the TCP peer (`ipBlocks`, `source.ip`): the
 * live requests come from 127.0.0.1, not from the case's client address.
 */
function decidesOnPeerAddress (resources: readonly RawResource[]): boolean {
  return resources.some(r => r.kind === 'AuthorizationPolicy' && /\b(ipBlocks|notIpBlocks|remoteIpBlocks|notRemoteIpBlocks)\b|"(source|remote)\.ip"/.test(JSON.stringify(r.spec)))
}

export function planCase (dir: string, c: CorpusCase): CasePlan {
  const resources = rawResources(dir, c.config)
  const credentials = credentialsOf(resources)
  const certFiles = certFilesOf(resources)
  const certPaths = certFiles.flatMap(n => GATEWAY_CERT_FIELDS.map(f => n[f]).filter((p): p is string => p !== null))
  const both = (v: Verdict): CasePlan => ({ offline: v, live: v, credentials, certFiles })

  let offline: Verdict = RUN
  let live: Verdict = RUN
  if (decidesOnPeerAddress(resources)) {
    live = skip(`an AuthorizationPolicy decides on the client address (${c.request.clientIp}), and the live requests come from 127.0.0.1; the offline run checks the decision with --ip`)
  }
  for (const req of c.requires ?? []) {
    if (/^JWKS\b/.test(req)) {
      // Provided: the harness serves jwt/jwks.json on 127.0.0.1 and points every jwksUri at it.
    } else if (/\bDNS\b/.test(req)) {
      live = skip(`the case requires "${req}": the live run stays on 127.0.0.1 and does not reach the internet`)
    } else if (/secret/i.test(req) && credentials.length > 0) {
      // Provided: the harness writes each credentialName as a --credentials-dir folder with test certificates.
    } else if (certPaths.some(p => req.includes(p))) {
      // Provided: certificates "at the sample's file paths", written to a temp folder the transform points those paths at.
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
  return { offline, live, credentials, certFiles }
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

/** Gateway servers that name certificate files (the file-mount samples use /etc/istio/...). */
function certFilesOf (resources: readonly RawResource[]): CertFileNeed[] {
  const out: CertFileNeed[] = []
  for (const s of servers(resources)) {
    const tls = (s.tls ?? {}) as Record<string, unknown>
    const pathOf = (f: typeof GATEWAY_CERT_FIELDS[number]): string | null => typeof tls[f] === 'string' && tls[f] !== '' ? tls[f] : null
    const need = { serverCertificate: pathOf('serverCertificate'), privateKey: pathOf('privateKey'), caCertificates: pathOf('caCertificates') }
    if (GATEWAY_CERT_FIELDS.every(f => need[f] === null)) continue
    out.push({ ...need, hosts: (Array.isArray(s.hosts) ? s.hosts : []).map(h => String(h).replace(/^.*\//, '')) })
  }
  return out
}
