// Flags every config-reading command shares (validate, explain, test), and the
// refusal message when a version has admission errors.
import pino from 'pino'
import { ArgError, flag, flagList, type ParsedArgs } from './args.js'
import { loadConfig, parseLabels, type LoadOptions, type LoadResult } from '../gateway/config-loader.js'
import { formatIssue, type Issue } from '../gateway/validate/issues.js'
import { EdgeFactsEngine, GeoDatabase } from '../plugins/edge-facts/index.js'

export const CONFIG_FLAGS = {
  config: 'multi',
  'gateway-labels': 'string',
  'credentials-dir': 'string',
  namespace: 'string',
  'root-namespace': 'string',
  geoip: 'multi',
  kubernetes: 'boolean',
  kubeconfig: 'string',
  'watch-namespace': 'multi'
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

/** `--kubernetes` / `--kubeconfig FILE` / `--watch-namespace NS[,NS]`: null when the cluster is not asked for. */
export function kubernetesFlags (p: ParsedArgs): { kubeconfig: string | null, namespaces: string[] } | null {
  const kubeconfig = flag(p, 'kubeconfig') ?? null
  const namespaces = flagList(p, 'watch-namespace').flatMap(v => v.split(',')).map(v => v.trim()).filter(v => v !== '')
  if (p.booleans.has('kubernetes') || kubeconfig !== null) return { kubeconfig, namespaces }
  if (namespaces.length > 0) throw new ArgError('--watch-namespace needs --kubernetes')
  return null
}

/**
 * The config an offline command reads: `--config` files and, with
 * `--kubernetes`/`--kubeconfig`, the cluster's resources as `serve` would see
 * them right now (listed once; `--namespace` is the gateway's namespace, for
 * `credentialName` Secrets). `command` names the command in usage errors.
 */
export async function loadConfigFrom (p: ParsedArgs, command: string, paths: readonly string[] = [...flagList(p, 'config'), ...p.positionals]): Promise<LoadResult> {
  const cluster = kubernetesFlags(p)
  if (cluster === null) {
    if (paths.length === 0) throw new ArgError(`${command} needs --config PATH (or --kubernetes)`)
    return await loadConfig(paths, loadOptionsFrom(p))
  }
  const { kubeconfig, namespaces } = cluster
  // Loaded only here: the Kubernetes client is large.
  const { KubernetesProvider } = await import('../gateway/sources/kubernetes.js')
  const log = pino({ level: 'warn', base: null }, pino.destination(2))
  let provider: InstanceType<typeof KubernetesProvider> | null = null
  try {
    provider = new KubernetesProvider({ kubeconfig, namespaces, log, podNamespace: flag(p, 'namespace') ?? null, syncTimeoutMs: 15_000 })
    await provider.start()
    return await loadConfig(paths, { ...loadOptionsFrom(p), provider })
  } catch (err) {
    if (err instanceof ArgError) throw err
    throw new ArgError(`cannot read from Kubernetes: ${(err as Error).message}`)
  } finally {
    await provider?.stop()
  }
}
