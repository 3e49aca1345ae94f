// Loading and serving one corpus case: the offline snapshot (loadConfig with
// the case's in-memory transform) and a real in-process Gateway on 127.0.0.1.
import net from 'node:net'
import pino from 'pino'
import { loadConfig } from '../../src/gateway/config-loader.js'
import { Gateway } from '../../src/gateway/runtime.js'
import type { Snapshot } from '../../src/gateway/snapshot.js'
import { formatIssue } from '../../src/gateway/validate/issues.js'
import { caseFiles, caseTransform, type CorpusCase } from './corpus.js'

export const GATEWAY_LABELS: Readonly<Record<string, string>> = Object.freeze({ istio: 'ingressgateway' })

export interface CaseEnv {
  readonly dir: string
  /** `--credentials-dir` with the test certificates, or null when none could be made. */
  readonly credentialsDir: string | null
}

/** The case's snapshot, exactly as `explain` builds it; throws with the findings when the version is refused. */
export async function loadCaseSnapshot (env: CaseEnv, c: CorpusCase): Promise<Snapshot> {
  const result = await loadConfig(caseFiles(env.dir, c), {
    gatewayLabels: GATEWAY_LABELS,
    credentialsDir: env.credentialsDir,
    transform: caseTransform(c)
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
    transform: caseTransform(c),
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
