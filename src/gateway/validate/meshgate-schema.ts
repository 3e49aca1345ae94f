// The structure of the meshgate.io/v1alpha1 kinds, declared once: the
// validator (meshgate-kinds.ts) takes its field lists, types, enums and
// required fields from here, and `npm run crds` turns the same tree into the
// CustomResourceDefinitions in deploy/crds/. Descriptions are what
// `kubectl explain` shows. Semantic rules (durations, CIDRs, key forms, file
// contents, references) stay in the validator; patterns here are the closest
// regular expression (Go RE2 and ECMAScript alike) and never refuse what the
// validator accepts.

/** OpenAPI extensions Kubernetes reads from a CRD schema. */
export interface KubernetesExtensions {
  'x-kubernetes-preserve-unknown-fields'?: true
  'x-kubernetes-int-or-string'?: true
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map'
  'x-kubernetes-list-map-keys'?: readonly string[]
  'x-kubernetes-map-type'?: 'atomic' | 'granular'
}

interface NodeBase extends KubernetesExtensions {
  description: string
  /** `null` is a value of its own here (e.g. `withoutHeaders: {x-debug: }`), not "unset". */
  nullable?: boolean
}

export interface StringSchema extends NodeBase {
  type: 'string'
  enum?: readonly string[]
  pattern?: string
  minLength?: number
  maxLength?: number
}

export interface IntegerSchema extends NodeBase {
  type: 'integer'
  minimum?: number
  maximum?: number
}

export interface NumberSchema extends NodeBase {
  type: 'number'
  minimum?: number
  maximum?: number
}

export interface BooleanSchema extends NodeBase {
  type: 'boolean'
}

export interface ArraySchema extends NodeBase {
  type: 'array'
  items: Schema
  minItems?: number
  maxItems?: number
}

/**
 * A value rule without a type of its own, as Kubernetes allows inside
 * `oneOf`: which fields must (or must not) be set together.
 */
export interface Constraint {
  required?: readonly string[]
  not?: Constraint
  anyOf?: readonly Constraint[]
}

/** A mapping: `properties` for a record with known fields, `additionalProperties` for a map. */
export interface ObjectSchema extends NodeBase {
  type: 'object'
  properties?: Readonly<Record<string, Schema>>
  required?: readonly string[]
  additionalProperties?: Schema
  oneOf?: readonly Constraint[]
}

/** A value that may take one of several types, e.g. `valueFrom: PATH` or `valueFrom: {file: PATH}`. */
export interface UnionSchema extends NodeBase {
  type?: undefined
  oneOf: readonly TypedSchema[]
}

export type TypedSchema = StringSchema | IntegerSchema | NumberSchema | BooleanSchema | ArraySchema | ObjectSchema
export type Schema = TypedSchema | UnionSchema

export interface PrinterColumn {
  name: string
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date'
  jsonPath: string
  description: string
  priority?: number
}

export interface KindSchema {
  kind: string
  plural: string
  singular: string
  shortNames: readonly string[]
  description: string
  /** Whether a resource without `spec` is refused. */
  specRequired: boolean
  spec: ObjectSchema
  printerColumns: readonly PrinterColumn[]
}

export const MESHGATE_GROUP = 'meshgate.io'
export const MESHGATE_VERSION = 'v1alpha1'

// ---- builders ----

type Opts<T> = Omit<T, 'type' | 'description'>

function str (description: string, opts: Opts<StringSchema> = {}): StringSchema {
  return { type: 'string', description, ...opts }
}

function int (description: string, opts: Opts<IntegerSchema> = {}): IntegerSchema {
  return { type: 'integer', description, ...opts }
}

function bool (description: string): BooleanSchema {
  return { type: 'boolean', description }
}

function list (description: string, items: Schema, opts: Omit<Opts<ArraySchema>, 'items'> = {}): ArraySchema {
  return { type: 'array', description, items, ...opts }
}

function record (description: string, properties: Record<string, Schema>, opts: Omit<Opts<ObjectSchema>, 'properties'> = {}): ObjectSchema {
  return { type: 'object', description, properties, ...opts }
}

function map (description: string, values: Schema, opts: Omit<Opts<ObjectSchema>, 'additionalProperties'> = {}): ObjectSchema {
  return { type: 'object', description, additionalProperties: values, ...opts }
}

// ---- shared pieces ----

/** RFC 7230 token: what an HTTP header name may be. */
const HEADER_TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
/** A protobuf Duration as Istio reads it, compound forms included (`1m30s`); surrounding spaces are ignored. */
const DURATION = '^\\s*([0-9]+(\\.[0-9]+)?(h|ms|m|s|us|µs|ns))+\\s*$'

function duration (description: string): StringSchema {
  return str(description, { pattern: DURATION })
}

function headerName (description: string): StringSchema {
  return str(description, { pattern: `^${HEADER_TOKEN}$` })
}

