// The compiled, immutable route snapshot: the only thing the data plane, the
// plugins, `explain` and `/config_dump` read. Produced by compile(), frozen,
// swapped whole on reload.
import type { CidrSet } from '../plugins/edge-facts/client-address.js'
import type { CacheRules } from '../plugins/cache/semantics.js'
import type RE2 from 're2'
import type { Issue } from './validate/issues.js'
import type { RouteIndex } from './compile/route-index.js'

export interface ResourceRef {
  readonly kind: string
  readonly namespace: string
  readonly name: string
  readonly file: string
  readonly line: number
}

export type StringMatchKind = 'exact' | 'prefix' | 'regex' | 'present'

export interface StringMatcher {
  readonly kind: StringMatchKind
  readonly value: string
  /** Compiled once; full-match semantics (anchored) for `regex`. */
  readonly re: RE2 | null
  /** For `regex`: literal text every match starts with (checked before RE2 runs), else ''. */
  readonly head: string
  readonly ignoreCase: boolean
}

export interface HeaderCondition {
  /** Lowercased header name; pseudo headers (`:authority`, `:path`, ...) allowed. */
  readonly name: string
  readonly matcher: StringMatcher
}

export interface ClaimCondition {
  /** Claim path, e.g. ['groups'] or ['nested', 'key']. */
  readonly path: readonly string[]
  readonly matcher: StringMatcher
}

export interface CompiledMatch {
  readonly name: string
  readonly uri: StringMatcher | null
  readonly scheme: StringMatcher | null
  readonly method: StringMatcher | null
  readonly authority: StringMatcher | null
  readonly headers: readonly HeaderCondition[]
  readonly withoutHeaders: readonly HeaderCondition[]
  readonly queryParams: readonly HeaderCondition[]
  readonly claims: readonly ClaimCondition[]
  /** 0 = any listener port. */
  readonly port: number
  /** `sourceLabels` / `sourceNamespace`: never true at a gateway. */
  readonly never: boolean
}

export interface HeaderOps {
  /** Names to remove (lowercase). Applied first. */
  readonly remove: readonly string[]
  /** Overwrite-or-add, in order; values may hold `%VAR%` substitutions. */
  readonly set: ReadonlyArray<readonly [string, HeaderValue]>
  /** Append another value. */
  readonly add: ReadonlyArray<readonly [string, HeaderValue]>
}

/** A header value with its Envoy `%VAR%` substitutions resolved at compile time into parts. */
export interface HeaderValue {
  readonly literal: string | null
  readonly parts: ReadonlyArray<string | HeaderVar>
}
export type HeaderVar = { readonly variable: string }

export interface RouteDestination {
  readonly host: string
  readonly subset: string
  readonly port: number
  readonly weight: number
  /** Key into Snapshot.clusters; the cluster may be missing (dangling reference → 503 NC). */
  readonly clusterKey: string
  readonly requestHeaders: HeaderOps | null
  readonly responseHeaders: HeaderOps | null
  /** Precomputed metric labels. */
  readonly statName: string
}

export interface RetryPolicy {
  /** Extra attempts after the first (Istio `attempts`). */
  readonly attempts: number
  readonly perTryTimeoutMs: number
  readonly on5xx: boolean
  readonly onGatewayError: boolean
  readonly onReset: boolean
  readonly onResetBeforeRequest: boolean
  readonly onConnectFailure: boolean
  readonly onRetriable4xx: boolean
  readonly onRefusedStream: boolean
  readonly statusCodes: ReadonlySet<number>
  /** gRPC names (cancelled, unavailable, ...) acting on `grpc-status`. */
  readonly grpcStatuses: ReadonlySet<number>
  readonly raw: string
}

export interface FaultPolicy {
  readonly delayMs: number
  /** 0..100; 0 never fires. */
  readonly delayPercent: number
  readonly abortStatus: number
  readonly abortGrpcStatus: number
  readonly abortPercent: number
}

export interface MirrorPolicy {
  readonly host: string
  readonly subset: string
  readonly port: number
  readonly clusterKey: string
  readonly percent: number
}

