// Property: whatever the YAML holds, validateResources returns issues and
// never throws, and never needs its internal-error fallback. Valid documents
// (the Istio sample corpus and meshgate kinds) are mutated at random paths:
// keys deleted, values replaced by strings, numbers, nulls, lists or mappings.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { parseAllDocuments, stringify } from 'yaml'
import { parseText, type SourceResource } from '../../src/gateway/sources/yaml-documents.js'
import { CODES, validateResources } from '../../src/gateway/validate/index.js'
import { filesUnder, isYaml } from '../helpers/files.js'
import type { Issue } from '../../src/gateway/validate/issues.js'

function corpusDir (): string | null {
  const candidates = [
    process.env.MESHGATE_COMPAT_DIR,
    path.resolve(process.cwd(), '../shared/compat/istio-samples'),
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/compat/istio-samples')
  ]
  for (const c of candidates) if (c !== undefined && c !== '' && existsSync(c)) return c
  return null
}

const MESHGATE_DOCS = `
apiVersion: meshgate.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: rl}
spec:
  targetRefs: [{kind: VirtualService, name: bookinfo}]
  match: {uri: {prefix: /api}, headers: {x-tier: {exact: free}}}
  limits:
  - {name: per-ip, requests: 100, per: 1m, key: ip}
  - {name: per-user, requests: 10, per: 1s, key: "header:x-user"}
---
apiVersion: meshgate.io/v1alpha1
kind: CachePolicy
metadata: {name: cache}
spec: {ttl: 30s, methods: [GET, HEAD], vary: [accept], maxEntries: 1000, maxBodyBytes: 65536, staleWhileRevalidate: 5s}
---
apiVersion: meshgate.io/v1alpha1
kind: ApiKeyPolicy
metadata: {name: keys}
spec:
  in: "header:x-api-key"
  keys: [{name: team-a, valueSha256: "${'0f'.repeat(32)}"}, {name: team-b, valueFrom: {file: /keys/b}}]
---
apiVersion: meshgate.io/v1alpha1
kind: EdgeFacts
metadata: {name: facts}
spec: {headers: {country: x-geo-country}, trustedProxies: [10.0.0.0/8], geoHeaders: {country: cf-ipcountry}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: full, namespace: web}
spec:
  hosts: [a.example.com]
  gateways: [default/gw]
  http:
  - name: main
    match: [{uri: {regex: "/v[0-9]+/.*"}, queryParams: {q: {}}, withoutHeaders: {x-skip: {}}, port: 443}]
    route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v1, port: {number: 9080}}
      weight: 70
      headers: {response: {add: {x-v: "1"}}}
    - destination: {host: reviews.default.svc.cluster.local, subset: v2}
      weight: 30
    rewrite: {uriRegexRewrite: {match: "^/v1/(.*)", rewrite: "/\\\\1"}}
    timeout: 3s
    retries: {attempts: 3, perTryTimeout: 1s, retryOn: "5xx,503"}
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 1}}}
    mirrors: [{destination: {host: shadow.default.svc.cluster.local}, percentage: {value: 5}}]
    corsPolicy: {allowOrigins: [{prefix: "https://"}], allowMethods: [GET], maxAge: 24h, allowCredentials: true}
  - redirect: {scheme: https, redirectCode: 308}
`

interface Base { file: string, docs: unknown[] }

function loadBases (): Base[] {
  const bases: Base[] = [{ file: 'meshgate.yaml', docs: parseAllDocuments(MESHGATE_DOCS).map(d => d.toJS()) }]
  const dir = corpusDir()
  if (dir !== null) {
    for (const f of filesUnder(dir, n => isYaml(n) && n !== 'expectations.yaml')) {
      const docs = parseAllDocuments(readFileSync(f, 'utf8')).map(d => d.toJS()).filter(d => d !== null && d !== undefined)
      if (docs.length > 0) bases.push({ file: path.relative(dir, f), docs })
    }
  }
  return bases
}

const bases = loadBases()

type Op = { kind: 'delete' } | { kind: 'replace', value: unknown } | { kind: 'insert', key: string, value: unknown } | { kind: 'wrap' }

const weirdValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom('', '*', '%', '5s', '0s', '-1', '$CLIENT_IP', '(', '::1', '10.0.0.0/99', 'mesh', '@request.auth.claims[', 'a/b/c'),
  fc.jsonValue({ maxDepth: 3 })
)

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.constant<Op>({ kind: 'delete' }),
  weirdValue.map((value): Op => ({ kind: 'replace', value })),
  fc.record({ key: fc.oneof(fc.string(), fc.constantFrom('match', 'route', 'tls', 'subset', 'weight', 'hosts', 'port', 'name', '__proto__')), value: weirdValue })
    .map(({ key, value }): Op => ({ kind: 'insert', key, value })),
  fc.constant<Op>({ kind: 'wrap' })
)

