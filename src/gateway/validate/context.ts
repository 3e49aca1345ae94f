// What validators know about the environment: this gateway's labels and
// namespace, where credentials live, and how to open a certificate file.
import { readFileSync } from 'node:fs'

export interface ValidateOptions {
  /** This gateway's workload labels (`--gateway-labels`), for `selector` matching. */
  gatewayLabels: Record<string, string>
  /** `--credentials-dir`: Gateway `credentialName`s are folders below it. null = none, so every credentialName is missing. */
  credentialsDir: string | null
  /** `--namespace`: adds Istio's namespace scoping for selector-less policies. */
  namespace?: string | null
  /** `--root-namespace`, default `istio-system`. */
  rootNamespace?: string
  /** Reads a certificate/key file; null when it cannot be read. Defaults to fs.readFileSync. */
  readFile?: (path: string) => string | null
}

export interface ValidateContext {
  readonly gatewayLabels: Readonly<Record<string, string>>
  readonly credentialsDir: string | null
  readonly namespace: string | null
  readonly rootNamespace: string
  readonly readFile: (path: string) => string | null
}

export function defaultReadFile (path: string): string | null {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return null
  }
}

export function makeContext (opts: ValidateOptions): ValidateContext {
  const userRead = opts.readFile
  return {
    gatewayLabels: opts.gatewayLabels ?? {},
    credentialsDir: opts.credentialsDir ?? null,
    namespace: opts.namespace ?? null,
    rootNamespace: opts.rootNamespace ?? 'istio-system',
    // A throwing reader must not break validation: treat it as "cannot be read".
    readFile: userRead === undefined
      ? defaultReadFile
      : (p: string) => {
          try {
            const r = userRead(p)
            return typeof r === 'string' ? r : null
          } catch {
            return null
          }
        }
  }
}
