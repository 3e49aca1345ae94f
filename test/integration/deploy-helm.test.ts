// The Helm chart in deploy/helm/meshgate, rendered by a real helm (scripts/helm.mjs
// finds one, or fetches it once into .cache/): lint, what each value renders,
// least-privilege RBAC, and agreement with the Dockerfile and the CLI.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { repoRoot, runMeshgate } from '../helpers/processes.js'

const CHART = join(repoRoot, 'deploy', 'helm', 'meshgate')
const RELEASE = 'edge'
const NAMESPACE = 'gateways'
const FULLNAME = 'edge-meshgate'

/** A rendered Kubernetes object; the assertions say what its fields must be. */
type Obj = Record<string, any>

interface Run { code: number, stdout: string, stderr: string }

let helmBin: string
let dir: string

function run (cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

const helm = (args: readonly string[]): Promise<Run> => run(helmBin, args)

let valuesCount = 0
async function valuesFile (values: Obj): Promise<string> {
  const file = join(dir, `values-${++valuesCount}.yaml`)
  // JSON is YAML that helm reads without YAML 1.1 surprises (`off` stays a string).
  await writeFile(file, JSON.stringify(values))
  return file
}

/** `helm template` with these values; the run, for the refusals. */
async function template (values: Obj = {}, chart = CHART, extra: readonly string[] = []): Promise<Run> {
  return await helm(['template', RELEASE, chart, '--namespace', NAMESPACE, '--values', await valuesFile(values), ...extra])
}

/** The objects `helm template` renders with these values (it must succeed). */
async function render (values: Obj = {}, chart = CHART, extra: readonly string[] = []): Promise<Obj[]> {
  const r = await template(values, chart, extra)
  assert.equal(r.code, 0, `helm template failed:\n${r.stderr}`)
  const docs: Obj[] = []
  for (const doc of parseAllDocuments(r.stdout)) {
    assert.deepEqual(doc.errors, [], 'helm template printed YAML that does not parse')
    const obj: unknown = doc.toJS()
    if (obj !== null && obj !== undefined) docs.push(obj as Obj)
  }
  return docs
}

const kindsOf = (docs: readonly Obj[]): string[] => docs.map(d => String(d.kind)).sort()
const ofKind = (docs: readonly Obj[], kind: string): Obj[] => docs.filter(d => d.kind === kind)

function only (docs: readonly Obj[], kind: string, name?: string): Obj {
  const found = docs.filter(d => d.kind === kind && (name === undefined || d.metadata?.name === name))
  assert.equal(found.length, 1, `one ${kind}${name === undefined ? '' : ` ${name}`}, found ${found.length}`)
  return found[0]!
}

const podSpec = (docs: readonly Obj[]): Obj => only(docs, 'Deployment').spec.template.spec
const container = (docs: readonly Obj[]): Obj => podSpec(docs).containers[0]
const args = (docs: readonly Obj[]): string[] => container(docs).args as string[]

/** The values following each occurrence of `--flag`. */
function flagValues (argv: readonly string[], flag: string): string[] {
  const out: string[] = []
  argv.forEach((a, i) => { if (a === flag) out.push(argv[i + 1] ?? '') })
  return out
}

/** A container port by number or name, as a probe or Service names it. */
function portNumber (c: Obj, port: number | string): number {
  if (typeof port === 'number') return port
  const p = (c.ports as Obj[]).find(x => x.name === port)
  assert.ok(p !== undefined, `no containerPort named ${port}`)
  return p.containerPort as number
}

/** Rules as sorted `group/resource: verbs` lines, so order and grouping do not matter. */
function ruleLines (rules: readonly Obj[]): string[] {
  const lines: string[] = []
  for (const r of rules) {
    assert.equal(r.resourceNames, undefined)
    assert.equal(r.nonResourceURLs, undefined)
    for (const g of r.apiGroups as string[]) {
      for (const res of r.resources as string[]) lines.push(`${g === '' ? 'core' : g}/${res}: ${[...(r.verbs as string[])].sort().join(',')}`)
    }
  }
  return lines.sort()
}

const READ = 'get,list,watch'
const EXPECTED_RULES = [
  'networking.istio.io/gateways', 'networking.istio.io/virtualservices', 'networking.istio.io/destinationrules', 'networking.istio.io/serviceentries',
  'security.istio.io/requestauthentications', 'security.istio.io/authorizationpolicies',
  'meshgate.io/ratelimitpolicies', 'meshgate.io/cachepolicies', 'meshgate.io/apikeypolicies', 'meshgate.io/edgefacts',
  'core/services', 'core/pods',
  'discovery.k8s.io/endpointslices'
].map(r => `${r}: ${READ}`).sort()
/** In the release namespace only: Gateway credentials. */
const SELF_RULES = [`core/secrets: ${READ}`]

/** Every value set: the render the CLI check and the strict lint use. */
const EVERYTHING: Obj = {
  watchNamespaces: ['a', 'b'],
  gatewayLabels: { istio: 'edge' },
  redis: { url: 'redis://redis-0.redis:6379,redis://redis-1.redis:6379' },
  extraConfig: { 'cache.yaml': 'apiVersion: meshgate.io/v1alpha1\nkind: CachePolicy\nmetadata: {name: c, namespace: shop}\n' },
  extraArgs: ['--access-log', 'off'],
  workers: 2,
  logLevel: 'warn',
  service: { type: 'NodePort', externalTrafficPolicy: 'Local' },
  ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }],
  hpa: { enabled: false },
  replicas: 3,
  pdb: { maxUnavailable: 1 },
  serviceMonitor: { enabled: true },
  topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' }]
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshgate-helm-test-'))
  // A dynamic import: scripts/ is plain ESM outside the TypeScript build.
  const mod = await import(pathToFileURL(join(repoRoot, 'scripts', 'helm.mjs')).href) as { ensureHelm: () => Promise<string> }
  helmBin = await mod.ensureHelm()
}, { timeout: 120_000 })

