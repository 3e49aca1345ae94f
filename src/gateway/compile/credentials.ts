// `credentialName` (Gateway servers and DestinationRules): a Kubernetes Secret,
// or from files the folder `<credentialsDir>/<name>/`, holding the Secret's keys
// as files. Istio reads `tls.crt`/`tls.key`/`ca.crt` or the generic
// `cert`/`key`/`cacert`, and a CA from a separate `<name>-cacert` Secret.
import type { FileLookup } from './clusters.js'

const CERT = ['tls.crt', 'cert'] as const
const KEY = ['tls.key', 'key'] as const
const CA = ['ca.crt', 'cacert'] as const

export interface CredentialContents { readonly cert: string | null, readonly key: string | null, readonly ca: string | null }

/** Every path a credential may be read from, for the sources stage to read and watch. */
export function credentialPaths (credentialsDir: string, name: string): string[] {
  const dir = `${credentialsDir}/${name}`
  return [...CERT, ...KEY, ...CA].map(f => `${dir}/${f}`).concat(`${dir}-cacert/ca.crt`)
}

export function readCredential (files: FileLookup, credentialsDir: string, name: string): CredentialContents {
  const dir = `${credentialsDir}/${name}`
  const first = (names: readonly string[]): string | null => {
    for (const n of names) {
      const v = files(`${dir}/${n}`)
      if (v !== null) return v
    }
    return null
  }
  return { cert: first(CERT), key: first(KEY), ca: first(CA) ?? files(`${dir}-cacert/ca.crt`) }
}
