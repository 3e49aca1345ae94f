// The CRDs of the meshgate.io kinds (deploy/crds/, deploy/helm/meshgate/crds/)
// and the validator share one schema (src/gateway/validate/meshgate-schema.ts).
// Checked here: the files are what the generator renders now; the schemas are
// structural as Kubernetes defines it; ajv accepts every meshgate.io document
// the validator accepts (examples, fixtures, golden configs, mutations of
// them); a wrong type or an unknown field at a random place is reported by
// the validator and refused by the schema; and the fields the validator
// knows at each place are the schema's properties there.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { Ajv, type ValidateFunction } from 'ajv'
import fc from 'fast-check'
import RE2 from 're2'
import { parse, parseAllDocuments, stringify } from 'yaml'
import { parseText, type SourceResource } from '../../src/gateway/sources/yaml-documents.js'
import { CODES, validateResources } from '../../src/gateway/validate/index.js'
import { fieldPath, formatIssue, type Issue } from '../../src/gateway/validate/issues.js'
import { MATCH_FIELDS } from '../../src/gateway/validate/http-match.js'
import { MESHGATE_KINDS, STRUCTURE_POINTERS } from '../../src/gateway/validate/meshgate-kinds.js'
import { GROUPS } from '../../src/gateway/validate/resource.js'
import {
  MESHGATE_GROUP, MESHGATE_SCHEMAS, MESHGATE_VERSION, fieldNames, kindSchema, schemaAt, schemaNodes,
  type KindSchema, type Schema, type TypedSchema
} from '../../src/gateway/validate/meshgate-schema.js'
import { CRD_DIRS, kindOpenApiSchema, renderCrds, type JsonSchema } from '../../src/gateway/validate/crds.js'
import { filesUnder, isYaml } from '../helpers/files.js'
import { repoRoot } from '../helpers/processes.js'

type Json = Record<string, unknown>
type Segment = string | number

const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

// ---- validator and ajv ----

function validate (docs: readonly unknown[], readFile: (f: string) => string | null = () => 'a-key'): Issue[] {
  const text = docs.map(d => stringify(d, { aliasDuplicateObjects: false })).join('---\n')
  const resources: SourceResource[] = []
  const parseIssues: Issue[] = []
  parseText('crd-case.yaml', text, resources, parseIssues)
  assert.deepEqual(parseIssues.map(formatIssue), [])
  return validateResources(resources, { gatewayLabels: {}, credentialsDir: null, readFile })
}

const admissionErrors = (issues: readonly Issue[]): Issue[] => issues.filter(i => i.severity === 'error' && i.admission)
const unknownFields = (issues: readonly Issue[]): Issue[] => issues.filter(i => i.code === CODES.UNKNOWN_FIELD)

function newAjv (): Ajv {
  // strictRequired is off: Kubernetes wants oneOf/not to name fields declared beside them, not inside.
  const ajv = new Ajv({ strict: true, strictRequired: false, allErrors: true })
  ajv.addVocabulary(['x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-validations', 'x-kubernetes-embedded-resource'])
  return ajv
}

/**
 * The API server checks a null value of a nullable node for its type and
 * enum only: the node's oneOf/anyOf/allOf/not are not applied to it. ajv
 * applies them (`required` holds vacuously for null, so a "which fields
 * together" oneOf fails), so the junctors move under `if: object`.
 */
function nullAsApiServer (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullAsApiServer)
  if (!isMap(node)) return node
  const out: Json = {}
  for (const [k, v] of Object.entries(node)) out[k] = k === 'enum' ? v : nullAsApiServer(v)
  if (out.nullable !== true) return out
  const junctors: Json = {}
  for (const j of ['oneOf', 'anyOf', 'allOf', 'not']) {
    if (j in out) { junctors[j] = out[j]; delete out[j] }
  }
  if (Object.keys(junctors).length > 0) { out.if = { type: 'object' }; out.then = junctors }
  return out
}

const ajv = newAjv()
const generated = renderCrds()
/** What the API server checks: the CRDs' own schemas, as written to disk. */
const crdValidators = new Map<string, ValidateFunction>(generated.map(f => {
  const crd = parse(f.text) as { spec: { versions: Array<{ schema: { openAPIV3Schema: JsonSchema } }> } }
  return [f.kind, ajv.compile(nullAsApiServer(crd.spec.versions[0]!.schema.openAPIV3Schema) as JsonSchema)]
}))
/** What the validator checks: every record closed, unions as oneOf. */
const closedValidators = new Map<string, ValidateFunction>(MESHGATE_SCHEMAS.map(k => [k.kind, ajv.compile(nullAsApiServer(kindOpenApiSchema(k, { closed: true })) as JsonSchema)]))