export interface CorsPolicyCompiled {
  readonly origins: readonly StringMatcher[]
  readonly allowAll: boolean
  readonly allowMethods: string
  readonly allowMethodsAny: boolean
  readonly allowHeaders: string
  readonly allowHeadersAny: boolean
  readonly exposeHeaders: string
  readonly maxAge: string
  readonly allowCredentials: boolean
  readonly ignoreUnmatchedPreflights: boolean
}

export interface RedirectPolicy {
  readonly code: number
  readonly uri: string | null
  readonly authority: string | null
  readonly scheme: string | null
  /** Replaces the matched uri prefix (needs a prefix match); null when not set. */
  readonly prefixRewrite: string | null
  /** -1: not set; 0: derivePort FROM_PROTOCOL_DEFAULT; -2: FROM_REQUEST_PORT; else the port. */
  readonly port: number
}

export interface RewritePolicy {
  readonly uri: string | null
  readonly authority: string | null
  readonly regex: RE2 | null
  readonly regexReplacement: string
}

export type RuleAction = 'route' | 'redirect' | 'direct'

/** One VirtualService `http[]` rule, shared by the routes its `match[]` blocks produce. */
export interface CompiledRule {
  readonly virtualService: ResourceRef
  readonly index: number
  readonly name: string
  readonly action: RuleAction
  readonly destinations: readonly RouteDestination[]
  readonly totalWeight: number
  /** `meshgate.io/sticky-split` on the VirtualService: the key a weighted choice hashes, else null. */
  readonly stickyKey: StickyKey | null
  readonly redirect: RedirectPolicy | null
  readonly directStatus: number
  readonly directBody: Buffer | null
  readonly rewrite: RewritePolicy | null
  /** 0 = no timeout (Istio default). */
  readonly timeoutMs: number
  readonly retry: RetryPolicy
  readonly fault: FaultPolicy | null
  readonly mirrors: readonly MirrorPolicy[]
  readonly cors: CorsPolicyCompiled | null
  readonly requestHeaders: HeaderOps | null
  readonly responseHeaders: HeaderOps | null
}

export interface StickyKey { readonly kind: 'header' | 'cookie' | 'ip', readonly name: string }

export interface Route {
  /** `<rule name>.<match name>` as Envoy names it, or '' when neither is set. */
  readonly name: string
  readonly rule: CompiledRule
  readonly matchIndex: number
  /** null = matches everything. */
  readonly match: CompiledMatch | null
  readonly catchAll: boolean
  /** Precomputed `namespace/name` of the VirtualService, and the stat label for the route. */
  readonly vsLabel: string
  readonly routeLabel: string
}

export interface VirtualHost {
  readonly name: string
  readonly domains: readonly string[]
  readonly routes: readonly Route[]
  /** httpsRedirect on a plain-text server: every request is answered 301. */
  readonly requireTls: boolean
  /** Candidate routes by path for large virtual hosts; null = scan `routes`. */
  readonly index: RouteIndex | null
}

export interface RouteTable {
  readonly name: string
  /** Lowercase exact domains. */
  readonly exact: ReadonlyMap<string, VirtualHost>
  /** `*.suffix` domains, longest suffix first; `suffix` includes the leading dot. */
  readonly suffixes: ReadonlyArray<{ readonly suffix: string, readonly vhost: VirtualHost }>
  readonly star: VirtualHost | null
}

export interface TlsMaterial {
  readonly cert: string
  readonly key: string
  readonly ca: string | null
  /** Node's names: 'TLSv1.2', 'TLSv1.3'. */
  readonly minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'
  readonly maxVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'
  /** OpenSSL cipher list (`a:b:c`), or null for Node's defaults. */
  readonly ciphers: string | null
}

export interface TlsServer {
  readonly gateway: ResourceRef
  readonly serverIndex: number
  readonly portName: string
  readonly hosts: readonly string[]
  readonly mode: 'SIMPLE' | 'MUTUAL' | 'OPTIONAL_MUTUAL'
  readonly material: TlsMaterial
  readonly subjectAltNames: readonly string[]
  readonly routes: RouteTable
}

