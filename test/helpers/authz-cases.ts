// AuthorizationPolicy decision table (ISTIO-SEMANTICS §6). Data only, so the
// same cases can run offline (test/unit/authz.test.ts: parse → validate →
// compileAuthz → authorize) and against a live gateway.
//
// Request defaults (AUTHZ_DEFAULTS): method GET, Host `app.example` (no port:
// send exactly this Host header), listener port 8080, plain HTTP, TCP peer
// 203.0.113.9 and client address = peer (no trusted proxies), no client
// certificate, no JWT, no API key.
//
// The request fields are the facts authz sees, not wire bytes. Replaying live:
// - `peerPrincipal` needs a client certificate whose URI SAN is that value
//   (mTLS server); `sni` needs a TLS connection with that server name.
// - `clientIp` different from `peerIp` needs a trusted proxy (EdgeFacts
//   `trustedProxies` covering peerIp) and `x-forwarded-for: <clientIp>`.
// - `requestPrincipal`/`claims`/`audiences`/`presenter` need a JWT with those
//   claims (`iss`, `sub`, `aud`, `azp`), validated by a RequestAuthentication;
//   `apikey/<consumer>` principals need an ApiKeyPolicy key for that consumer.
// - `want` is what authz decides: 200 = let through (a live gateway then routes
//   it), 403 = `RBAC: access denied`.
// Policies are in `default` or `istio-system`, without selector or targetRefs,
// so they apply to any gateway when no --namespace is given.

export interface AuthzCaseRequest {
  method?: string
  /** Request target as sent, may carry a query. */
  path: string
  /** Host header as sent, with a port when the case needs one. */
  host?: string
  /** Listener port. */
  port?: number
  headers?: Record<string, string>
  /** TCP peer address. */
  peerIp?: string
  /** Client address after trusted-proxy processing. */
  clientIp?: string
  /** SPIFFE identity of a verified client certificate, with `spiffe://`. */
  peerPrincipal?: string
  /** `<iss>/<sub>` of a validated JWT, or `apikey/<consumer>`. */
  requestPrincipal?: string
  claims?: Record<string, unknown>
  audiences?: string[]
  presenter?: string
  sni?: string
}

export interface AuthzCase {
  name: string
  /** YAML of zero or more AuthorizationPolicy documents. */
  policies: string
  request: AuthzCaseRequest
  want: 200 | 403
}

export const AUTHZ_DEFAULTS = Object.freeze({
  method: 'GET',
  host: 'app.example',
  port: 8080,
  peerIp: '203.0.113.9'
})