after(async () => { await rm(dir, { recursive: true, force: true }) })

test('helm lint --strict passes, with the defaults and with every option set', async () => {
  const plain = await helm(['lint', '--strict', CHART])
  assert.equal(plain.code, 0, plain.stdout + plain.stderr)
  const full = await helm(['lint', '--strict', CHART, '--namespace', NAMESPACE, '--values', await valuesFile(EVERYTHING)])
  assert.equal(full.code, 0, full.stdout + full.stderr)
})

test('the default render: exactly the expected kinds, standard labels, the release namespace', async () => {
  const docs = await render()
  assert.deepEqual(kindsOf(docs), [
    'ClusterRole', 'ClusterRoleBinding', 'Deployment', 'HorizontalPodAutoscaler',
    'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'Service', 'ServiceAccount'
  ])
  const chart = await readFile(join(CHART, 'Chart.yaml'), 'utf8')
  const version = /^version:\s*(\S+)/m.exec(chart)?.[1]
  for (const d of docs) {
    const labels = d.metadata.labels as Record<string, string>
    const what = `${d.kind as string}/${d.metadata.name as string}`
    assert.equal(labels['app.kubernetes.io/name'], 'meshgate', what)
    assert.equal(labels['app.kubernetes.io/instance'], RELEASE, what)
    assert.equal(labels['app.kubernetes.io/managed-by'], 'Helm', what)
    assert.equal(labels['helm.sh/chart'], `meshgate-${version}`, what)
    assert.ok(labels['app.kubernetes.io/version'], what)
    if (!d.kind.startsWith('Cluster')) assert.equal(d.metadata.namespace, NAMESPACE, what)
  }
})

