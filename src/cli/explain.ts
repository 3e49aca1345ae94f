// `meshgate explain`: prints, as JSON, what the gateway would do with a request.
import { ArgError, flag, flagList, parseArgs } from './args.js'
import { loadConfig, parseLabels } from '../gateway/config-loader.js'
import { formatIssue } from '../gateway/validate/issues.js'
import { explain } from '../gateway/explain.js'

const SPEC = { config: 'multi', url: 'string', method: 'string', header: 'list', ip: 'string', 'gateway-labels': 'string', 'credentials-dir': 'string', namespace: 'string', 'root-namespace': 'string', geoip: 'string' } as const
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
  const paths = [...flagList(p, 'config'), ...p.positionals]
  if (paths.length === 0) throw new ArgError('explain needs --config PATH')
  const url = flag(p, 'url')
  if (url === undefined) throw new ArgError('explain needs --url URL')
  const result = await loadConfig(paths, {
    gatewayLabels: parseLabels(flag(p, 'gateway-labels') ?? 'istio=ingressgateway'),
    credentialsDir: flag(p, 'credentials-dir') ?? null,
    namespace: flag(p, 'namespace') ?? null,
    rootNamespace: flag(p, 'root-namespace') ?? 'istio-system'
  })
  if (result.snapshot === null) {
    const errors = result.issues.filter(i => i.severity === 'error')
    process.stderr.write(errors.map(formatIssue).join('\n') + `\nmeshgate: config refused: ${errors.length} error(s)\n`)
    return 1
  }
  const e = explain(result.snapshot, {
    url,
    method: flag(p, 'method') ?? 'GET',
    headers: parseHeaderArgs(flagList(p, 'header')),
    clientIp: flag(p, 'ip') ?? '127.0.0.1'
  })
  process.stdout.write(JSON.stringify(e.result, null, 2) + '\n')
  return e.matched ? 0 : 2
}
