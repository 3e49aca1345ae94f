// `meshgate validate`: what Istio's admission refuses (errors) and what
// istioctl analyze reports, one line per finding, then a summary.
import { parseArgs } from './args.js'
import { CONFIG_FLAGS, loadConfigFrom, reportRefused } from './config-flags.js'
import { formatIssue } from '../gateway/validate/issues.js'

const SPEC = { ...CONFIG_FLAGS, strict: 'boolean' } as const

export async function runValidate (argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, SPEC)
  const result = await loadConfigFrom(p, 'validate')
  const errors = result.issues.filter(i => i.severity === 'error').length
  const warnings = result.issues.length - errors
  const lines = result.issues.map(formatIssue)
  const resources = result.snapshot?.resources.length
  lines.push(`${errors} error(s), ${warnings} warning(s)${resources === undefined ? '' : ` in ${resources} resource(s)`}; config version ${result.version}`)
  process.stdout.write(lines.join('\n') + '\n')
  if (errors > 0) return 1
  if (p.booleans.has('strict') && warnings > 0) return 1
  return 0
}