test('Deployment: non-root and read-only, probes on the admin port, preStop sleep, Kubernetes-mode args, downward API env', async () => {
  const docs = await render()
  const spec = podSpec(docs)
  const c = container(docs)

  assert.equal(spec.securityContext.runAsNonRoot, true)
  assert.equal(spec.securityContext.runAsUser, 1000)
  assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault')
  assert.equal(c.securityContext.runAsNonRoot, true)
  assert.equal(c.securityContext.runAsUser, 1000)
  assert.equal(c.securityContext.readOnlyRootFilesystem, true)
  assert.equal(c.securityContext.allowPrivilegeEscalation, false)
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'])
  assert.equal(c.securityContext.seccompProfile.type, 'RuntimeDefault')
  assert.equal(c.securityContext.privileged, undefined)
  // The one writable place under a read-only root.
  const tmpMount = (c.volumeMounts as Obj[]).find(m => m.mountPath === '/tmp')
  assert.ok(tmpMount !== undefined)
  assert.ok((spec.volumes as Obj[]).find(v => v.name === tmpMount.name)?.emptyDir !== undefined)
  assert.equal(spec.automountServiceAccountToken, true)
  assert.equal(spec.serviceAccountName, FULLNAME)

  assert.deepEqual((c.ports as Obj[]).map(p => [p.name, p.containerPort]), [['http', 8080], ['https', 8443], ['admin', 15000]])
  assert.equal(c.readinessProbe.httpGet.path, '/healthz/ready')
  assert.equal(portNumber(c, c.readinessProbe.httpGet.port), 15000)
  const live = c.livenessProbe.httpGet ?? c.livenessProbe.tcpSocket
  assert.equal(portNumber(c, live.port), 15000)

  const a = args(docs)
  assert.equal(c.command, undefined, 'the image ENTRYPOINT (meshgate serve) stays; the chart gives args')
  assert.ok(a.includes('--kubernetes'))
  assert.deepEqual(flagValues(a, '--admin-host'), ['0.0.0.0'])
  assert.deepEqual(flagValues(a, '--admin-port'), ['15000'])
  assert.deepEqual(flagValues(a, '--host'), ['0.0.0.0'])
  assert.deepEqual(flagValues(a, '--workers'), ['1'])
  assert.deepEqual(flagValues(a, '--log-level'), ['info'])
  for (const absent of ['--redis', '--config', '--watch-namespace', '--gateway-labels']) assert.ok(!a.includes(absent), absent)

  const sleep = c.lifecycle.preStop.exec.command as string[]
  assert.equal(sleep[0], 'sleep')
  const sleepSeconds = Number(sleep[1])
  assert.ok(sleepSeconds > 0)
  const drain = Number(flagValues(a, '--drain-timeout')[0] ?? 30)
  assert.ok(spec.terminationGracePeriodSeconds > sleepSeconds + drain, `grace ${spec.terminationGracePeriodSeconds as number} > ${sleepSeconds} + ${drain}`)

  const env = new Map((c.env as Obj[]).map(e => [e.name, e.valueFrom?.fieldRef?.fieldPath]))
  assert.equal(env.get('POD_NAME'), 'metadata.name')
  assert.equal(env.get('POD_NAMESPACE'), 'metadata.namespace')

  assert.ok(c.resources.requests.cpu !== undefined && c.resources.requests.memory !== undefined)
  assert.ok(c.resources.limits.memory !== undefined)

  // meshgate reads its own labels to pick the Gateways it serves.
  const podLabels = only(docs, 'Deployment').spec.template.metadata.labels
  assert.equal(podLabels.istio, 'ingressgateway')
  assert.equal(podLabels.app, 'istio-ingressgateway')
  const anti = spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm
  assert.equal(anti.topologyKey, 'kubernetes.io/hostname')
  assert.equal(only(docs, 'Deployment').spec.replicas, undefined, 'the HPA owns the replica count')
})

test('Services, HPA and PDB select the Deployment\'s pods', async () => {
  const docs = await render()
  const podLabels = only(docs, 'Deployment').spec.template.metadata.labels as Record<string, string>
  const selects = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => podLabels[k] === v)
  const c = container(docs)

  const svc = only(docs, 'Service', FULLNAME)
  assert.equal(svc.spec.type, 'LoadBalancer')
  assert.ok(selects(svc.spec.selector))
  assert.deepEqual((svc.spec.ports as Obj[]).map(p => [p.name, p.port, portNumber(c, p.targetPort)]), [['http', 80, 8080], ['https', 443, 8443]])
  assert.equal(svc.spec.externalTrafficPolicy, undefined)

  const admin = only(docs, 'Service', `${FULLNAME}-admin`)
  assert.equal(admin.spec.type, 'ClusterIP')
  assert.ok(selects(admin.spec.selector))
  assert.deepEqual((admin.spec.ports as Obj[]).map(p => [p.port, portNumber(c, p.targetPort)]), [[15000, 15000]])

  const hpa = only(docs, 'HorizontalPodAutoscaler')
  assert.equal(hpa.apiVersion, 'autoscaling/v2')
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: FULLNAME })
  assert.equal(hpa.spec.minReplicas, 2)
  assert.equal(hpa.spec.maxReplicas, 10)
  const cpu = (hpa.spec.metrics as Obj[]).find(m => m.resource?.name === 'cpu')
  assert.equal(cpu?.resource.target.type, 'Utilization')

  const pdb = only(docs, 'PodDisruptionBudget')
  assert.equal(pdb.apiVersion, 'policy/v1')
  assert.equal(pdb.spec.minAvailable, 1)
  assert.ok(selects(pdb.spec.selector.matchLabels))
})

