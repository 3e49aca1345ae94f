// The Grafana dashboard in deploy/grafana against a live gateway: its shape
// (ids, grid, datasource references, variables), and every metric and label its
// queries use, checked against the admin listener's /metrics after traffic that
// makes each family's series appear (routing, a sticky split, rate limits in
// Redis and a store error, a cache hit, API keys, an AuthorizationPolicy deny,
// failed upstreams, a workload identity for the certificate gauge).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { startUpstreams, type Upstreams } from '../helpers/upstreams.js'
import { getFreePorts } from '../helpers/ports.js'
import { request, headerValue } from '../helpers/http.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { appConfig, routeYaml } from '../helpers/fixtures.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { repoRoot } from '../helpers/processes.js'
import { startAdmin } from '../../src/gateway/admin.js'
import { initCa, issueWorkload } from '../../src/mesh-bridge/dev-ca.js'

const DASHBOARD = join(repoRoot, 'deploy/grafana/meshgate-dashboard.json')

/** Labels Prometheus adds to every scraped series (and `le` on histogram buckets). */
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'pod', 'le'])

// ---------------------------------------------------------------------------
// A small PromQL scan: metric names, the labels each selector matches on, and
// the labels of grouping clauses (by, without, on, ignoring, group_left/right).

const AGGREGATIONS = ['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']
const FUNCTIONS = [
  'abs', 'absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'avg_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min',
  'cos', 'cosh', 'count_over_time', 'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'deg', 'delta', 'deriv', 'double_exponential_smoothing', 'exp', 'floor',
  'histogram_avg', 'histogram_count', 'histogram_fraction', 'histogram_quantile', 'histogram_stddev', 'histogram_stdvar', 'histogram_sum', 'holt_winters', 'hour',
  'idelta', 'increase', 'irate', 'label_join', 'label_replace', 'last_over_time', 'ln', 'log10', 'log2', 'mad_over_time', 'max_over_time', 'min_over_time', 'minute',
  'month', 'pi', 'predict_linear', 'present_over_time', 'quantile_over_time', 'rad', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sin', 'sinh', 'sort', 'sort_desc',
  'sort_by_label', 'sort_by_label_desc', 'sqrt', 'stddev_over_time', 'stdvar_over_time', 'sum_over_time', 'tan', 'tanh', 'time', 'timestamp', 'vector', 'year'
]
const CALLABLE = new Set([...AGGREGATIONS, ...FUNCTIONS])
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'])
const KEYWORDS = new Set(['bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan'])

type Token =
  | { kind: 'ident', text: string }
  | { kind: 'str' | 'num' | 'op', text: string }
  | { kind: 'range', text: string }
  | { kind: 'punct', text: '{' | '}' | '(' | ')' | ',' }

interface ExprUse {
  /** Metric names as written (with _bucket/_sum/_count). */
  readonly metrics: Set<string>
  /** Labels each metric's own selector matches on. */
  readonly selectorLabels: Map<string, Set<string>>
  /** Labels that concern every metric of the expression: grouping clauses, selectors without a name. */
  readonly sharedLabels: Set<string>
  /** The contents of every `[...]` range. */
  readonly ranges: string[]
  /** Dashboard variables the expression refers to (without `$`). */
  readonly variables: Set<string>
  readonly errors: string[]
}

function tokenize (expr: string, use: ExprUse): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < expr.length) {
    const c = expr[i]!
    if (/\s/.test(c)) { i++; continue }
    if (c === '#') { while (i < expr.length && expr[i] !== '\n') i++; continue }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1
      while (j < expr.length && expr[j] !== c) j += expr[j] === '\\' && c !== '`' ? 2 : 1
      const text = expr.slice(i + 1, j)
      for (const m of text.matchAll(/\$\{?(\w+)/g)) use.variables.add(m[1]!)
      out.push({ kind: 'str', text })
      i = j + 1
      continue
    }
    if (c === '[') {
      const j = expr.indexOf(']', i)
      const text = expr.slice(i + 1, j === -1 ? expr.length : j).trim()
      use.ranges.push(text)
      for (const m of text.matchAll(/\$\{?(\w+)/g)) use.variables.add(m[1]!)
      out.push({ kind: 'range', text })
      i = j === -1 ? expr.length : j + 1
      continue
    }
    if (c === '$') {
      const m = /^\$(?:\{(\w+)(?::\w+)?\}|(\w+))/.exec(expr.slice(i))
      if (m === null) { use.errors.push(`a stray "$" at ${i}`); i++; continue }
      use.variables.add((m[1] ?? m[2])!)
      out.push({ kind: 'num', text: m[0] })
      i += m[0].length
      continue
    }
    const num = /^(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z0-9_]*)/.exec(expr.slice(i))
    if (num !== null && /[\d.]/.test(c)) { out.push({ kind: 'num', text: num[0] }); i += num[0].length; continue }
    const ident = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i))
    if (ident !== null) { out.push({ kind: 'ident', text: ident[0] }); i += ident[0].length; continue }
    if (c === '{' || c === '}' || c === '(' || c === ')' || c === ',') { out.push({ kind: 'punct', text: c }); i++; continue }
    const op = /^(?:=~|!~|!=|==|<=|>=|[=<>+\-*/%^@])/.exec(expr.slice(i))
    if (op !== null) { out.push({ kind: 'op', text: op[0] }); i += op[0].length; continue }
    use.errors.push(`unexpected ${JSON.stringify(c)} at ${i}`)
    i++
  }
  return out
}

