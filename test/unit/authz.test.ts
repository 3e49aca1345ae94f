// AuthorizationPolicy offline: every case of the shared table through the real
// pipeline stages (parse → validate → compileAuthz → authorize), then the
// details of a decision that the table does not show.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingHttpHeaders } from 'node:http'
import { AUTHZ_CASES, AUTHZ_DEFAULTS, type AuthzCaseRequest } from '../helpers/authz-cases.js'
import { parseText, type SourceResource } from '../../src/gateway/sources/yaml-documents.js'
import { validateResources } from '../../src/gateway/validate/index.js'
import { formatIssue, type Issue } from '../../src/gateway/validate/issues.js'
import { policyApplies } from '../../src/gateway/compile/policy-scope.js'
import { compileAuthz, EMPTY_AUTHZ } from '../../src/gateway/compile/authz.js'
import { RequestFacts } from '../../src/gateway/dataplane/request-facts.js'
import { CODES } from '../../src/gateway/errors.js'
import type { AuthzConfig } from '../../src/gateway/snapshot.js'
import {
  authorize, describeDecision, explainAuthz, NO_ALLOW_MATCHED, NO_ALLOW_POLICY, NO_POLICY
} from '../../src/plugins/authz.js'

const SCOPE = { gatewayLabels: { istio: 'ingressgateway' }, servedGateways: new Set<string>(), namespace: null, rootNamespace: 'istio-system' }

interface Loaded { cfg: AuthzConfig, issues: Issue[], compileIssues: Issue[] }

function load (yaml: string, file = 'authz.yaml'): Loaded {
  const resources: SourceResource[] = []
  const issues: Issue[] = []
  if (yaml.trim() !== '') parseText(file, yaml, resources, issues)
  issues.push(...validateResources(resources, { gatewayLabels: SCOPE.gatewayLabels, credentialsDir: null }))
  const compileIssues: Issue[] = []
  const cfg = compileAuthz(resources.filter(r => r.kind === 'AuthorizationPolicy' && policyApplies(r, SCOPE)), compileIssues)
  return { cfg, issues, compileIssues }
}

function factsOf (r: AuthzCaseRequest): RequestFacts {
  const host = r.host ?? AUTHZ_DEFAULTS.host
  const headers: IncomingHttpHeaders = { host }
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v
  const sni = r.sni ?? ''
  const f = new RequestFacts(r.method ?? AUTHZ_DEFAULTS.method, sni === '' ? 'http' : 'https', host, r.path, headers,
    r.port ?? AUTHZ_DEFAULTS.port, r.peerIp ?? AUTHZ_DEFAULTS.peerIp, sni)
  f.clientIp = r.clientIp ?? f.peerIp
  f.peerPrincipal = r.peerPrincipal ?? ''
  f.requestPrincipal = r.requestPrincipal ?? ''
  f.claims = r.claims ?? null
  f.authAudiences = r.audiences ?? []
  f.authPresenter = r.presenter ?? ''
  return f
}

function errorsOf (issues: readonly Issue[]): string[] {
  return issues.filter(i => i.severity === 'error').map(formatIssue)
}

test('the case table is big enough and has unique names', () => {
  assert.ok(AUTHZ_CASES.length >= 45, `${AUTHZ_CASES.length} cases`)
  assert.equal(new Set(AUTHZ_CASES.map(c => c.name)).size, AUTHZ_CASES.length)
})

for (const c of AUTHZ_CASES) {
  test(`authz case: ${c.name}`, () => {
    const { cfg, issues } = load(c.policies)
    assert.deepEqual(errorsOf(issues), [], 'the case YAML must validate')
    const d = authorize(cfg, factsOf(c.request))
    assert.equal(d.allowed ? 200 : 403, c.want, describeDecision(d))
  })
}

// ---- decision details ----

const ALLOW_GET = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-get, namespace: default}
spec: {rules: [{to: [{operation: {methods: [GET]}}]}]}
`
const DENY_ADMIN = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: istio-system}
spec: {action: DENY, rules: [{to: [{operation: {paths: ["/admin*"]}}]}]}
`
const AUDIT_ALL = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-all, namespace: default}
spec: {action: AUDIT, rules: [{}]}
`
const DRY_DENY_POST = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: dry-deny-post, namespace: default, annotations: {"istio.io/dry-run": "true"}}
spec: {action: DENY, rules: [{to: [{operation: {methods: [POST]}}]}]}
`

function req (method: string, path: string): RequestFacts {
  return factsOf({ method, path })
}