test('RBAC: a ClusterRole with get/list/watch on exactly the watched kinds, bound to the ServiceAccount', async () => {
  const docs = await render()
  const role = only(docs, 'ClusterRole')
  assert.deepEqual(ruleLines(role.rules), EXPECTED_RULES)
  for (const r of role.rules as Obj[]) {
    assert.deepEqual([...r.verbs].sort(), ['get', 'list', 'watch'])
    for (const field of ['apiGroups', 'resources', 'verbs']) assert.ok(!(r[field] as string[]).includes('*'), `no wildcard in ${field}`)
  }
  const binding = only(docs, 'ClusterRoleBinding')
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name })
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: only(docs, 'ServiceAccount').metadata.name, namespace: NAMESPACE }])
  // Secrets: only in the release namespace, never cluster-wide.
  const self = only(docs, 'Role')
  assert.equal(self.metadata.namespace, NAMESPACE)
  assert.deepEqual(ruleLines(self.rules), SELF_RULES)
  const selfBinding = only(docs, 'RoleBinding')
  assert.deepEqual(selfBinding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: self.metadata.name })
  assert.deepEqual(selfBinding.subjects, binding.subjects)
})

test('RBAC covers what the Kubernetes source watches (read from src/gateway/sources/kubernetes.ts)', async (t) => {
  const file = join(repoRoot, 'src', 'gateway', 'sources', 'kubernetes.ts')
  if (!existsSync(file)) { t.skip('no Kubernetes source yet'); return }
  const source = await readFile(file, 'utf8')
  const watched = new Set<string>()
  for (const m of source.matchAll(/group: '([^']+)'[^}\n]*plural: '([^']+)'/g)) watched.add(`${m[1]!}/${m[2]!}`)
  for (const m of source.matchAll(/watchBuiltin\('([a-z]+)',[^\n]*'\/apis?\/([^']*)'\)/g)) {
    const group = m[2]!.startsWith('v1') ? 'core' : m[2]!.split('/')[0]!
    watched.add(`${group}/${m[1]!}`)
  }
  if (watched.size === 0) { t.skip('the watched kinds are not listed in a form this test reads'); return }
  const granted = [...EXPECTED_RULES, ...SELF_RULES].map(l => l.split(':')[0]!)
  assert.deepEqual([...watched].sort(), [...granted].sort(), 'the kinds meshgate watches and the chart\'s rules (meshgate.rbacRules in templates/_helpers.tpl) differ')
})

test('service.type NodePort and ClusterIP, externalTrafficPolicy', async () => {
  const ports = [
    { name: 'http', port: 80, targetPort: 8080, nodePort: 30080 },
    { name: 'https', port: 443, targetPort: 8443, nodePort: 30443 }
  ]
  const nodePort = only(await render({ service: { type: 'NodePort', externalTrafficPolicy: 'Local' }, ports }), 'Service', FULLNAME)
  assert.equal(nodePort.spec.type, 'NodePort')
  assert.equal(nodePort.spec.externalTrafficPolicy, 'Local')
  assert.deepEqual((nodePort.spec.ports as Obj[]).map(p => [p.name, p.port, p.nodePort]), [['http', 80, 30080], ['https', 443, 30443]])

  const clusterIp = only(await render({ service: { type: 'ClusterIP', externalTrafficPolicy: 'Local' }, ports }), 'Service', FULLNAME)
  assert.equal(clusterIp.spec.type, 'ClusterIP')
  assert.equal(clusterIp.spec.externalTrafficPolicy, undefined)
  for (const p of clusterIp.spec.ports as Obj[]) assert.equal(p.nodePort, undefined)
})

