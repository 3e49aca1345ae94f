// One case per admission error and analyzer finding: each names the field,
// severity, admission flag and line it must be reported with. Lines are given
// as a piece of text from that line of the case's YAML.
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { parseText, type SourceResource } from '../../src/gateway/sources/yaml-documents.js'
import { CODES, validateResources, type ValidateOptions } from '../../src/gateway/validate/index.js'
import { formatIssue, type Issue } from '../../src/gateway/validate/issues.js'

interface Want {
  field: string
  severity: 'error' | 'warning'
  admission: boolean
  /** Text found on the line the issue must point at. */
  at: string
  /** Which occurrence of `at` (default 1). */
  nth?: number
  code?: string
  message?: RegExp
  resource?: string
}
interface Case {
  name: string
  yaml: string
  want?: Want
  /** No error at all in case.yaml (and no warning with these codes). */
  clean?: boolean | string[]
  opts?: Partial<ValidateOptions>
}

function dedent (s: string): string {
  const lines = s.replace(/^\n/, '').split('\n')
  const indent = Math.min(...lines.filter(l => l.trim() !== '').map(l => l.length - l.trimStart().length))
  return lines.map(l => l.slice(indent)).join('\n')
}

/** Services, subsets and a gateway the cases can refer to; kept in its own file so case lines start at 1. */
const SERVICES = dedent(`
  apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata: {name: reviews}
  spec:
    hosts: [reviews.default.svc.cluster.local]
    ports: [{number: 9080, name: http, protocol: HTTP}]
    resolution: STATIC
    endpoints: [{address: 127.0.0.1, labels: {version: v1}}]
  ---
  apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata: {name: example-apis}
  spec:
    hosts: ["*.example.com"]
    ports: [{number: 443, name: https, protocol: HTTPS}]
    resolution: DNS
    endpoints: [{address: api.example.com}]
  ---
  apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: reviews}
  spec:
    host: reviews
    subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
  ---
  apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: example-wildcard}
  spec:
    host: "*.example.com"
    subsets: [{name: blue, labels: {color: blue}}]
  ---
  apiVersion: networking.istio.io/v1
  kind: Gateway
  metadata: {name: gw}
  spec:
    selector: {istio: ingressgateway}
    servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["*"]
`)

const credentialsDir = mkdtempSync(path.join(tmpdir(), 'meshgate-validate-'))
mkdirSync(path.join(credentialsDir, 'good'))
writeFileSync(path.join(credentialsDir, 'good', 'tls.crt'), 'CERT')
writeFileSync(path.join(credentialsDir, 'good', 'tls.key'), 'KEY')
mkdirSync(path.join(credentialsDir, 'no-ca'))
writeFileSync(path.join(credentialsDir, 'no-ca', 'cert'), 'CERT')
writeFileSync(path.join(credentialsDir, 'no-ca', 'key'), 'KEY')

function run (yaml: string, opts: Partial<ValidateOptions> = {}): Issue[] {
  const resources: SourceResource[] = []
  const issues: Issue[] = []
  parseText('services.yaml', SERVICES, resources, issues)
  parseText('case.yaml', yaml, resources, issues)
  return [...issues, ...validateResources(resources, { gatewayLabels: { istio: 'ingressgateway' }, credentialsDir: null, ...opts })]
}

function lineOf (yaml: string, text: string, nth = 1): number {
  let seen = 0
  const i = yaml.split('\n').findIndex(l => l.includes(text) && ++seen === nth)
  if (i === -1) throw new Error(`marker ${JSON.stringify(text)} (#${nth}) not in the case YAML`)
  return i + 1
}

const vs = (spec: string, meta = '{name: vs}'): string => dedent(`
  apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata: ${meta}
  spec:
`) + dedent(spec).split('\n').map(l => (l === '' ? l : '  ' + l)).join('\n')

const route = 'route: [{destination: {host: reviews}}]'