/** Reads a `{name op "value", ...}` matcher list starting at tokens[i] (the `{`); returns the index after `}`. */
function readMatchers (tokens: Token[], i: number, into: Set<string>, use: ExprUse): number {
  let j = i + 1
  while (j < tokens.length && !(tokens[j]!.kind === 'punct' && tokens[j]!.text === '}')) {
    const name = tokens[j]!
    const op = tokens[j + 1]
    const value = tokens[j + 2]
    if (name.kind !== 'ident' || op?.kind !== 'op' || value?.kind !== 'str') {
      use.errors.push(`a label matcher that is not name op "value" near ${JSON.stringify(name.text)}`)
      return tokens.length
    }
    into.add(name.text)
    j += 3
    if (tokens[j]?.kind === 'punct' && tokens[j]!.text === ',') j++
  }
  return j + 1
}

function scanPromQL (expr: string): ExprUse {
  const use: ExprUse = { metrics: new Set(), selectorLabels: new Map(), sharedLabels: new Set(), ranges: [], variables: new Set(), errors: [] }
  const tokens = tokenize(expr, use)
  let i = 0
  while (i < tokens.length) {
    const t = tokens[i]!
    const next = tokens[i + 1]
    if (t.kind === 'punct' && t.text === '{') {
      i = readMatchers(tokens, i, use.sharedLabels, use)
      continue
    }
    if (t.kind !== 'ident') { i++; continue }
    if (GROUPING.has(t.text)) {
      i++
      if (next?.kind === 'punct' && next.text === '(') {
        i++
        while (i < tokens.length && !(tokens[i]!.kind === 'punct' && tokens[i]!.text === ')')) {
          const l = tokens[i]!
          if (l.kind === 'ident') use.sharedLabels.add(l.text)
          else if (!(l.kind === 'punct' && l.text === ',')) use.errors.push(`unexpected ${JSON.stringify(l.text)} in ${t.text}(...)`)
          i++
        }
        i++
      }
      continue
    }
    if (KEYWORDS.has(t.text) || CALLABLE.has(t.text)) { i++; continue }
    if (next?.kind === 'punct' && next.text === '(') { use.errors.push(`unknown function ${t.text}()`); i++; continue }
    use.metrics.add(t.text)
    const labels = use.selectorLabels.get(t.text) ?? new Set<string>()
    use.selectorLabels.set(t.text, labels)
    i = next?.kind === 'punct' && next.text === '{' ? readMatchers(tokens, i + 1, labels, use) : i + 1
  }
  return use
}

/** A template variable's query: `label_values(selector, label)`, `label_values(label)`, `query_result(expr)`, or PromQL. */
function scanVariableQuery (query: string): ExprUse {
  const lv = /^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_]\w*)\s*\)\s*$/s.exec(query)
  if (lv !== null) {
    const use = scanPromQL(lv[1]!)
    use.sharedLabels.add(lv[2]!)
    return use
  }
  const only = /^\s*label_values\(\s*([a-zA-Z_]\w*)\s*\)\s*$/.exec(query)
  if (only !== null) {
    const use = scanPromQL('')
    use.sharedLabels.add(only[1]!)
    return use
  }
  const qr = /^\s*query_result\((.*)\)\s*$/s.exec(query)
  return scanPromQL(qr !== null ? qr[1]! : query)
}

