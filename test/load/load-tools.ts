// The two load generators the harness drives, behind one shape. wrk (the Debian
// package) is a C client with microsecond latency figures; autocannon is the
// Node one, run through its programmatic API, with integer-millisecond latency
// histograms and a ceiling near 28k req/s per thread (the reason for
// `workers`). A figure is only compared with figures from the same tool.
import autocannon from 'autocannon'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { spawnProcess } from '../helpers/processes.js'
import { BENCH_HOST, type BenchRequest } from './scenario.js'

export type LoadToolName = 'wrk' | 'autocannon'

export interface LoadSpec {
  readonly port: number
  readonly request: BenchRequest
  readonly connections: number
  readonly seconds: number
  /** CPUs for the load generator's process (wrk); autocannon runs in this process, pinned as a whole. */
  readonly cpuList: string | undefined
  /** Open pacing at about this many req/s in total (for the half-load latency check); unset: as fast as possible. */
  readonly rate?: number
}

export interface LoadResult {
  readonly tool: LoadToolName
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly requests: number
  /** Answers outside 2xx (wrk counts status ≥ 400 only; see bench/README.md). */
  readonly non2xx: number
  /** Connect, read, write errors and timeouts. */
  readonly socketErrors: number
}

export interface LoadTool {
  readonly name: LoadToolName
  /** How the table names it, e.g. `wrk 4.1.0, 1 thread`. */
  readonly label: string
  run (spec: LoadSpec): Promise<LoadResult>
}

const RESULT_MARK = 'WRK_RESULT '

/** Lua string literal for an ASCII string (JSON escapes are valid Lua for ASCII). */
function luaString (s: string): string {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new Error(`wrk script: only printable ASCII is supported in requests, got ${JSON.stringify(s)}`)
  return JSON.stringify(s)
}

function wrkScript (request: BenchRequest, delayMs: number | null): string {
  const lines = [
    `wrk.method = ${luaString(request.method)}`,
    `wrk.path = ${luaString(request.path)}`,
    `wrk.headers["Host"] = ${luaString(BENCH_HOST)}`
  ]
  for (const [name, value] of Object.entries(request.headers)) lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`)
  if (request.variants !== undefined && request.variants.length > 0) {
    // Every request text is formatted once in init(); request() only picks the next.
    lines.push('local variants = {')
    for (const v of request.variants) lines.push(`  {${Object.entries(v).map(([k, x]) => `[${luaString(k)}] = ${luaString(x)}`).join(', ')}},`)
    lines.push(`}
local texts = {}
local next_text = 0
init = function(args)
  for i, v in ipairs(variants) do
    local h = {}
    for k, x in pairs(wrk.headers) do h[k] = x end
    for k, x in pairs(v) do h[k] = x end
    texts[i] = wrk.format(nil, nil, h)
  end
end
request = function()
  next_text = next_text % #texts + 1
  return texts[next_text]
end`)
  }
  // wrk calls delay() (milliseconds) after each response on a connection when the script defines it.
  if (delayMs !== null) lines.push(`function delay() return ${delayMs} end`)
  lines.push(`done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${RESULT_MARK}{"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%.1f,"p99":%.1f,"p999":%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end`)
  return lines.join('\n') + '\n'
}

interface WrkSummary {
  requests: number
  durationUs: number
  connect: number
  read: number
  write: number
  status: number
  timeout: number
  p50: number
  p99: number
  p999: number
}

export function wrkTool (bin: string, version: string, threads: number, scratchDir: string): LoadTool {
  let scripts = 0
  return {
    name: 'wrk',
    label: `wrk ${version}, ${threads} thread${threads === 1 ? '' : 's'}`,
    async run (spec) {
      // Pacing: each connection waits `delay` ms after every answer, so the offered
      // rate is about connections / delay; wrk measures latency from the write.
      const delayMs = spec.rate === undefined ? null : Math.max(1, Math.round(spec.connections * 1000 / spec.rate))
      const script = path.join(scratchDir, `wrk-${++scripts}.lua`)
      await writeFile(script, wrkScript(spec.request, delayMs))
      const args = ['-t', String(threads), '-c', String(spec.connections), '-d', `${spec.seconds}s`, '--timeout', '10s', '-s', script, `http://127.0.0.1:${spec.port}${spec.request.path}`]
      const proc = await spawnProcess(bin, args, { name: 'wrk', cpuList: spec.cpuList })
      const exit = await proc.waitForExit((spec.seconds + 30) * 1000)
      const line = proc.stdout.split('\n').find(l => l.startsWith(RESULT_MARK))
      if (exit.code !== 0 || line === undefined) throw new Error(`wrk failed (exit ${String(exit.code)})\n${proc.describeOutput()}`)
      const s = JSON.parse(line.slice(RESULT_MARK.length)) as WrkSummary
      return {
        tool: 'wrk',
        rps: s.requests / (s.durationUs / 1e6),
        p50Ms: s.p50 / 1000,
        p99Ms: s.p99 / 1000,
        p999Ms: s.p999 / 1000,
        requests: s.requests,
        non2xx: s.status,
        socketErrors: s.connect + s.read + s.write + s.timeout
      }
    }
  }
}

export function autocannonTool (workers: number): LoadTool {
  return {
    name: 'autocannon',
    label: `autocannon ${workers > 1 ? `with ${workers} worker threads` : 'in one thread'}`,
    run (spec) {
      // autocannon splits `connections` over its workers and applies `overallRate`
      // per worker, so paced runs use one thread (half-load rates are well within it).
      const paced = spec.rate !== undefined
      const opts: autocannon.Options = {
        url: `http://127.0.0.1:${spec.port}${spec.request.path}`,
        method: spec.request.method as autocannon.Request['method'],
        headers: { host: BENCH_HOST, ...spec.request.headers },
        // autocannon cycles through `requests` on each connection.
        ...(spec.request.variants !== undefined && spec.request.variants.length > 0
          ? { requests: spec.request.variants.map(v => ({ headers: { host: BENCH_HOST, ...spec.request.headers, ...v } })) }
          : {}),
        connections: spec.connections,
        duration: spec.seconds,
        timeout: 10,
        ...(paced ? { overallRate: spec.rate } : workers > 1 ? { workers } : {})
      }
      return new Promise((resolve, reject) => {
        autocannon(opts, (err, r) => {
          if (err !== null && err !== undefined) { reject(err); return }
          resolve({
            tool: 'autocannon',
            rps: r.requests.total / r.duration,
            p50Ms: r.latency.p50,
            p99Ms: r.latency.p99,
            p999Ms: r.latency.p99_9,
            requests: r.requests.total,
            non2xx: r.non2xx,
            socketErrors: r.errors
          })
        })
      })
    }
  }
}
