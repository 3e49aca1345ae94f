// Flags every config-reading command shares (validate, explain, test), and the
// refusal message when a version has admission errors.
import { ArgError, flag, flagList, type ParsedArgs } from './args.js'
import { parseLabels, type LoadOptions } from '../gateway/config-loader.js'
import { formatIssue, type Issue } from '../gateway/validate/issues.js'
import { EdgeFactsEngine, GeoDatabase } from '../plugins/edge-facts/index.js'

export const CONFIG_FLAGS = {
  config: 'multi',
  'gateway-labels': 'string',
  'credentials-dir': 'string',
  namespace: 'string',
  'root-namespace': 'string',
  geoip: 'multi'
} as const

export function loadOptionsFrom (p: ParsedArgs): LoadOptions {
  return {
    gatewayLabels: parseLabels(flag(p, 'gateway-labels') ?? 'istio=ingressgateway'),
    credentialsDir: flag(p, 'credentials-dir') ?? null,
    namespace: flag(p, 'namespace') ?? null,
    rootNamespace: flag(p, 'root-namespace') ?? 'istio-system'
  }
}

/** `--geoip A --geoip B` or `--geoip A,B`: the @ip-location-db databases come as IPv4 and IPv6 files. */
export function geoipPaths (values: readonly string[]): string[] {
  return values.flatMap(v => v.split(',')).map(v => v.trim()).filter(v => v !== '')
}

/** The facts engine for offline commands, with the `--geoip` files when given. */
export async function openEdgeFacts (p: ParsedArgs): Promise<EdgeFactsEngine> {
  const paths = geoipPaths(flagList(p, 'geoip'))
  if (paths.length === 0) return new EdgeFactsEngine(null)
  try {
    return new EdgeFactsEngine(await GeoDatabase.open(paths))
  } catch (err) {
    throw new ArgError((err as Error).message)
  }
}

/** Prints why a version was refused; returns exit code 1. */
export function reportRefused (issues: readonly Issue[]): number {
  const errors = issues.filter(i => i.severity === 'error')
  process.stderr.write(errors.map(formatIssue).join('\n') + `\nmeshgate: config refused: ${errors.length} error(s)\n`)
  return 1
}