function schemaOf (kind: string): KindSchema {
  const k = kindSchema(kind)
  assert.ok(k !== undefined, `no schema for ${kind}`)
  return k
}

/**
 * The API server drops a null field unless its schema is nullable; the
 * validator reads null as "not set". Unknown fields stay, for the schema to judge.
 */
function pruneNulls (v: unknown, node: Schema | undefined): unknown {
  if (node === undefined || node.type === undefined) return v
  if (node.type === 'array' && Array.isArray(v)) return v.map(item => pruneNulls(item, node.items))
  if (node.type !== 'object' || !isMap(v)) return v
  const out: Json = {}
  for (const [k, val] of Object.entries(v)) {
    const sub = (node.properties !== undefined && Object.hasOwn(node.properties, k) ? node.properties[k] : undefined) ?? node.additionalProperties
    if (val === null && sub !== undefined && sub.nullable !== true) continue
    out[k] = pruneNulls(val, sub)
  }
  return out
}

function forApiServer (doc: Json): Json {
  const kind = schemaOf(doc.kind as string)
  const out: Json = {}
  for (const [k, v] of Object.entries(doc)) if (v !== null) out[k] = k === 'spec' ? pruneNulls(v, kind.spec) : v
  return out
}

function schemaVerdict (validators: Map<string, ValidateFunction>, doc: Json): { ok: boolean, errors: string } {
  const fn = validators.get(doc.kind as string)
  assert.ok(fn !== undefined, `no CRD for ${String(doc.kind)}`)
  const ok = fn(forApiServer(doc))
  return { ok, errors: ok ? '' : JSON.stringify(fn.errors?.slice(0, 4)) }
}

// ---- documents: examples, golden configs and YAML in the tests ----

/**
 * The template literals of a TypeScript source, cooked, with every `${...}`
 * left out: fixtures with a value interpolated become documents the
 * validator refuses, and are skipped as such.
 */