export interface Listener {
  /** The Gateway server's port: what routes and `match.port` refer to. */
  readonly port: number
  /**
   * The port the socket binds: the same, except in Kubernetes, where, as in
   * Istio, a Gateway port is the gateway Service's port and the pod listens on
   * that Service port's targetPort.
   */
  readonly listenPort: number
  readonly bind: string
  readonly tls: boolean
  /** Plain-text listeners: the merged route table (`http.<port>`). */
  readonly plain: RouteTable | null
  /** TLS listeners: filter chains by SNI. */
  readonly sniExact: ReadonlyMap<string, TlsServer>
  readonly sniSuffixes: ReadonlyArray<{ readonly suffix: string, readonly server: TlsServer }>
  readonly sniStar: TlsServer | null
  readonly tlsServers: readonly TlsServer[]
  /** Some chain needs a client certificate (MUTUAL/OPTIONAL_MUTUAL). */
  readonly requestCert: boolean
  /** Every chain is MUTUAL: the handshake itself refuses clients without a valid certificate. */
  readonly rejectUnauthorized: boolean
  /** Content hash of what the listener socket needs; equal = keep the open socket. */
  readonly fingerprint: string
  readonly gatewayNames: readonly string[]
  /** Plain-text port with an HTTP2/GRPC server: h2c (prior knowledge) is accepted beside HTTP/1.1. */
  readonly h2c: boolean
}

export type LbPolicy = 'LEAST_REQUEST' | 'ROUND_ROBIN' | 'RANDOM'

export interface HashPolicy {
  readonly kind: 'header' | 'cookie' | 'sourceIp' | 'query'
  readonly name: string
  readonly cookiePath: string
  /** Cookie TTL in seconds; -1 = no ttl (no cookie minted). */
  readonly cookieTtlS: number
  readonly maglev: boolean
  readonly tableSize: number
}

export interface ConnectionPoolPolicy {
  readonly maxConnections: number
  readonly maxPendingRequests: number
  readonly maxRequests: number
  readonly maxRequestsPerConnection: number
  readonly maxRetries: number
  readonly connectTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly h2: boolean
}

export interface OutlierPolicy {
  readonly consecutive5xx: number
  readonly consecutiveGatewayErrors: number
  readonly intervalMs: number
  readonly baseEjectionMs: number
  readonly maxEjectionPercent: number
  readonly minHealthPercent: number
}

export interface UpstreamTls {
  readonly mode: 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL'
  readonly cert: string | null
  readonly key: string | null
  readonly ca: string | null
  readonly sni: string
  /**
   * SNI sent whatever the request's Host is: the DestinationRule's `sni`, or
   * Istio's `outbound_` name for ISTIO_MUTUAL; null = the request's Host (Istio's default).
   */
  readonly forcedSni: string | null
  readonly subjectAltNames: readonly string[]
  readonly insecureSkipVerify: boolean
  readonly alpn: readonly string[]
}

export interface Endpoint {
  readonly address: string
  readonly port: number
  readonly labels: Readonly<Record<string, string>>
  readonly weight: number
  /** `address:port`, the stable identity used by pools, balancers and outlier state. */
  readonly key: string
}

export interface Cluster {
  /** `outbound|<port>|<subset>|<host>`, as Envoy names clusters. */
  readonly key: string
  readonly host: string
  readonly port: number
  readonly subset: string
  readonly endpoints: readonly Endpoint[]
  readonly lb: LbPolicy
  readonly hash: HashPolicy | null
  readonly pool: ConnectionPoolPolicy
  readonly outlier: OutlierPolicy | null
  readonly tls: UpstreamTls | null
  readonly destinationRule: ResourceRef | null
  /** Content hash of endpoints + policies: equal = runtime state (pools, outlier) is kept. */
  readonly fingerprint: string
}

export interface ResourceSummary extends ResourceRef {
  readonly apiVersion: string
  readonly spec: unknown
}