test('no policy: the config is the shared empty one and every request gets the shared NO_POLICY decision', () => {
  const { cfg } = load('')
  assert.equal(cfg, EMPTY_AUTHZ)
  assert.equal(cfg.empty, true)
  const d = authorize(cfg, req('GET', '/'))
  assert.equal(d, NO_POLICY)
  assert.equal(authorize(cfg, req('DELETE', '/admin')), NO_POLICY)
  assert.ok(Object.isFrozen(d))
  assert.deepEqual({ ...d }, { allowed: true, policy: '', action: '', reason: 'no-policy', shadow: [] })
})

test('a matching DENY names its policy and action', () => {
  const { cfg } = load([ALLOW_GET, DENY_ADMIN].join('---\n'))
  const d = authorize(cfg, req('GET', '/admin/x'))
  assert.deepEqual({ ...d }, { allowed: false, policy: 'istio-system/deny-admin', action: 'DENY', reason: 'deny-matched', shadow: [] })
  assert.equal(describeDecision(d), 'denied by DENY istio-system/deny-admin')
})

test('a matching ALLOW names its policy; the same frozen decision is reused across requests', () => {
  const { cfg } = load([ALLOW_GET, DENY_ADMIN].join('---\n'))
  const a = authorize(cfg, req('GET', '/a'))
  const b = authorize(cfg, req('GET', '/b'))
  assert.deepEqual({ ...a }, { allowed: true, policy: 'default/allow-get', action: 'ALLOW', reason: 'allow-matched', shadow: [] })
  assert.equal(a, b)
  assert.ok(Object.isFrozen(a))
})

test('no matching ALLOW denies with no deciding policy', () => {
  const { cfg } = load(ALLOW_GET)
  const d = authorize(cfg, req('POST', '/'))
  assert.equal(d, NO_ALLOW_MATCHED)
  assert.deepEqual({ ...d }, { allowed: false, policy: '', action: 'ALLOW', reason: 'no-allow-matched', shadow: [] })
})

test('only DENY policies and none matching: allowed with no deciding policy', () => {
  const { cfg } = load(DENY_ADMIN)
  assert.equal(authorize(cfg, req('GET', '/')), NO_ALLOW_POLICY)
})

test('AUDIT and dry-run policies are reported in the decision but never change it', () => {
  const { cfg } = load([ALLOW_GET, AUDIT_ALL, DRY_DENY_POST].join('---\n'))
  const get = authorize(cfg, req('GET', '/'))
  assert.equal(get.allowed, true)
  assert.equal(get.policy, 'default/allow-get')
  assert.deepEqual(get.shadow, [{ policy: 'default/audit-all', action: 'AUDIT', dryRun: false }])
  const post = authorize(cfg, req('POST', '/'))
  assert.equal(post.allowed, false)
  assert.equal(post.reason, 'no-allow-matched')
  assert.deepEqual(post.shadow, [
    { policy: 'default/audit-all', action: 'AUDIT', dryRun: false },
    { policy: 'default/dry-deny-post', action: 'DENY', dryRun: true }
  ])
  assert.equal(describeDecision(post), 'denied: no ALLOW policy matched (audit default/audit-all, dry-run DENY default/dry-deny-post matched)')
})

test('a dry-run ALLOW does not count as an ALLOW policy', () => {
  const dryAllow = ALLOW_GET.replace('namespace: default}', 'namespace: default, annotations: {"istio.io/dry-run": "true"}}')
  const { cfg } = load(dryAllow)
  assert.equal(cfg.allow.length, 0)
  assert.equal(cfg.dryRun.length, 1)
  const d = authorize(cfg, req('GET', '/'))
  assert.equal(d.allowed, true)
  assert.equal(d.reason, 'no-allow-policy')
  assert.deepEqual(d.shadow, [{ policy: 'default/allow-get', action: 'ALLOW', dryRun: true }])
  assert.equal(authorize(cfg, req('POST', '/')), NO_ALLOW_POLICY, 'nothing matched: the shared decision')
})

test('when several DENY policies match, the first by namespace then name decides, whatever the input order', () => {
  const deny = (ns: string, name: string): string => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec: {action: DENY, rules: [{}]}
`
  const docs = [deny('istio-system', 'a'), deny('default', 'z'), deny('default', 'b')]
  const one = load(docs.join('---\n')).cfg
  const two = load([...docs].reverse().join('---\n')).cfg
  assert.deepEqual(one.deny.map(p => p.id), ['default/b', 'default/z', 'istio-system/a'])
  assert.deepEqual(two.deny.map(p => p.id), one.deny.map(p => p.id))
  assert.equal(authorize(one, req('GET', '/')).policy, 'default/b')
})

test('explainAuthz lists every policy with the rule that matched', () => {
  const twoRules = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: two-rules, namespace: default}
spec: {rules: [{to: [{operation: {paths: ["/a"]}}]}, {to: [{operation: {paths: ["/b"]}}]}]}
`
  const { cfg } = load([twoRules, DENY_ADMIN, AUDIT_ALL].join('---\n'))
  const e = explainAuthz(cfg, req('GET', '/b'))
  assert.equal(e.decision.policy, 'default/two-rules')
  assert.equal(e.summary, 'allowed by ALLOW default/two-rules (audit default/audit-all matched)')
  assert.deepEqual(e.policies, [
    { policy: 'istio-system/deny-admin', action: 'DENY', dryRun: false, rule: -1 },
    { policy: 'default/two-rules', action: 'ALLOW', dryRun: false, rule: 1 },
    { policy: 'default/audit-all', action: 'AUDIT', dryRun: false, rule: 0 }
  ])
})

