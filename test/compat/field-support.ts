// What meshgate does with each field of the Istio kinds CONTRACT.md accepts,
// read from src/ (validate → compile → data plane), for the compatibility
// matrix (docs/compat-matrix.md). "partial" means the field is read or
// accepted but not everything Istio does with it happens; the note says what
// is missing. Keep this table in step with src/ when a field changes.

export type Support = 'supported' | 'partial' | 'refused' | 'planned'

export interface FieldSupport {
  readonly kind: 'Gateway' | 'VirtualService' | 'DestinationRule' | 'ServiceEntry' | 'RequestAuthentication' | 'AuthorizationPolicy'
  readonly field: string
  readonly support: Support
  readonly note: string
}

export const FIELD_SUPPORT: readonly FieldSupport[] = [
  // Gateway
  { kind: 'Gateway', field: 'selector', support: 'supported', note: 'matched against `--gateway-labels` (default `istio=ingressgateway`); a Gateway that does not match is not served' },
  { kind: 'Gateway', field: 'servers[].port.number', support: 'supported', note: 'the port meshgate listens on; plain-text servers on one port share one route table, as in Istio' },
  { kind: 'Gateway', field: 'servers[].port.protocol: HTTP, HTTPS', support: 'supported', note: '' },
  { kind: 'Gateway', field: 'servers[].port.protocol: HTTP2, GRPC', support: 'supported', note: 'a plain-text port speaks HTTP/1.1 and h2c (prior knowledge) on the same socket; TLS ports offer h2 through ALPN. HTTP/1.1 `Upgrade: h2c` is not offered (Envoy does not either by default)' },
  { kind: 'Gateway', field: 'servers[].port.protocol: TCP, TLS, MONGO, ...', support: 'refused', note: 'meshgate routes HTTP only' },
  { kind: 'Gateway', field: 'servers[].port.name', support: 'supported', note: 'accepted; it carries no meaning (as in Istio)' },
  { kind: 'Gateway', field: 'servers[].port.targetPort', support: 'refused', note: 'Istio rejects it on a Gateway too' },
  { kind: 'Gateway', field: 'servers[].bind', support: 'supported', note: 'an IP address; `unix://` binds are refused' },
  { kind: 'Gateway', field: 'servers[].hosts', support: 'supported', note: '`ns/host`, `./host`, `*/host`, `*.example.com`, `*`; VirtualService hosts bind by the more specific name' },
  { kind: 'Gateway', field: 'servers[].tls.httpsRedirect', support: 'supported', note: 'every plain-text request on those hosts is answered 301 to https' },
  { kind: 'Gateway', field: 'servers[].tls.mode: SIMPLE, MUTUAL', support: 'supported', note: 'SNI picks the server (exact, longest `*.suffix`, then `*`); several HTTPS servers share a port' },
  { kind: 'Gateway', field: 'servers[].tls.mode: OPTIONAL_MUTUAL', support: 'supported', note: 'a client certificate is requested and verified if sent; a certificate that fails verification closes the connection' },
  { kind: 'Gateway', field: 'servers[].tls.mode: PASSTHROUGH, AUTO_PASSTHROUGH, ISTIO_MUTUAL', support: 'refused', note: 'these need TLS routes or mesh workload certificates, which meshgate does not have' },
  { kind: 'Gateway', field: 'servers[].tls.serverCertificate, privateKey, caCertificates', support: 'supported', note: 'files read at load and watched for changes' },
  { kind: 'Gateway', field: 'servers[].tls.credentialName', support: 'supported', note: 'Kubernetes Secret, or the folder `--credentials-dir DIR/<name>/` (`tls.crt`, `tls.key`, `ca.crt` or `cert`, `key`, `cacert`)' },
  { kind: 'Gateway', field: 'servers[].tls.subjectAltNames', support: 'supported', note: 'a verified client certificate must carry one of these SANs (URI, DNS or IP)' },
  { kind: 'Gateway', field: 'servers[].tls.verifyCertificateSpki, verifyCertificateHash', support: 'partial', note: 'accepted; not checked' },
  { kind: 'Gateway', field: 'servers[].tls.minProtocolVersion, maxProtocolVersion, cipherSuites', support: 'supported', note: 'per server (SNI); default TLS 1.2 to 1.3; cipher names are OpenSSL names, as in Envoy; clients without SNI get the first server\'s settings' },
  { kind: 'Gateway', field: 'servers[].tls.caCrl', support: 'partial', note: 'validated; revoked client certificates are not refused' },
  { kind: 'Gateway', field: 'servers[].tls.credentialNames, tlsCertificates', support: 'refused', note: 'one certificate per server: use credentialName or serverCertificate/privateKey' },
  { kind: 'Gateway', field: 'servers[].defaultEndpoint', support: 'partial', note: 'a Sidecar field: ignored with a warning' },

  // VirtualService
  { kind: 'VirtualService', field: 'hosts', support: 'supported', note: 'short names expand in the VirtualService\'s namespace; wildcards; merged per host oldest first' },
  { kind: 'VirtualService', field: 'gateways', support: 'supported', note: '`name`, `ns/name`, `mesh`; a mesh-only VirtualService is not applied at the gateway, as in Istio' },
  { kind: 'VirtualService', field: 'exportTo', support: 'partial', note: 'accepted; ignored (every VirtualService is visible to the gateway)' },
  { kind: 'VirtualService', field: 'http[].match: uri, scheme, method, authority, headers, withoutHeaders, queryParams, port, ignoreUriCase', support: 'supported', note: '`exact`, `prefix`, `regex` (RE2, whole-string), `{}` = present' },
  { kind: 'VirtualService', field: 'http[].match[].gateways', support: 'supported', note: '' },
  { kind: 'VirtualService', field: 'http[].match[].sourceLabels, sourceNamespace', support: 'supported', note: 'never match at a gateway, as in Istio; `validate` warns' },
  { kind: 'VirtualService', field: 'http[].match[].headers `@request.auth.claims.*`', support: 'planned', note: 'compiled, but no JWT is validated yet (RequestAuthentication), so such a match never holds' },
  { kind: 'VirtualService', field: 'http[].match[].name, statPrefix', support: 'partial', note: '`name` names the route in logs and metrics; `statPrefix` is ignored' },
  { kind: 'VirtualService', field: 'http[].route[].destination (host, subset, port), weight', support: 'supported', note: 'weighted choice at random per request; a dangling host or subset answers 503 as in Istio' },
  { kind: 'VirtualService', field: 'http[].route[].headers, http[].headers', support: 'partial', note: '`set`/`add`/`remove` on request and response; Envoy `%VAR%` values: `DOWNSTREAM_*ADDRESS*`, `DOWNSTREAM_LOCAL_PORT`, `REQ(h)`, `PROTOCOL`, `REQUESTED_SERVER_NAME`, `HOSTNAME`, `START_TIME`; any other expands to an empty string' },
  { kind: 'VirtualService', field: 'http[].redirect (uri, authority, scheme, port, derivePort, redirectCode)', support: 'supported', note: '' },
  { kind: 'VirtualService', field: 'http[].redirect.prefixRewrite', support: 'supported', note: 'swaps the matched uri prefix; the query is kept' },
  { kind: 'VirtualService', field: 'http[].directResponse', support: 'supported', note: '' },
  { kind: 'VirtualService', field: 'http[].rewrite (uri, authority, uriRegexRewrite)', support: 'supported', note: '' },
  { kind: 'VirtualService', field: 'http[].timeout', support: 'supported', note: 'none by default; 504 `upstream request timeout`' },
  { kind: 'VirtualService', field: 'http[].retries.attempts, perTryTimeout', support: 'supported', note: 'Istio\'s default of 2 retries applies when `retries` is absent' },
  { kind: 'VirtualService', field: 'http[].retries.retryOn', support: 'partial', note: '`5xx`, `gateway-error`, `reset`, `connect-failure`, `retriable-4xx`, status codes and gRPC names act; `refused-stream`, `retriable-headers`, `envoy-ratelimited`, `http3-post-connect-failure` are accepted and never trigger a retry' },
  { kind: 'VirtualService', field: 'http[].retries.backoff, retryRemoteLocalities, retryIgnorePreviousHosts', support: 'partial', note: 'accepted; backoff is fixed (25 ms base, 250 ms cap), a retry avoids the previous endpoint when it can, there are no localities' },
  { kind: 'VirtualService', field: 'http[].fault.delay (fixedDelay, percentage, percent)', support: 'supported', note: 'the deprecated integer `percent` is read; no percentage means 0 %' },
  { kind: 'VirtualService', field: 'http[].fault.abort (httpStatus, grpcStatus, percentage)', support: 'supported', note: 'body `fault filter abort`; the upstream is not contacted' },
  { kind: 'VirtualService', field: 'http[].fault.delay.exponentialDelay, abort.http2Error', support: 'refused', note: 'Istio rejects them too' },
  { kind: 'VirtualService', field: 'http[].mirror, mirrorPercentage, mirrors', support: 'supported', note: 'fire-and-forget copy with the original Host (Istio 1.28+); deprecated `mirrorPercent`/`mirror_percent` read' },
  { kind: 'VirtualService', field: 'http[].corsPolicy', support: 'supported', note: '`allowOrigins` (and deprecated `allowOrigin`), methods, headers, `exposeHeaders`, `maxAge`, `allowCredentials`, `unmatchedPreflights`' },
  { kind: 'VirtualService', field: 'http[].delegate', support: 'refused', note: 'VirtualService chaining is not supported: put the routes in the VirtualService' },
  { kind: 'VirtualService', field: 'tcp[], tls[]', support: 'refused', note: 'meshgate routes HTTP only' },

  // DestinationRule
  { kind: 'DestinationRule', field: 'host', support: 'supported', note: 'short names and wildcards; subsets of several rules for one host are merged' },
  { kind: 'DestinationRule', field: 'subsets[] (name, labels, trafficPolicy)', support: 'supported', note: 'subset sections replace the inherited ones whole, as in Istio; no endpoint selected → 503 `no healthy upstream`' },
  { kind: 'DestinationRule', field: 'trafficPolicy.portLevelSettings', support: 'supported', note: '' },
  { kind: 'DestinationRule', field: 'loadBalancer.simple: LEAST_REQUEST, LEAST_CONN, ROUND_ROBIN, RANDOM', support: 'supported', note: 'default LEAST_REQUEST, as in Istio; LEAST_REQUEST and ROUND_ROBIN honour endpoint weights' },
  { kind: 'DestinationRule', field: 'loadBalancer.simple: PASSTHROUGH', support: 'partial', note: 'there is no original destination at an ingress: treated as LEAST_REQUEST' },
  { kind: 'DestinationRule', field: 'loadBalancer.consistentHash: httpHeaderName, useSourceIp, httpQueryParameterName, ringHash, maglev', support: 'supported', note: 'a missing key picks at random, as Envoy does' },
  { kind: 'DestinationRule', field: 'loadBalancer.consistentHash.httpCookie', support: 'supported', note: 'hashes the cookie; when it is missing and `ttl` is set, a cookie is minted and returned with `Set-Cookie` (`ttl: 0s` = session cookie); without `ttl` a missing cookie picks at random' },
  { kind: 'DestinationRule', field: 'loadBalancer.localityLbSetting, warmup, warmupDurationSecs', support: 'partial', note: 'accepted and ignored (no localities, no slow start)' },
  { kind: 'DestinationRule', field: 'connectionPool.tcp.maxConnections, connectTimeout, idleTimeout', support: 'supported', note: '' },
  { kind: 'DestinationRule', field: 'connectionPool.tcp.tcpKeepalive, maxConnectionDuration', support: 'partial', note: 'validated; not applied' },
  { kind: 'DestinationRule', field: 'connectionPool.http.http1MaxPendingRequests, http2MaxRequests, maxRequestsPerConnection, maxRetries, idleTimeout', support: 'supported', note: 'overflow answers 503 with `x-envoy-overloaded: true` and is never retried' },
  { kind: 'DestinationRule', field: 'connectionPool.http.h2UpgradePolicy', support: 'supported', note: 'HTTP/2 when `UPGRADE`, or when the service port is HTTP2/GRPC (unless `DO_NOT_UPGRADE`): through ALPN to TLS upstreams, with prior knowledge (h2c) to plaintext ones, as Envoy does' },
  { kind: 'DestinationRule', field: 'connectionPool.http.useClientProtocol, maxConcurrentStreams', support: 'partial', note: 'validated; not applied' },
  { kind: 'DestinationRule', field: 'outlierDetection (consecutive5xxErrors, consecutiveErrors, consecutiveGatewayErrors, interval, baseEjectionTime, maxEjectionPercent, minHealthPercent)', support: 'supported', note: '' },
  { kind: 'DestinationRule', field: 'outlierDetection.splitExternalLocalOriginErrors, consecutiveLocalOriginFailures', support: 'partial', note: 'validated; local failures always count with the 5xx ones' },
  { kind: 'DestinationRule', field: 'tls.mode: DISABLE, SIMPLE, MUTUAL (clientCertificate, privateKey, caCertificates, sni, subjectAltNames, insecureSkipVerify)', support: 'supported', note: '' },
  { kind: 'DestinationRule', field: 'tls.mode: ISTIO_MUTUAL', support: 'supported', note: 'the workload identity from `--identity-dir` (Istio\'s file layout, rotated without restart), SNI and ALPN as Istio sets them, the peer checked against the mesh root and `subjectAltNames`; without `--identity-dir` the connections fail (503) and `validate` warns' },
  { kind: 'DestinationRule', field: 'tls.credentialName', support: 'supported', note: 'client certificate, key and CA from the Kubernetes Secret (in the gateway\'s namespace) or `--credentials-dir DIR/<name>/`, `<name>-cacert` for a separate CA, as for Gateway servers' },
  { kind: 'DestinationRule', field: 'tls.caCrl', support: 'partial', note: 'validated; not read (no CRL check)' },
  { kind: 'DestinationRule', field: 'trafficPolicy.tunnel, proxyProtocol, retryBudget; workloadSelector; exportTo', support: 'partial', note: 'ignored (with a warning where Istio would act on them)' },

  // ServiceEntry
  { kind: 'ServiceEntry', field: 'hosts', support: 'supported', note: 'as written (no short-name expansion, as in Istio)' },
  { kind: 'ServiceEntry', field: 'ports[] (number, name, protocol, targetPort)', support: 'supported', note: 'protocol in any case' },
  { kind: 'ServiceEntry', field: 'resolution: STATIC, DNS, DNS_ROUND_ROBIN', support: 'supported', note: 'DNS without endpoints resolves the host itself' },
  { kind: 'ServiceEntry', field: 'resolution: NONE', support: 'partial', note: 'accepted with a warning; an ingress has no original destination, so routes to such a host answer 503' },
  { kind: 'ServiceEntry', field: 'endpoints[] (address, ports, labels, weight)', support: 'supported', note: 'subsets select endpoints by labels' },
  { kind: 'ServiceEntry', field: 'endpoints[].network, locality, serviceAccount', support: 'partial', note: 'accepted; ignored' },
  { kind: 'ServiceEntry', field: 'location', support: 'supported', note: 'accepted; no effect at a gateway' },
  { kind: 'ServiceEntry', field: 'addresses, exportTo', support: 'partial', note: 'validated; ignored (addresses matter for TCP only)' },
  { kind: 'ServiceEntry', field: 'subjectAltNames', support: 'supported', note: 'the identities ISTIO_MUTUAL checks when the DestinationRule names none, as istiod does' },
  { kind: 'ServiceEntry', field: 'workloadSelector', support: 'partial', note: 'selects Kubernetes pods, which meshgate does not have: no endpoints (warning)' },

  // Security kinds
  { kind: 'RequestAuthentication', field: 'selector, targetRef, targetRefs', support: 'supported', note: 'matched against `--gateway-labels` / the Gateways served; with `--namespace`, Istio\'s namespace rule' },
  { kind: 'RequestAuthentication', field: 'jwtRules[]: issuer, audiences, jwks, jwksUri, fromHeaders, fromParams, fromCookies', support: 'supported', note: 'tokens from `Authorization: Bearer` and `access_token` unless locations are given; inline keys, jwksUri or OpenID discovery (fetched, refreshed every 5 min, refetched on an unknown kid, kept when a fetch fails); 60 s clock skew; invalid token → 401 with the jwt_verify text, no token → anonymous' },
  { kind: 'RequestAuthentication', field: 'jwtRules[]: forwardOriginalToken, outputPayloadToHeader, outputClaimToHeaders, timeout', support: 'supported', note: 'client-sent copies of the output headers are dropped even without a token (Envoy leaves them)' },
  { kind: 'AuthorizationPolicy', field: 'action ALLOW, DENY, AUDIT; istio.io/dry-run', support: 'supported', note: 'DENY before ALLOW; AUDIT and dry-run policies never change the decision; denial 403 `RBAC: access denied`' },
  { kind: 'AuthorizationPolicy', field: 'rules[].from.source (principals, requestPrincipals, namespaces, serviceAccounts, ipBlocks, remoteIpBlocks and not-forms)', support: 'supported', note: 'principals come from verified client certificates (SPIFFE URI SAN); remoteIpBlocks use the EdgeFacts client address' },
  { kind: 'AuthorizationPolicy', field: 'rules[].to.operation (hosts, ports, methods, paths and not-forms)', support: 'supported', note: 'exact, `prefix*`, `*suffix`, `*`, and `{*}` / `{**}` path templates; paths normalised, without the query, before rewrites' },
  { kind: 'AuthorizationPolicy', field: 'rules[].when (request.headers, source/remote.ip, source.*, request.auth.*, connection.sni, destination.port)', support: 'supported', note: '`request.auth.claims[a][b]` with list claims; `notValues` on a missing attribute matches' },
  { kind: 'AuthorizationPolicy', field: 'rules[].when destination.ip, experimental.envoy.filters.*', support: 'partial', note: 'accepted; never match (`notValues` always hold); a warning says so' },
  { kind: 'AuthorizationPolicy', field: 'selector, targetRef, targetRefs', support: 'supported', note: 'matched against `--gateway-labels` / the Gateways served; with `--namespace`, Istio\'s namespace rule' },
  { kind: 'AuthorizationPolicy', field: 'action CUSTOM, provider', support: 'refused', note: 'external authorization is not supported' }
]
