// Kubernetes objects → pipeline resources: Services with EndpointSlices and
// pod labels as ServiceEntries, Istio's protocol selection, resources named
// `kubernetes` in findings.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { protocolOf, resourceFromObject, serviceEntryOf, type EndpointSliceObject } from '../../src/gateway/sources/kube-resources.js'
import { validateResources } from '../../src/gateway/validate/index.js'
import { formatIssue } from '../../src/gateway/validate/issues.js'

const pods: Record<string, Record<string, string>> = {
  'shop/web-1': { app: 'web', version: 'v1' },
  'shop/web-2': { app: 'web', version: 'v2' }
}
const podLabels = (ns: string, name: string): Record<string, string> | undefined => pods[`${ns}/${name}`]

test('protocol: appProtocol first, then the port name prefix, as Istio selects it', () => {
  const cases: Array<[{ name?: string, appProtocol?: string }, string | null]> = [
    [{ name: 'http' }, 'HTTP'],
    [{ name: 'http-web' }, 'HTTP'],
    [{ name: 'http2-api' }, 'HTTP2'],
    [{ name: 'grpc' }, 'GRPC'],
    [{ name: 'grpc-web' }, 'GRPC-WEB'],
    [{ name: 'https-admin' }, 'HTTPS'],
    [{ name: 'web' }, null],
    [{ name: '' }, null],
    [{ name: 'web', appProtocol: 'kubernetes.io/h2c' }, 'HTTP2'],
    [{ name: 'http', appProtocol: 'grpc' }, 'GRPC'],
    [{ name: 'grpc', appProtocol: 'unknown.example/x' }, 'GRPC']
  ]
  for (const [port, want] of cases) assert.equal(protocolOf(port), want, JSON.stringify(port))
})

test('a Service with its slices becomes a ServiceEntry of ready endpoints labelled by their pods', () => {
  const svc = { metadata: { name: 'web', namespace: 'shop', creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] } }
  const slices: EndpointSliceObject[] = [{
    metadata: { name: 'web-abc', namespace: 'shop' },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080 }],
    endpoints: [
      { addresses: ['10.0.0.1'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'web-1', namespace: 'shop' } },
      { addresses: ['10.0.0.2'], conditions: { ready: null }, targetRef: { kind: 'Pod', name: 'web-2', namespace: 'shop' } },
      { addresses: ['10.0.0.3'], conditions: { ready: false }, targetRef: { kind: 'Pod', name: 'web-3', namespace: 'shop' } }
    ]
  }, { metadata: { name: 'web-fqdn', namespace: 'shop' }, addressType: 'FQDN', endpoints: [{ addresses: ['x.example'] }] }]
  const se = serviceEntryOf(svc, slices, podLabels)
  assert.equal(se.kind, 'ServiceEntry')
  assert.equal(se.file, 'kubernetes')
  assert.deepEqual(se.value.spec, {
    hosts: ['web.shop.svc.cluster.local'],
    location: 'MESH_INTERNAL',
    // UDP ports are not HTTP's business.
    ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }],
    resolution: 'STATIC',
    endpoints: [
      { address: '10.0.0.1', ports: { http: 8080 }, labels: { app: 'web', version: 'v1' } },
      // Unknown readiness counts as ready (Kubernetes' own rule).
      { address: '10.0.0.2', ports: { http: 8080 }, labels: { app: 'web', version: 'v2' } }
    ]
  })
  assert.equal((se.value.metadata as { creationTimestamp: string }).creationTimestamp, '2026-01-01T00:00:00Z')
  assert.deepEqual(validateResources([se], { gatewayLabels: {}, credentialsDir: null }).filter(i => i.severity === 'error'), [])
})

test('unnamed ports and ExternalName Services', () => {
  const unnamed = serviceEntryOf(
    { metadata: { name: 'api', namespace: 'shop' }, spec: { ports: [{ port: 8080 }] } },
    [{ metadata: { name: 'api-1', namespace: 'shop' }, addressType: 'IPv4', ports: [{ port: 9090 }], endpoints: [{ addresses: ['10.0.0.9'] }] }],
    podLabels
  )
  assert.deepEqual((unnamed.value.spec as { ports: unknown }).ports, [{ number: 8080, name: 'port-8080' }])
  assert.deepEqual((unnamed.value.spec as { endpoints: unknown }).endpoints, [{ address: '10.0.0.9', ports: { 'port-8080': 9090 }, labels: {} }])

  const ext = serviceEntryOf({ metadata: { name: 'payments', namespace: 'shop' }, spec: { type: 'ExternalName', externalName: 'pay.example.com', ports: [{ name: 'https', port: 443 }] } }, [], podLabels)
  assert.equal((ext.value.spec as { resolution: string }).resolution, 'DNS')
  assert.deepEqual((ext.value.spec as { endpoints: unknown }).endpoints, [{ address: 'pay.example.com' }])
  for (const r of [unnamed, ext]) assert.deepEqual(validateResources([r], { gatewayLabels: {}, credentialsDir: null }).filter(i => i.severity === 'error').map(formatIssue), [])
})

test('findings on a cluster resource name it and say where it came from', () => {
  const vs = resourceFromObject({
    metadata: { name: 'bad', namespace: 'shop', resourceVersion: '42', creationTimestamp: new Date('2026-02-03T04:05:06Z') },
    spec: { hosts: ['x.example'], http: [{ route: [{ destination: { host: 'web' }, weight: -1 }] }] },
    status: { ignored: true }
  }, 'networking.istio.io/v1beta1', 'VirtualService')
  assert.equal((vs.value.metadata as { creationTimestamp: string }).creationTimestamp, '2026-02-03T04:05:06.000Z')
  assert.equal('status' in vs.value, false)
  assert.deepEqual(vs.keysAt(['spec']), ['hosts', 'http'])
  const errors = validateResources([vs], { gatewayLabels: {}, credentialsDir: null }).filter(i => i.severity === 'error').map(formatIssue)
  assert.ok(errors.some(e => /^kubernetes: error: VirtualService\/shop\/bad: http\[0\]\.route\[0\]\.weight: /.test(e)), errors.join('\n'))
})