test('conditions keep the YAML field they came from', () => {
  const { cfg } = load(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: fields, namespace: default}
spec:
  rules:
  - from: [{source: {notPrincipals: ["*"]}}]
    to: [{operation: {paths: ["/a"], notMethods: [DELETE]}}]
    when: [{key: "request.headers[X-A]", values: ["1"]}]
`)
  const rule = cfg.allow[0]!.rules[0]!
  assert.deepEqual(rule.from.map(s => s.map(c => [c.attribute, c.field])), [[['source.principal', 'rules[0].from[0].source.notPrincipals']]])
  assert.deepEqual(rule.to[0]!.map(c => [c.attribute, c.field]), [['request.method', 'rules[0].to[0].operation.notMethods'], ['request.path', 'rules[0].to[0].operation.paths']])
  assert.equal(rule.when[0]!.name, 'x-a')
})

test('destination.ip and experimental.envoy.filters keys are reported as not enforced', () => {
  const { compileIssues } = load(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: dest-ip, namespace: default}
spec:
  action: DENY
  rules:
  - when:
    - key: destination.ip
      values: ["10.0.0.0/8"]
    - key: experimental.envoy.filters.network.mysql_proxy[db.table]
      values: ["[update]"]
`)
  assert.deepEqual(compileIssues.map(i => i.field), ['rules[0].when[0].key', 'rules[0].when[1].key'])
  const i = compileIssues[0]!
  assert.equal(i.code, CODES.NOT_ENFORCED)
  assert.equal(i.severity, 'warning')
  assert.equal(i.admission, false)
  assert.equal(i.field, 'rules[0].when[0].key')
  assert.equal(i.line, 8)
})

test('a CUSTOM policy that reaches compile is skipped', () => {
  const resources: SourceResource[] = []
  parseText('custom.yaml', `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: default}
spec: {action: CUSTOM, provider: {name: ext-authz}, rules: [{}]}
`, resources, [])
  const cfg = compileAuthz(resources, [])
  assert.equal(cfg, EMPTY_AUTHZ)
})

test('path templates follow Envoy: {*} is one non-empty segment of pchars, literals are not patterns', () => {
  const { cfg } = load(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tpl, namespace: default}
spec: {rules: [{to: [{operation: {paths: ["/v1.0/{*}/x", "/all/{**}"]}}]}]}
`)
  const allowed = (path: string): boolean => authorize(cfg, req('GET', path)).allowed
  assert.equal(allowed('/v1.0/abc/x'), true)
  assert.equal(allowed('/v1.0//x'), false)
  assert.equal(allowed('/v1x0/abc/x'), false, '. is literal')
  assert.equal(allowed('/v1.0/a=b/x'), false, '= is not in Envoy\'s segment class')
  assert.equal(allowed('/all/'), true)
  assert.equal(allowed('/all/a/b/'), true)
})

test('request principals split at the token issuer when the subject holds a slash', () => {
  const { cfg } = load(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: rp, namespace: default}
spec: {rules: [{from: [{source: {requestPrincipals: ["https://issuer.example/*"]}}]}]}
`)
  const f = req('GET', '/')
  f.requestPrincipal = 'https://issuer.example/team/alice'
  f.claims = { iss: 'https://issuer.example', sub: 'team/alice' }
  assert.equal(authorize(cfg, f).allowed, true)
})

test('claims that are numbers or booleans never match a value', () => {
  const { cfg } = load(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: claims, namespace: default}
spec: {rules: [{when: [{key: "request.auth.claims[verified]", values: ["true"]}]}]}
`)
  const f = req('GET', '/')
  f.requestPrincipal = 'iss/sub'
  f.claims = { iss: 'iss', sub: 'sub', verified: true }
  assert.equal(authorize(cfg, f).allowed, false)
  f.claims = { iss: 'iss', sub: 'sub', verified: 'true' }
  assert.equal(authorize(cfg, f).allowed, true)
})