/** Istio StringMatch: at most one of exact, prefix, regex; `{}` matches any value. */
function stringMatch (description: string, opts: { emptyPrefix?: boolean, nullable?: boolean } = {}): ObjectSchema {
  const schema = record(description, {
    exact: str('The value must equal this string.'),
    prefix: str('The value must start with this string.', opts.emptyPrefix === true ? {} : { minLength: 1 }),
    regex: str('The value must match this RE2 regular expression (the whole value, as Envoy matches it).', { minLength: 1 })
  }, {
    oneOf: [
      { not: { anyOf: [{ required: ['exact'] }, { required: ['prefix'] }, { required: ['regex'] }] } },
      { required: ['exact'] },
      { required: ['prefix'] },
      { required: ['regex'] }
    ]
  })
  return opts.nullable === true ? { ...schema, nullable: true } : schema
}

const HTTP_MATCH = record(
  'Narrows the policy to requests matching this Istio HTTPMatchRequest (the fields of a VirtualService ' +
  '`http[].match[]` entry). Absent: every request of the targets.', {
    name: str('A name for the match block, used in logs.'),
    uri: stringMatch('The request path, without the query string. A prefix may be empty.', { emptyPrefix: true }),
    scheme: stringMatch('The URI scheme (`http` or `https`).'),
    method: stringMatch('The HTTP method.'),
    authority: stringMatch('The HTTP authority (the Host header).'),
    headers: map(
      'Request headers that must match, by lower-case name. `{}` means the header is present. ' +
      'Keys may also be `@request.auth.claims.NAME` to match a validated JWT claim.',
      stringMatch('How the header value must match.')
    ),
    withoutHeaders: map(
      'Request headers that must not match, by lower-case name. An empty value or `{}` means the header is absent.',
      stringMatch('How the header value must not match.', { nullable: true })
    ),
    queryParams: map(
      'Query parameters that must match, by name. `{}` or no value means the parameter is present.',
      stringMatch('How the parameter value must match.', { nullable: true })
    ),
    port: int('The port the request arrived on.', { minimum: 1, maximum: 65535 }),
    ignoreUriCase: bool('Match `uri` case-insensitively.'),
    gateways: list('Gateways (`namespace/name` or `name`) the match is restricted to.', str('A gateway name.')),
    sourceLabels: map(
      'Labels of the client workload. A gateway has none, so a match with sourceLabels never applies at meshgate.',
      str('A label value.')
    ),
    sourceNamespace: str('Namespace of the client workload. Never applies at a gateway, as sourceLabels.'),
    statPrefix: str('A prefix for statistics of this match.')
  }
)

const TARGET_REFS = list(
  'The routes the policy covers: VirtualServices (their routes) or Gateways (every route they serve). ' +
  'Absent or empty: every route.',
  record('A VirtualService or Gateway, by name.', {
    group: str('API group of the target (networking.istio.io). Optional; the target is found by kind and name.'),
    kind: str('Kind of the target.', { enum: ['VirtualService', 'Gateway'] }),
    name: str('Name of the target.', { minLength: 1 }),
    namespace: str('Namespace of the target. Default: the policy\'s namespace.')
  }, { required: ['kind', 'name'] })
)

/** Fields every meshgate.io kind's spec has. */
export const COMMON_PROPERTIES: Readonly<Record<string, Schema>> = {
  targetRefs: TARGET_REFS,
  match: HTTP_MATCH
}

