// `meshgate test`: route test files run offline against the compiled snapshot.
// A test file is YAML with a top-level `cases:` list; every other YAML given is config.
import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { ArgError, flag, flagList, parseArgs } from './args.js'
import { CONFIG_FLAGS, loadConfigFrom, openEdgeFacts, reportRefused } from './config-flags.js'
import { listConfigFiles, isRecord, isRouteTestDocument } from '../gateway/sources/yaml-documents.js'
import { formatIssue } from '../gateway/validate/issues.js'
import { explain, type Explanation } from '../gateway/explain.js'
import { JwtAuthenticator } from '../plugins/authn-jwt/index.js'

const SPEC = { ...CONFIG_FLAGS } as const

export interface RouteCase {
  name: string
  request: { method?: string, url: string, headers?: Record<string, string>, clientIp?: string }
  expect: {
    virtualService?: string | null
    route?: number | { index?: number, name?: string } | null
    destination?: { host?: string, subset?: string | null, port?: number } | null
    status?: number | null
    /** Response headers; null: the header must be absent. */
    headers?: Record<string, string | null>
  }
}

/** Splits the given paths into config files and test files (YAML with a top-level `cases:`). */
async function splitPaths (paths: readonly string[]): Promise<{ config: string[], tests: string[] }> {
  const config: string[] = []
  const tests: string[] = []
  for (const f of await listConfigFiles(paths)) {
    const text = await readFile(f, 'utf8')
    let doc: unknown = null
    try { doc = parse(text) } catch { /* config validation reports it */ }
    if (isRecord(doc) && isRouteTestDocument(doc)) tests.push(f)
    else config.push(f)
  }
  return { config, tests }
}

export function checkCase (c: RouteCase, e: Explanation): string[] {
  const diffs: string[] = []
  const r = e.result
  const x = c.expect ?? {}
  const cmp = (what: string, want: unknown, got: unknown): void => {
    if (want === undefined) return
    if (JSON.stringify(want) !== JSON.stringify(got)) diffs.push(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`)
  }
  cmp('virtualService', x.virtualService, r.virtualService ?? null)
  if (x.route !== undefined) {
    const route = r.route as { index: number, name: string | null } | null
    if (x.route === null) cmp('route', null, route)
    else if (typeof x.route === 'number') cmp('route', x.route, route?.index ?? null)
    else {
      if (x.route.index !== undefined) cmp('route.index', x.route.index, route?.index ?? null)
      if (x.route.name !== undefined) cmp('route.name', x.route.name, route?.name ?? null)
    }
  }
  if (x.destination !== undefined) {
    const d = r.destination as { host?: string, subset?: string | null, port?: number } | undefined
    if (x.destination === null) cmp('destination', null, d ?? null)
    else {
      if (x.destination.host !== undefined) cmp('destination.host', x.destination.host, d?.host ?? null)
      if (x.destination.subset !== undefined) cmp('destination.subset', x.destination.subset, d?.subset ?? null)
      if (x.destination.port !== undefined) cmp('destination.port', x.destination.port, d?.port ?? null)
    }
  }
  if (x.status !== undefined) {
    // explain predicts local answers; forwarded requests are taken to succeed (200).
    cmp('status', x.status, e.status ?? (e.matched ? 200 : null))
  }
  if (x.headers !== undefined && x.headers !== null) {
    // What the gateway itself sets on the answer; a forwarded answer also
    // carries the upstream's own headers, which only a live request shows.
    const rh = r.responseHeaders as { set: Record<string, string | string[]>, removed: string[], origin: 'local' | 'upstream' } | undefined
    const set = rh?.set ?? (typeof r.location === 'string' ? { location: r.location } : {})
    const upstream = rh?.origin === 'upstream'
    for (const [k, want] of Object.entries(x.headers)) {
      const name = k.toLowerCase()
      const raw = set[name]
      const got = raw === undefined ? null : Array.isArray(raw) ? raw.join(', ') : raw
      if (want === null) {
        if (got !== null) diffs.push(`headers.${name}: expected absent, got ${JSON.stringify(got)}`)
        else if (upstream && rh?.removed.includes(name) !== true) diffs.push(`headers.${name}: expected absent; the gateway does not remove it, so the upstream may send it (a live request shows)`)
      } else if (got === null && upstream) {
        diffs.push(`headers.${name}: expected ${JSON.stringify(String(want))}; the gateway does not set it (the upstream's own headers need a live request)`)
      } else if (got !== String(want)) {
        diffs.push(`headers.${name}: expected ${JSON.stringify(String(want))}, got ${JSON.stringify(got)}`)
      }
    }
  }
  return diffs
}

export async function runRouteTests (argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, SPEC)
  const all = [...flagList(p, 'config'), ...p.positionals]
  if (all.length === 0) throw new ArgError('test needs --config PATH... (or --kubernetes) and at least one test file')
  const { config, tests } = await splitPaths(all)
  if (tests.length === 0) throw new ArgError('no test file given (a YAML file with a top-level `cases:` list)')
  const result = await loadConfigFrom(p, 'test', config)
  if (result.snapshot === null) return reportRefused(result.issues)
  const edge = await openEdgeFacts(p)
  const jwt = new JwtAuthenticator(null)
  let passed = 0
  let failed = 0
  const out: string[] = []
  for (const file of tests) {
    const doc = parse(await readFile(file, 'utf8')) as { cases: RouteCase[] }
    for (const [i, c] of doc.cases.entries()) {
      const name = typeof c?.name === 'string' ? c.name : `${file}#${i}`
      let diffs: string[]
      if (!isRecord(c) || !isRecord(c.request) || typeof c.request.url !== 'string') {
        diffs = ['case needs request.url']
      } else {
        try {
          const e = await explain(result.snapshot, { url: c.request.url, method: c.request.method ?? 'GET', headers: c.request.headers ?? {}, clientIp: c.request.clientIp ?? '127.0.0.1' }, { edge, jwt })
          diffs = checkCase(c, e)
        } catch (err) {
          diffs = [(err as Error).message]
        }
      }
      if (diffs.length === 0) { passed++; out.push(`ok   ${name}`) } else {
        failed++
        out.push(`FAIL ${name}`)
        for (const d of diffs) out.push(`     ${d}`)
      }
    }
  }
  jwt.close()
  out.push(`${passed} passed, ${failed} failed`)
  process.stdout.write(out.join('\n') + '\n')
  return failed === 0 ? 0 : 1
}
