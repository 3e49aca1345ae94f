// Loading and serving one corpus case: the offline snapshot (loadConfig with
// the case's in-memory transform) and a real in-process Gateway on 127.0.0.1.
import { mkdir, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import pino from 'pino'
import { loadConfig } from '../../src/gateway/config-loader.js'
import { Gateway } from '../../src/gateway/runtime.js'
import type { Snapshot } from '../../src/gateway/snapshot.js'
import { formatIssue } from '../../src/gateway/validate/issues.js'
import type { TestCa } from '../helpers/certs.js'
import type { CertFileNeed } from './case-plan.js'
import { caseFiles, caseTransform, type CorpusCase } from './corpus.js'

/**
 * The labels of an Istio ingress gateway pod (the istio/gateway chart and
 * istioctl's default profile set both); the samples select it by either.
 */
export const GATEWAY_LABELS: Readonly<Record<string, string>> = Object.freeze({ istio: 'ingressgateway', app: 'istio-ingressgateway' })

export interface CaseEnv {
  readonly dir: string
  /** `--credentials-dir` with the test certificates, or null when none could be made. */
  readonly credentialsDir: string | null
  /** Gateway certificate paths of the samples → the test's files (see writeCertFiles). */
  readonly certFiles: ReadonlyMap<string, string>
  /** Where the corpus's jwt/jwks.json is served (every jwksUri is pointed there). */
  readonly jwksUrl?: string
}

/** The case's snapshot, exactly as `explain` builds it; throws with the findings when the version is refused. */
export async function loadCaseSnapshot (env: CaseEnv, c: CorpusCase): Promise<Snapshot> {
  const result = await loadConfig(caseFiles(env.dir, c), {
    gatewayLabels: GATEWAY_LABELS,
    credentialsDir: env.credentialsDir,
    transform: caseTransform(c, { certFiles: env.certFiles, jwksUrl: env.jwksUrl, gatewayLabels: GATEWAY_LABELS })
  })
  if (result.snapshot === null) {
    throw new Error(`config refused:\n${result.issues.filter(i => i.severity === 'error').map(formatIssue).join('\n')}`)
  }
  return result.snapshot
}

/** Starts meshgate in-process on the case's files; listeners bind 127.0.0.1 only. */
export async function startCaseGateway (env: CaseEnv, c: CorpusCase): Promise<Gateway> {
  const gateway = new Gateway({
    configPaths: caseFiles(env.dir, c),
    host: '127.0.0.1',
    log: pino({ level: 'silent' }),
    accessLog: null,
    metrics: null,
    gatewayLabels: GATEWAY_LABELS,
    credentialsDir: env.credentialsDir,
    transform: caseTransform(c, { certFiles: env.certFiles, jwksUrl: env.jwksUrl, gatewayLabels: GATEWAY_LABELS }),
    watch: false
  })
  try {
    await gateway.start()
  } catch (err) {
    // A listener that failed after others opened: close what did open.
    await gateway.drain(0).catch(() => {})
    throw err
  }
  return gateway
}

/**
 * Supplies "certificates at the sample's file paths" without touching them:
 * each path is written under `root` instead (`/etc/istio/x/tls.crt` →
 * `ROOT/etc/istio/x/tls.crt`), and the returned map is what caseTransform
 * uses to point the Gateway there. A serverCertificate/privateKey pair gets
 * one certificate from `ca` for the hosts of every server naming it;
 * caCertificates gets `ca`'s certificate, so clients it issues are accepted.
 */
export async function writeCertFiles (ca: TestCa, root: string, needs: readonly CertFileNeed[]): Promise<Map<string, string>> {
  const pairs = new Map<string, { cert: string | null, key: string | null, hosts: Set<string> }>()
  for (const n of needs) {
    if (n.serverCertificate === null && n.privateKey === null) continue
    const id = `${n.serverCertificate ?? ''}\0${n.privateKey ?? ''}`
    const pair = pairs.get(id) ?? { cert: n.serverCertificate, key: n.privateKey, hosts: new Set<string>() }
    for (const h of n.hosts) if (h !== '*') pair.hosts.add(h)
    pairs.set(id, pair)
  }
  const contents = new Map<string, string>()
  const put = (samplePath: string, text: string): void => {
    const known = contents.get(samplePath)
    if (known !== undefined && known !== text) throw new Error(`${samplePath} is named for two different files (certificate, key or CA)`)
    contents.set(samplePath, text)
  }
  let i = 0
  for (const pair of pairs.values()) {
    const issued = await ca.issue(`file-mount-${i++}`, { dns: [...pair.hosts], usage: 'server' })
    if (pair.cert !== null) put(pair.cert, issued.cert)
    if (pair.key !== null) put(pair.key, issued.key)
  }
  for (const n of needs) if (n.caCertificates !== null) put(n.caCertificates, ca.cert)
  const out = new Map<string, string>()
  for (const [samplePath, text] of contents) {
    const file = path.join(root, samplePath)
    if (!file.startsWith(root + path.sep)) throw new Error(`${samplePath} would be written outside ${root}`)
    await mkdir(path.dirname(file), { recursive: true })
    await writeFile(file, text, { mode: 0o600 })
    out.set(samplePath, file)
  }
  return out
}

/** Why 127.0.0.1:port cannot be bound right now (in use, no permission), or null when it can. */
export function portProblem (port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', (err: NodeJS.ErrnoException) => { resolve(err.code ?? err.message) })
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.close(() => { resolve(null) })
    })
  })
}

/** Error codes that mean "this machine cannot give us the port", not "meshgate is broken". */
export function isPortError (err: unknown): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' ? code : null
}