function templateLiterals (src: string): string[] {
  const out: string[] = []
  let i = 0
  const skipQuoted = (q: string): void => {
    i++
    while (i < src.length && src[i] !== q && src[i] !== '\n') i += src[i] === '\\' ? 2 : 1
    i++
  }
  const readTemplate = (): string => {
    let text = ''
    i++
    while (i < src.length && src[i] !== '`') {
      if (src[i] === '\\') {
        const e = src[i + 1] ?? ''
        text += e === 'n' ? '\n' : e === 't' ? '\t' : e
        i += 2
      } else if (src[i] === '$' && src[i + 1] === '{') {
        let depth = 0
        for (; i < src.length; i++) {
          if (src[i] === '`') readTemplate()
          if (src[i] === '{') depth++
          else if (src[i] === '}' && --depth === 0) break
        }
        i++
      } else {
        text += src[i]
        i++
      }
    }
    i++
    return text
  }
  while (i < src.length) {
    const ch = src[i]!
    if (ch === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') i++
    } else if (ch === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2)
      i = end === -1 ? src.length : end + 2
    } else if (ch === '/' && /(^|[(,=:[!&|?{};]|\breturn)\s*$/.test(src.slice(Math.max(0, i - 12), i))) {
      // A regex literal: its quotes and backticks are not strings.
      let inClass = false
      for (i++; i < src.length && src[i] !== '\n'; i++) {
        if (src[i] === '\\') i++
        else if (src[i] === '[') inClass = true
        else if (src[i] === ']') inClass = false
        else if (src[i] === '/' && !inClass) break
      }
      i++
    } else if (ch === '\'' || ch === '"') {
      skipQuoted(ch)
    } else if (ch === '`') {
      out.push(readTemplate())
    } else {
      i++
    }
  }
  return out
}

function dedent (s: string): string {
  const lines = s.split('\n')
  const indents = lines.filter(l => l.trim() !== '').map(l => l.length - l.trimStart().length)
  const indent = indents.length === 0 ? 0 : Math.min(...indents)
  return lines.map(l => l.slice(indent)).join('\n')
}

interface Found { source: string, doc: Json }

function meshgateDocs (source: string, text: string): Found[] {
  let docs
  try {
    docs = parseAllDocuments(text, { logLevel: 'error' })
  } catch {
    return []
  }
  if (!Array.isArray(docs)) return []
  return docs.filter(d => d.errors.length === 0).map(d => d.toJS() as unknown)
    .filter((d): d is Json => isMap(d) && d.apiVersion === `${MESHGATE_GROUP}/${MESHGATE_VERSION}` && MESHGATE_KINDS.includes(d.kind as string))
    .map(doc => ({ source, doc }))
}

function collectDocuments (): Found[] {
  const found: Found[] = []
  for (const f of [...filesUnder(path.join(repoRoot, 'config/examples'), isYaml), ...filesUnder(path.join(repoRoot, 'test/golden'), isYaml)]) {
    found.push(...meshgateDocs(path.relative(repoRoot, f), readFileSync(f, 'utf8')))
  }
  for (const f of filesUnder(path.join(repoRoot, 'test'), n => n.endsWith('.ts'))) {
    templateLiterals(readFileSync(f, 'utf8')).forEach((t, n) => {
      if (t.includes(`${MESHGATE_GROUP}/`)) found.push(...meshgateDocs(`${path.relative(repoRoot, f)} (template ${n + 1})`, dedent(t)))
    })
  }
  return found
}

const SHA = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'

/** Every field of every kind, set: the bases the mutations start from. */
const RICH = `
apiVersion: meshgate.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: rl, namespace: shop}
spec:
  targetRefs: [{kind: VirtualService, name: web, namespace: shop, group: networking.istio.io}, {kind: Gateway, name: public}]
  match:
    name: api
    uri: {prefix: /api/}
    scheme: {exact: https}
    method: {regex: "GET|HEAD"}
    authority: {exact: shop.example}
    headers: {x-tier: {exact: free}, x-any: {}}
    withoutHeaders: {x-debug: {}, x-trace: {regex: "*"}}
    queryParams: {q: {exact: "1"}, page: {}}
    port: 443
    ignoreUriCase: true
    gateways: [shop/public]
    statPrefix: api
  failOpen: false
  limits:
  - {name: per-ip, requests: 100, per: 1m, key: ip}
  - {name: per-user, requests: 10, per: 1s, key: "header:x-user"}
  - {name: per-sub, requests: 5, per: 1h30m, key: "claim:sub"}
  - {name: per-consumer, requests: 1000, per: 500ms, key: apiKey}
  - {name: everyone, requests: 5000, per: 1s, key: global}
---
apiVersion: meshgate.io/v1alpha1
kind: CachePolicy
metadata: {name: catalogue, namespace: shop}
spec:
  targetRefs: [{kind: VirtualService, name: web}]
  match: {uri: {exact: /products}, sourceNamespace: shop, sourceLabels: {app: web}}
  ttl: 30s
  methods: [GET, HEAD, POST]
  vary: [accept-language, cookie]
  maxEntries: 1000
  maxBodyBytes: 65536
  staleWhileRevalidate: 0s
---
apiVersion: meshgate.io/v1alpha1
kind: ApiKeyPolicy
metadata: {name: partners, namespace: shop}
spec:
  targetRefs: [{kind: Gateway, name: public}]
  in: "query:api_key"
  keys:
  - {name: acme, valueSha256: ${SHA}}
  - {name: globex, valueFrom: /etc/meshgate/keys/globex}
  - {name: initech, valueFrom: {file: /etc/meshgate/keys/initech}}
---
apiVersion: meshgate.io/v1alpha1
kind: EdgeFacts
metadata: {name: edge, namespace: istio-system}
spec:
  trustedProxies: [10.0.0.0/8, "::1", 192.168.1.1]
  headers: {country: x-geo-country, region: x-geo-region, city: x-geo-city, os: x-ua-os, device: x-ua-device, browser: x-ua-browser}
  geoHeaders: {country: cloudfront-viewer-country, region: cloudfront-viewer-country-region, city: cloudfront-viewer-city}
  forwardHeaders: false
`
const richDocs = parseAllDocuments(RICH).map(d => d.toJS() as Json)

// ---- walking a spec along its schema ----

function fits (s: TypedSchema, v: unknown): boolean {
  switch (s.type) {
    case 'object': return isMap(v)
    case 'array': return Array.isArray(v)
    case 'string': return typeof v === 'string'
    case 'integer': return typeof v === 'number' && Number.isInteger(v)
    case 'number': return typeof v === 'number'
    case 'boolean': return typeof v === 'boolean'
  }
}

const fitsNode = (node: Schema, v: unknown): boolean => node.type === undefined ? node.oneOf.some(s => fits(s, v)) : fits(node, v)

interface Site {
  path: Segment[]
  node: Schema
  value: unknown
  /** Inside a value of several types, which the CRD keeps as it is (x-kubernetes-preserve-unknown-fields). */
  opaque: boolean
}

/** Every value set in a spec, with the schema node describing it. */
function sites (v: unknown, node: Schema, p: Segment[] = [], out: Site[] = [], opaque = false): Site[] {
  out.push({ path: p, node, value: v, opaque: opaque || node.type === undefined })
  const s = node.type === undefined ? node.oneOf.find(x => fits(x, v)) : node
  const inner = opaque || node.type === undefined
  if (s?.type === 'object' && isMap(v)) {
    for (const [k, val] of Object.entries(v)) {
      const sub = (s.properties !== undefined && Object.hasOwn(s.properties, k) ? s.properties[k] : undefined) ?? s.additionalProperties
      if (sub !== undefined && val !== null) sites(val, sub, [...p, k], out, inner)
    }
  } else if (s?.type === 'array' && Array.isArray(v)) {
    v.forEach((item, i) => { sites(item, s.items, [...p, i], out, inner) })
  }
  return out
}

const isRecord = (node: Schema, v: unknown): boolean => node.type === 'object' && node.properties !== undefined && isMap(v)

/** A copy of `doc` with `fn` applied to the spec value at `p`. */
function edit (doc: Json, p: readonly Segment[], fn: (parent: Json | unknown[], key: Segment) => void): Json {
  const copy = structuredClone(doc)
  let parent: Json | unknown[] = copy
  let key: Segment = 'spec'
  for (const step of p) {
    parent = (parent as Record<Segment, unknown>)[key] as Json | unknown[]
    key = step
  }
  fn(parent, key)
  return copy
}

// ---- the files ----

test('the CRD files are what `npm run crds` writes from the current schema', () => {
  for (const dir of CRD_DIRS) {
    const abs = path.join(repoRoot, dir)
    for (const f of generated) {
      const target = path.join(abs, f.file)
      assert.ok(existsSync(target), `${dir}/${f.file} is missing: run \`npm run build && npm run crds\``)
      assert.equal(readFileSync(target, 'utf8'), f.text, `${dir}/${f.file} is stale: run \`npm run build && npm run crds\``)
    }
    const extra = readdirSync(abs).filter(n => n.startsWith(`${MESHGATE_GROUP}_`) && !generated.some(f => f.file === n))
    assert.deepEqual(extra, [], `${dir} has CRD files the generator no longer writes`)
  }
  for (const f of generated) {
    assert.ok(f.text.startsWith('# Generated '), `${f.file}: the header says the file is generated`)
    assert.match(f.text, /npm run crds/)
    assert.deepEqual(parse(f.text), f.crd, `${f.file} reads back as the CRD it was written from`)
  }
})

test('one namespaced CRD per meshgate.io kind, v1alpha1 served and stored', async () => {
  assert.deepEqual(generated.map(f => f.kind), [...GROUPS[MESHGATE_GROUP]!.kinds])
  assert.deepEqual([...MESHGATE_KINDS], [...GROUPS[MESHGATE_GROUP]!.kinds])
  const { CUSTOM_KINDS } = await import('../../src/gateway/sources/kubernetes.js')
  for (const f of generated) {
    const crd = f.crd as { apiVersion: string, kind: string, metadata: { name: string }, spec: Json }
    const spec = crd.spec as {
      group: string
      scope: string
      names: { kind: string, listKind: string, plural: string, singular: string, shortNames: string[], categories: string[] }
      versions: Array<{ name: string, served: boolean, storage: boolean, subresources?: Json, additionalPrinterColumns: Array<{ name: string, type: string, jsonPath: string }> }>
    }
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1')
    assert.equal(crd.kind, 'CustomResourceDefinition')
    assert.equal(spec.group, MESHGATE_GROUP)
    assert.equal(spec.scope, 'Namespaced')
    assert.equal(spec.names.kind, f.kind)
    assert.equal(spec.names.listKind, `${f.kind}List`)
    assert.match(spec.names.plural, /^[a-z]+$/)
    assert.match(spec.names.singular, /^[a-z]+$/)
    assert.equal(crd.metadata.name, `${spec.names.plural}.${MESHGATE_GROUP}`)
    assert.equal(f.file, `${MESHGATE_GROUP}_${spec.names.plural}.yaml`)
    assert.ok(spec.names.shortNames.length > 0)
    assert.deepEqual(spec.names.categories, ['meshgate'])
    const watched = CUSTOM_KINDS.find(k => k.group === MESHGATE_GROUP && k.kind === f.kind)
    assert.equal(watched?.plural, spec.names.plural, `the Kubernetes provider watches ${f.kind} as ${spec.names.plural}`)
    assert.equal(spec.versions.length, 1)
    const v = spec.versions[0]!
    assert.deepEqual([v.name, v.served, v.storage], [MESHGATE_VERSION, true, true])
    assert.deepEqual(v.subresources, { status: {} })
    const age = v.additionalPrinterColumns.find(c => c.name === 'Age')
    assert.deepEqual(age && { type: age.type, jsonPath: age.jsonPath }, { type: 'date', jsonPath: '.metadata.creationTimestamp' })
    for (const c of v.additionalPrinterColumns) {
      if (!c.jsonPath.startsWith('.spec.')) continue
      const pointer = c.jsonPath.slice('.spec.'.length).replace(/\[\*\]/g, '.*')
      assert.ok(schemaAt(schemaOf(f.kind).spec, pointer) !== undefined, `printer column ${c.name}: ${c.jsonPath} is not in the schema`)
    }
  }
  const shortNames = generated.flatMap(f => (f.crd as { spec: { names: { shortNames: string[] } } }).spec.names.shortNames)
  assert.equal(new Set(shortNames).size, shortNames.length, 'short names are unique')
})

// ---- structural schemas ----

const SCHEMA_FIELDS = new Set(['description', 'type', 'format', 'title', 'default', 'example', 'enum', 'pattern', 'minLength', 'maxLength',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minItems', 'maxItems', 'uniqueItems',
  'minProperties', 'maxProperties', 'items', 'properties', 'required', 'additionalProperties', 'oneOf', 'anyOf', 'allOf', 'not',
  'nullable', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-embedded-resource',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-validations'])
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean'])
/** Kubernetes: value validations (allOf/anyOf/oneOf/not) may not set these. */
const NOT_IN_JUNCTORS = ['description', 'type', 'default', 'additionalProperties', 'nullable', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string']

/** The rules of https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema. */
function structuralProblems (s: JsonSchema, where: string, parent: JsonSchema | null, out: string[]): string[] {
  for (const k of Object.keys(s)) if (!SCHEMA_FIELDS.has(k)) out.push(`${where}: ${k} is not a CRD schema field`)
  const junctor = parent !== null
  const preserve = s['x-kubernetes-preserve-unknown-fields']
  if (preserve !== undefined && preserve !== true) out.push(`${where}: x-kubernetes-preserve-unknown-fields must be true when set`)
  if (junctor) {
    for (const k of NOT_IN_JUNCTORS) if (k in s) out.push(`${where}: ${k} inside a oneOf/anyOf/allOf/not`)
    const props = isMap(parent.properties) ? parent.properties : {}
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in props)) out.push(`${where}: required ${r} is not a property outside the junctor`)
    if (s.properties !== undefined || s.items !== undefined) out.push(`${where}: properties and items belong outside value validations`)
  } else {
    const type = s.type
    if (type === undefined) {
      if (s['x-kubernetes-int-or-string'] !== true && preserve !== true) out.push(`${where}: no type`)
    } else if (typeof type !== 'string' || !TYPES.has(type)) {
      out.push(`${where}: type ${JSON.stringify(type)}`)
    }
    if (s['x-kubernetes-int-or-string'] === true && type !== undefined) out.push(`${where}: x-kubernetes-int-or-string with a type`)
    if (s.properties !== undefined && s.additionalProperties !== undefined) out.push(`${where}: properties and additionalProperties together`)
    if (s.additionalProperties === false) out.push(`${where}: additionalProperties: false (Kubernetes prunes unknown fields instead)`)
    if ((s.properties !== undefined || s.additionalProperties !== undefined) && type !== 'object') out.push(`${where}: properties on a ${String(type)}`)
    if (type === 'array' && !isMap(s.items)) out.push(`${where}: an array without items`)
    if (s.items !== undefined && type !== 'array') out.push(`${where}: items on a ${String(type)}`)
    if (typeof s.pattern === 'string') {
      try {
        RegExp(s.pattern, 'u')
        // eslint-disable-next-line no-new
        new RE2(s.pattern, 'u')
      } catch (err) {
        out.push(`${where}: pattern ${s.pattern}: ${(err as Error).message}`)
      }
    }
    if (Array.isArray(s.enum)) for (const e of s.enum) if (typeof e !== type) out.push(`${where}: enum value ${JSON.stringify(e)} is not a ${String(type)}`)
    if (s['x-kubernetes-list-type'] === 'map') {
      const items = s.items as JsonSchema
      const keys = s['x-kubernetes-list-map-keys'] as string[] | undefined
      if (items?.type !== 'object' || keys === undefined || keys.length === 0) out.push(`${where}: a map list needs object items and list-map-keys`)
      for (const k of keys ?? []) {
        if (!isMap(items?.properties) || !(k in items.properties)) out.push(`${where}: list-map-key ${k} is not an item property`)
        if (!((items?.required as string[] | undefined) ?? []).includes(k)) out.push(`${where}: list-map-key ${k} is not required`)
      }
    }
    if (isMap(s.properties)) for (const [k, v] of Object.entries(s.properties)) structuralProblems(v as JsonSchema, `${where}.${k}`, null, out)
    if (isMap(s.additionalProperties)) structuralProblems(s.additionalProperties, `${where}.*`, null, out)
    if (isMap(s.items)) structuralProblems(s.items, `${where}[]`, null, out)
  }
  for (const j of ['oneOf', 'anyOf', 'allOf'] as const) {
    const list = s[j]
    if (list === undefined) continue
    if (!Array.isArray(list)) out.push(`${where}: ${j} is not a list`)
    else list.forEach((v, i) => { structuralProblems(v as JsonSchema, `${where}.${j}[${i}]`, parent ?? s, out) })
  }
  if (isMap(s.not)) structuralProblems(s.not, `${where}.not`, parent ?? s, out)
  return out
}

