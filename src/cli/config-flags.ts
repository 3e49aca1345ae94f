// Flags every config-reading command shares (validate, explain, test), and the
// refusal message when a version has admission errors.
import { flag, type ParsedArgs } from './args.js'
import { parseLabels, type LoadOptions } from '../gateway/config-loader.js'
import { formatIssue, type Issue } from '../gateway/validate/issues.js'

export const CONFIG_FLAGS = {
  config: 'multi',
  'gateway-labels': 'string',
  'credentials-dir': 'string',
  namespace: 'string',
  'root-namespace': 'string',
  geoip: 'string'
} as const

export function loadOptionsFrom (p: ParsedArgs): LoadOptions {
  return {
    gatewayLabels: parseLabels(flag(p, 'gateway-labels') ?? 'istio=ingressgateway'),
    credentialsDir: flag(p, 'credentials-dir') ?? null,
    namespace: flag(p, 'namespace') ?? null,
    rootNamespace: flag(p, 'root-namespace') ?? 'istio-system'
  }
}

/** Prints why a version was refused; returns exit code 1. */
export function reportRefused (issues: readonly Issue[]): number {
  const errors = issues.filter(i => i.severity === 'error')
  process.stderr.write(errors.map(formatIssue).join('\n') + `\nmeshgate: config refused: ${errors.length} error(s)\n`)
  return 1
}