test('watchNamespaces: a Role and RoleBinding per namespace, --watch-namespace each, no cluster-wide grant', async () => {
  const docs = await render({ watchNamespaces: ['a', 'b'] })
  assert.equal(ofKind(docs, 'ClusterRole').length, 0)
  assert.equal(ofKind(docs, 'ClusterRoleBinding').length, 0)
  assert.deepEqual(flagValues(args(docs), '--watch-namespace'), ['a', 'b'])
  const sa = only(docs, 'ServiceAccount').metadata.name
  for (const ns of ['a', 'b']) {
    const role = ofKind(docs, 'Role').find(r => r.metadata.namespace === ns)
    assert.ok(role !== undefined, `a Role in ${ns}`)
    assert.deepEqual(ruleLines(role.rules), EXPECTED_RULES)
    const binding = ofKind(docs, 'RoleBinding').find(r => r.metadata.namespace === ns)
    assert.ok(binding !== undefined, `a RoleBinding in ${ns}`)
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name })
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa, namespace: NAMESPACE }])
  }
  // Its own namespace, outside a and b: its Secrets, its own pod (labels, ports) and the Services in front of it.
  const self = ofKind(docs, 'Role').filter(r => r.metadata.namespace === NAMESPACE)
  assert.equal(self.length, 1)
  assert.deepEqual(ruleLines(self[0]!.rules), ['core/pods: get', `core/secrets: ${READ}`, `core/services: ${READ}`])
  assert.equal(ofKind(docs, 'Role').length, 3)

  // With the release namespace among the watched ones, its own Role keeps only the Secrets.
  const roles = ofKind(await render({ watchNamespaces: ['a', NAMESPACE] }), 'Role')
  assert.equal(roles.length, 3)
  for (const r of roles) assert.deepEqual(ruleLines(r.rules), r.metadata.name.endsWith('-self') ? SELF_RULES : EXPECTED_RULES)
})

test('gatewayLabels adds --gateway-labels k=v,...', async () => {
  const a = args(await render({ gatewayLabels: { istio: 'edge', tier: 'public' } }))
  assert.deepEqual(flagValues(a, '--gateway-labels'), ['istio=edge,tier=public'])
})

test('redis.url adds --redis; redis.existingSecret passes the URL through the environment', async () => {
  const url = 'redis://redis-0.redis:6379,redis://redis-1.redis:6379'
  assert.deepEqual(flagValues(args(await render({ redis: { url } })), '--redis'), [url])

  const docs = await render({ redis: { existingSecret: 'redis-auth' } })
  assert.deepEqual(flagValues(args(docs), '--redis'), ['$(MESHGATE_REDIS_URL)'])
  const env = (container(docs).env as Obj[]).find(e => e.name === 'MESHGATE_REDIS_URL')
  assert.deepEqual(env?.valueFrom, { secretKeyRef: { name: 'redis-auth', key: 'url' } })
})

test('serviceMonitor.enabled adds one ServiceMonitor on the admin Service\'s /metrics', async () => {
  const docs = await render({ serviceMonitor: { enabled: true } })
  const sm = only(docs, 'ServiceMonitor')
  assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1')
  assert.deepEqual((sm.spec.endpoints as Obj[]).map(e => [e.port, e.path]), [['admin', '/metrics']])
  const matches = (svc: Obj): boolean => Object.entries(sm.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => svc.metadata.labels[k] === v)
  assert.deepEqual(ofKind(docs, 'Service').filter(matches).map(s => s.metadata.name), [`${FULLNAME}-admin`])
})

