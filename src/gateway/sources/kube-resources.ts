// Kubernetes objects → the resources the validate/compile pipeline reads.
// Istio and meshgate.io custom resources pass through as they are; Services with
// their EndpointSlices (and the labels of the pods behind them) become
// ServiceEntries, which is how istiod presents a Kubernetes Service to Envoy:
// host `<name>.<namespace>.svc.cluster.local`, one endpoint per ready address,
// carrying its pod's labels so that DestinationRule subsets select them.
import { isRecord, keysAtValue, type FieldPath, type SourceResource } from './yaml-documents.js'

/** What issues name as the file of a resource read from Kubernetes. */
export const KUBERNETES_SOURCE = 'kubernetes'

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: {
    name?: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    creationTimestamp?: string | Date
    resourceVersion?: string
    generation?: number
    uid?: string
  }
  [key: string]: unknown
}

/** A resource as the validator sees it: `file` is `kubernetes`, with no line numbers to give. */
export function resourceFromObject (obj: KubeObject, apiVersion: string, kind: string): SourceResource {
  const m = obj.metadata ?? {}
  const metadata: Record<string, unknown> = { name: m.name ?? '', namespace: m.namespace ?? 'default' }
  if (m.labels !== undefined) metadata.labels = m.labels
  if (m.annotations !== undefined) metadata.annotations = m.annotations
  if (m.creationTimestamp !== undefined) metadata.creationTimestamp = m.creationTimestamp instanceof Date ? m.creationTimestamp.toISOString() : m.creationTimestamp
  if (m.resourceVersion !== undefined) metadata.resourceVersion = m.resourceVersion
  if (m.generation !== undefined) metadata.generation = m.generation
  const value: Record<string, unknown> = { apiVersion, kind, metadata }
  if (obj.spec !== undefined) value.spec = obj.spec
  return {
    file: KUBERNETES_SOURCE,
    line: 0,
    apiVersion,
    kind,
    name: String(metadata.name),
    namespace: String(metadata.namespace),
    value,
    lineOf: () => 0,
    keysAt: (path: FieldPath): string[] => keysAtValue(value, path)
  }
}

interface ServicePort { name?: string, port?: number, targetPort?: number | string, protocol?: string, appProtocol?: string }
interface SlicePort { name?: string, port?: number }
interface SliceEndpoint {
  addresses?: string[]
  conditions?: { ready?: boolean | null }
  targetRef?: { kind?: string, name?: string, namespace?: string }
}
export interface EndpointSliceObject extends KubeObject {
  addressType?: string
  endpoints?: SliceEndpoint[]
  ports?: SlicePort[]
}

/** Istio's protocol selection: `appProtocol` first, then the port name's prefix (`http-web`, `grpc`). */
export function protocolOf (p: ServicePort): string | null {
  const byName: Record<string, string> = {
    http: 'HTTP', http2: 'HTTP2', https: 'HTTPS', grpc: 'GRPC', 'grpc-web': 'GRPC-WEB', tcp: 'TCP', tls: 'TLS',
    'kubernetes.io/h2c': 'HTTP2', 'kubernetes.io/ws': 'HTTP', 'kubernetes.io/wss': 'HTTPS'
  }
  if (typeof p.appProtocol === 'string' && p.appProtocol !== '') {
    const hit = byName[p.appProtocol.toLowerCase()]
    if (hit !== undefined) return hit
  }
  const name = (p.name ?? '').toLowerCase()
  if (name.startsWith('grpc-web')) return 'GRPC-WEB'
  const prefix = name.split('-')[0] ?? ''
  return byName[prefix] ?? null
}

/** The port name an EndpointSlice and a ServiceEntry agree on; unnamed ports get one. */
function portName (name: string | undefined, number: number): string {
  return name !== undefined && name !== '' ? name : `port-${number}`
}

/**
 * A Service, its EndpointSlices and the pods they point at → a ServiceEntry.
 * Endpoints whose `ready` condition is false are left out (unknown counts as
 * ready, as Kubernetes says); ExternalName Services resolve by DNS.
 */
export function serviceEntryOf (svc: KubeObject, slices: readonly EndpointSliceObject[], podLabels: (namespace: string, name: string) => Record<string, string> | undefined): SourceResource {
  const m = svc.metadata ?? {}
  const ns = m.namespace ?? 'default'
  const name = m.name ?? ''
  const spec = (isRecord(svc.spec) ? svc.spec : {}) as { ports?: ServicePort[], type?: string, externalName?: string }
  const ports = (Array.isArray(spec.ports) ? spec.ports : []).filter(p => typeof p.port === 'number' && (p.protocol ?? 'TCP') === 'TCP')
  const sePorts = ports.map(p => {
    const out: Record<string, unknown> = { number: p.port, name: portName(p.name, p.port!) }
    const proto = protocolOf(p)
    if (proto !== null) out.protocol = proto
    if (typeof p.targetPort === 'number') out.targetPort = p.targetPort
    return out
  })
  const endpoints: Array<Record<string, unknown>> = []
  const isExternal = spec.type === 'ExternalName' && typeof spec.externalName === 'string'
  if (!isExternal) {
    for (const slice of slices) {
      if (slice.addressType === 'FQDN') continue
      const slicePorts: Record<string, number> = {}
      for (const sp of Array.isArray(slice.ports) ? slice.ports : []) {
        if (typeof sp.port !== 'number') continue
        // A slice port carries the Service port's name; an unnamed one is the single unnamed Service port.
        const svcPort = ports.find(p => (p.name ?? '') === (sp.name ?? ''))
        if (svcPort !== undefined) slicePorts[portName(svcPort.name, svcPort.port!)] = sp.port
      }
      for (const ep of Array.isArray(slice.endpoints) ? slice.endpoints : []) {
        if (ep.conditions?.ready === false) continue
        const ref = ep.targetRef
        const labels = ref?.kind === 'Pod' && typeof ref.name === 'string' ? podLabels(ref.namespace ?? ns, ref.name) : undefined
        for (const address of Array.isArray(ep.addresses) ? ep.addresses : []) {
          endpoints.push({ address, ports: { ...slicePorts }, labels: { ...(labels ?? {}) } })
        }
      }
    }
  }
  const seSpec: Record<string, unknown> = {
    hosts: [`${name}.${ns}.svc.cluster.local`],
    location: 'MESH_INTERNAL',
    ports: sePorts,
    resolution: isExternal ? 'DNS' : 'STATIC'
  }
  if (isExternal) seSpec.endpoints = [{ address: spec.externalName }]
  else seSpec.endpoints = endpoints
  const obj: KubeObject = {
    metadata: { name, namespace: ns, creationTimestamp: m.creationTimestamp, annotations: { 'meshgate.io/from': `Service/${ns}/${name}` } },
    spec: seSpec
  }
  return resourceFromObject(obj, 'networking.istio.io/v1', 'ServiceEntry')
}