test('the schemas are structural: every node typed, spec fully described, status kept as it is', () => {
  for (const f of generated) {
    const schema = (parse(f.text) as { spec: { versions: Array<{ schema: { openAPIV3Schema: JsonSchema } }> } }).spec.versions[0]!.schema.openAPIV3Schema
    assert.deepEqual(structuralProblems(schema, f.kind, null, []), [])
    assert.equal(schema.type, 'object')
    const props = schema.properties as Record<string, JsonSchema>
    assert.deepEqual(Object.keys(props).sort(), ['apiVersion', 'kind', 'metadata', 'spec', 'status'])
    assert.deepEqual(props.metadata, { type: 'object' }, 'metadata is the API server\'s')
    assert.deepEqual([props.status!.type, props.status!['x-kubernetes-preserve-unknown-fields']], ['object', true])
    assert.equal(props.spec!.type, 'object')
    assert.ok(!('x-kubernetes-preserve-unknown-fields' in props.spec!), 'spec is described, not preserved')
  }
  // A broken schema is caught.
  assert.ok(structuralProblems({ type: 'object', properties: { a: { description: 'x' } } }, 'x', null, []).length > 0)
  assert.ok(structuralProblems({ type: 'object', properties: { a: { type: 'string' } }, oneOf: [{ type: 'object', required: ['b'] }] }, 'x', null, []).length === 2)
})