/** One AuthorizationPolicy document; `spec` is flow-style YAML. */
function ap (name: string, spec: string, namespace = 'default', annotations = ''): string {
  const ann = annotations === '' ? '' : `\n  annotations: {${annotations}}`
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: ${namespace}${ann}
spec: ${spec}
`
}

function docs (...d: string[]): string {
  return d.join('---\n')
}

/** ALLOW when one `source` matches. */
function allowFrom (source: string): string {
  return ap('allow-from', `{rules: [{from: [{source: ${source}}]}]}`)
}

/** ALLOW when one `operation` matches. */
function allowTo (operation: string): string {
  return ap('allow-to', `{rules: [{to: [{operation: ${operation}}]}]}`)
}

/** ALLOW when every condition holds. */
function allowWhen (...conditions: string[]): string {
  return ap('allow-when', `{rules: [{when: [${conditions.join(', ')}]}]}`)
}

const ALLOW_ALL = ap('allow-all', '{rules: [{}]}')
const MTLS = 'spiffe://cluster.local/ns/edge/sa/client'
const ISS = 'https://issuer.example'
const JWT = { requestPrincipal: `${ISS}/user-1`, claims: { iss: ISS, sub: 'user-1' } }

export const AUTHZ_CASES: readonly AuthzCase[] = [
  // ---- policy level ----
  { name: 'no policy allows', policies: '', request: { path: '/' }, want: 200 },
  { name: 'spec: {} is an ALLOW with no rules: allow nothing', policies: ap('nothing', '{}'), request: { path: '/' }, want: 403 },
  { name: 'ALLOW without rules denies all', policies: ap('allow-none', '{action: ALLOW}'), request: { path: '/' }, want: 403 },
  { name: 'rules: [{}] matches everything', policies: ALLOW_ALL, request: { method: 'DELETE', path: '/anything' }, want: 200 },
  { name: 'DENY with rules: [{}] denies everything', policies: ap('deny-all', '{action: DENY, rules: [{}]}'), request: { path: '/' }, want: 403 },
  { name: 'DENY wins over a matching ALLOW', policies: docs(ALLOW_ALL, ap('deny-admin', '{action: DENY, rules: [{to: [{operation: {paths: ["/admin*"]}}]}]}')), request: { path: '/admin/users' }, want: 403 },
  { name: 'a DENY that does not match leaves the ALLOW decision', policies: docs(ALLOW_ALL, ap('deny-admin', '{action: DENY, rules: [{to: [{operation: {paths: ["/admin*"]}}]}]}')), request: { path: '/home' }, want: 200 },
  { name: 'only DENY policies and none matches: allow', policies: ap('deny-admin', '{action: DENY, rules: [{to: [{operation: {paths: ["/admin*"]}}]}]}'), request: { path: '/home' }, want: 200 },
  { name: 'several ALLOW policies: any one allows', policies: docs(ap('allow-a', '{rules: [{to: [{operation: {paths: ["/a"]}}]}]}'), ap('allow-b', '{rules: [{to: [{operation: {paths: ["/b"]}}]}]}', 'istio-system')), request: { path: '/b' }, want: 200 },
  { name: 'several ALLOW policies and none matches: deny', policies: docs(ap('allow-a', '{rules: [{to: [{operation: {paths: ["/a"]}}]}]}'), ap('allow-b', '{rules: [{to: [{operation: {paths: ["/b"]}}]}]}', 'istio-system')), request: { path: '/c' }, want: 403 },
  { name: 'AUDIT alone does not deny', policies: ap('audit-all', '{action: AUDIT, rules: [{}]}'), request: { path: '/' }, want: 200 },
  { name: 'AUDIT does not allow what no ALLOW allows', policies: docs(ap('audit-all', '{action: AUDIT, rules: [{}]}'), ap('nothing', '{}')), request: { path: '/' }, want: 403 },
  { name: 'dry-run DENY does not deny', policies: ap('deny-all-dry', '{action: DENY, rules: [{}]}', 'default', '"istio.io/dry-run": "true"'), request: { path: '/' }, want: 200 },
  { name: 'dry-run ALLOW that does not match does not deny', policies: ap('allow-a-dry', '{rules: [{to: [{operation: {paths: ["/a"]}}]}]}', 'default', '"istio.io/dry-run": "true"'), request: { path: '/b' }, want: 200 },
  { name: 'istio.io/dry-run: "false" is enforced', policies: ap('deny-all', '{action: DENY, rules: [{}]}', 'istio-system', '"istio.io/dry-run": "false"'), request: { path: '/' }, want: 403 },

  // ---- rule structure ----
  { name: 'rules are ORed', policies: ap('two-rules', '{rules: [{to: [{operation: {paths: ["/a"]}}]}, {to: [{operation: {paths: ["/b"]}}]}]}'), request: { path: '/b' }, want: 200 },
  { name: 'from entries are ORed', policies: ap('two-sources', '{rules: [{from: [{source: {ipBlocks: ["10.0.0.0/8"]}}, {source: {ipBlocks: ["203.0.113.0/24"]}}]}]}'), request: { path: '/' }, want: 200 },
  { name: 'fields of one source are ANDed', policies: allowFrom('{ipBlocks: ["203.0.113.0/24"], principals: ["*"]}'), request: { path: '/' }, want: 403 },
  { name: 'from and to are ANDed', policies: ap('from-and-to', '{rules: [{from: [{source: {ipBlocks: ["203.0.113.0/24"]}}], to: [{operation: {methods: ["POST"]}}]}]}'), request: { path: '/' }, want: 403 },
  { name: 'paths and notPaths both apply: excluded path', policies: allowTo('{paths: ["/api/*"], notPaths: ["/api/admin"]}'), request: { path: '/api/admin' }, want: 403 },
  { name: 'paths and notPaths both apply: other path', policies: allowTo('{paths: ["/api/*"], notPaths: ["/api/admin"]}'), request: { path: '/api/users' }, want: 200 },
  { name: 'every when condition must hold', policies: allowWhen('{key: "request.headers[x-a]", values: ["1"]}', '{key: "request.headers[x-b]", values: ["2"]}'), request: { path: '/', headers: { 'x-a': '1', 'x-b': '3' } }, want: 403 },

  // ---- paths ----
  { name: 'paths exact', policies: allowTo('{paths: ["/api/users"]}'), request: { path: '/api/users' }, want: 200 },
  { name: 'paths exact does not match a longer path', policies: allowTo('{paths: ["/api/users"]}'), request: { path: '/api/users/1' }, want: 403 },
  { name: 'paths are matched without the query', policies: allowTo('{paths: ["/search"]}'), request: { path: '/search?q=x' }, want: 200 },
  { name: 'paths are case-sensitive', policies: allowTo('{paths: ["/API"]}'), request: { path: '/api' }, want: 403 },
  { name: 'paths prefix*', policies: allowTo('{paths: ["/api/*"]}'), request: { path: '/api/v1/items' }, want: 200 },
  { name: 'paths prefix* needs the prefix', policies: allowTo('{paths: ["/api/*"]}'), request: { path: '/apiary' }, want: 403 },
  { name: 'paths *suffix', policies: allowTo('{paths: ["*.png"]}'), request: { path: '/img/logo.png' }, want: 200 },
  { name: 'paths *', policies: allowTo('{paths: ["*"]}'), request: { path: '/x' }, want: 200 },
  { name: 'paths {*} matches one segment', policies: allowTo('{paths: ["/users/{*}/profile"]}'), request: { path: '/users/42/profile' }, want: 200 },
  { name: 'paths {*} does not span segments', policies: allowTo('{paths: ["/users/{*}/profile"]}'), request: { path: '/users/4/2/profile' }, want: 403 },
  { name: 'paths {**} matches the rest', policies: allowTo('{paths: ["/files/{**}"]}'), request: { path: '/files/a/b/c.txt' }, want: 200 },
  { name: 'paths {**} does not match without its slash', policies: allowTo('{paths: ["/files/{**}"]}'), request: { path: '/files' }, want: 403 },
  { name: 'notPaths excludes', policies: allowTo('{notPaths: ["/private/*"]}'), request: { path: '/private/x' }, want: 403 },
  { name: 'notPaths lets other paths through', policies: allowTo('{notPaths: ["/private/*"]}'), request: { path: '/public' }, want: 200 },
  { name: 'paths see the normalised path', policies: ap('deny-admin', '{action: DENY, rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]}'), request: { path: '/public/../admin/x' }, want: 403 },

  // ---- hosts ----
  { name: 'hosts exact', policies: allowTo('{hosts: ["app.example"]}'), request: { path: '/' }, want: 200 },
  { name: 'hosts without port do not match a Host with port', policies: allowTo('{hosts: ["app.example"]}'), request: { path: '/', host: 'app.example:8080' }, want: 403 },
  { name: 'hosts with port match a Host with port', policies: allowTo('{hosts: ["app.example:8080"]}'), request: { path: '/', host: 'app.example:8080' }, want: 200 },
  { name: 'hosts are case-insensitive', policies: allowTo('{hosts: ["APP.example"]}'), request: { path: '/', host: 'App.Example' }, want: 200 },
  { name: 'hosts *suffix', policies: allowTo('{hosts: ["*.example"]}'), request: { path: '/', host: 'api.example' }, want: 200 },
  { name: 'hosts prefix*', policies: allowTo('{hosts: ["app.example:*"]}'), request: { path: '/', host: 'app.example:9090' }, want: 200 },
  { name: 'notHosts excludes', policies: allowTo('{notHosts: ["admin.example"]}'), request: { path: '/', host: 'admin.example' }, want: 403 },

  // ---- ports ----
  { name: 'ports matches the listener port', policies: allowTo('{ports: ["8080"]}'), request: { path: '/' }, want: 200 },
  { name: 'ports other than the listener port', policies: allowTo('{ports: ["8443"]}'), request: { path: '/' }, want: 403 },
  { name: 'notPorts excludes the listener port', policies: allowTo('{notPorts: ["8080"]}'), request: { path: '/' }, want: 403 },
  { name: 'ports is the listener port, not the Host port', policies: allowTo('{ports: ["80"]}'), request: { path: '/', host: 'app.example:80' }, want: 403 },

  // ---- methods ----
  { name: 'methods match', policies: allowTo('{methods: ["GET", "HEAD"]}'), request: { path: '/' }, want: 200 },
  { name: 'methods do not match', policies: allowTo('{methods: ["GET", "HEAD"]}'), request: { method: 'POST', path: '/' }, want: 403 },
  { name: 'methods are exact (case-sensitive)', policies: allowTo('{methods: ["get"]}'), request: { path: '/' }, want: 403 },
  { name: 'notMethods excludes', policies: allowTo('{notMethods: ["DELETE"]}'), request: { method: 'DELETE', path: '/' }, want: 403 },

  // ---- ip blocks ----
  { name: 'ipBlocks CIDR', policies: allowFrom('{ipBlocks: ["203.0.113.0/24"]}'), request: { path: '/' }, want: 200 },
  { name: 'ipBlocks single address', policies: allowFrom('{ipBlocks: ["203.0.113.9"]}'), request: { path: '/' }, want: 200 },
  { name: 'ipBlocks outside', policies: allowFrom('{ipBlocks: ["10.0.0.0/8"]}'), request: { path: '/' }, want: 403 },
  { name: 'notIpBlocks excludes', policies: allowFrom('{notIpBlocks: ["203.0.113.0/24"]}'), request: { path: '/' }, want: 403 },
  { name: 'remoteIpBlocks use the client address', policies: allowFrom('{remoteIpBlocks: ["198.51.100.0/24"]}'), request: { path: '/', peerIp: '10.1.1.1', clientIp: '198.51.100.7' }, want: 200 },
  { name: 'ipBlocks use the TCP peer, not the client address', policies: allowFrom('{ipBlocks: ["198.51.100.0/24"]}'), request: { path: '/', peerIp: '10.1.1.1', clientIp: '198.51.100.7' }, want: 403 },
  { name: 'notRemoteIpBlocks excludes', policies: allowFrom('{notRemoteIpBlocks: ["198.51.100.7"]}'), request: { path: '/', peerIp: '10.1.1.1', clientIp: '198.51.100.7' }, want: 403 },
  { name: 'ipBlocks IPv6', policies: allowFrom('{ipBlocks: ["2001:db8::/32"]}'), request: { path: '/', peerIp: '2001:db8::5' }, want: 200 },

  // ---- peer principals, namespaces, service accounts ----
  { name: 'principals ["*"] fails for a plain client', policies: allowFrom('{principals: ["*"]}'), request: { path: '/' }, want: 403 },
  { name: 'notPrincipals ["*"] matches a plain client', policies: allowFrom('{notPrincipals: ["*"]}'), request: { path: '/' }, want: 200 },
  { name: 'principals ["*"] matches an mTLS client', policies: allowFrom('{principals: ["*"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 200 },
  { name: 'principals exact (compared with spiffe:// prefixed)', policies: allowFrom('{principals: ["cluster.local/ns/edge/sa/client"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 200 },
  { name: 'principals written with spiffe:// match too', policies: allowFrom('{principals: ["spiffe://cluster.local/ns/edge/sa/client"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 200 },
  { name: 'principals prefix*', policies: allowFrom('{principals: ["cluster.local/ns/edge/*"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 200 },
  { name: 'principals other identity', policies: allowFrom('{principals: ["cluster.local/ns/edge/sa/other"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 403 },
  { name: 'notPrincipals excludes', policies: allowFrom('{notPrincipals: ["*/sa/client"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 403 },
  { name: 'namespaces match the /ns/ segment', policies: allowFrom('{namespaces: ["edge"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 200 },
  { name: 'namespaces other namespace', policies: allowFrom('{namespaces: ["prod"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 403 },
  { name: 'namespaces with a wildcard', policies: allowFrom('{namespaces: ["ed*"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 200 },
  { name: 'namespaces fail for a plain client', policies: allowFrom('{namespaces: ["edge"]}'), request: { path: '/' }, want: 403 },
  { name: 'notNamespaces excludes', policies: allowFrom('{notNamespaces: ["edge"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 403 },
  { name: 'serviceAccounts ns/sa', policies: allowFrom('{serviceAccounts: ["edge/client"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 200 },
  { name: 'serviceAccounts without ns use the policy namespace', policies: allowFrom('{serviceAccounts: ["client"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 403 },
  { name: 'notServiceAccounts excludes', policies: allowFrom('{notServiceAccounts: ["edge/client"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 403 },

  // ---- request principals (JWT, API keys) ----
  { name: 'requestPrincipals with a URL issuer (split at the last /)', policies: allowFrom(`{requestPrincipals: ["${ISS}/user-1"]}`), request: { path: '/', ...JWT }, want: 200 },
  { name: 'requestPrincipals other subject', policies: allowFrom(`{requestPrincipals: ["${ISS}/user-2"]}`), request: { path: '/', ...JWT }, want: 403 },
  { name: 'requestPrincipals ["*"] fails without a token', policies: allowFrom('{requestPrincipals: ["*"]}'), request: { path: '/' }, want: 403 },
  { name: 'requestPrincipals ["*"] matches any token', policies: allowFrom('{requestPrincipals: ["*"]}'), request: { path: '/', ...JWT }, want: 200 },
  { name: 'notRequestPrincipals ["*"] matches an anonymous request', policies: allowFrom('{notRequestPrincipals: ["*"]}'), request: { path: '/' }, want: 200 },
  { name: 'requestPrincipals issuer/* matches any subject of that issuer', policies: allowFrom(`{requestPrincipals: ["${ISS}/*"]}`), request: { path: '/', ...JWT }, want: 200 },
  { name: 'requestPrincipals issuer/* of another issuer', policies: allowFrom('{requestPrincipals: ["https://other.example/*"]}'), request: { path: '/', ...JWT }, want: 403 },
  { name: 'requestPrincipals */sub matches that subject of any issuer', policies: allowFrom('{requestPrincipals: ["*/user-1"]}'), request: { path: '/', ...JWT }, want: 200 },
  { name: 'requestPrincipals API key principal', policies: allowFrom('{requestPrincipals: ["apikey/team-a"]}'), request: { path: '/', requestPrincipal: 'apikey/team-a' }, want: 200 },
  { name: 'requestPrincipals API key of another consumer', policies: allowFrom('{requestPrincipals: ["apikey/team-a"]}'), request: { path: '/', requestPrincipal: 'apikey/team-b' }, want: 403 },
  { name: 'requestPrincipals apikey/* matches any consumer', policies: allowFrom('{requestPrincipals: ["apikey/*"]}'), request: { path: '/', requestPrincipal: 'apikey/team-b' }, want: 200 },
  { name: 'requestPrincipals apikey/* does not match a JWT', policies: allowFrom('{requestPrincipals: ["apikey/*"]}'), request: { path: '/', ...JWT }, want: 403 },

  // ---- when ----
  { name: 'when request.headers values', policies: allowWhen('{key: "request.headers[x-env]", values: ["prod"]}'), request: { path: '/', headers: { 'x-env': 'prod' } }, want: 200 },
  { name: 'when request.headers values on a missing header', policies: allowWhen('{key: "request.headers[x-env]", values: ["prod"]}'), request: { path: '/' }, want: 403 },
  { name: 'when request.headers notValues on a missing header match', policies: allowWhen('{key: "request.headers[x-env]", notValues: ["prod"]}'), request: { path: '/' }, want: 200 },
  { name: 'when request.headers notValues exclude', policies: allowWhen('{key: "request.headers[x-env]", notValues: ["prod"]}'), request: { path: '/', headers: { 'x-env': 'prod' } }, want: 403 },
  { name: 'when request.headers name is case-insensitive, prefix* value', policies: allowWhen('{key: "request.headers[X-Env]", values: ["pro*"]}'), request: { path: '/', headers: { 'x-env': 'production' } }, want: 200 },
  { name: 'when request.headers * means present', policies: allowWhen('{key: "request.headers[x-token]", values: ["*"]}'), request: { path: '/', headers: { 'x-token': 'abc' } }, want: 200 },
  { name: 'when source.ip', policies: allowWhen('{key: "source.ip", values: ["203.0.113.0/24"]}'), request: { path: '/' }, want: 200 },
  { name: 'when source.ip notValues', policies: allowWhen('{key: "source.ip", notValues: ["203.0.113.9"]}'), request: { path: '/' }, want: 403 },
  { name: 'when remote.ip', policies: allowWhen('{key: "remote.ip", values: ["198.51.100.7"]}'), request: { path: '/', peerIp: '10.1.1.1', clientIp: '198.51.100.7' }, want: 200 },
  { name: 'when source.namespace', policies: allowWhen('{key: "source.namespace", values: ["edge"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 200 },
  { name: 'when source.namespace notValues on a plain client match', policies: allowWhen('{key: "source.namespace", notValues: ["edge"]}'), request: { path: '/' }, want: 200 },
  { name: 'when source.principal', policies: allowWhen('{key: "source.principal", values: ["cluster.local/ns/edge/sa/client"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 200 },
  { name: 'when source.serviceAccount', policies: allowWhen('{key: "source.serviceAccount", values: ["edge/client"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 200 },
  { name: 'when source.trustDomain', policies: allowWhen('{key: "source.trustDomain", values: ["cluster.local"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 200 },
  { name: 'when source.trustDomain of another mesh', policies: allowWhen('{key: "source.trustDomain", values: ["cluster"]}'), request: { path: '/', peerPrincipal: MTLS }, want: 403 },
  { name: 'when source.trustDomain notValues on a plain client match', policies: allowWhen('{key: "source.trustDomain", notValues: ["cluster.local"]}'), request: { path: '/' }, want: 200 },
  { name: 'when request.auth.principal', policies: allowWhen(`{key: "request.auth.principal", values: ["${ISS}/user-1"]}`), request: { path: '/', ...JWT }, want: 200 },
  { name: 'when request.auth.principal API key', policies: allowWhen('{key: "request.auth.principal", values: ["apikey/team-a"]}'), request: { path: '/', requestPrincipal: 'apikey/team-a' }, want: 200 },
  { name: 'when request.auth.audiences any of the token audiences', policies: allowWhen('{key: "request.auth.audiences", values: ["api"]}'), request: { path: '/', ...JWT, claims: { ...JWT.claims, aud: ['web', 'api'] }, audiences: ['web', 'api'] }, want: 200 },
  { name: 'when request.auth.audiences none', policies: allowWhen('{key: "request.auth.audiences", values: ["admin"]}'), request: { path: '/', ...JWT, claims: { ...JWT.claims, aud: ['web', 'api'] }, audiences: ['web', 'api'] }, want: 403 },
  { name: 'when request.auth.presenter', policies: allowWhen('{key: "request.auth.presenter", values: ["spa-client"]}'), request: { path: '/', ...JWT, claims: { ...JWT.claims, azp: 'spa-client' }, presenter: 'spa-client' }, want: 200 },
  { name: 'when request.auth.claims string', policies: allowWhen('{key: "request.auth.claims[tier]", values: ["gold"]}'), request: { path: '/', ...JWT, claims: { ...JWT.claims, tier: 'gold' } }, want: 200 },
  { name: 'when request.auth.claims list: any element', policies: allowWhen('{key: "request.auth.claims[groups]", values: ["admins"]}'), request: { path: '/', ...JWT, claims: { ...JWT.claims, groups: ['dev', 'admins'] } }, want: 200 },
  { name: 'when request.auth.claims nested', policies: allowWhen('{key: "request.auth.claims[realm][role]", values: ["ops"]}'), request: { path: '/', ...JWT, claims: { ...JWT.claims, realm: { role: 'ops' } } }, want: 200 },
  { name: 'when request.auth.claims nested list', policies: allowWhen('{key: "request.auth.claims[realm][roles]", values: ["ops"]}'), request: { path: '/', ...JWT, claims: { ...JWT.claims, realm: { roles: ['dev', 'ops'] } } }, want: 200 },
  { name: 'when request.auth.claims scope is split on spaces', policies: allowWhen('{key: "request.auth.claims[scope]", values: ["write"]}'), request: { path: '/', ...JWT, claims: { ...JWT.claims, scope: 'read write' } }, want: 200 },
  { name: 'when request.auth.claims on an anonymous request', policies: allowWhen('{key: "request.auth.claims[groups]", values: ["admins"]}'), request: { path: '/' }, want: 403 },
  { name: 'when request.auth.claims notValues on a missing claim match', policies: allowWhen('{key: "request.auth.claims[groups]", notValues: ["banned"]}'), request: { path: '/' }, want: 200 },
  { name: 'when destination.port', policies: allowWhen('{key: "destination.port", values: ["8080"]}'), request: { path: '/' }, want: 200 },
  { name: 'when destination.port notValues', policies: allowWhen('{key: "destination.port", notValues: ["8080"]}'), request: { path: '/' }, want: 403 },
  { name: 'when connection.sni', policies: allowWhen('{key: "connection.sni", values: ["app.example"]}'), request: { path: '/', sni: 'app.example' }, want: 200 },
  { name: 'when connection.sni on plain HTTP', policies: allowWhen('{key: "connection.sni", values: ["app.example"]}'), request: { path: '/' }, want: 403 },
  { name: 'when connection.sni notValues on plain HTTP match', policies: allowWhen('{key: "connection.sni", notValues: ["app.example"]}'), request: { path: '/' }, want: 200 },
  { name: 'when destination.ip values never match', policies: allowWhen('{key: "destination.ip", values: ["0.0.0.0/0"]}'), request: { path: '/' }, want: 403 },
  { name: 'when destination.ip notValues always hold', policies: allowWhen('{key: "destination.ip", notValues: ["10.0.0.0/8"]}'), request: { path: '/' }, want: 200 }
]
