// `meshgate ca init|issue`: a development CA for local meshes and tests.
import { ArgError, flag, flagList, intFlag, parseArgs } from './args.js'
import { initCa, issueWorkload, loadCa } from '../mesh-bridge/dev-ca.js'

const INIT = { dir: 'string', 'trust-domain': 'string', days: 'string' } as const
const ISSUE = { 'ca-dir': 'string', spiffe: 'string', out: 'string', dns: 'list', days: 'string' } as const

export const CA_USAGE = `usage: meshgate ca init [--dir DIR] [--trust-domain cluster.local] [--days 3650]
       meshgate ca issue --spiffe spiffe://cluster.local/ns/NS/sa/SA --out DIR [--ca-dir DIR] [--dns NAME]... [--days 30]
(development only: the root key is stored unencrypted in the CA folder, default .meshgate-ca)`

export async function runCa (argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === 'init') {
    const p = parseArgs(rest, INIT)
    const dir = flag(p, 'dir') ?? '.meshgate-ca'
    const ca = await initCa(dir, { trustDomain: flag(p, 'trust-domain'), days: intFlag(p, 'days', 3650, 1, 36_500) })
    process.stdout.write(`wrote ${ca.dir}/root-cert.pem and ${ca.dir}/root-key.pem (development only)\n`)
    return 0
  }
  if (sub === 'issue') {
    const p = parseArgs(rest, ISSUE)
    const spiffe = flag(p, 'spiffe')
    const out = flag(p, 'out')
    if (spiffe === undefined || out === undefined) throw new ArgError('ca issue needs --spiffe URI and --out DIR')
    const caDir = flag(p, 'ca-dir') ?? '.meshgate-ca'
    let ca
    try {
      ca = await loadCa(caDir)
    } catch {
      throw new ArgError(`no CA in ${caDir}: run \`meshgate ca init --dir ${caDir}\` first`)
    }
    const r = await issueWorkload(ca, out, { spiffe, dns: flagList(p, 'dns'), days: intFlag(p, 'days', 30, 1, 3650) }).catch((err: Error) => { throw new ArgError(err.message) })
    process.stdout.write(`wrote ${out}/cert-chain.pem, key.pem, root-cert.pem for ${spiffe} (serial ${r.serial})\n`)
    return 0
  }
  throw new ArgError(`ca needs init or issue\n${CA_USAGE}`)
}