test('every spec field has a description for kubectl explain', () => {
  for (const k of MESHGATE_SCHEMAS) {
    assert.ok(k.description.length > 40, k.kind)
    for (const { pointer, node } of schemaNodes(k.spec)) {
      assert.ok(node.description.trim().length > 0, `${k.kind} spec.${pointer} has no description`)
      if (node.type === undefined) for (const v of node.oneOf) assert.ok(v.description.trim().length > 0, `${k.kind} spec.${pointer}`)
    }
  }
})

// ---- the schema accepts what the validator accepts ----

test('ajv accepts every meshgate.io document of the examples, golden configs and test fixtures that the validator accepts', () => {
  const found = [...collectDocuments(), ...richDocs.map(doc => ({ source: 'crds.test.ts (RICH)', doc }))]
  const accepted: Found[] = []
  for (const f of found) {
    const issues = validate([f.doc])
    if (admissionErrors(issues).length > 0) continue
    accepted.push(f)
    const where = `${f.source}: ${String(f.doc.kind)} ${stringify(f.doc.metadata)}`
    const open = schemaVerdict(crdValidators, f.doc)
    assert.ok(open.ok, `${where}the CRD schema refuses what the validator accepts: ${open.errors}`)
    if (unknownFields(issues).length === 0) {
      const closed = schemaVerdict(closedValidators, f.doc)
      assert.ok(closed.ok, `${where}the closed schema refuses what the validator accepts: ${closed.errors}`)
    }
  }
  const kinds = new Set(accepted.map(f => f.doc.kind))
  assert.deepEqual([...kinds].sort(), [...MESHGATE_KINDS].sort(), 'every kind is exercised')
  const sources = new Set(accepted.map(f => f.source.split(' ')[0]))
  assert.ok(accepted.length >= 15 && sources.size >= 6, `only ${accepted.length} documents from ${sources.size} files were checked`)
  assert.ok([...sources].some(s => s?.startsWith('config/examples/')), 'the examples are among them')
})