export interface Snapshot {
  /** Content hash of the sources. */
  readonly version: string
  readonly listeners: ReadonlyMap<number, Listener>
  readonly clusters: ReadonlyMap<string, Cluster>
  readonly resources: readonly ResourceSummary[]
  /** Request facts derived before routing (EdgeFacts, or the defaults). */
  readonly edgeFacts: EdgeFactsConfig
  /** RequestAuthentication in scope of this gateway: JWT rules. */
  readonly authn: AuthnConfig
  /** AuthorizationPolicy in scope of this gateway, compiled. */
  readonly authz: AuthzConfig
  /** ApiKeyPolicy resources, compiled. */
  readonly apiKeys: ApiKeyConfig
  /** RateLimitPolicy resources, compiled. */
  readonly rateLimits: RateLimitConfig
  /** CachePolicy resources, compiled. */
  readonly cache: CacheConfig
  /** Analyzer findings (served anyway) and warnings. */
  readonly issues: readonly Issue[]
}

export type GeoFact = 'country' | 'region' | 'city'
export type DeviceFact = 'os' | 'device' | 'browser'
export type EdgeFact = GeoFact | DeviceFact

export interface EdgeFactsConfig {
  /** The EdgeFacts resource in force, or null when the defaults apply. */
  readonly source: ResourceRef | null
  /** The request header each fact is exposed as. */
  readonly headers: Readonly<Record<EdgeFact, string>>
  /** The same header names as a set: client-sent copies are dropped. */
  readonly headerNames: ReadonlySet<string>
  /** Peers whose `x-forwarded-for` (and geo headers) are believed; null = none. */
  readonly trustedProxies: CidrSet | null
  /** CDN headers carrying geo facts, believed from trusted proxies only; '' = not used. */
  readonly geoHeaders: Readonly<Record<GeoFact, string>>
  /** Whether the fact headers travel upstream (default true). */
  readonly forwardHeaders: boolean
}

// ---- RequestAuthentication ----

/** Where a JWT is read from: a header (with a prefix to strip), a query parameter or a cookie. */
export interface JwtLocation {
  readonly kind: 'header' | 'param' | 'cookie'
  /** Header names lowercase. */
  readonly name: string
  /** Header value prefix that must be present and is stripped (`Bearer `); '' for params and cookies. */
  readonly prefix: string
}

export interface JwtRule {
  readonly policy: ResourceRef
  /** Index in `jwtRules`. */
  readonly index: number
  readonly issuer: string
  /** Empty: `aud` is not checked. */
  readonly audiences: readonly string[]
  /** Inline JWKS (JSON text), or null when fetched from jwksUri. */
  readonly jwks: string | null
  readonly jwksUri: string
  /** Fetch timeout for jwksUri, ms. */
  readonly timeoutMs: number
  /** Istio's defaults (Authorization: Bearer, access_token) when none are configured. */
  readonly locations: readonly JwtLocation[]
  readonly forwardOriginalToken: boolean
  /** Header receiving the payload (base64url), '' for none. */
  readonly outputPayloadToHeader: string
  readonly outputClaimToHeaders: ReadonlyArray<{ readonly header: string, readonly claim: string }>
}

export interface AuthnConfig {
  /** Every jwtRule of every RequestAuthentication that applies to this gateway, in policy order. */
  readonly rules: readonly JwtRule[]
}

// ---- meshgate.io policies ----

/** Which requests a meshgate.io policy covers. */
export interface PolicyTargets {
  /** `namespace/name` of targeted Gateways / VirtualServices; both null = every route. */
  readonly gateways: ReadonlySet<string> | null
  readonly virtualServices: ReadonlySet<string> | null
  /** `spec.match`, or null for every request the targets cover. */
  readonly match: CompiledMatch | null
}

// ---- ApiKeyPolicy ----

export interface ApiKeyPolicyRule {
  readonly ref: ResourceRef
  /** `namespace/name`. */
  readonly id: string
  readonly targets: PolicyTargets
  /** Where the key is read: a request header (lowercase) or a query parameter. */
  readonly location: { readonly kind: 'header' | 'query', readonly name: string }
  /** SHA-256 of each key, and its consumer at the same index. */
  readonly digests: readonly Buffer[]
  readonly consumers: readonly string[]
}

