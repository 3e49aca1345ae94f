// The Istio and meshgate.io resource shapes, as they read after validation.
// Field names stay Istio's so that YAML and code read alike. Every field is
// optional: the validator has checked what must be present, the compiler
// applies Istio's defaults.

export interface StringMatch { exact?: string, prefix?: string, regex?: string }

export interface HTTPMatchRequest {
  name?: string
  uri?: StringMatch
  scheme?: StringMatch
  method?: StringMatch
  authority?: StringMatch
  headers?: Record<string, StringMatch>
  withoutHeaders?: Record<string, StringMatch>
  queryParams?: Record<string, StringMatch>
  port?: number
  ignoreUriCase?: boolean
  gateways?: string[]
  sourceLabels?: Record<string, string>
  sourceNamespace?: string
  statPrefix?: string
}

export interface Destination { host?: string, subset?: string, port?: { number?: number } }

export interface HeaderOperations { set?: Record<string, string>, add?: Record<string, string>, remove?: string[] }
export interface Headers { request?: HeaderOperations, response?: HeaderOperations }

export interface HTTPRouteDestination { destination?: Destination, weight?: number, headers?: Headers }

export interface HTTPRedirect {
  uri?: string
  prefixRewrite?: string
  authority?: string
  port?: number
  derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT'
  scheme?: string
  redirectCode?: number
}

export interface HTTPDirectResponse { status?: number, body?: { string?: string, bytes?: string } }

export interface HTTPRewrite { uri?: string, authority?: string, uriRegexRewrite?: { match?: string, rewrite?: string } }

export interface HTTPRetry { attempts?: number, perTryTimeout?: string, retryOn?: string, retryRemoteLocalities?: boolean }

export interface Percent { value?: number }

export interface HTTPFaultInjection {
  delay?: { fixedDelay?: string, percentage?: Percent, percent?: number }
  abort?: { httpStatus?: number, grpcStatus?: string, percentage?: Percent }
}

export interface CorsPolicy {
  allowOrigins?: StringMatch[]
  allowOrigin?: string[]
  allowMethods?: string[]
  allowHeaders?: string[]
  exposeHeaders?: string[]
  maxAge?: string
  allowCredentials?: boolean
  unmatchedPreflights?: 'FORWARD' | 'IGNORE' | 'UNSPECIFIED'
}

export interface HTTPMirrorPolicy { destination?: Destination, percentage?: Percent }

export interface HTTPRoute {
  name?: string
  match?: HTTPMatchRequest[]
  route?: HTTPRouteDestination[]
  redirect?: HTTPRedirect
  directResponse?: HTTPDirectResponse
  delegate?: unknown
  rewrite?: HTTPRewrite
  timeout?: string
  retries?: HTTPRetry
  fault?: HTTPFaultInjection
  mirror?: Destination
  mirrorPercentage?: Percent
  mirrorPercent?: number
  mirror_percent?: number
  mirrors?: HTTPMirrorPolicy[]
  corsPolicy?: CorsPolicy
  headers?: Headers
}

export interface VirtualServiceSpec {
  hosts?: string[]
  gateways?: string[]
  http?: HTTPRoute[]
  tcp?: unknown[]
  tls?: unknown[]
  exportTo?: string[]
}

export interface Port { number?: number, protocol?: string, name?: string, targetPort?: number }

export interface ServerTLSSettings {
  httpsRedirect?: boolean
  mode?: 'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'AUTO_PASSTHROUGH' | 'ISTIO_MUTUAL' | 'OPTIONAL_MUTUAL'
  serverCertificate?: string
  privateKey?: string
  caCertificates?: string
  credentialName?: string
  subjectAltNames?: string[]
  minProtocolVersion?: string
  maxProtocolVersion?: string
  cipherSuites?: string[]
}

export interface Server { port?: Port, bind?: string, hosts?: string[], tls?: ServerTLSSettings, name?: string }

export interface GatewaySpec { servers?: Server[], selector?: Record<string, string> }

export interface ConsistentHashLB {
  httpHeaderName?: string
  httpCookie?: { name?: string, path?: string, ttl?: string }
  useSourceIp?: boolean
  httpQueryParameterName?: string
  ringHash?: { minimumRingSize?: number }
  maglev?: { tableSize?: number }
  minimumRingSize?: number
}

export interface LoadBalancerSettings {
  simple?: 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST'
  consistentHash?: ConsistentHashLB
}

export interface ConnectionPoolSettings {
  tcp?: { maxConnections?: number, connectTimeout?: string, idleTimeout?: string, maxConnectionDuration?: string }
  http?: {
    http1MaxPendingRequests?: number
    http2MaxRequests?: number
    maxRequestsPerConnection?: number
    maxRetries?: number
    idleTimeout?: string
    h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE'
    useClientProtocol?: boolean
    maxConcurrentStreams?: number
  }
}

export interface OutlierDetection {
  consecutiveErrors?: number
  consecutive5xxErrors?: number | { value?: number }
  consecutiveGatewayErrors?: number | { value?: number }
  splitExternalLocalOriginErrors?: boolean
  consecutiveLocalOriginFailures?: number | { value?: number }
  interval?: string
  baseEjectionTime?: string
  maxEjectionPercent?: number
  minHealthPercent?: number
}

export interface ClientTLSSettings {
  mode?: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL'
  clientCertificate?: string
  privateKey?: string
  caCertificates?: string
  credentialName?: string
  subjectAltNames?: string[]
  sni?: string
  insecureSkipVerify?: boolean
}

export interface PortTrafficPolicy {
  port?: { number?: number }
  loadBalancer?: LoadBalancerSettings
  connectionPool?: ConnectionPoolSettings
  outlierDetection?: OutlierDetection
  tls?: ClientTLSSettings
}

export interface TrafficPolicy {
  loadBalancer?: LoadBalancerSettings
  connectionPool?: ConnectionPoolSettings
  outlierDetection?: OutlierDetection
  tls?: ClientTLSSettings
  portLevelSettings?: PortTrafficPolicy[]
}

export interface Subset { name?: string, labels?: Record<string, string>, trafficPolicy?: TrafficPolicy }

export interface DestinationRuleSpec { host?: string, trafficPolicy?: TrafficPolicy, subsets?: Subset[], exportTo?: string[] }

export interface ServicePort { number?: number, protocol?: string, name?: string, targetPort?: number }

export interface WorkloadEntry { address?: string, ports?: Record<string, number>, labels?: Record<string, string>, weight?: number }

export interface ServiceEntrySpec {
  hosts?: string[]
  addresses?: string[]
  ports?: ServicePort[]
  location?: string
  resolution?: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN'
  endpoints?: WorkloadEntry[]
  exportTo?: string[]
  subjectAltNames?: string[]
}

export type AnySpec = Record<string, unknown>