const SHAPES = fc.constantFrom<unknown>('', 'x', 'ip', 'global', 'apiKey', 'header:x-user', 'header:', 'header:a b', 'claim:sub', 'claim:',
  'query:k', 'query:', 'cookie:s', '1s', '1m30s', '0s', '1.5ms', '500us', '2h', 'GET', 'POST', 'get', 'Gateway', 'VirtualService', 'Service',
  '10.0.0.0/8', '::1', '10.0.0.0/99', 'x-geo', 'X-Geo', 'x geo', SHA, SHA.toUpperCase(), SHA.slice(1), '/keys/a', '*', 'a.*', '(',
  0, 1, -1, 443, 65535, 70000, 2.5, true, false, null, [], ['GET'], ['x'], {}, { file: '/keys/a' }, { file: '' }, { exact: 'a' },
  { prefix: '' }, { regex: '.*' }, { exact: 'a', prefix: 'b' }, { kind: 'Gateway', name: 'g' })
const anyValue = fc.oneof(SHAPES, fc.string({ maxLength: 6 }), fc.integer({ min: -3, max: 100_000 }))

const richArb = fc.nat({ max: richDocs.length - 1 }).map(i => richDocs[i]!)

test('property: whatever the validator accepts after a random change, the CRD schema accepts', () => {
  fc.assert(fc.property(richArb, fc.nat(), anyValue, fc.boolean(), (base, pick, value, drop) => {
    const all = sites(base.spec, schemaOf(base.kind as string).spec).filter(s => s.path.length > 0)
    const site = all[pick % all.length]!
    const doc = edit(base, site.path, (parent, key) => {
      if (drop) {
        if (Array.isArray(parent)) parent.splice(key as number, 1)
        else delete parent[key as string]
      } else {
        (parent as Record<Segment, unknown>)[key] = value
      }
    })
    const issues = validate([doc])
    if (admissionErrors(issues).length > 0) return
    const open = schemaVerdict(crdValidators, doc)
    assert.ok(open.ok, `validator accepts spec.${fieldPath(site.path)} = ${JSON.stringify(drop ? '(deleted)' : value)}, the CRD refuses: ${open.errors}`)
    if (unknownFields(issues).length === 0) {
      const closed = schemaVerdict(closedValidators, doc)
      assert.ok(closed.ok, `validator accepts spec.${fieldPath(site.path)} = ${JSON.stringify(value)}, the closed schema refuses: ${closed.errors}`)
    }
  }), { numRuns: 600, includeErrorInReport: true })
})