export interface ApiKeyConfig {
  readonly policies: readonly ApiKeyPolicyRule[]
}

// ---- RateLimitPolicy ----

export type RateLimitKeyKind = 'ip' | 'header' | 'claim' | 'apiKey' | 'global'

export interface RateLimit {
  /** `namespace/name/limit`: the counter's identity (with the key's value). */
  readonly id: string
  readonly name: string
  readonly requests: number
  /** `requests` as header text (ratelimit-limit). */
  readonly requestsText: string
  readonly periodMs: number
  readonly key: { readonly kind: RateLimitKeyKind, readonly name: string }
  /** The store key without the request's value: `mg:rl:<id>:`. */
  readonly keyPrefix: string
}

export interface RateLimitPolicyRule {
  readonly ref: ResourceRef
  readonly id: string
  readonly targets: PolicyTargets
  readonly limits: readonly RateLimit[]
  /** When the shared store (Redis) fails: let requests through (default) or refuse them. */
  readonly failOpen: boolean
}

export interface RateLimitConfig {
  readonly policies: readonly RateLimitPolicyRule[]
}

// ---- CachePolicy ----

export interface CachePolicyRule {
  readonly ref: ResourceRef
  readonly id: string
  readonly targets: PolicyTargets
  readonly rules: CacheRules
  /** L1 entries of this policy (its store's item bound). */
  readonly maxEntries: number
}

export interface CacheConfig {
  readonly policies: readonly CachePolicyRule[]
}

// ---- AuthorizationPolicy ----
// (compiled by src/gateway/compile/authz.ts, evaluated by src/plugins/authz.ts)
// Semantics: ISTIO-SEMANTICS §6. A policy matches when any of its rules does;
// a rule is (any `from`) AND (any `to`) AND (all `when`), an absent part being
// no constraint. Every source field, operation field and `when` entry becomes
// one AuthzCondition on one request attribute.

export type AuthzAction = 'ALLOW' | 'DENY' | 'AUDIT'

/**
 * The request attribute a condition reads. `when` keys keep Istio's names; the
 * source/operation fields map onto them (`principals` → source.principal,
 * `paths` → request.path, `ports` → destination.port, ...).
 */
export type AuthzAttribute =
  | 'source.principal' | 'source.namespace' | 'source.serviceAccount' | 'source.trustDomain' | 'source.ip' | 'remote.ip'
  | 'request.auth.principal' | 'request.auth.audiences' | 'request.auth.presenter' | 'request.auth.claims'
  | 'request.host' | 'request.method' | 'request.path' | 'request.headers' | 'request.inlineHeaders'
  | 'destination.port' | 'connection.sni'
  // destination.ip and experimental.envoy.filters.*: meshgate has no such value
  // for a request, so values never match and notValues always hold.
  | 'unavailable'

/**
 * One non-exact value form, compiled once. `present`: the attribute exists (Envoy
 * present_match, used for headers and hosts); `nonEmpty`: exists and is not ''
 * (Istio's `*` = regex `.+`); `contains`: substring (source namespaces);
 * `regex`: RE2, full match (path templates, service accounts, wildcard namespaces).
 */
export interface AuthzPattern {
  readonly kind: 'prefix' | 'suffix' | 'present' | 'nonEmpty' | 'contains' | 'regex'
  readonly value: string
  readonly re: RE2 | null
}

/** A `requestPrincipals` value split at its last `/` into issuer and subject matchers, as Istio does. */
export interface AuthzRequestPrincipal {
  /** Exact value, or null when `issPattern` applies. */
  readonly iss: string | null
  readonly issPattern: AuthzPattern | null
  readonly sub: string | null
  readonly subPattern: AuthzPattern | null
}

/**
 * The values (or notValues) of one condition; any may match. Which parts are
 * filled depends on the attribute: IP attributes use `cidrs`, ports `ports`,
 * request principals `requestPrincipals`, the rest `exact` + `patterns`.
 */