// ---------------------------------------------------------------------------
// The Prometheus text format: families (# TYPE) and the label names of their samples.

interface Family { type: string, labels: Set<string>, samples: number }

function parseExposition (text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line)
    if (type !== null) { families.set(type[1]!, { type: type[2]!, labels: new Set(), samples: 0 }); continue }
    if (line.startsWith('#') || line.trim() === '') continue
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+/.exec(line)
    if (sample === null) continue
    const family = familyOf(families, sample[1]!)
    if (family === undefined) continue
    family.samples++
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_]\w*)="(?:[^"\\]|\\.)*"/g)) family.labels.add(m[1]!)
  }
  return families
}

/** The family a name belongs to: itself, or a histogram/summary's _bucket, _sum or _count. */
function familyOf (families: Map<string, Family>, name: string): Family | undefined {
  const own = families.get(name)
  if (own !== undefined) return own
  const m = /^(.*)_(bucket|sum|count)$/.exec(name)
  if (m === null) return undefined
  const base = families.get(m[1]!)
  if (base === undefined || (base.type !== 'histogram' && base.type !== 'summary') || (m[2] === 'bucket' && base.type !== 'histogram')) return undefined
  return base
}

// ---------------------------------------------------------------------------
// The dashboard.

interface Target { refId?: string, expr?: string, legendFormat?: string, datasource?: unknown }
interface Panel {
  id?: unknown
  type?: string
  title?: string
  description?: string
  datasource?: unknown
  gridPos?: { x?: unknown, y?: unknown, w?: unknown, h?: unknown }
  targets?: Target[]
  panels?: Panel[]
  repeat?: string
}
interface Variable { name?: string, type?: string, query?: unknown, datasource?: unknown, multi?: boolean, includeAll?: boolean }
interface Dashboard {
  title?: unknown
  uid?: unknown
  schemaVersion?: unknown
  panels?: Panel[]
  templating?: { list?: Variable[] }
  annotations?: { list?: Array<{ name?: string, expr?: string, datasource?: unknown }> }
  __inputs?: Array<{ type?: string, pluginId?: string, name?: string }>
}

/** A query in the dashboard and where it is. */
interface Query { where: string, expr: string, legend: string, panelTarget: boolean }

const dashboardText = await readFile(DASHBOARD, 'utf8')

function loadDashboard (): Dashboard {
  return JSON.parse(dashboardText) as Dashboard
}

function allPanels (d: Dashboard): Panel[] {
  const out: Panel[] = []
  for (const p of d.panels ?? []) {
    out.push(p)
    for (const inner of p.panels ?? []) out.push(inner)
  }
  return out
}

function describe (p: Panel): string {
  return `panel ${String(p.id)} "${p.title ?? '(untitled)'}"`
}

function queries (d: Dashboard): Query[] {
  const out: Query[] = []
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) {
      if (typeof t.expr === 'string') out.push({ where: `${describe(p)} target ${t.refId ?? '?'}`, expr: t.expr, legend: t.legendFormat ?? '', panelTarget: true })
    }
  }
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query
    if (typeof q === 'string') out.push({ where: `variable $${v.name ?? '?'}`, expr: q, legend: '', panelTarget: false })
  }
  for (const a of d.annotations?.list ?? []) {
    if (typeof a.expr === 'string') out.push({ where: `annotation "${a.name ?? '?'}"`, expr: a.expr, legend: '', panelTarget: false })
  }
  return out
}

function scanQuery (q: Query): ExprUse {
  const use = q.where.startsWith('variable ') ? scanVariableQuery(q.expr) : scanPromQL(q.expr)
  for (const m of q.legend.matchAll(/\{\{\s*([a-zA-Z_]\w*)\s*\}\}/g)) use.sharedLabels.add(m[1]!)
  return use
}

/** `${datasource}`, `$datasource`, or an __inputs datasource `${DS_...}`, as a string or as `{ uid }`. */
function datasourceRef (ds: unknown, inputs: Set<string>): boolean {
  const uid = typeof ds === 'string' ? ds : (ds as { uid?: unknown } | null | undefined)?.uid
  if (typeof uid !== 'string') return false
  const m = /^\$\{?(\w+)\}?$/.exec(uid)
  return m !== null && (m[1] === 'datasource' || inputs.has(m[1]!))
}

// ---------------------------------------------------------------------------
// The live gateway.

const sha = (s: string): string => createHash('sha256').update(s).digest('hex')