// ---- and both refuse the same structure ----

const WRONG_TYPES: readonly unknown[] = ['x', 7, 2.5, true, ['x'], { zz: 1 }]

test('property: a wrong type at a random place is an error of the validator and refused by the schema', () => {
  fc.assert(fc.property(richArb, fc.nat(), fc.nat(), (base, pick, which) => {
    const all = sites(base.spec, schemaOf(base.kind as string).spec).filter(s => s.path.length > 0)
    const site = all[pick % all.length]!
    const wrong = WRONG_TYPES.filter(v => !fitsNode(site.node, v))
    const value = wrong[which % wrong.length]
    const doc = edit(base, site.path, (parent, key) => { (parent as Record<Segment, unknown>)[key] = value })
    const field = fieldPath(site.path)
    const issues = validate([doc])
    assert.ok(admissionErrors(issues).some(i => i.field === field),
      `spec.${field} = ${JSON.stringify(value)}: no validator error there:\n${issues.map(formatIssue).join('\n')}`)
    assert.equal(schemaVerdict(closedValidators, doc).ok, false, `spec.${field} = ${JSON.stringify(value)}: the schema accepts it`)
    if (!site.opaque) assert.equal(schemaVerdict(crdValidators, doc).ok, false, `spec.${field} = ${JSON.stringify(value)}: the CRD accepts it`)
  }), { numRuns: 500, includeErrorInReport: true })
})

const fieldNameArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.constantFrom('Name', 'names', 'max_entries', 'TTL', 'targetRef', 'valuefrom', 'sha256', 'limit', 'Per', 'file_', 'x-geo', 'status', 'spec')
).filter(k => k !== '__proto__' && k !== '<<')

test('property: an unknown field at a random place is reported by the validator and refused by the closed schema (the CRD prunes it)', () => {
  fc.assert(fc.property(richArb, fc.nat(), fieldNameArb, fc.jsonValue({ maxDepth: 2 }), (base, pick, name, value) => {
    const records = sites(base.spec, schemaOf(base.kind as string).spec).filter(s => isRecord(s.node.type === undefined ? s.node.oneOf.find(v => fits(v, s.value))! : s.node, s.value))
    const site = records[pick % records.length]!
    const node = (site.node.type === undefined ? site.node.oneOf.find(v => fits(v, site.value)) : site.node)!
    fc.pre(!fieldNames(node).includes(name))
    const doc = edit(base, site.path, (parent, key) => {
      const target = (parent as Record<Segment, unknown>)[key] as Json
      Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true })
    })
    const field = fieldPath([...site.path, name])
    const issues = validate([doc])
    assert.ok(unknownFields(issues).some(i => i.field === field), `spec.${field}: the validator does not name the unknown field:\n${issues.map(formatIssue).join('\n')}`)
    assert.equal(schemaVerdict(closedValidators, doc).ok, false, `spec.${field}: the closed schema accepts an unknown field`)
    const open = schemaVerdict(crdValidators, doc)
    assert.ok(open.ok, `spec.${field}: the CRD schema refuses rather than prunes: ${open.errors}`)
  }), { numRuns: 500, includeErrorInReport: true })
})

