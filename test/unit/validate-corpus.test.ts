// Every `validation:` entry of the Istio sample corpus (compat/istio-samples/
// expectations.yaml): services.yaml plus the listed files give the expected
// exit code, and each listed finding appears with the same resource and field.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'
import { parse } from 'yaml'
import { parseText, type SourceResource } from '../../src/gateway/sources/yaml-documents.js'
import { CODES, validateResources, type ValidateOptions } from '../../src/gateway/validate/index.js'
import { formatIssue, type Issue } from '../../src/gateway/validate/issues.js'

interface Finding { severity: string, resource: string, field: string, reason?: string }
interface Entry { config: string[], exit: number, findings?: Finding[], note?: string }

function corpusDir (): string {
  const candidates = [
    process.env.MESHGATE_COMPAT_DIR,
    path.resolve(process.cwd(), '../shared/compat/istio-samples'),
    // dist/test/unit/ → the repository root is three levels up.
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/compat/istio-samples')
  ]
  for (const c of candidates) if (c !== undefined && c !== '' && existsSync(path.join(c, 'expectations.yaml'))) return c
  throw new Error(`compat corpus not found (tried ${candidates.filter(Boolean).join(', ')}); set MESHGATE_COMPAT_DIR`)
}

const dir = corpusDir()
const entries = (parse(readFileSync(path.join(dir, 'expectations.yaml'), 'utf8')) as { validation: Entry[] }).validation

function run (files: string[], opts: Partial<ValidateOptions> = {}): Issue[] {
  const resources: SourceResource[] = []
  const issues: Issue[] = []
  for (const f of ['services.yaml', ...files]) parseText(f, readFileSync(path.join(dir, f), 'utf8'), resources, issues)
  return [...issues, ...validateResources(resources, { gatewayLabels: { istio: 'ingressgateway' }, credentialsDir: null, ...opts })]
}

const exitOf = (issues: Issue[]): number => issues.some(i => i.severity === 'error') ? 1 : 0
const describeAll = (issues: Issue[]): string => issues.map(formatIssue).join('\n')

/**
 * The samples name certificate files under /etc/istio/... and /etc/certs/...,
 * which a test machine does not have. Their notes say an error naming those
 * fields is then right; with every file readable the entry must pass as written.
 */
function allowsMissingCertFiles (e: Entry): boolean {
  return e.config.some(f => f.includes('secure-ingress-mount')) || /secure-ingress-mount|open the files|certificate paths/i.test(e.note ?? '')
}

describe('compat corpus validation entries', () => {
  test('the corpus has validation entries', () => {
    assert.ok(entries.length >= 40, `only ${entries.length} entries`)
  })

  for (const e of entries) {
    const name = e.config.join(' + ')
    test(`${name}: exit ${e.exit}`, () => {
      const issues = run(e.config)
      const exit = exitOf(issues)
      if (exit !== e.exit && e.exit === 0 && allowsMissingCertFiles(e)) {
        const other = issues.filter(i => i.severity === 'error' && i.code !== CODES.FILE_MISSING)
        assert.deepEqual(other.map(formatIssue), [], 'only unreadable certificate files may fail this entry')
        for (const i of issues.filter(x => x.code === CODES.FILE_MISSING)) {
          assert.equal(i.admission, false, 'a missing file is an analyzer finding, not an admission error')
          assert.match(i.field, /(serverCertificate|privateKey|caCertificates|clientCertificate)$/)
        }
      } else {
        assert.equal(exit, e.exit, describeAll(issues))
      }
      for (const f of e.findings ?? []) {
        const hit = issues.find(i => `${i.kind}/${i.namespace}/${i.name}` === f.resource && i.field === f.field && i.severity === f.severity)
        assert.ok(hit !== undefined, `missing ${f.severity} ${f.resource} ${f.field} (${f.reason ?? ''})\n${describeAll(issues)}`)
        assert.ok(hit.line > 0, 'a finding names its line')
      }
    })

    test(`${name}: exit ${e.exit} when every named file is readable`, () => {
      const issues = run(e.config, { readFile: () => '-----BEGIN CERTIFICATE-----\n' })
      assert.equal(exitOf(issues), e.exit, describeAll(issues))
    })
  }

  test('the analyzer findings the corpus lists are not admission errors, the refused ones are', () => {
    const subset = run(['bookinfo/networking/virtual-service-reviews-test-v2.yaml']).filter(i => i.severity === 'error')
    assert.ok(subset.length > 0 && subset.every(i => !i.admission))
    const secret = run(['tasks/ingress/secure-ingress/snip_configure_a_mutual_tls_ingress_gateway_2.yaml']).filter(i => i.severity === 'error')
    assert.ok(secret.length > 0 && secret.every(i => !i.admission))
    const ip = run(['tasks/security/authz-ingress/snip_ipbased_allow_list_and_deny_list_9.yaml']).filter(i => i.severity === 'error')
    assert.ok(ip.length > 0 && ip.every(i => i.admission))
    const star = run(['concepts/traffic-management/routing-rule-for-http-traffic-cookie-regex.yaml']).filter(i => i.field === 'hosts[0]')
    assert.ok(star.length === 1 && star[0]!.admission)
  })
})
