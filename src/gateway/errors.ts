// Every stable MG_* code in one table: MG_CFG_* for config findings, MG_UP_* for
// upstream failures. Codes go into structured output (logs, /config_dump); the
// printed line carries only the prose. Never reuse a retired code: add a new one.
// test/unit/errors.test.ts keeps this table and the code base in step.

export const CODES = {
  // Sources and pipeline (no resource yet)
  SOURCE: 'MG_CFG_SOURCE',
  YAML: 'MG_CFG_YAML',
  SHAPE: 'MG_CFG_SHAPE',

  // Resource level
  API_VERSION: 'MG_CFG_API_VERSION',
  KIND: 'MG_CFG_KIND',
  KIND_IGNORED: 'MG_CFG_KIND_IGNORED',
  METADATA: 'MG_CFG_METADATA',
  DUPLICATE: 'MG_CFG_DUPLICATE',
  INTERNAL: 'MG_CFG_INTERNAL',

  // Shape of a field
  TYPE: 'MG_CFG_TYPE',
  REQUIRED: 'MG_CFG_REQUIRED',
  INVALID: 'MG_CFG_INVALID',
  CONFLICT: 'MG_CFG_CONFLICT',
  UNKNOWN_FIELD: 'MG_CFG_UNKNOWN_FIELD',
  DEPRECATED: 'MG_CFG_DEPRECATED',
  UNSUPPORTED: 'MG_CFG_UNSUPPORTED',

  // Value formats
  DURATION: 'MG_CFG_DURATION',
  PORT: 'MG_CFG_PORT',
  PERCENT: 'MG_CFG_PERCENT',
  STATUS: 'MG_CFG_STATUS',
  REGEX: 'MG_CFG_REGEX',
  HOST: 'MG_CFG_HOST',
  HEADER_NAME: 'MG_CFG_HEADER_NAME',
  HEADER_VALUE: 'MG_CFG_HEADER_VALUE',
  IP: 'MG_CFG_IP',
  WEIGHT: 'MG_CFG_WEIGHT',

  // Analyzer (istioctl analyze) findings
  REF_HOST: 'MG_CFG_REF_HOST',
  REF_SUBSET: 'MG_CFG_REF_SUBSET',
  REF_GATEWAY: 'MG_CFG_REF_GATEWAY',
  REF_TARGET: 'MG_CFG_REF_TARGET',
  REF_SECRET: 'MG_CFG_REF_SECRET',
  FILE_MISSING: 'MG_CFG_FILE_MISSING',
  WEIGHT_SUM: 'MG_CFG_WEIGHT_SUM',
  UNREACHABLE_RULE: 'MG_CFG_UNREACHABLE_RULE',
  INEFFECTIVE_MATCH: 'MG_CFG_INEFFECTIVE_MATCH',
  SOURCE_MATCH: 'MG_CFG_SOURCE_MATCH',
  SELECTOR: 'MG_CFG_SELECTOR',
  MESH_ONLY: 'MG_CFG_MESH_ONLY',
  UNBOUND_HOST: 'MG_CFG_UNBOUND_HOST',
  RUNTIME_HINT: 'MG_CFG_RUNTIME_HINT',

  // Compiler findings
  SERVER_SKIPPED: 'MG_CFG_SERVER_SKIPPED',
  NOT_ENFORCED: 'MG_CFG_NOT_ENFORCED'
} as const

export type ConfigCode = typeof CODES[keyof typeof CODES]

/** Upstream failures raised inside the data plane (compared by `code`, never `instanceof`). */
export const UPSTREAM_CODES = {
  TRY_TIMEOUT: 'MG_UP_TRY_TIMEOUT'
} as const