test('field names Object.prototype has are unknown fields like any other (toString, constructor)', () => {
  for (const name of ['toString', 'constructor', 'hasOwnProperty']) {
    for (const value of [null, 1]) {
      const doc = structuredClone(richDocs[0]!)
      Object.defineProperty(doc.spec as Json, name, { value, enumerable: true, writable: true, configurable: true })
      assert.ok(unknownFields(validate([doc])).some(i => i.field === name), `spec.${name}: ${String(value)}`)
      assert.equal(schemaVerdict(closedValidators, doc).ok, false, `spec.${name}: ${String(value)}`)
    }
  }
})

// ---- one source ----

/** A value of the schema's shape at every node (records with every property, one item per list and map). */
function sample (node: Schema): unknown {
  if (node.type === undefined) return sample(node.oneOf.find(v => v.type === 'object') ?? node.oneOf[0]!)
  switch (node.type) {
    case 'object':
      if (node.properties !== undefined) return Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, sample(v)]))
      return node.additionalProperties === undefined ? {} : { 'x-sample': sample(node.additionalProperties) }
    case 'array': return [sample(node.items)]
    case 'string': return node.enum?.[0] ?? 'x'
    case 'integer':
    case 'number': return node.minimum ?? 1
    case 'boolean': return true
  }
}

test('the fields the validator knows at every place are the schema\'s properties there', () => {
  const vocabulary = new Set(['zzUnknown', ...MESHGATE_SCHEMAS.flatMap(k => schemaNodes(k.spec).flatMap(n => fieldNames(n.node.type === undefined ? n.node.oneOf.find(v => v.type === 'object') : n.node)))])
  for (const k of MESHGATE_SCHEMAS) {
    const doc: Json = { apiVersion: `${MESHGATE_GROUP}/${MESHGATE_VERSION}`, kind: k.kind, metadata: { name: 'sample', namespace: 'shop' }, spec: sample(k.spec) }
    const records = sites(doc.spec, k.spec).filter(s => isRecord(s.node.type === undefined ? s.node.oneOf.find(v => fits(v, s.value))! : s.node, s.value))
    assert.deepEqual(unknownFields(validate([doc])).map(formatIssue), [], `${k.kind}: every schema property is known to the validator`)
    for (const site of records) {
      const node = (site.node.type === undefined ? site.node.oneOf.find(v => fits(v, site.value)) : site.node)!
      const known = fieldNames(node)
      const others = [...vocabulary].filter(n => !known.includes(n))
      const probe = edit(doc, site.path, (parent, key) => {
        const target = (parent as Record<Segment, unknown>)[key] as Json
        for (const n of others) target[n] = null
      })
      const reported = new Set(unknownFields(validate([probe])).map(i => i.field))
      for (const n of others) {
        const field = fieldPath([...site.path, n])
        assert.ok(reported.has(field), `${k.kind} spec.${fieldPath(site.path)}: the validator takes "${n}", which the schema does not have`)
      }
    }
  }
  // The HTTPMatchRequest fields are VirtualService's too: the list in http-match.ts is the schema's.
  assert.deepEqual(fieldNames(schemaOf('RateLimitPolicy').spec.properties!.match), [...MATCH_FIELDS])
})

test('what the structural pass words or reads by itself names places that exist', () => {
  for (const pointer of STRUCTURE_POINTERS) {
    assert.ok(MESHGATE_SCHEMAS.some(k => schemaAt(k.spec, pointer) !== undefined), `${pointer} is in no kind's schema`)
  }
})

test('the validator reports the schema\'s required fields, enums and bounds', () => {
  const base = richDocs.find(d => d.kind === 'RateLimitPolicy')!
  const cases: Array<[Segment[], unknown, string]> = [
    [['limits'], [], 'limits'],
    [['limits', 0, 'requests'], 0, 'limits[0].requests'],
    [['targetRefs', 0, 'kind'], 'Service', 'targetRefs[0].kind'],
    [['targetRefs', 0, 'name'], '', 'targetRefs[0].name'],
    [['match', 'port'], 70000, 'match.port']
  ]
  for (const [p, value, field] of cases) {
    const doc = edit(base, p, (parent, key) => { (parent as Record<Segment, unknown>)[key] = value })
    assert.ok(admissionErrors(validate([doc])).some(i => i.field === field), `${field} = ${JSON.stringify(value)}`)
    assert.equal(schemaVerdict(crdValidators, doc).ok, false, `${field} = ${JSON.stringify(value)}`)
  }
  for (const [p, field] of [[['limits', 0, 'per'], 'limits[0].per'], [['limits', 0, 'name'], 'limits[0].name']] as Array<[Segment[], string]>) {
    const doc = edit(base, p, (parent, key) => { delete (parent as Json)[key as string] })
    assert.ok(admissionErrors(validate([doc])).some(i => i.field === field && i.code === CODES.REQUIRED), field)
    assert.equal(schemaVerdict(crdValidators, doc).ok, false, field)
  }
})
