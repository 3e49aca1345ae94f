// jose, loaded when a configuration first holds a JWT rule (or a token first
// needs it): a gateway without RequestAuthentication never holds it in memory.
import { createRequire } from 'node:module'
import type * as Jose from 'jose'

const require = createRequire(import.meta.url)

let loaded: typeof Jose | null = null

export function jose (): typeof Jose {
  loaded ??= require('jose') as typeof Jose
  return loaded
}