export interface AuthzValues {
  /** The values as written in the YAML (for explain and config_dump). */
  readonly source: readonly string[]
  /** Exact values (lowercased for hosts), looked up in one step. */
  readonly exact: ReadonlySet<string>
  readonly patterns: readonly AuthzPattern[]
  readonly cidrs: CidrSet | null
  readonly ports: ReadonlySet<number>
  readonly requestPrincipals: readonly AuthzRequestPrincipal[]
}

export interface AuthzCondition {
  readonly attribute: AuthzAttribute
  /** Header name (lowercase) for request.headers / request.inlineHeaders, the key for `unavailable`; '' otherwise. */
  readonly name: string
  /** Claim path for request.auth.claims (`[a][b]` → ['a', 'b']); empty otherwise. */
  readonly claimPath: readonly string[]
  /** At least one must match; null = no such constraint. */
  readonly values: AuthzValues | null
  /** None may match; null = no such constraint. A missing attribute matches no value, so notValues hold. */
  readonly notValues: AuthzValues | null
  /** Where it came from, e.g. `rules[0].from[1].source.principals` or `rules[0].when[2]`. */
  readonly field: string
}

export interface AuthzRule {
  /** Any source may match (each one: all its conditions); empty = `from` absent, no constraint. */
  readonly from: ReadonlyArray<readonly AuthzCondition[]>
  /** Any operation may match (each one: all its conditions); empty = `to` absent, no constraint. */
  readonly to: ReadonlyArray<readonly AuthzCondition[]>
  /** All must hold. */
  readonly when: readonly AuthzCondition[]
}

/** A policy that matched but does not decide (AUDIT, or `istio.io/dry-run`), as reported in a decision. */
export interface AuthzHit {
  /** `namespace/name`. */
  readonly policy: string
  readonly action: AuthzAction
  readonly dryRun: boolean
}

export type AuthzReason =
  | 'no-policy' // no AuthorizationPolicy applies to this gateway
  | 'no-allow-policy' // no DENY matched and no (enforced) ALLOW policy exists
  | 'allow-matched'
  | 'deny-matched'
  | 'no-allow-matched' // ALLOW policies exist and none matched

/** What authorize() answers. The ones without shadow hits are precomputed and frozen. */
export interface AuthzDecision {
  readonly allowed: boolean
  /** `namespace/name` of the policy that decided; '' when none did (no-policy, no-allow-policy, no-allow-matched). */
  readonly policy: string
  /** The action that decided: DENY, ALLOW (also for no-allow-matched: the ALLOW policies deny by default), '' when none. */
  readonly action: 'ALLOW' | 'DENY' | ''
  readonly reason: AuthzReason
  /** AUDIT, then dry-run policies that matched (each by namespace/name); they never change `allowed`. */
  readonly shadow: readonly AuthzHit[]
}

export interface AuthzPolicy {
  readonly ref: ResourceRef
  /** `namespace/name`, for logs. */
  readonly id: string
  readonly action: AuthzAction
  /** Annotation `istio.io/dry-run: "true"`: evaluated and reported, never enforced. */
  readonly dryRun: boolean
  /** `rules` absent (or empty) → matches nothing; `rules: [{}]` → matches everything. */
  readonly rules: readonly AuthzRule[]
  /** The decision this policy gives when it decides (enforced ALLOW/DENY); null for AUDIT and dry-run. */
  readonly decision: AuthzDecision | null
  /** How this policy is reported when it matches as AUDIT or dry-run; null otherwise. */
  readonly hit: AuthzHit | null
}

export interface AuthzConfig {
  /** Enforced DENY policies, sorted by namespace then name (Envoy's policy-map order). */
  readonly deny: readonly AuthzPolicy[]
  /** Enforced ALLOW policies, same order. */
  readonly allow: readonly AuthzPolicy[]
  /** AUDIT policies, same order. */
  readonly audit: readonly AuthzPolicy[]
  /** Dry-run ALLOW and DENY policies, same order: evaluated for logs only. */
  readonly dryRun: readonly AuthzPolicy[]
  /** The decision when no DENY and no ALLOW matched: allow without enforced ALLOW policies, else deny. */
  readonly fallback: AuthzDecision
  /** No policy at all: authorize() returns its shared constant without looking at the request. */
  readonly empty: boolean
}
