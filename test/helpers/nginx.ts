// A real nginx on 127.0.0.1 for tests (as an upstream, or as a proxy in front of
// meshgate), confined to a temp dir: `nginx -p DIR -c nginx.conf -e stderr` with
// `daemon off`, and the pid, logs and temp paths inside DIR. `master_process off`
// keeps it to one process, so stopping it by PID stops all of it; with
// `workerProcesses` the master stays in the foreground and SIGTERM to its PID
// stops its workers too.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { getFreePorts, waitForPort } from './ports.js'
import { requireExecutable, spawnProcess, type ManagedProcess } from './processes.js'

export interface NginxContext {
  /** Free ports reserved for this nginx; the first is the default server's. */
  readonly ports: readonly number[]
  /** The temp dir (nginx's prefix); `files` are written here. */
  readonly dir: string
}

export interface StartNginxOptions {
  /** How many free ports to reserve (default 1). */
  portCount?: number
  /**
   * The contents of the `http {}` block after our defaults, usually `server {}`
   * blocks. Default: one server on ports[0] answering `200 nginx\n` on every path.
   */
  http?: (ctx: NginxContext) => string
  /** Files to write into the temp dir first (pages, certificates), by relative path. */
  files?: Record<string, string>
  /** Which ports must accept connections before start resolves (default: all). */
  waitPorts?: (ctx: NginxContext) => readonly number[]
  startTimeoutMs?: number
  /** Run a master with this many worker processes (default: one process, no master). */
  workerProcesses?: number
  /** `worker_connections` (default 256). */
  workerConnections?: number
  /** CPUs to run on (`taskset -c LIST`); default: wherever the OS puts it. */
  cpuList?: string
}

export interface NginxServer extends NginxContext {
  /** The first port. */
  readonly port: number
  readonly url: string
  readonly process: ManagedProcess
  /**
   * The access log so far (`$remote_addr "$request" $status "$http_x_forwarded_for"`).
   * nginx writes a line after the response has left, so a caller that expects
   * one passes `until`: the log is read again (up to `timeoutMs`) until it matches.
   */
  accessLog (until?: RegExp, timeoutMs?: number): Promise<string>
  stop (): Promise<void>
}

function defaultServer (ctx: NginxContext): string {
  return `server {
    listen 127.0.0.1:${ctx.ports[0] ?? 0};
    location / { default_type text/plain; return 200 "nginx\\n"; }
  }`
}

function buildConfig (dir: string, http: string, opts: StartNginxOptions): string {
  // `user` only matters when nginx starts as root; in single-process mode nginx
  // keeps the starting user anyway, and this silences the worker-user lookup
  // (with a master, it keeps the workers able to read the temp dir).
  const user = process.getuid?.() === 0 ? 'user root root;\n' : ''
  const processes = opts.workerProcesses === undefined
    ? 'master_process off;'
    : `master_process on;\nworker_processes ${opts.workerProcesses};`
  return `${user}daemon off;
${processes}
pid ${dir}/nginx.pid;
error_log stderr notice;
events { worker_connections ${opts.workerConnections ?? 256}; }
http {
  log_format mg '$remote_addr "$request" $status "$http_x_forwarded_for"';
  access_log ${dir}/access.log mg;
  client_body_temp_path ${dir}/tmp/client_body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  default_type application/octet-stream;
${http}
}
`
}

/** Starts nginx; fails clearly if it is not installed or does not come up. */
export async function startNginx (opts: StartNginxOptions = {}): Promise<NginxServer> {
  const bin = await requireExecutable('nginx', 'nginx')
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshgate-nginx-'))
  try {
    await mkdir(path.join(dir, 'tmp'))
    for (const [name, content] of Object.entries(opts.files ?? {})) {
      const target = path.join(dir, name)
      await mkdir(path.dirname(target), { recursive: true })
      await writeFile(target, content)
    }
    const ports = await getFreePorts(opts.portCount ?? 1)
    const ctx: NginxContext = { ports, dir }
    const confPath = path.join(dir, 'nginx.conf')
    await writeFile(confPath, buildConfig(dir, (opts.http ?? defaultServer)(ctx), opts))
    const proc = await spawnProcess(bin, ['-p', dir, '-c', confPath, '-e', 'stderr'], { name: 'nginx', cwd: dir, cpuList: opts.cpuList })
    try {
      for (const port of (opts.waitPorts ?? ((c) => c.ports))(ctx)) {
        await waitForPort(port, { timeoutMs: opts.startTimeoutMs ?? 10_000, isAlive: () => proc.isRunning, what: 'nginx' })
      }
    } catch (err) {
      await proc.stop({ graceMs: 1_000 })
      throw new Error(`${(err as Error).message}\n${proc.describeOutput()}\n--- nginx.conf ---\n${await readFile(confPath, 'utf8')}`)
    }
    return {
      ...ctx,
      port: ports[0] as number,
      url: `http://127.0.0.1:${ports[0] as number}`,
      process: proc,
      accessLog: async (until, timeoutMs = 2_000) => {
        const file = path.join(dir, 'access.log')
        const deadline = Date.now() + timeoutMs
        for (;;) {
          const text = await readFile(file, 'utf8').catch(() => '')
          if (until === undefined || until.test(text) || Date.now() >= deadline) return text
          await new Promise(resolve => setTimeout(resolve, 20))
        }
      },
      stop: async () => {
        // SIGTERM is nginx's fast shutdown; SIGQUIT would wait for keep-alive clients.
        await proc.stop({ graceMs: 3_000 })
        await rm(dir, { recursive: true, force: true })
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}