const CONFIG = `${appConfig(['v1', 'v2'])}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: gone, namespace: test}
spec:
  hosts: [gone.test.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: {{closed}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: shop
  namespace: test
  annotations:
    meshgate.io/sticky-split: "header:x-user"
spec:
  hosts: [shop.example]
  gateways: [gw]
  http:
  - name: split
    route:
    - {destination: {host: app, subset: v1}, weight: 80}
    - {destination: {host: app, subset: v2}, weight: 20}
---
${routeYaml('pages', 'pages.example', 'v1', 'static')}---
${routeYaml('api', 'api.example', 'v2')}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gone, namespace: test}
spec:
  hosts: [gone.example]
  gateways: [gw]
  http: [{route: [{destination: {host: gone}}]}]
---
apiVersion: meshgate.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: burst, namespace: test}
spec:
  targetRefs: [{kind: VirtualService, name: shop}]
  limits:
  - {name: global, requests: 3, per: 1m, key: global}
---
apiVersion: meshgate.io/v1alpha1
kind: CachePolicy
metadata: {name: pages, namespace: test}
spec:
  targetRefs: [{kind: VirtualService, name: pages}]
  ttl: 60s
---
apiVersion: meshgate.io/v1alpha1
kind: ApiKeyPolicy
metadata: {name: partners, namespace: test}
spec:
  targetRefs: [{kind: VirtualService, name: api}]
  in: header:x-api-key
  keys:
  - {name: team-a, valueSha256: ${sha('key-of-team-a')}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: istio-system}
spec:
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin/*"]}}]
`

let ups: Upstreams
let redis: RedisServer | undefined
let gw: TestGateway
let admin: FastifyInstance
let dir: string
let port: number
let families: Map<string, Family>

function get (host: string, path: string, headers: Record<string, string> = {}): ReturnType<typeof request> {
  return request(`http://127.0.0.1:${port}${path}`, { headers: { host, ...headers } })
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshgate-grafana-'))
  const ca = await initCa(join(dir, 'ca'))
  await issueWorkload(ca, join(dir, 'identity'), { spiffe: 'spiffe://cluster.local/ns/istio-system/sa/meshgate' })
  ups = await startUpstreams(['v1', 'v2'])
  redis = await startRedis()
  const [p, closed] = await getFreePorts(2) as [number, number]
  port = p
  gw = await startGateway(CONFIG, { vars: { port, closed, v1: ups.get('v1').port, v2: ups.get('v2').port }, redis: [redis.url], identityDir: join(dir, 'identity'), watch: false })
  admin = await startAdmin('127.0.0.1', 0, { gateway: () => gw.gateway, metrics: gw.metrics })

  // A sticky split without its key (fallback), then over the rate limit.
  const shop = []
  for (let i = 0; i < 4; i++) shop.push((await get('shop.example', `/s${i}`)).status)
  assert.deepEqual(shop, [200, 200, 200, 429])
  assert.equal((await get('shop.example', '/keyed', { 'x-user': 'u1' })).status, 429)
  // Cache: a miss, then a hit.
  assert.equal(headerValue(await get('pages.example', '/page'), 'x-cache'), 'MISS')
  assert.equal(headerValue(await get('pages.example', '/page'), 'x-cache'), 'HIT')
  // AuthorizationPolicy DENY, API consumers, no route, an upstream that refuses connections, an upstream 503.
  assert.equal((await get('pages.example', '/admin/users')).status, 403)
  assert.equal((await get('api.example', '/orders', { 'x-api-key': 'key-of-team-a' })).status, 200)
  assert.equal((await get('nowhere.example', '/')).status, 404)
  assert.equal((await get('gone.example', '/')).status, 503)
  ups.get('v2').failNext(1)
  assert.equal((await get('api.example', '/orders', { 'x-api-key': 'key-of-team-a' })).status, 503)
  // Redis goes away: the rate limit fails open and counts a store error.
  await redis.stop()
  redis = undefined
  const deadline = Date.now() + 5_000
  while ((gw.metrics.rateLimitStoreErrors.get('test/burst')?.value ?? 0) === 0 && Date.now() < deadline) {
    await get('shop.example', '/after-redis')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  assert.ok((gw.metrics.rateLimitStoreErrors.get('test/burst')?.value ?? 0) > 0, 'a rate-limit store error was counted')

  const res = await request(`http://127.0.0.1:${(admin.server.address() as AddressInfo).port}/metrics`)
  assert.equal(res.status, 200)
  families = parseExposition(res.body)
})