const CASES: Case[] = [
  // ---- resource level ----
  {
    name: 'a missing apiVersion is refused',
    yaml: 'kind: VirtualService\nmetadata: {name: a}\nspec: {hosts: [a.com], gateways: [gw], http: [{route: [{destination: {host: reviews}}]}]}\n',
    want: { field: 'apiVersion', severity: 'error', admission: true, at: 'kind: VirtualService', code: CODES.API_VERSION }
  },
  {
    name: 'a Kubernetes Service is an unknown apiVersion',
    yaml: 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\n',
    want: { field: 'apiVersion', severity: 'error', admission: true, at: 'apiVersion: v1', code: CODES.API_VERSION }
  },
  {
    name: 'an unsupported version of a known group is refused',
    yaml: 'apiVersion: networking.istio.io/v2\nkind: Gateway\nmetadata: {name: a}\nspec: {}\n',
    want: { field: 'apiVersion', severity: 'error', admission: true, at: 'apiVersion:', message: /v1alpha3/ }
  },
  {
    name: 'a missing kind is refused',
    yaml: 'apiVersion: networking.istio.io/v1\nmetadata: {name: a}\nspec: {}\n',
    want: { field: 'kind', severity: 'error', admission: true, at: 'apiVersion', code: CODES.KIND }
  },
  {
    name: 'an unknown kind in a known group is refused',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata: {name: a}\nspec: {}\n',
    want: { field: 'kind', severity: 'error', admission: true, at: 'kind: VirtualServce', code: CODES.KIND }
  },
  {
    name: 'a kind under the wrong group is refused',
    yaml: 'apiVersion: security.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec: {}\n',
    want: { field: 'kind', severity: 'error', admission: true, at: 'kind: VirtualService', message: /networking\.istio\.io/ }
  },
  {
    name: 'a missing metadata.name is refused',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  namespace: default\nspec: {host: reviews}\n',
    want: { field: 'metadata.name', severity: 'error', admission: true, at: 'metadata:', code: CODES.METADATA }
  },
  {
    name: 'a Gateway name with dots is refused',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: my.gateway\nspec: {servers: [{port: {number: 81, name: h, protocol: HTTP}, hosts: ["*"]}]}\n',
    want: { field: 'metadata.name', severity: 'error', admission: true, at: 'name: my.gateway' }
  },
  {
    name: 'a duplicate kind/namespace/name is refused on the second, pointing at the first',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: reviews\nspec: {host: other}\n',
    want: { field: 'metadata.name', severity: 'error', admission: true, at: 'name: reviews', code: CODES.DUPLICATE, message: /services\.yaml:\d+/ }
  },
  {
    name: 'an Istio kind meshgate does not use is ignored with a warning',
    yaml: 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: strict}\nspec: {mtls: {mode: STRICT}}\n',
    want: { field: 'kind', severity: 'warning', admission: false, at: 'kind: PeerAuthentication', code: CODES.KIND_IGNORED }
  },
  {
    name: 'an unknown field is a warning naming it',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        timout: 5s
    `),
    want: { field: 'http[0].timout', severity: 'warning', admission: false, at: 'timout', code: CODES.UNKNOWN_FIELD }
  },
  {
    name: 'a wrong type says what was expected and what was found',
    yaml: vs(`
      hosts: a.example.com
      gateways: [gw]
      http: [{${route}}]
    `),
    want: { field: 'hosts', severity: 'error', admission: true, at: 'hosts: a.example.com', code: CODES.TYPE, message: /expected a list, got string/ }
  },

  // ---- common value formats ----
  {
    name: 'a malformed duration is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        timeout: 5 seconds
    `),
    want: { field: 'http[0].timeout', severity: 'error', admission: true, at: 'timeout:', code: CODES.DURATION }
  },
  {
    name: 'a duration below one millisecond is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        retries: {attempts: 2, perTryTimeout: 500us}
    `),
    want: { field: 'http[0].retries.perTryTimeout', severity: 'error', admission: true, at: 'perTryTimeout', code: CODES.DURATION }
  },
  {
    name: 'a number where a duration belongs is a type error',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        timeout: 5
    `),
    want: { field: 'http[0].timeout', severity: 'error', admission: true, at: 'timeout: 5', message: /expected a duration/ }
  },
  {
    name: 'a destination port outside 1-65535 is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - route:
        - destination:
            host: reviews
            port:
              number: 70000
    `),
    want: { field: 'http[0].route[0].destination.port.number', severity: 'error', admission: true, at: 'number: 70000', code: CODES.PORT }
  },
  {
    name: 'a fault percentage above 100 is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        fault:
          abort:
            httpStatus: 503
            percentage:
              value: 150
    `),
    want: { field: 'http[0].fault.abort.percentage.value', severity: 'error', admission: true, at: 'value: 150', code: CODES.PERCENT }
  },
  {
    name: 'a regex RE2 cannot compile is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - match:
        - uri:
            regex: "/(?=lookahead)"
        ${route}
    `),
    want: { field: 'http[0].match[0].uri.regex', severity: 'error', admission: true, at: 'regex:', code: CODES.REGEX }
  },
  {
    name: 'a regex longer than 1024 characters is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - match:
        - headers:
            x-long: {regex: "${'a'.repeat(1025)}"}
        ${route}
    `),
    want: { field: 'http[0].match[0].headers.x-long.regex', severity: 'error', admission: true, at: 'x-long', message: /too long/ }
  },
  {
    name: 'a sticky-split annotation that names no key is refused (the split would silently be random)',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - route:
        - {destination: {host: reviews, subset: v1}, weight: 50}
        - {destination: {host: reviews, subset: v2}, weight: 50}
    `, '{name: vs, annotations: {meshgate.io/sticky-split: "cookie"}}'),
    want: { field: 'metadata.annotations.meshgate.io/sticky-split', severity: 'error', admission: true, at: 'sticky-split', code: CODES.INVALID, message: /expected "header:NAME", "cookie:NAME" or "ip", got "cookie"/ }
  },
  {
    name: 'a sticky-split cookie name that is not a token is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
    `, '{name: vs, annotations: {meshgate.io/sticky-split: "cookie:my uid"}}'),
    want: { field: 'metadata.annotations.meshgate.io/sticky-split', severity: 'error', admission: true, at: 'sticky-split', message: /"my uid" is not a valid cookie name/ }
  },
  {
    name: 'an empty header prefix is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - match:
        - headers:
            x-a:
              prefix: ""
        ${route}
    `),
    want: { field: 'http[0].match[0].headers.x-a.prefix', severity: 'error', admission: true, at: 'prefix: ""' }
  },
  {
    name: 'a lone % in a header value is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        headers:
          request:
            set:
              x-discount: "50% off"
    `),
    want: { field: 'http[0].headers.request.set.x-discount', severity: 'error', admission: true, at: 'x-discount', code: CODES.HEADER_VALUE }
  },
  {
    name: 'a pseudo header cannot be set in response header operations',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        headers:
          response:
            set:
              ":status": "200"
    `),
    want: { field: 'http[0].headers.response.set.:status', severity: 'error', admission: true, at: ':status', code: CODES.HEADER_NAME }
  },
  {
    name: 'host cannot be removed from requests',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        headers:
          request:
            remove: [host]
    `),
    want: { field: 'http[0].headers.request.remove[0]', severity: 'error', admission: true, at: 'remove: [host]', code: CODES.HEADER_NAME }
  },

  // ---- VirtualService admission ----
  {
    name: 'a rule with no route, redirect or directResponse is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - timeout: 1s
    `),
    want: { field: 'http[0]', severity: 'error', admission: true, at: '- timeout: 1s', code: CODES.REQUIRED }
  },
  {
    name: 'a rule with both route and redirect is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - redirect: {uri: /new}
        ${route}
    `),
    want: { field: 'http[0]', severity: 'error', admission: true, at: '- redirect', code: CODES.CONFLICT }
  },
  {
    name: 'a negative weight is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - route:
        - destination: {host: reviews, subset: v1}
          weight: -10
        - destination: {host: reviews, subset: v2}
          weight: 110
    `),
    want: { field: 'http[0].route[0].weight', severity: 'error', admission: true, at: 'weight: -10', code: CODES.WEIGHT }
  },
  {
    name: 'all-zero weights over several destinations are refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - route:
        - destination: {host: reviews, subset: v1}
          weight: 0
        - destination: {host: reviews, subset: v2}
    `),
    want: { field: 'http[0].route', severity: 'error', admission: true, at: '- route:', code: CODES.WEIGHT }
  },
  {
    name: 'weights not summing to 100 are a warning (Istio normalises)',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - route:
        - destination: {host: reviews, subset: v1}
          weight: 30
        - destination: {host: reviews, subset: v2}
          weight: 30
    `),
    want: { field: 'http[0].route', severity: 'warning', admission: false, at: '- route:', code: CODES.WEIGHT_SUM }
  },
  {
    name: 'delegate is refused with a clear message',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - delegate: {name: reviews-routes}
    `),
    want: { field: 'http[0].delegate', severity: 'error', admission: true, at: 'delegate', code: CODES.UNSUPPORTED, message: /not supported/ }
  },
  {
    name: 'tcp routes are refused with a clear message',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      tcp:
      - route: [{destination: {host: reviews}}]
    `),
    want: { field: 'tcp', severity: 'error', admission: true, at: 'tcp:', message: /tcp routes are not supported by meshgate/ }
  },
  {
    name: 'host * on a VirtualService without gateways is refused',
    yaml: vs(`
      hosts: ["*"]
      http: [{${route}}]
    `),
    want: { field: 'hosts[0]', severity: 'error', admission: true, at: '"*"', code: CODES.HOST }
  },
  {
    name: 'overlapping hosts in one VirtualService are refused',
    yaml: vs(`
      hosts:
      - "*.example.com"
      - api.example.com
      gateways: [gw]
      http: [{${route}}]
    `),
    want: { field: 'hosts[1]', severity: 'error', admission: true, at: '- api.example.com', code: CODES.CONFLICT }
  },
  {
    name: 'a redirect code that is not 3xx is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - redirect:
          uri: /new
          redirectCode: 404
    `),
    want: { field: 'http[0].redirect.redirectCode', severity: 'error', admission: true, at: 'redirectCode', code: CODES.STATUS }
  },
  {
    name: 'a directResponse status outside 200-599 is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - directResponse:
          status: 700
    `),
    want: { field: 'http[0].directResponse.status', severity: 'error', admission: true, at: 'status: 700', code: CODES.STATUS }
  },
  {
    name: 'retry settings with attempts 0 are refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        retries:
          attempts: 0
          perTryTimeout: 2s
    `),
    want: { field: 'http[0].retries', severity: 'error', admission: true, at: 'retries:', code: CODES.CONFLICT }
  },
  {
    name: 'an unknown retryOn policy is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        retries:
          attempts: 2
          retryOn: 5xx,sometimes
    `),
    want: { field: 'http[0].retries.retryOn', severity: 'error', admission: true, at: 'retryOn', message: /sometimes/ }
  },
  {
    name: 'the deprecated fault.delay.percent is a warning, not an error',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        fault:
          delay:
            percent: 50
            fixedDelay: 2s
    `),
    want: { field: 'http[0].fault.delay.percent', severity: 'warning', admission: false, at: 'percent: 50', code: CODES.DEPRECATED }
  },
  {
    name: 'claim routing on a VirtualService without gateways is refused',
    yaml: vs(`
      hosts: [reviews]
      http:
      - match:
        - headers:
            "@request.auth.claims.groups": {exact: admin}
        ${route}
    `),
    want: { field: 'http[0].match[0].headers.@request.auth.claims.groups', severity: 'error', admission: true, at: '@request.auth.claims.groups' }
  },
  {
    name: 'mirror and mirrors together are refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        mirror: {host: reviews}
        mirrors:
        - destination: {host: reviews}
    `),
    want: { field: 'http[0].mirrors', severity: 'error', admission: true, at: 'mirrors:', code: CODES.CONFLICT }
  },
  {
    name: 'rewriting the authority in two places is refused',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        rewrite: {authority: b.example.com}
        headers:
          request:
            set:
              host: c.example.com
    `),
    want: { field: 'http[0].headers.request.set.host', severity: 'error', admission: true, at: 'host: c.example.com', code: CODES.CONFLICT }
  },
  {
    name: 'a rule after one without match is never used (warning)',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
      - match:
        - uri: {prefix: /api}
        ${route}
    `),
    want: { field: 'http[1]', severity: 'warning', admission: false, at: '- match:', code: CODES.UNREACHABLE_RULE }
  },
  {
    name: 'a rule repeating an earlier match is never used (warning)',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - match: [{uri: {prefix: /api}}]
        ${route}
      - name: again
        match: [{uri: {prefix: /api}}]
        ${route}
    `),
    want: { field: 'http[1]', severity: 'warning', admission: false, at: '- name: again', code: CODES.UNREACHABLE_RULE }
  },
  {
    name: 'sourceLabels at a gateway is a warning on the match field',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - match:
        - sourceLabels: {app: reviews}
        ${route}
    `),
    want: { field: 'http[0].match[0].sourceLabels', severity: 'warning', admission: false, at: 'sourceLabels', code: CODES.SOURCE_MATCH }
  },

  // ---- VirtualService analysis ----
  {
    name: 'a destination host no ServiceEntry covers is an analyzer error',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - route:
        - destination:
            host: ratings
    `),
    want: { field: 'http[0].route[0].destination.host', severity: 'error', admission: false, at: 'host: ratings', code: CODES.REF_HOST }
  },
  {
    name: 'a mirror host no ServiceEntry covers is an analyzer error',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        mirror:
          host: shadow.other.svc.cluster.local
    `),
    want: { field: 'http[0].mirror.host', severity: 'error', admission: false, at: 'host: shadow', code: CODES.REF_HOST }
  },
  {
    name: 'a subset no DestinationRule defines is an analyzer error',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - route:
        - destination:
            host: reviews
            subset: v9
    `),
    want: { field: 'http[0].route[0].destination.subset', severity: 'error', admission: false, at: 'subset: v9', code: CODES.REF_SUBSET, resource: 'VirtualService/default/vs' }
  },
  {
    name: 'hosts covered by a wildcard ServiceEntry and subsets from a wildcard DestinationRule are found',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - route:
        - destination: {host: api.example.com, subset: blue}
    `),
    clean: [CODES.REF_HOST, CODES.REF_SUBSET]
  },
  {
    name: 'a gateway reference nothing defines is an analyzer error',
    yaml: vs(`
      hosts: [a.example.com]
      gateways:
      - other/missing-gateway
      http: [{${route}}]
    `),
    want: { field: 'gateways[0]', severity: 'error', admission: false, at: 'missing-gateway', code: CODES.REF_GATEWAY }
  },
  {
    name: 'a VirtualService without gateways is a mesh-only warning',
    yaml: vs(`
      hosts: [reviews]
      http: [{${route}}]
    `),
    want: { field: 'gateways', severity: 'warning', admission: false, at: 'spec:', code: CODES.MESH_ONLY }
  },

  {
    name: 'a VirtualService whose hosts meet no server host of its gateway is a warning',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: only-a}
      spec:
        servers:
        - port: {number: 8081, name: http, protocol: HTTP}
          hosts: [a.example.com]
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: b-routes}
      spec:
        hosts:
        - b.example.com
        gateways: [only-a]
        http: [{${route}}]
    `),
    want: { field: 'hosts', severity: 'warning', admission: false, at: 'hosts:', nth: 2, code: CODES.UNBOUND_HOST, resource: 'VirtualService/default/b-routes' }
  },

  // ---- Gateway ----
  {
    name: 'an HTTPS server without tls is refused',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: tls-gw}
      spec:
        servers:
        - port: {number: 443, name: https, protocol: HTTPS}
          hosts: [a.example.com]
    `),
    want: { field: 'servers[0].tls', severity: 'error', admission: true, at: '- port:', code: CODES.REQUIRED }
  },
  {
    name: 'a short host on a Gateway server is refused',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: short-gw}
      spec:
        servers:
        - port: {number: 8081, name: http, protocol: HTTP}
          hosts:
          - reviews
    `),
    want: { field: 'servers[0].hosts[0]', severity: 'error', admission: true, at: '- reviews', code: CODES.HOST }
  },
  {
    name: 'duplicate port names in one Gateway are refused',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: dup-gw}
      spec:
        servers:
        - port: {number: 8081, name: web, protocol: HTTP}
          hosts: [a.example.com]
        - port:
            number: 8082
            name: web
            protocol: HTTP
          hosts: [b.example.com]
    `),
    want: { field: 'servers[1].port.name', severity: 'error', admission: true, at: 'name: web', nth: 2, code: CODES.CONFLICT }
  },
  {
    name: 'SIMPLE TLS without a private key is refused',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: simple-gw}
      spec:
        servers:
        - port: {number: 443, name: https, protocol: HTTPS}
          hosts: [a.example.com]
          tls:
            mode: SIMPLE
            serverCertificate: /certs/tls.crt
    `),
    want: { field: 'servers[0].tls.privateKey', severity: 'error', admission: true, at: 'tls:', code: CODES.REQUIRED },
    opts: { readFile: () => 'PEM' }
  },
  {
    name: 'certificates on a plain HTTP server are refused',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: plain-gw}
      spec:
        servers:
        - port: {number: 8081, name: http, protocol: HTTP}
          hosts: [a.example.com]
          tls:
            credentialName: some-cert
    `),
    want: { field: 'servers[0].tls', severity: 'error', admission: true, at: 'tls:' }
  },
  {
    name: 'an unknown server protocol is refused',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: proto-gw}
      spec:
        servers:
        - port:
            number: 8081
            name: x
            protocol: HTTP3000
          hosts: [a.example.com]
    `),
    want: { field: 'servers[0].port.protocol', severity: 'error', admission: true, at: 'protocol: HTTP3000' }
  },
  {
    name: 'a credentialName without --credentials-dir is an analyzer error',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: cred-gw}
      spec:
        selector: {istio: ingressgateway}
        servers:
        - port: {number: 443, name: https, protocol: HTTPS}
          hosts: [a.example.com]
          tls:
            mode: SIMPLE
            credentialName: good
    `),
    want: { field: 'servers[0].tls.credentialName', severity: 'error', admission: false, at: 'credentialName', code: CODES.REF_SECRET }
  },
  {
    name: 'a credentialName folder with tls.crt and tls.key is found',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: cred-gw}
      spec:
        servers:
        - port: {number: 443, name: https, protocol: HTTPS}
          hosts: [a.example.com]
          tls: {mode: SIMPLE, credentialName: good}
    `),
    opts: { credentialsDir },
    clean: true
  },
  {
    name: 'MUTUAL with a credential folder lacking ca.crt is an analyzer error',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: mtls-gw}
      spec:
        servers:
        - port: {number: 443, name: https, protocol: HTTPS}
          hosts: [a.example.com]
          tls:
            mode: MUTUAL
            credentialName: no-ca
    `),
    opts: { credentialsDir },
    want: { field: 'servers[0].tls.credentialName', severity: 'error', admission: false, at: 'credentialName', code: CODES.REF_SECRET, message: /ca\.crt/ }
  },
  {
    name: 'an unreadable serverCertificate file is an analyzer error naming the field',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: file-gw}
      spec:
        servers:
        - port: {number: 443, name: https, protocol: HTTPS}
          hosts: [a.example.com]
          tls:
            mode: SIMPLE
            serverCertificate: /missing/tls.crt
            privateKey: /present/tls.key
    `),
    opts: { readFile: (p: string) => p.startsWith('/present/') ? 'PEM' : null },
    want: { field: 'servers[0].tls.serverCertificate', severity: 'error', admission: false, at: 'serverCertificate', code: CODES.FILE_MISSING }
  },
  {
    name: 'a Gateway whose selector does not match this gateway is a warning',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: other-gw}
      spec:
        selector:
          istio: egressgateway
        servers:
        - port: {number: 8081, name: http, protocol: HTTP}
          hosts: ["*"]
    `),
    want: { field: 'selector', severity: 'warning', admission: false, at: 'selector:', code: CODES.SELECTOR }
  },

  {
    name: 'a second HTTPS server claiming the same host on the same port is a warning (Istio skips it)',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: twice}
      spec:
        servers:
        - port: {number: 443, name: https-a, protocol: HTTPS}
          hosts: [a.example.com]
          tls: {mode: SIMPLE, credentialName: good}
        - port: {number: 443, name: https-b, protocol: HTTPS}
          hosts: [a.example.com]
          tls: {mode: SIMPLE, credentialName: good}
    `),
    opts: { credentialsDir },
    want: { field: 'servers[1]', severity: 'warning', admission: false, at: 'name: https-b', code: CODES.CONFLICT }
  },

  // ---- DestinationRule ----
  {
    name: 'duplicate subset names are refused',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: dup-subsets}
      spec:
        host: ratings
        subsets:
        - name: v1
        - name: v1
          labels: {version: v1b}
    `),
    want: { field: 'subsets[1].name', severity: 'error', admission: true, at: '- name: v1', nth: 2, code: CODES.CONFLICT }
  },
  {
    name: 'a maglev table size that is not prime is refused',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: maglev}
      spec:
        host: ratings
        trafficPolicy:
          loadBalancer:
            consistentHash:
              useSourceIp: true
              maglev: {tableSize: 1000}
    `),
    want: { field: 'trafficPolicy.loadBalancer.consistentHash.maglev.tableSize', severity: 'error', admission: true, at: 'maglev: {tableSize' }
  },
  {
    name: 'an empty trafficPolicy is refused',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: empty-policy}
      spec:
        host: ratings
        trafficPolicy: {}
    `),
    want: { field: 'trafficPolicy', severity: 'error', admission: true, at: 'trafficPolicy', code: CODES.REQUIRED }
  },
  {
    name: 'an unreadable client certificate on a DestinationRule is an analyzer error',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: mtls-dr}
      spec:
        host: api.example.com
        trafficPolicy:
          tls:
            mode: MUTUAL
            clientCertificate: /etc/certs/client.pem
            privateKey: /etc/certs/key.pem
    `),
    opts: { readFile: (p: string) => p.endsWith('key.pem') ? 'KEY' : null },
    want: { field: 'trafficPolicy.tls.clientCertificate', severity: 'error', admission: false, at: 'clientCertificate', code: CODES.FILE_MISSING }
  },

  // ---- ServiceEntry ----
  {
    name: 'a STATIC endpoint that is not an IP is refused',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: static-se}
      spec:
        hosts: [static.example.org]
        ports: [{number: 80, name: http, protocol: HTTP}]
        resolution: STATIC
        endpoints:
        - address: backend.example.org
    `),
    want: { field: 'endpoints[0].address', severity: 'error', admission: true, at: 'address: backend', code: CODES.IP }
  },
  {
    name: 'DNS without endpoints needs fully qualified hosts',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: dns-se}
      spec:
        hosts:
        - "*.wild.example.org"
        ports: [{number: 80, name: http, protocol: HTTP}]
        resolution: DNS
    `),
    want: { field: 'hosts[0]', severity: 'error', admission: true, at: '*.wild', code: CODES.HOST }
  },
  {
    name: 'DNS without endpoints, location and a lower-case protocol are fine',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1alpha3
      kind: ServiceEntry
      metadata: {name: google}
      spec:
        hosts: [www.googleapis.com]
        ports: [{number: 443, name: https, protocol: http}]
        location: MESH_EXTERNAL
        resolution: DNS
    `),
    clean: true
  },
  {
    name: 'an endpoint port name the ServiceEntry does not define is refused',
    yaml: dedent(`
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: port-se}
      spec:
        hosts: [p.example.org]
        ports: [{number: 80, name: http, protocol: HTTP}]
        resolution: STATIC
        endpoints:
        - address: 10.0.0.1
          ports:
            grpc: 9000
    `),
    want: { field: 'endpoints[0].ports.grpc', severity: 'error', admission: true, at: 'grpc: 9000' }
  },

  // ---- AuthorizationPolicy ----
  {
    name: 'an ipBlock that is not an IP is an admission error',
    yaml: dedent(`
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata: {name: ip, namespace: istio-system}
      spec:
        action: DENY
        rules:
        - from:
          - source:
              ipBlocks: ["$CLIENT_IP"]
    `),
    want: { field: 'rules[0].from[0].source.ipBlocks[0]', severity: 'error', admission: true, at: 'ipBlocks', code: CODES.IP, resource: 'AuthorizationPolicy/istio-system/ip' }
  },
  {
    name: 'action CUSTOM is refused with a message saying meshgate has no external authorization',
    yaml: dedent(`
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata: {name: ext, namespace: istio-system}
      spec:
        action: CUSTOM
        provider: {name: my-ext-authz}
        rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
    `),
    want: { field: 'action', severity: 'error', admission: true, at: 'action: CUSTOM', code: CODES.UNSUPPORTED, message: /CUSTOM \(external authorization\) is not supported by meshgate/ }
  },
  {
    name: 'source.trustDomain is a when key',
    yaml: dedent(`
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata: {name: td, namespace: istio-system}
      spec:
        rules: [{when: [{key: source.trustDomain, values: [cluster.local]}]}]
    `),
    clean: true
  },
  {
    name: 'a DENY policy without rules is refused',
    yaml: dedent(`
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata: {name: deny-nothing}
      spec:
        action: DENY
    `),
    want: { field: 'rules', severity: 'error', admission: true, at: 'spec:', code: CODES.REQUIRED }
  },
  {
    name: 'an unknown when key is refused',
    yaml: dedent(`
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata: {name: when}
      spec:
        rules:
        - when:
          - key: request.color
            values: [blue]
    `),
    want: { field: 'rules[0].when[0].key', severity: 'error', admission: true, at: 'key: request.color' }
  },
  {
    name: 'spec: {} is a valid ALLOW-nothing policy',
    yaml: dedent(`
      apiVersion: security.istio.io/v1beta1
      kind: AuthorizationPolicy
      metadata: {name: allow-nothing}
      spec: {}
    `),
    clean: true
  },

  {
    name: 'with --namespace, a selector-less policy from another namespace is a warning',
    yaml: dedent(`
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata: {name: elsewhere, namespace: team-b}
      spec:
        rules: [{}]
    `),
    opts: { namespace: 'team-a' },
    want: { field: '', severity: 'warning', admission: false, at: 'spec:', code: CODES.SELECTOR }
  },

  // ---- RequestAuthentication ----
  {
    name: 'a JWT rule without issuer or jwksUri is refused',
    yaml: dedent(`
      apiVersion: security.istio.io/v1
      kind: RequestAuthentication
      metadata: {name: jwt}
      spec:
        jwtRules:
        - audiences: [api]
    `),
    want: { field: 'jwtRules[0].issuer', severity: 'error', admission: true, at: '- audiences', code: CODES.REQUIRED }
  },
  {
    name: 'a jwksUri with a scheme other than http(s) is refused',
    yaml: dedent(`
      apiVersion: security.istio.io/v1
      kind: RequestAuthentication
      metadata: {name: jwt}
      spec:
        jwtRules:
        - issuer: me
          jwksUri: ftp://keys.example.com/jwks.json
    `),
    want: { field: 'jwtRules[0].jwksUri', severity: 'error', admission: true, at: 'jwksUri' }
  },

  // ---- meshgate.io kinds ----
  {
    name: 'a rate limit with an unknown key kind is refused',
    yaml: dedent(`
      apiVersion: meshgate.io/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: rl}
      spec:
        limits:
        - name: per-user
          requests: 10
          per: 1m
          key: cookie:session
    `),
    want: { field: 'limits[0].key', severity: 'error', admission: true, at: 'key: cookie' }
  },
  {
    name: 'a meshgate targetRef to a VirtualService nothing defines is an analyzer error',
    yaml: dedent(`
      apiVersion: meshgate.io/v1alpha1
      kind: CachePolicy
      metadata: {name: cache}
      spec:
        targetRefs:
        - kind: VirtualService
          name: nowhere
        ttl: 30s
    `),
    want: { field: 'targetRefs[0].name', severity: 'error', admission: false, at: 'name: nowhere', code: CODES.REF_TARGET }
  },
  {
    name: 'an API key with both valueSha256 and valueFrom is refused',
    yaml: dedent(`
      apiVersion: meshgate.io/v1alpha1
      kind: ApiKeyPolicy
      metadata: {name: keys}
      spec:
        in: header:x-api-key
        keys:
        - name: team-a
          valueSha256: ${'ab'.repeat(32)}
          valueFrom: /keys/team-a
    `),
    opts: { readFile: () => 'secret' },
    want: { field: 'keys[0]', severity: 'error', admission: true, at: '- name: team-a', code: CODES.CONFLICT }
  },
  {
    name: 'EdgeFacts trustedProxies must be CIDRs',
    yaml: dedent(`
      apiVersion: meshgate.io/v1alpha1
      kind: EdgeFacts
      metadata: {name: facts}
      spec:
        trustedProxies:
        - 10.0.0.0/8
        - cdn.example.com
    `),
    want: { field: 'trustedProxies[1]', severity: 'error', admission: true, at: 'cdn.example.com', code: CODES.IP }
  },
  {
    name: 'EdgeFacts: two facts on one header are refused',
    yaml: dedent(`
      apiVersion: meshgate.io/v1alpha1
      kind: EdgeFacts
      metadata: {name: facts}
      spec:
        headers:
          country: x-where
          region: X-Where
    `),
    want: { field: 'headers.region', severity: 'error', admission: true, at: 'region: X-Where', message: /already used for country/ }
  },
  {
    name: 'EdgeFacts: geo headers without trusted proxies are never believed (warning)',
    yaml: dedent(`
      apiVersion: meshgate.io/v1alpha1
      kind: EdgeFacts
      metadata: {name: facts}
      spec:
        geoHeaders:
          country: cf-ipcountry
    `),
    want: { field: 'geoHeaders', severity: 'warning', admission: false, at: 'geoHeaders:', message: /only from trustedProxies/ }
  },
  {
    name: 'EdgeFacts: forwardHeaders must be a boolean',
    yaml: dedent(`
      apiVersion: meshgate.io/v1alpha1
      kind: EdgeFacts
      metadata: {name: facts}
      spec:
        forwardHeaders: sometimes
    `),
    want: { field: 'forwardHeaders', severity: 'error', admission: true, at: 'forwardHeaders: sometimes' }
  },

  // ---- accepted forms ----
  {
    name: '%% and %VAR% header values, mirror_percent and allowOrigin are accepted',
    yaml: vs(`
      hosts: [a.example.com]
      gateways: [gw]
      http:
      - ${route}
        mirror: {host: reviews}
        mirror_percent: 50
        corsPolicy:
          allowOrigin: [https://a.example.com]
        headers:
          request:
            set:
              x-discount: "100%%"
              x-client: "%DOWNSTREAM_REMOTE_ADDRESS%"
              x-start: "%START_TIME(%s)%"
    `),
    clean: true
  }
]

describe('validator cases', () => {
  after(() => { rmSync(credentialsDir, { recursive: true, force: true }) })

  for (const c of CASES) {
    test(c.name, () => {
      const issues = run(c.yaml, c.opts)
      const mine = issues.filter(i => i.file === 'case.yaml')
      const listing = issues.map(formatIssue).join('\n')
      assert.equal(issues.filter(i => i.file === 'services.yaml' && i.severity === 'error').length, 0, listing)
      if (c.clean !== undefined) {
        const codes = Array.isArray(c.clean) ? c.clean : []
        const bad = mine.filter(i => c.clean === true ? i.severity === 'error' : codes.includes(i.code))
        assert.deepEqual(bad.map(formatIssue), [], listing)
      }
      if (c.want === undefined) return
      const w = c.want
      const hit = mine.find(i => i.field === w.field && i.severity === w.severity && (w.code === undefined || i.code === w.code))
      assert.ok(hit !== undefined, `no ${w.severity} at ${w.field}${w.code !== undefined ? ` (${w.code})` : ''}:\n${listing}`)
      assert.equal(hit.admission, w.admission, `admission flag of: ${formatIssue(hit)}`)
      assert.equal(hit.line, lineOf(c.yaml, w.at, w.nth), formatIssue(hit))
      if (w.message !== undefined) assert.match(hit.message, w.message)
      if (w.resource !== undefined) assert.equal(`${hit.kind}/${hit.namespace}/${hit.name}`, w.resource)
    })
  }
})