/** Applies `op` at a node chosen by walking `steps` (each picks a child by index modulo the child count). */
function mutate (doc: unknown, steps: number[], op: Op): unknown {
  const root = structuredClone(doc)
  const holder: Record<string, unknown> = { root }
  let parent: Record<string, unknown> | unknown[] = holder
  let key: string | number = 'root'
  for (const step of steps) {
    const node: unknown = (parent as Record<string | number, unknown>)[key]
    if (node === null || typeof node !== 'object') break
    const keys: Array<string | number> = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node)
    if (keys.length === 0) break
    parent = node as Record<string, unknown> | unknown[]
    key = keys[step % keys.length]!
  }
  const target = parent as Record<string | number, unknown>
  switch (op.kind) {
    case 'delete':
      if (Array.isArray(target) && typeof key === 'number') target.splice(key, 1)
      else delete target[key]
      break
    case 'replace':
      target[key] = op.value
      break
    case 'insert': {
      const node = target[key]
      if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
        Object.defineProperty(node, op.key, { value: op.value, enumerable: true, writable: true, configurable: true })
      } else if (Array.isArray(node)) node.push(op.value)
      else target[key] = op.value
      break
    }
    case 'wrap':
      target[key] = [target[key]]
      break
  }
  return holder.root
}

function checkIssues (issues: Issue[]): void {
  for (const i of issues) {
    assert.ok(i.severity === 'error' || i.severity === 'warning')
    assert.equal(typeof i.message, 'string')
    assert.equal(typeof i.field, 'string')
    assert.ok(Number.isInteger(i.line) && i.line >= 0, `line ${i.line}`)
    assert.notEqual(i.code, CODES.INTERNAL, `internal validator error: ${i.message}`)
  }
}

function validateText (file: string, text: string): Issue[] {
  const resources: SourceResource[] = []
  const parseIssues: Issue[] = []
  parseText(file, text, resources, parseIssues)
  return validateResources(resources, { gatewayLabels: { istio: 'ingressgateway' }, credentialsDir: null, readFile: () => null })
}

describe('validateResources on mutated documents', () => {
  test('the unmutated bases validate without internal errors', () => {
    for (const b of bases) checkIssues(validateText(b.file, b.docs.map(d => stringify(d)).join('---\n')))
  })

  test('never throws and never reports an internal error', () => {
    fc.assert(fc.property(
      fc.nat({ max: bases.length - 1 }),
      fc.array(fc.record({ steps: fc.array(fc.nat(), { maxLength: 8 }), op: opArb }), { minLength: 1, maxLength: 4 }),
      (bi, mutations) => {
        const base = bases[bi]!
        let docs = base.docs
        for (const m of mutations) {
          const di = (m.steps[0] ?? 0) % docs.length
          docs = docs.map((d, i) => i === di ? mutate(d, m.steps.slice(1), m.op) : d)
        }
        const text = docs.map(d => stringify(d, { aliasDuplicateObjects: false })).join('---\n')
        checkIssues(validateText(base.file, text))
      }
    ), { numRuns: 400 })
  })

  test('never throws on resources that did not come from YAML at all', () => {
    fc.assert(fc.property(
      fc.constantFrom('Gateway', 'VirtualService', 'DestinationRule', 'ServiceEntry', 'AuthorizationPolicy', 'RequestAuthentication',
        'RateLimitPolicy', 'CachePolicy', 'ApiKeyPolicy', 'EdgeFacts', ''),
      fc.jsonValue({ maxDepth: 4 }),
      fc.boolean(),
      (kind, spec, brokenLines) => {
        const group = ['RequestAuthentication', 'AuthorizationPolicy'].includes(kind) ? 'security.istio.io/v1' : kind.endsWith('Policy') || kind === 'EdgeFacts' ? 'meshgate.io/v1alpha1' : 'networking.istio.io/v1'
        const res: SourceResource = {
          file: 'memory.yaml',
          line: 1,
          apiVersion: group,
          kind,
          name: 'x',
          namespace: 'default',
          value: { apiVersion: group, kind, metadata: { name: 'x' }, spec } as Record<string, unknown>,
          lineOf: () => { if (brokenLines) throw new Error('no positions'); return 1 },
          keysAt: () => { if (brokenLines) throw new Error('no positions'); return [] }
        }
        const issues = validateResources([res, res], { gatewayLabels: {}, credentialsDir: '/nonexistent' })
        checkIssues(issues)
      }
    ), { numRuns: 300 })
  })
})