after(async () => {
  await admin?.close()
  await gw?.stop()
  await ups?.close()
  await redis?.stop()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

// ---------------------------------------------------------------------------

test('the PromQL scan finds metrics, selector labels and grouping labels, and skips functions, variables and numbers', () => {
  const use = scanPromQL('histogram_quantile(0.99, sum by (le, virtual_service) (rate(meshgate_request_duration_seconds_bucket{job=~"$job",route!="x"}[$__rate_interval])))\n/ ignoring (subset) group_left sum without (code) (meshgate_requests_total offset 5m) * on () bool 1e-3 or vector($limit)')
  assert.deepEqual(use.errors, [])
  assert.deepEqual([...use.metrics].sort(), ['meshgate_request_duration_seconds_bucket', 'meshgate_requests_total'])
  assert.deepEqual([...use.selectorLabels.get('meshgate_request_duration_seconds_bucket')!].sort(), ['job', 'route'])
  assert.deepEqual([...use.sharedLabels].sort(), ['code', 'le', 'subset', 'virtual_service'])
  assert.deepEqual([...use.variables].sort(), ['__rate_interval', 'job', 'limit'])
  assert.deepEqual(use.ranges, ['$__rate_interval'])
  assert.deepEqual(scanPromQL('frobnicate(up)').errors, ['unknown function frobnicate()'])
  const lv = scanVariableQuery('label_values(meshgate_requests_total{job=~"$job"}, virtual_service)')
  assert.deepEqual([...lv.metrics], ['meshgate_requests_total'])
  assert.deepEqual([...lv.sharedLabels], ['virtual_service'])
})

test('the dashboard is an importable Grafana dashboard: ids, grid, datasource references, variables', () => {
  const d = loadDashboard()
  const problems: string[] = []
  if (typeof d.title !== 'string' || d.title === '') problems.push('no title')
  if (typeof d.uid !== 'string' || !/^[a-zA-Z0-9_-]{1,40}$/.test(d.uid)) problems.push(`uid ${JSON.stringify(d.uid)} is not a Grafana uid`)
  if (typeof d.schemaVersion !== 'number' || d.schemaVersion < 39) problems.push(`schemaVersion ${String(d.schemaVersion)} is below 39`)
  const vars = d.templating?.list ?? []
  const inputs = new Set((d.__inputs ?? []).filter(i => i.type === 'datasource' && i.pluginId === 'prometheus').map(i => i.name ?? ''))
  const dsVar = vars.find(v => v.name === 'datasource' && v.type === 'datasource' && v.query === 'prometheus')
  if (dsVar === undefined && inputs.size === 0) problems.push('neither a `datasource` variable (type datasource, query prometheus) nor a Prometheus __inputs entry')
  for (const name of ['job', 'namespace', 'pod']) {
    const v = vars.find(x => x.name === name)
    if (v === undefined) problems.push(`no $${name} variable`)
    else if (v.multi !== true || v.includeAll !== true) problems.push(`$${name} is not multi-value with All`)
  }
  for (const v of vars) {
    if (v.type === 'query' && !datasourceRef(v.datasource, inputs)) problems.push(`variable $${v.name ?? '?'}: datasource ${JSON.stringify(v.datasource)} is not \${datasource}`)
  }

  const panels = allPanels(d)
  if (panels.length === 0) problems.push('no panels')
  const ids = new Set<number>()
  const boxes: Array<{ p: Panel, x: number, y: number, w: number, h: number }> = []
  for (const p of panels) {
    const name = describe(p)
    if (typeof p.id !== 'number' || !Number.isInteger(p.id)) problems.push(`${name}: id is not an integer`)
    else if (ids.has(p.id)) problems.push(`${name}: id ${p.id} is used twice`)
    else ids.add(p.id)
    if (typeof p.title !== 'string' || p.title === '') problems.push(`${name}: no title`)
    const g = p.gridPos
    const [x, y, w, h] = [g?.x, g?.y, g?.w, g?.h]
    if (typeof x !== 'number' || typeof y !== 'number' || typeof w !== 'number' || typeof h !== 'number' || ![x, y, w, h].every(Number.isInteger)) {
      problems.push(`${name}: gridPos ${JSON.stringify(g)} lacks integer x, y, w, h`)
    } else if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > 24) {
      problems.push(`${name}: gridPos ${JSON.stringify(g)} is outside the 24-column grid`)
    } else {
      for (const b of boxes) {
        if (x < b.x + b.w && b.x < x + w && y < b.y + b.h && b.y < y + h) problems.push(`${name} overlaps ${describe(b.p)}`)
      }
      boxes.push({ p, x, y, w, h })
    }
    if (p.type === 'row') continue
    if (!['timeseries', 'stat', 'gauge', 'bargauge', 'table', 'text', 'piechart', 'heatmap'].includes(p.type ?? '')) problems.push(`${name}: panel type ${JSON.stringify(p.type)}`)
    if (typeof p.description !== 'string' || p.description.trim() === '') problems.push(`${name}: no description`)
    if (p.repeat !== undefined && !vars.some(v => v.name === p.repeat)) problems.push(`${name}: repeats over $${p.repeat}, which is not a variable`)
    const targets = p.targets ?? []
    if (p.type !== 'text' && targets.length === 0) problems.push(`${name}: no targets`)
    if (targets.length > 0 && !datasourceRef(p.datasource, inputs)) problems.push(`${name}: datasource ${JSON.stringify(p.datasource)} is not \${datasource}`)
    const refIds = new Set<string>()
    for (const t of targets) {
      if (!datasourceRef(t.datasource, inputs)) problems.push(`${name} target ${t.refId ?? '?'}: datasource ${JSON.stringify(t.datasource)} is not \${datasource}`)
      if (typeof t.expr !== 'string' || t.expr.trim() === '') problems.push(`${name} target ${t.refId ?? '?'}: no expr`)
      if (typeof t.refId !== 'string' || refIds.has(t.refId)) problems.push(`${name}: target refId ${JSON.stringify(t.refId)} missing or repeated`)
      else refIds.add(t.refId)
    }
  }

  const names = new Set(vars.map(v => v.name))
  for (const q of queries(d)) {
    const use = scanQuery(q)
    for (const e of use.errors) problems.push(`${q.where}: ${e} in ${JSON.stringify(q.expr)}`)
    for (const v of use.variables) if (!v.startsWith('__') && !names.has(v)) problems.push(`${q.where}: $${v} is not a dashboard variable`)
    if (!q.panelTarget) continue
    for (const r of use.ranges) {
      if (!/^\$\{?__(rate_interval|range|interval)\}?$/.test(r)) problems.push(`${q.where}: range [${r}]: use $__rate_interval (or $__range)`)
    }
  }
  assert.equal(problems.length, 0, `\n${problems.join('\n')}`)
})

test('every metric and label the dashboard queries exists in a live gateway\'s /metrics', () => {
  const d = loadDashboard()
  const problems: string[] = []
  for (const q of queries(d)) {
    const use = scanQuery(q)
    if (q.panelTarget && use.metrics.size === 0) problems.push(`${q.where}: no metric in ${JSON.stringify(q.expr)}`)
    for (const metric of use.metrics) {
      const family = familyOf(families, metric)
      if (family === undefined) {
        problems.push(`${q.where}: metric ${metric} is not in /metrics (no "# TYPE ${metric.replace(/_(bucket|sum|count)$/, '')}")`)
        continue
      }
      const labels = new Set([...(use.selectorLabels.get(metric) ?? []), ...use.sharedLabels])
      for (const label of labels) {
        if (TARGET_LABELS.has(label)) continue
        if (family.samples === 0) { problems.push(`${q.where}: ${metric} has no series after the test traffic, so label "${label}" cannot be checked`); continue }
        if (!family.labels.has(label)) problems.push(`${q.where}: label "${label}" is not a label of ${metric} (it has: ${[...family.labels].sort().join(', ') || 'none'})`)
      }
    }
  }
  assert.equal(problems.length, 0, `\n${problems.join('\n')}`)
})

test('every meshgate_ metric family (process metrics aside) has a panel', () => {
  const used = new Set<string>()
  for (const q of queries(loadDashboard())) {
    if (!q.panelTarget) continue
    for (const m of scanQuery(q).metrics) {
      const base = m.replace(/_(bucket|sum|count)$/, '')
      used.add(families.has(m) ? m : base)
    }
  }
  const missing = [...families.keys()].filter(n => n.startsWith('meshgate_') && !n.startsWith('meshgate_process_') && !n.startsWith('meshgate_nodejs_') && !used.has(n))
  assert.deepEqual(missing, [], `metrics without a panel in ${DASHBOARD}: ${missing.join(', ')}`)
})