test('extraConfig adds a ConfigMap mounted at /etc/meshgate and --config /etc/meshgate; its checksum rolls the pods', async () => {
  const text = 'apiVersion: meshgate.io/v1alpha1\nkind: CachePolicy\nmetadata: {name: c, namespace: shop}\nspec: {}\n'
  const docs = await render({ extraConfig: { 'cache.yaml': text } })
  const cm = only(docs, 'ConfigMap')
  assert.equal(cm.data['cache.yaml'].trimEnd(), text.trimEnd())
  assert.deepEqual(flagValues(args(docs), '--config'), ['/etc/meshgate'])
  const mount = (container(docs).volumeMounts as Obj[]).find(m => m.mountPath === '/etc/meshgate')
  assert.equal(mount?.readOnly, true)
  const volume = (podSpec(docs).volumes as Obj[]).find(v => v.name === mount?.name)
  assert.equal(volume?.configMap.name, cm.metadata.name)

  const sum = (d: Obj[]): string => only(d, 'Deployment').spec.template.metadata.annotations['checksum/config']
  const other = await render({ extraConfig: { 'cache.yaml': text.replace('name: c', 'name: d') } })
  assert.match(sum(docs), /^[0-9a-f]{64}$/)
  assert.notEqual(sum(docs), sum(other))
})

test('hpa.enabled=false renders replicas and no HorizontalPodAutoscaler', async () => {
  const docs = await render({ hpa: { enabled: false }, replicas: 3 })
  assert.equal(only(docs, 'Deployment').spec.replicas, 3)
  assert.equal(ofKind(docs, 'HorizontalPodAutoscaler').length, 0)
})

test('pdb.maxUnavailable replaces minAvailable', async () => {
  const pdb = only(await render({ pdb: { maxUnavailable: 1 } }), 'PodDisruptionBudget')
  assert.equal(pdb.spec.maxUnavailable, 1)
  assert.equal(pdb.spec.minAvailable, undefined)
})

test('bad values are refused: the schema, and the grace period check', async () => {
  const refused: Array<[Obj, RegExp]> = [
    [{ service: { type: 'Bogus' } }, /service\/type/],
    [{ servicee: { type: 'NodePort' } }, /servicee/],
    [{ workers: 0 }, /workers/],
    [{ logLevel: 'loud' }, /logLevel/],
    [{ redis: { url: 'http://redis:6379' } }, /redis\/url/],
    [{ watchNamespaces: ['Not_A_Namespace'] }, /watchNamespaces/],
    [{ extraConfig: { 'notes.txt': 'x' } }, /notes\.txt/],
    [{ ports: [{ name: 'admin', port: 15000, targetPort: 15001 }] }, /ports/],
    [{ terminationGracePeriodSeconds: 30 }, /terminationGracePeriodSeconds/],
    [{ serviceAccount: { create: false } }, /serviceAccount\.name/]
  ]
  for (const [values, why] of refused) {
    const r = await template(values)
    assert.notEqual(r.code, 0, `accepted ${JSON.stringify(values)}`)
    assert.match(r.stderr, why, JSON.stringify(values))
  }
})

test('works with a crds/ folder beside the templates (CRDs stay out of the template output)', async () => {
  const copy = join(dir, 'chart-with-crds', 'meshgate')
  await cp(CHART, copy, { recursive: true })
  await mkdir(join(copy, 'crds'), { recursive: true })
  await writeFile(join(copy, 'crds', 'zz-test.meshgate.io.yaml'), `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.test.meshgate.io}
spec:
  group: test.meshgate.io
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`)
  const lint = await helm(['lint', '--strict', copy])
  assert.equal(lint.code, 0, lint.stdout + lint.stderr)
  assert.deepEqual(kindsOf(await render({}, copy)), kindsOf(await render()))
  const withCrds = await render({}, copy, ['--include-crds'])
  assert.ok(ofKind(withCrds, 'CustomResourceDefinition').some(d => d.metadata.name === 'widgets.test.meshgate.io'))
})

