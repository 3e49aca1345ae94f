// The compiled, immutable route snapshot: the only thing the data plane, the
// plugins, `explain` and `/config_dump` read. Produced by compile(), frozen,
// swapped whole on reload.
import type { CidrSet } from '../plugins/edge-facts/client-address.js'
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
  readonly port: number
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
