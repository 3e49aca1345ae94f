// Test PKI made with the openssl CLI: a CA, and server/client certificates it
// signs, with DNS/IP SANs and SPIFFE URI SANs (`spiffe://cluster.local/ns/NS/sa/SA`,
// what Istio's peer principals are). EC P-256 keys: quick to make.
//
//   const ca = await createTestCa()
//   const server = await ca.issue('gateway', { dns: ['localhost', '*.example.com'], ips: ['127.0.0.1'] })
//   const client = await ca.issue('client', { uris: [spiffeId('default', 'sleep')], usage: 'client' })
//   ... server.certPath, server.keyPath, ca.certPath ...
//   await ca.cleanup()
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { requireExecutable } from './processes.js'

const execFileAsync = promisify(execFile)

export interface CertFiles {
  certPath: string
  keyPath: string
  /** PEM text of the certificate. */
  cert: string
  /** PEM text of the private key. */
  key: string
}

export interface IssueOptions {
  /** Subject CN; defaults to the name given to issue(). */
  commonName?: string
  dns?: string[]
  ips?: string[]
  /** URI SANs, e.g. spiffeId('default', 'sleep'). */
  uris?: string[]
  /** Extended key usage; default both serverAuth and clientAuth. */
  usage?: 'server' | 'client' | 'both'
  days?: number
}

/** Istio's SPIFFE identity of a workload: `spiffe://TD/ns/NS/sa/SA`. */
export function spiffeId (namespace: string, serviceAccount: string, trustDomain = 'cluster.local'): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`
}

async function openssl (args: string[], cwd: string): Promise<void> {
  const bin = await requireExecutable('openssl', 'openssl')
  try {
    await execFileAsync(bin, args, { cwd, timeout: 30_000 })
  } catch (err) {
    const e = err as Error & { stderr?: string }
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`)
  }
}

async function readPair (certPath: string, keyPath: string): Promise<CertFiles> {
  return { certPath, keyPath, cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8') }
}

function safeFileName (name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_')
}

export class TestCa implements CertFiles {
  readonly dir: string
  readonly certPath: string
  readonly keyPath: string
  readonly cert: string
  readonly key: string

  constructor (dir: string, files: CertFiles) {
    this.dir = dir
    this.certPath = files.certPath
    this.keyPath = files.keyPath
    this.cert = files.cert
    this.key = files.key
  }

  /** Issues a certificate signed by this CA into `<dir>/<name>.crt` and `.key`. */
  async issue (name: string, opts: IssueOptions = {}): Promise<CertFiles> {
    const base = path.join(this.dir, safeFileName(name))
    const sans = [
      ...(opts.dns ?? []).map((d) => `DNS:${d}`),
      ...(opts.ips ?? []).map((ip) => `IP:${ip}`),
      ...(opts.uris ?? []).map((u) => `URI:${u}`)
    ]
    const usage = opts.usage ?? 'both'
    const eku = usage === 'server' ? 'serverAuth' : usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth'
    const ext = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${eku}`,
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : [])
    ].join('\n') + '\n'
    await writeFile(`${base}.ext`, ext)
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${base}.key`], this.dir)
    await openssl(['req', '-new', '-key', `${base}.key`, '-subj', `/CN=${opts.commonName ?? name}`, '-out', `${base}.csr`], this.dir)
    await openssl([
      'x509', '-req', '-in', `${base}.csr`, '-CA', this.certPath, '-CAkey', this.keyPath,
      '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', String(opts.days ?? 30),
      '-sha256', '-extfile', `${base}.ext`, '-out', `${base}.crt`
    ], this.dir)
    return readPair(`${base}.crt`, `${base}.key`)
  }

  async cleanup (): Promise<void> {
    await rm(this.dir, { recursive: true, force: true })
  }
}

/** Makes a self-signed CA in a new temp dir (or `opts.dir`). */
export async function createTestCa (opts: { commonName?: string, dir?: string, days?: number } = {}): Promise<TestCa> {
  const dir = opts.dir ?? await mkdtemp(path.join(os.tmpdir(), 'meshgate-certs-'))
  await mkdir(dir, { recursive: true })
  const certPath = path.join(dir, 'ca.crt')
  const keyPath = path.join(dir, 'ca.key')
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath], dir)
  await openssl([
    'req', '-x509', '-new', '-key', keyPath, '-subj', `/CN=${opts.commonName ?? 'meshgate test CA'}`,
    '-days', String(opts.days ?? 30), '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-out', certPath
  ], dir)
  return new TestCa(dir, await readPair(certPath, keyPath))
}

export interface TestCerts {
  ca: TestCa
  /** For localhost, 127.0.0.1 and `hosts`; SPIFFE id of the ingress gateway. */
  server: CertFiles
  /** A client workload `spiffe://cluster.local/ns/default/sa/client`. */
  client: CertFiles
  cleanup (): Promise<void>
}

/** The usual set: one CA, a server certificate and a client certificate. */
export async function createTestCerts (opts: { hosts?: string[] } = {}): Promise<TestCerts> {
  const ca = await createTestCa()
  try {
    const server = await ca.issue('server', {
      commonName: opts.hosts?.[0] ?? 'localhost',
      dns: ['localhost', ...(opts.hosts ?? [])],
      ips: ['127.0.0.1'],
      uris: [spiffeId('istio-system', 'istio-ingressgateway-service-account')]
    })
    const client = await ca.issue('client', { uris: [spiffeId('default', 'client')], usage: 'client' })
    return { ca, server, client, cleanup: () => ca.cleanup() }
  } catch (err) {
    await ca.cleanup()
    throw err
  }
}

/**
 * Writes a Gateway `credentialName` folder for `--credentials-dir DIR`: the
 * Kubernetes TLS Secret keys `tls.crt`, `tls.key` and (for MUTUAL) `ca.crt`,
 * or with `style: 'generic'` the keys `cert`, `key`, `cacert`.
 */
export async function writeCredential (
  credentialsDir: string,
  credentialName: string,
  pair: { cert: string, key: string },
  opts: { ca?: string, style?: 'tls' | 'generic' } = {}
): Promise<string> {
  const dir = path.join(credentialsDir, credentialName)
  await mkdir(dir, { recursive: true })
  const generic = opts.style === 'generic'
  await writeFile(path.join(dir, generic ? 'cert' : 'tls.crt'), pair.cert)
  await writeFile(path.join(dir, generic ? 'key' : 'tls.key'), pair.key)
  if (opts.ca !== undefined) await writeFile(path.join(dir, generic ? 'cacert' : 'ca.crt'), opts.ca)
  return dir
}