function spec (description: string, properties: Record<string, Schema>, required: readonly string[] = []): ObjectSchema {
  return record(description, { ...COMMON_PROPERTIES, ...properties }, required.length > 0 ? { required } : {})
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since the resource was created.' }
const TARGETS: PrinterColumn = { name: 'Targets', type: 'string', jsonPath: '.spec.targetRefs[*].name', description: 'Names of the VirtualServices and Gateways the policy covers (none: every route).' }

// ---- the kinds ----

const RATE_LIMIT_POLICY: KindSchema = {
  kind: 'RateLimitPolicy',
  plural: 'ratelimitpolicies',
  singular: 'ratelimitpolicy',
  shortNames: ['rlp'],
  description:
    'Rate limits for the routes its targetRefs name, narrowed by an optional match. Every limit of every ' +
    'covering policy must pass; over a limit the gateway answers 429 with retry-after. The algorithm is GCRA: ' +
    '`requests` at once, then one per `per / requests`. Counters live in the process, or in Redis with --redis.',
  specRequired: true,
  spec: spec('The limits and the requests they apply to.', {
    limits: list(
      'The limits; a request must pass all of them. At least one.',
      record('One limit: `requests` per `per`, counted per `key`.', {
        name: str('Name of the limit, unique in the policy; it names the counter.', { minLength: 1 }),
        requests: int('How many requests the window allows (and the burst size).', { minimum: 1 }),
        per: duration('The window, e.g. `1s`, `1m`, `1h` (at least 1ms, whole milliseconds).'),
        key: str(
          'What is counted separately: `ip` (the client address after EdgeFacts trustedProxies; the default), ' +
          '`header:NAME`, `claim:NAME` (a validated JWT claim), `apiKey` (the ApiKeyPolicy consumer) or `global`. ' +
          'Requests without the header, claim or consumer share one bucket.',
          { pattern: `^(ip|apiKey|global|header:${HEADER_TOKEN}|claim:[\\s\\S]+)$` }
        )
      }, { required: ['name', 'requests', 'per'] }),
      { minItems: 1, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }
    ),
    failOpen: bool('When the Redis counter store does not answer within 100 ms: let the request through (true, the default) or answer 500.')
  }, ['limits']),
  printerColumns: [
    { name: 'Limits', type: 'string', jsonPath: '.spec.limits[*].name', description: 'Names of the limits.' },
    TARGETS,
    AGE
  ]
}

const CACHE_POLICY: KindSchema = {
  kind: 'CachePolicy',
  plural: 'cachepolicies',
  singular: 'cachepolicy',
  shortNames: ['cachepol'],
  description:
    'A shared HTTP cache (RFC 9111) for the routes its targetRefs and match cover. The upstream\'s ' +
    'cache-control decides first; answers say x-cache: HIT, MISS, STALE or BYPASS. Requests with credentials ' +
    'bypass the cache unless vary names them. Entries live in the process and, with --redis, in Redis.',
  specRequired: false,
  spec: spec('What is cached and for how long.', {
    ttl: duration('Freshness for answers that carry none of their own (default 60s).'),
    methods: list(
      'Methods whose answers are cached (default GET and HEAD; HEAD is answered from the GET entry).',
      str('An HTTP method, in upper case.', { enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'] })
    ),
    vary: list(
      'Request headers added to the cache key. Naming `authorization` or `cookie` allows caching answers to such requests.',
      headerName('A header name.')
    ),
    maxEntries: int('Most entries kept in memory for this policy (default 10000).', { minimum: 1 }),
    maxBodyBytes: int('Largest body stored, in bytes (default 1 MiB); larger answers stream through uncached.', { minimum: 1 }),
    staleWhileRevalidate: duration('How long a stale entry is answered at once while it is refreshed in the background (default 0s: never).')
  }),
  printerColumns: [
    { name: 'TTL', type: 'string', jsonPath: '.spec.ttl', description: 'Freshness for answers without their own.' },
    TARGETS,
    AGE
  ]
}

const API_KEY_POLICY: KindSchema = {
  kind: 'ApiKeyPolicy',
  plural: 'apikeypolicies',
  singular: 'apikeypolicy',
  shortNames: ['akp'],
  description:
    'API keys for the routes its targetRefs name, narrowed by an optional match. A covered request without a ' +
    'known key gets 401. The key\'s consumer becomes the request principal `apikey/<consumer>`, usable by ' +
    'AuthorizationPolicy and RateLimitPolicy. Keys are kept only as SHA-256 digests and never logged.',
  specRequired: true,
  spec: spec('Where the key is read and which keys are valid.', {
    in: str(
      'Where the key is read: `header:NAME` or `query:NAME` (default `header:x-api-key`). The key header is not forwarded.',
      { pattern: `^(header:${HEADER_TOKEN}|query:.+)$` }
    ),
    keys: list(
      'The valid keys, at least one. Set exactly one of valueSha256 and valueFrom in each.',
      record('A key and the consumer it belongs to.', {
        name: str('The consumer: it becomes the request principal `apikey/<name>` and the access log\'s consumer.', { minLength: 1 }),
        valueSha256: str('The SHA-256 of the key, as 64 hex characters.', { pattern: '^[0-9a-fA-F]{64}$' }),
        valueFrom: {
          description: 'A file holding the key itself (surrounding whitespace is ignored): a path, or `{file: PATH}`.',
          oneOf: [
            str('Path of the file holding the key.', { minLength: 1 }),
            record('The file holding the key.', {
              file: str('Path of the file holding the key.', { minLength: 1 })
            }, { required: ['file'] })
          ]
        }
      }, { required: ['name'], oneOf: [{ required: ['valueSha256'] }, { required: ['valueFrom'] }] }),
      { minItems: 1 }
    )
  }, ['keys']),
  printerColumns: [
    { name: 'In', type: 'string', jsonPath: '.spec.in', description: 'Where the key is read.' },
    { name: 'Consumers', type: 'string', jsonPath: '.spec.keys[*].name', description: 'Consumers with a key.', priority: 1 },
    TARGETS,
    AGE
  ]
}

const FACT_HEADERS = {
  country: headerName('Header for the country, ISO 3166-1 alpha-2 (default x-geo-country).'),
  region: headerName('Header for the region, ISO 3166-2 subdivision code without the country, e.g. AN (default x-geo-region).'),
  city: headerName('Header for the city name, non-ASCII percent-encoded (default x-geo-city).'),
  os: headerName('Header for the operating system: iOS, Android, Windows, macOS, Linux, ... (default x-ua-os).'),
  device: headerName('Header for the device: iPhone, iPad, mobile, tablet, desktop, bot (default x-ua-device).'),
  browser: headerName('Header for the browser: Safari, Chrome, Firefox, Edge, ... (default x-ua-browser).')
}

const EDGE_FACTS: KindSchema = {
  kind: 'EdgeFacts',
  plural: 'edgefacts',
  singular: 'edgefacts',
  shortNames: ['ef'],
  description:
    'Request facts the gateway derives before routing (geo from --geoip or a trusted CDN header, device, OS and ' +
    'browser from user-agent) and the request header each is exposed as, so VirtualService header matches can ' +
    'use them. Client-sent copies are always removed first. One EdgeFacts applies per gateway: the oldest; ' +
    'targetRefs and match do not narrow it.',
  specRequired: false,
  spec: spec('The headers facts are exposed as and the proxies that are believed.', {
    headers: record('Fact → request header it is exposed as; unset facts keep their default header.', FACT_HEADERS),
    trustedProxies: list(
      'Addresses and CIDRs of proxies in front of the gateway: from these peers x-forwarded-for is read ' +
      '(from the right) for the client address, and geoHeaders are believed.',
      str('An IP address or CIDR, e.g. 10.0.0.0/8.')
    ),
    geoHeaders: record(
      'Geo facts taken from a CDN\'s request headers instead of --geoip: fact → header the CDN sets. ' +
      'Believed only from trustedProxies.',
      {
        country: headerName('The CDN header carrying the ISO 3166-1 alpha-2 country.'),
        region: headerName('The CDN header carrying the ISO 3166-2 subdivision code.'),
        city: headerName('The CDN header carrying the city name.')
      }
    ),
    forwardHeaders: bool('Send the fact headers upstream (true, the default), or use them for routing only.')
  }),
  printerColumns: [
    { name: 'Trusted Proxies', type: 'string', jsonPath: '.spec.trustedProxies', description: 'Proxies whose x-forwarded-for is believed.' },
    AGE
  ]
}

/** The meshgate.io/v1alpha1 kinds, in the order the CRDs are written. */
export const MESHGATE_SCHEMAS: readonly KindSchema[] = [RATE_LIMIT_POLICY, CACHE_POLICY, API_KEY_POLICY, EDGE_FACTS]

export function kindSchema (kind: string): KindSchema | undefined {
  return MESHGATE_SCHEMAS.find(k => k.kind === kind)
}

/** The fields of a record node (none for maps and other types). */
export function fieldNames (node: Schema | undefined): string[] {
  return node !== undefined && node.type === 'object' && node.properties !== undefined ? Object.keys(node.properties) : []
}

/**
 * The node at a pointer into a spec schema: property names joined by dots,
 * `*` for list items and map values (`limits.*.per`). The variants of a
 * union share its pointer, so `keys.*.valueFrom.file` reaches the record one.
 */
export function schemaAt (root: Schema, pointer: string): Schema | undefined {
  let node: Schema | undefined = root
  for (const step of pointer === '' ? [] : pointer.split('.')) {
    node = child(node, step)
    if (node === undefined) return undefined
  }
  return node
}

function child (node: Schema, step: string): Schema | undefined {
  if (node.type === undefined) {
    for (const v of node.oneOf) {
      const c = child(v, step)
      if (c !== undefined) return c
    }
    return undefined
  }
  if (node.type === 'array') return step === '*' ? node.items : undefined
  if (node.type !== 'object') return undefined
  if (step === '*') return node.additionalProperties
  return node.properties !== undefined && Object.prototype.hasOwnProperty.call(node.properties, step) ? node.properties[step] : undefined
}

/** Every node of a schema with its pointer, parents first. */
export function schemaNodes (root: Schema, pointer = ''): Array<{ pointer: string, node: Schema }> {
  const out = [{ pointer, node: root }]
  const join = (step: string): string => pointer === '' ? step : `${pointer}.${step}`
  if (root.type === undefined) {
    for (const v of root.oneOf) out.push(...schemaNodes(v, pointer).slice(1))
  } else if (root.type === 'array') {
    out.push(...schemaNodes(root.items, join('*')))
  } else if (root.type === 'object') {
    for (const [k, v] of Object.entries(root.properties ?? {})) out.push(...schemaNodes(v, join(k)))
    if (root.additionalProperties !== undefined) out.push(...schemaNodes(root.additionalProperties, join('*')))
  }
  return out
}
