// `npm run bench:marketing [-- --seconds S] [--connections C] [--users N]`
//
// The Marketing canary under a realistic mix of callers: the example in
// config/examples/marketing-canary/ served by meshgate with DB-IP's city
// database, two `meshgate echo` versions behind it, and autocannon sending
// requests from several countries, regions and devices through a trusted proxy
// (x-forwarded-for) with a pool of distinct users (the `uid` cookie). Prints,
// per segment, the split observed between v1 and v2, how many users were seen
// on both sides (must be 0), and latency percentiles for the whole run.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { meshgateBin, repoRoot, startMeshgate, spawnProcess, type ManagedProcess } from '../helpers/processes.js'
import { getFreePorts, waitForPort } from '../helpers/ports.js'
import { dbipCityIpv4 } from './scenarios/edge-facts.js'

interface Segment {
  readonly name: string
  /** Addresses DB-IP places in that region (the pinned package version). */
  readonly ips: readonly string[]
  readonly ua: string
  /** Share of the traffic, in percent. */
  readonly share: number
  /** The split the VirtualService means for this segment: share of v2 in percent. */
  readonly wantV2: number
}

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'
const ANDROID = 'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36'
const DESKTOP = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0'
const BOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'
const ANDALUSIA = ['5.224.0.10', '5.40.32.10', '5.40.160.10', '5.225.32.10', '2.140.192.10']
const MADRID = ['2.136.32.10', '2.138.96.10', '2.139.0.10']
const BARCELONA = ['2.143.224.10', '2.153.0.10', '5.225.96.10']
const ELSEWHERE = ['8.8.8.8', '1.1.1.1', '88.198.0.10']

const SEGMENTS: readonly Segment[] = [
  { name: 'iPhone, Andalusia', ips: ANDALUSIA, ua: IPHONE, share: 30, wantV2: 50 },
  { name: 'Android, Andalusia', ips: ANDALUSIA, ua: ANDROID, share: 15, wantV2: 0 },
  { name: 'iPhone, Madrid', ips: MADRID, ua: IPHONE, share: 15, wantV2: 0 },
  { name: 'desktop, Barcelona', ips: BARCELONA, ua: DESKTOP, share: 15, wantV2: 0 },
  { name: 'iPhone, outside Spain', ips: ELSEWHERE, ua: IPHONE, share: 20, wantV2: 0 },
  { name: 'crawler', ips: ELSEWHERE, ua: BOT, share: 5, wantV2: 0 }
]

interface Tally { requests: number, v2: number, users: Map<string, string>, switched: number, errors: number }

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' }, users: { type: 'string', default: '5000' } } })
  const seconds = Number(values.seconds)
  const connections = Number(values.connections)
  const userCount = Number(values.users)
  const [v1Port, v2Port, gwPort, adminPort] = await getFreePorts(4) as [number, number, number, number]
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshgate-marketing-'))
  const procs: ManagedProcess[] = []
  try {
    // The example as shipped, with free ports instead of 8080/9001/9002.
    const example = path.join(repoRoot, 'config', 'examples', 'marketing-canary')
    for (const f of await readdir(example)) {
      if (!f.endsWith('.yaml')) continue
      const text = await readFile(path.join(example, f), 'utf8')
      await writeFile(path.join(dir, f), text.replace(/number: 8080/g, `number: ${gwPort}`).replace(/http: 9001/g, `http: ${v1Port}`).replace(/http: 9002/g, `http: ${v2Port}`))
    }
    procs.push(await spawnProcess(process.execPath, [meshgateBin, 'echo', '--port', String(v1Port), '--name', 'v1', '--port', String(v2Port), '--name', 'v2']))
    await waitForPort(v2Port)
    procs.push(await startMeshgate(['serve', '--config', dir, '--geoip', dbipCityIpv4(), '--host', '127.0.0.1', '--admin-port', String(adminPort), '--access-log', 'off', '--log-level', 'warn'], { readyTimeoutMs: 60_000 }))

    const tallies = SEGMENTS.map((): Tally => ({ requests: 0, v2: 0, users: new Map(), switched: 0, errors: 0 }))
    const cumulative: number[] = []
    let total = 0
    for (const s of SEGMENTS) { total += s.share; cumulative.push(total) }
    let seq = 0
    const result = await autocannon({
      url: `http://127.0.0.1:${gwPort}`,
      connections,
      duration: seconds,
      requests: [{
        method: 'GET',
        path: '/checkout',
        setupRequest (req, context: Record<string, unknown>) {
          // A deterministic spread: request n belongs to segment and user by hashing n.
          const n = seq++
          const r = (Math.imul(n, 2654435761) >>> 0) % total
          const seg = cumulative.findIndex(c => r < c)
          const s = SEGMENTS[seg]!
          const user = `u${(Math.imul(n, 40503) >>> 0) % userCount}`
          context.seg = seg
          context.user = user
          return { ...req, headers: { host: 'shop.example', 'user-agent': s.ua, 'x-forwarded-for': s.ips[n % s.ips.length]!, cookie: `uid=${user}` } }
        },
        onResponse (status: number, _body: string, context: Record<string, unknown>, headers?: Record<string, string>) {
          const t = tallies[context.seg as number]!
          t.requests++
          if (status !== 200) { t.errors++; return }
          const side = headers?.['x-upstream'] ?? '?'
          if (side === 'v2') t.v2++
          const user = context.user as string
          const prev = t.users.get(user)
          if (prev === undefined) t.users.set(user, side)
          else if (prev !== side && prev !== 'switched') { t.switched++; t.users.set(user, 'switched') }
        }
      }]
    } as autocannon.Options)

    const rows = SEGMENTS.map((s, i) => {
      const t = tallies[i]!
      const pct = t.requests === 0 ? 0 : t.v2 / t.requests * 100
      return `| ${s.name} | ${t.requests} | ${t.users.size} | ${(100 - pct).toFixed(1)} % | ${pct.toFixed(1)} % | ${s.wantV2} % | ${t.switched} | ${t.errors} |`
    })
    process.stdout.write([
      '',
      `## marketing-canary: ${seconds} s, ${connections} connections, ${userCount} users (autocannon, one process)`,
      '',
      '| segment | requests | users | v1 | v2 | v2 meant | users on both sides | errors |',
      '|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
      `${Math.round(result.requests.average)} req/s; latency p50 ${result.latency.p50} ms, p90 ${result.latency.p90} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms; non-2xx ${result.non2xx}, socket errors ${result.errors}`,
      ''
    ].join('\n'))
    const bad = tallies.some(t => t.switched > 0 || t.errors > 0) || result.errors > 0
    if (bad) process.exitCode = 1
  } finally {
    for (const p of procs.reverse()) await p.stop({ graceMs: 3_000 })
    await rm(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`marketing-mix: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
