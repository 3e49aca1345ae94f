// Starts the upstream and the contestants of one scenario as tracked child
// processes (stopped by PID at the end, or killed on SIGINT by processes.ts),
// each on the CPUs the harness gives it.
import { mkdtemp, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startNginx } from '../../helpers/nginx.js'
import { getFreePort } from '../../helpers/ports.js'
import { spawnProcess, startMeshgate } from '../../helpers/processes.js'
import { nginxProxyConfig, type ContestantId, type Scenario } from '../scenario.js'

export interface Running {
  readonly id: ContestantId
  readonly label: string
  readonly port: number
  /** Root of the process tree whose RSS is sampled; null for the direct upstream (not a proxy). */
  readonly pid: number | null
  stop (): Promise<void>
}

export interface Upstream extends Running {
  /** What serves the answers, for the output: `nginx 1.22.1, static 100-byte file`. */
  readonly kind: string
  /** The same answers over TLS with client-certificate verification (a mesh sidecar's stance), when asked for. */
  readonly mtlsPort: number | null
}

/** PEM texts for the upstream's mTLS port. */
export interface UpstreamTlsFiles { readonly cert: string, readonly key: string, readonly ca: string }

/** The same file over TLS, verifying client certificates (a mesh sidecar's stance). */
function mtlsServer (port: number, root: string, dir: string): string {
  return upstreamServer(port, root, `
    ssl_certificate ${dir}/tls/cert.pem;
    ssl_certificate_key ${dir}/tls/key.pem;
    ssl_client_certificate ${dir}/tls/ca.pem;
    ssl_verify_client on;
    ssl_session_cache shared:mg:1m;`)
}

const here = path.dirname(fileURLToPath(import.meta.url))
const FLOOR_SCRIPT = path.join(here, 'node-floor.js')
const NODE_UPSTREAM_SCRIPT = path.join(here, 'node-upstream.js')
// Enough for 50 client connections plus 64 idle upstream ones, with room for --connections.
const NGINX_WORKER_CONNECTIONS = 4096

/** A JSON body of exactly `bytes` bytes (newline included) for the upstream to answer. */
export function answerBody (bytes: number): string {
  const head = '{"ok":true,"pad":"'
  const tail = '"}\n'
  return head + 'x'.repeat(Math.max(0, bytes - head.length - tail.length)) + tail
}

/**
 * nginx serving one static file on every path. `error_page 405 =200 $uri` turns
 * a POST (which the static module refuses) into an internal GET of the same file,
 * so later scenarios that send bodies get the same answer.
 */
/** `tls`: the ssl directives for a TLS server; empty for plain HTTP. */
function upstreamServer (port: number, root: string, tls = ''): string {
  return `server {
    listen 127.0.0.1:${port}${tls === '' ? '' : ' ssl'} backlog=4096;${tls}
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    open_file_cache max=16;
    etag off;
    root ${root};
    location / {
      default_type application/json;
      try_files /body =404;
      error_page 405 =200 $uri;
    }
  }`
}

export async function startUpstream (nginx: { bin: string, version: string } | null, bytes: number, cpuList: string | undefined, tls: UpstreamTlsFiles | null = null): Promise<Upstream> {
  if (nginx !== null) {
    const server = await startNginx({
      http: ctx => upstreamServer(ctx.ports[0] as number, path.join(ctx.dir, 'www')) + (tls === null ? '' : `\n${mtlsServer(ctx.ports[1] as number, path.join(ctx.dir, 'www'), ctx.dir)}`),
      files: { 'www/body': answerBody(bytes), ...(tls === null ? {} : { 'tls/cert.pem': tls.cert, 'tls/key.pem': tls.key, 'tls/ca.pem': tls.ca }) },
      portCount: tls === null ? 1 : 2,
      workerProcesses: 1,
      workerConnections: NGINX_WORKER_CONNECTIONS,
      cpuList
    })
    return { id: 'direct', label: 'upstream directly', kind: `nginx ${nginx.version}, 1 worker, static ${bytes}-byte file${tls === null ? '' : ' (and over mTLS on a second port)'}`, port: server.port, mtlsPort: tls === null ? null : server.ports[1] ?? null, pid: null, stop: server.stop }
  }
  if (tls !== null) throw new Error('the mTLS upstream needs nginx (apt-get install nginx)')
  const proc = await spawnProcess(process.execPath, [NODE_UPSTREAM_SCRIPT, String(bytes)], { name: 'node-upstream', cpuList })
  const m = await proc.waitForOutput(/ready (\d+)/)
  return {
    id: 'direct',
    label: 'upstream directly',
    kind: `node:http (nginx is not installed), ${bytes}-byte answer`,
    port: Number(m[1]),
    mtlsPort: null,
    pid: null,
    stop: async () => { await proc.stop({ graceMs: 2_000 }) }
  }
}

export async function startNginxProxy (scenario: Scenario, version: string, upstreamPort: number, workers: number, cpuList: string | undefined): Promise<Running> {
  const build = scenario.nginxConfig ?? nginxProxyConfig
  const server = await startNginx({
    http: ctx => build(upstreamPort, ctx.ports[0] as number),
    workerProcesses: workers,
    workerConnections: NGINX_WORKER_CONNECTIONS,
    cpuList
  })
  const label = `nginx ${version}, ${workers} worker${workers === 1 ? '' : 's'}, upstream keep-alive`
  return { id: 'nginx', label, port: server.port, pid: server.process.pid, stop: server.stop }
}

export async function startFloor (upstreamPort: number, workers: number, cpuList: string | undefined): Promise<Running> {
  const port = await getFreePort()
  const proc = await spawnProcess(process.execPath, [FLOOR_SCRIPT, String(port), `http://127.0.0.1:${upstreamPort}`, String(workers)], { name: 'node-floor', cpuList })
  await proc.waitForOutput(`ready ${port}`)
  const label = `Node floor: node:http + undici Pool${workers > 1 ? `, ${workers} cluster workers` : ''}`
  return { id: 'floor', label, port, pid: proc.pid, stop: async () => { await proc.stop({ graceMs: 2_000 }) } }
}

export interface MeshgateContestant extends Running {
  /** The folder holding the config it serves (for `meshgate explain`). */
  readonly configDir: string
}

export async function startMeshgateContestant (
  id: 'meshgate' | 'meshgate-plain' | 'meshgate-tuned',
  label: string,
  config: (upstreamPort: number, listenPort: number) => string,
  upstreamPort: number,
  workers: number,
  scratchDir: string,
  cpuList: string | undefined,
  extraArgs: readonly string[] = [],
  nodeArgs: readonly string[] = []
): Promise<MeshgateContestant> {
  const port = await getFreePort()
  const adminPort = await getFreePort()
  const configDir = await mkdtemp(path.join(scratchDir, `${id}-`))
  await writeFile(path.join(configDir, 'bench.yaml'), config(upstreamPort, port))
  const proc = await startMeshgate([
    'serve', '--config', configDir, '--host', '127.0.0.1', '--admin-port', String(adminPort),
    '--access-log', 'off', '--log-level', 'warn', '--workers', String(workers), ...extraArgs
  ], { cpuList, nodeArgs, readyTimeoutMs: 60_000 })
  return { id, label, port, pid: proc.pid, configDir, stop: async () => { await proc.stop({ graceMs: 5_000 }) } }
}
