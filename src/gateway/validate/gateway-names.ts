// VirtualService `gateways` entries: `name`, `ns/name`, `./name`, `mesh`, or
// the legacy `name.ns.svc.cluster.local` (ISTIO-SEMANTICS §2.1).
import type { Checker, Path } from './checker.js'
import { fqdnProblem, isDnsLabel } from './common.js'
import { CODES } from './codes.js'

export function checkGatewayName (c: Checker, path: Path, ref: string): void {
  const slash = ref.indexOf('/')
  if (slash === -1) {
    if (ref.includes('.')) {
      const parts = ref.split('.')
      c.warn(path, `legacy gateway name form ${JSON.stringify(ref)}; prefer ${parts[1] ?? ''}/${parts[0] ?? ''}`, CODES.DEPRECATED)
    }
    const problem = fqdnProblem(ref)
    if (problem !== null) c.error(path, `invalid gateway name ${JSON.stringify(ref)}: ${problem}`, CODES.INVALID)
    return
  }
  const ns = ref.slice(0, slash)
  const name = ref.slice(slash + 1)
  if (ns === '' || name === '') {
    c.error(path, `invalid gateway name ${JSON.stringify(ref)}: namespace and name must not be empty`, CODES.INVALID)
    return
  }
  if (ns !== '.' && !isDnsLabel(ns)) c.error(path, `invalid gateway name ${JSON.stringify(ref)}: ${JSON.stringify(ns)} is not a valid namespace`, CODES.INVALID)
  if (!isDnsLabel(name)) c.error(path, `invalid gateway name ${JSON.stringify(ref)}: ${JSON.stringify(name)} is not a valid name`, CODES.INVALID)
}