test('the chart agrees with the Dockerfile: ports, user, entrypoint, version', async () => {
  const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8')
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
  const exposed = [...runtime.matchAll(/^EXPOSE\s+(.+)$/gm)].flatMap(m => m[1]!.trim().split(/\s+/)).map(p => Number(p.split('/')[0]))
  assert.ok(exposed.length > 0)
  assert.match(runtime, /^USER node$/m, 'the image runs as node (uid 1000 in the node images)')
  // Node's own flags may come first (test/unit/node-flags.test.ts holds them to NODE_FLAGS).
  assert.match(runtime, /^ENTRYPOINT \["node", (?:"--[^"]+", )*"\/app\/bin\/meshgate\.js", "serve"\]$/m)

  const docs = await render()
  const c = container(docs)
  const containerPorts = (c.ports as Obj[]).map(p => p.containerPort as number)
  for (const p of exposed) assert.ok(containerPorts.includes(p), `EXPOSE ${p} is a containerPort`)
  assert.equal(c.securityContext.runAsUser, 1000)
  assert.equal(podSpec(docs).securityContext.runAsUser, 1000)
  // The admin port the Dockerfile's HEALTHCHECK probes is the chart's.
  assert.match(runtime, /127\.0\.0\.1:15000\/healthz\/ready/)
  assert.deepEqual(flagValues(args(docs), '--admin-port'), ['15000'])

  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
  const chart = await readFile(join(CHART, 'Chart.yaml'), 'utf8')
  assert.equal(/^appVersion:\s*"?([^"\s]+)"?/m.exec(chart)?.[1], pkg.version, 'Chart.yaml appVersion is package.json\'s version')
})

test('the real CLI accepts every flag the chart passes', async (t) => {
  const a = args(await render(EVERYTHING))
  const flags = [...new Set(a.filter(x => x.startsWith('--')).map(x => x.slice(2)))]

  // What `meshgate serve` knows: its usage text, and the flag tables in src/cli/.
  const help = await runMeshgate(['--help'])
  assert.equal(help.code, 0, help.stderr)
  const known = new Set([...help.stdout.matchAll(/--([a-z][a-z0-9-]*)/g)].map(m => m[1]!))
  const serveSource = await readFile(join(repoRoot, 'src', 'cli', 'serve.ts'), 'utf8')
  for (const m of serveSource.matchAll(/^\s*'?([a-z][a-z0-9-]*)'?: '(?:string|boolean|list|multi)',?$/gm)) known.add(m[1]!)

  // Flags the Kubernetes mode brings; until the CLI has them they are to-dos, not failures.
  const pending = new Set(['kubernetes', 'watch-namespace'])
  for (const f of flags) {
    if (pending.has(f) && !known.has(f)) {
      await t.test(`--${f}`, { todo: `--${f} is not in the CLI yet (Kubernetes mode is being added)` }, () => { assert.ok(known.has(f)) })
    } else {
      assert.ok(known.has(f), `meshgate serve has no --${f}`)
    }
  }
  if (![...pending].every(f => known.has(f))) return

  // The argv as the container gets it, with one bad value: the parser reads every
  // flag first, so "--workers must be" (not "unknown flag") means all were accepted,
  // and the process stops before it listens or calls the API server.
  const argv = a.map((x, i) => (a[i - 1] === '--workers' ? '0' : x))
  const r = await runMeshgate(['serve', ...argv], { timeoutMs: 20_000 })
  assert.equal(r.code, 2, r.stdout + r.stderr)
  assert.doesNotMatch(r.stderr, /unknown flag|given more than once|needs a value/)
  assert.match(r.stderr, /--workers must be/)
})

test('the image builds and runs as node with meshgate serve as its entry point (needs a Docker engine)', { timeout: 900_000 }, async (t) => {
  const info = await run('docker', ['info', '--format', '{{.ServerVersion}}'], 20_000)
  if (info.code !== 0) {
    t.skip(`no Docker engine here (docker info: ${(info.stderr.trim().split('\n').pop() ?? '').slice(0, 160)})`)
    return
  }
  const build = await run('docker', ['build', '-t', 'meshgate:test', '.'], 840_000)
  assert.equal(build.code, 0, build.stderr.slice(-4000))
  const inspect = await run('docker', ['image', 'inspect', 'meshgate:test', '--format', '{{json .Config}}'])
  assert.equal(inspect.code, 0, inspect.stderr)
  const config = JSON.parse(inspect.stdout) as { User: string, Entrypoint: string[], ExposedPorts: Record<string, unknown> }
  assert.equal(config.User, 'node')
  assert.deepEqual(config.Entrypoint, ['node', '/app/bin/meshgate.js', 'serve'])
  const c = container(await render())
  for (const port of Object.keys(config.ExposedPorts)) {
    assert.ok((c.ports as Obj[]).some(p => `${p.containerPort as number}/tcp` === port), `${port} is a containerPort`)
  }
  const uid = await run('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'id', 'meshgate:test', '-u'])
  assert.equal(uid.stdout.trim(), String(c.securityContext.runAsUser))
})
