// CustomResourceDefinitions for the meshgate.io kinds, built from the schema
// the validator uses (meshgate-schema.ts). `npm run crds` writes them to
// deploy/crds/ and deploy/helm/meshgate/crds/; test/unit/crds.test.ts checks
// the files are what this module renders.
import { stringify } from 'yaml'
import {
  MESHGATE_GROUP, MESHGATE_SCHEMAS, MESHGATE_VERSION,
  type Constraint, type KindSchema, type ObjectSchema, type Schema, type TypedSchema
} from './meshgate-schema.js'

export type JsonSchema = { [key: string]: unknown }

export interface OpenApiOptions {
  /**
   * The validator's view instead of the API server's: every record refuses
   * unknown fields (`additionalProperties: false`) and a value of several
   * types is a `oneOf` of them. Kubernetes prunes unknown fields instead, and
   * its structural schemas allow no types inside `oneOf`, so the CRDs use the
   * default (open) form.
   */
  closed?: boolean
}

/** Folders the CRD files are written to, relative to the repository root. */
export const CRD_DIRS: readonly string[] = ['deploy/crds', 'deploy/helm/meshgate/crds']

export const CRD_HEADER =
  '# Generated from src/gateway/validate/meshgate-schema.ts by `npm run crds`\n' +
  '# (scripts/gen-crds.mjs, after `npm run build`). Do not edit: change the schema\n' +
  '# and regenerate; `node scripts/gen-crds.mjs --check` fails when this file is stale.\n'

const EXTENSIONS = [
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type'
] as const

/** The OpenAPI v3 schema of one node of the DSL. */
export function openApiSchema (node: Schema, opts: OpenApiOptions = {}): JsonSchema {
  const out: JsonSchema = { description: node.description }
  if (node.type === undefined) {
    if (opts.closed === true) out.oneOf = node.oneOf.map(v => openApiSchema(v, opts))
    else out['x-kubernetes-preserve-unknown-fields'] = true
  } else {
    out.type = node.type
    Object.assign(out, typedFields(node, opts))
  }
  if (node.nullable === true) out.nullable = true
  for (const ext of EXTENSIONS) {
    const v = node[ext]
    if (v !== undefined) out[ext] = Array.isArray(v) ? [...v] : v
  }
  return out
}

function typedFields (node: TypedSchema, opts: OpenApiOptions): JsonSchema {
  switch (node.type) {
    case 'string':
      return defined({ enum: node.enum === undefined ? undefined : [...node.enum], pattern: node.pattern, minLength: node.minLength, maxLength: node.maxLength })
    case 'integer':
    case 'number':
      return defined({ minimum: node.minimum, maximum: node.maximum })
    case 'boolean':
      return {}
    case 'array':
      return defined({ minItems: node.minItems, maxItems: node.maxItems, items: openApiSchema(node.items, opts) })
    case 'object':
      return objectFields(node, opts)
  }
}

function objectFields (node: ObjectSchema, opts: OpenApiOptions): JsonSchema {
  const out: JsonSchema = {}
  if (node.properties !== undefined) {
    const props: JsonSchema = {}
    for (const [k, v] of Object.entries(node.properties)) props[k] = openApiSchema(v, opts)
    out.properties = props
    if (node.required !== undefined && node.required.length > 0) out.required = [...node.required]
    if (opts.closed === true && node.additionalProperties === undefined) out.additionalProperties = false
  }
  if (node.additionalProperties !== undefined) out.additionalProperties = openApiSchema(node.additionalProperties, opts)
  if (node.oneOf !== undefined) out.oneOf = node.oneOf.map(constraint)
  return out
}

function constraint (c: Constraint): JsonSchema {
  return defined({
    required: c.required === undefined ? undefined : [...c.required],
    not: c.not === undefined ? undefined : constraint(c.not),
    anyOf: c.anyOf?.map(constraint)
  })
}

function defined (o: JsonSchema): JsonSchema {
  const out: JsonSchema = {}
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v
  return out
}

/** The `openAPIV3Schema` of a kind: the resource around its spec. */
export function kindOpenApiSchema (k: KindSchema, opts: OpenApiOptions = {}): JsonSchema {
  const out: JsonSchema = {
    description: k.description,
    type: 'object',
    properties: {
      apiVersion: {
        description: 'APIVersion defines the versioned schema of this representation of an object: meshgate.io/v1alpha1.',
        type: 'string'
      },
      kind: {
        description: `Kind is the REST resource this object represents: ${k.kind}.`,
        type: 'string'
      },
      metadata: { type: 'object' },
      spec: openApiSchema(k.spec, opts),
      status: {
        description: 'Status of the resource. meshgate reports problems through `meshgate validate` and its logs; whatever is here is kept as it is.',
        type: 'object',
        'x-kubernetes-preserve-unknown-fields': true
      }
    }
  }
  if (k.specRequired) out.required = ['spec']
  if (opts.closed === true) out.additionalProperties = false
  return out
}

export function crdName (k: KindSchema): string {
  return `${k.plural}.${MESHGATE_GROUP}`
}

export function crdFileName (k: KindSchema): string {
  return `${MESHGATE_GROUP}_${k.plural}.yaml`
}

/** The apiextensions.k8s.io/v1 CustomResourceDefinition of a kind. */
export function buildCrd (k: KindSchema): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: crdName(k),
      labels: { 'app.kubernetes.io/name': 'meshgate', 'app.kubernetes.io/part-of': 'meshgate' }
    },
    spec: {
      group: MESHGATE_GROUP,
      scope: 'Namespaced',
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.singular,
        shortNames: [...k.shortNames],
        categories: ['meshgate']
      },
      versions: [{
        name: MESHGATE_VERSION,
        served: true,
        storage: true,
        schema: { openAPIV3Schema: kindOpenApiSchema(k) },
        subresources: { status: {} },
        additionalPrinterColumns: k.printerColumns.map(c => defined({ ...c }))
      }]
    }
  }
}

export interface CrdFile { kind: string, file: string, crd: JsonSchema, text: string }

/** Every CRD file, in the order of MESHGATE_SCHEMAS; the same text goes to each of CRD_DIRS. */
export function renderCrds (): CrdFile[] {
  return MESHGATE_SCHEMAS.map(k => {
    const crd = buildCrd(k)
    // YAML 1.1 quoting: Kubernetes reads `on`, `y` and friends as booleans.
    return { kind: k.kind, file: crdFileName(k), crd, text: CRD_HEADER + stringify(crd, { version: '1.1', lineWidth: 0 }) }
  })
}
