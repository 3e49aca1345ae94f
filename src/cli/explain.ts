// `meshgate explain`: prints, as JSON, what the gateway would do with a request.
import { ArgError, flag, flagList, parseArgs } from './args.js'
import { CONFIG_FLAGS, loadConfigFrom, reportRefused } from './config-flags.js'
import { formatIssue } from '../gateway/validate/issues.js'
import { explain } from '../gateway/explain.js'
import { openEdgeFacts } from './config-flags.js'
import { JwtAuthenticator } from '../plugins/authn-jwt/index.js'

const SPEC = { ...CONFIG_FLAGS, url: 'string', method: 'string', header: 'list', ip: 'string' } as const
const ALIASES = { '-X': 'method', '-H': 'header' }

export function parseHeaderArgs (values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const h of values) {
    const colon = h.indexOf(':', h.startsWith(':') ? 1 : 0)
    if (colon <= 0) throw new ArgError(`-H ${JSON.stringify(h)}: expected 'name: value'`)
    const name = h.slice(0, colon).trim().toLowerCase()
    const value = h.slice(colon + 1).trim()
    out[name] = out[name] === undefined ? value : `${out[name]},${value}`
  }
  return out
}

export async function runExplain (argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, SPEC, ALIASES)
  const url = flag(p, 'url')
  if (url === undefined) throw new ArgError('explain needs --url URL')
  const result = await loadConfigFrom(p, 'explain')
  if (result.snapshot === null) return reportRefused(result.issues)
  const jwt = new JwtAuthenticator(null)
  const e = await explain(result.snapshot, {
    url,
    method: flag(p, 'method') ?? 'GET',
    headers: parseHeaderArgs(flagList(p, 'header')),
    clientIp: flag(p, 'ip') ?? '127.0.0.1'
  }, { edge: await openEdgeFacts(p), jwt })
  jwt.close()
  process.stdout.write(JSON.stringify(e.result, null, 2) + '\n')
  return e.matched ? 0 : 2
}
