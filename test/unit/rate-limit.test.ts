import { test } from 'node:test'
import assert from 'node:assert/strict'
import { gcra, MemoryStore } from '../../src/plugins/rate-limit/index.js'

test('GCRA: a burst of N, then one per interval; no double burst at a window edge', () => {
  const s = new MemoryStore()
  const take = (now: number): ReturnType<MemoryStore['take']> => s.take('k', 5, 10_000, now)
  for (let i = 0; i < 5; i++) {
    const r = take(0)
    assert.equal(r.allowed, true)
    assert.equal(r.remaining, 4 - i)
  }
  const sixth = take(0)
  assert.equal(sixth.allowed, false)
  assert.equal(sixth.retryAfterMs, 2_000, 'one slot frees every 10 s / 5')
  assert.equal(sixth.resetMs, 10_000)
  assert.equal(take(1_999).allowed, false)
  assert.equal(take(2_000).allowed, true)
  assert.equal(take(2_000).allowed, false)
  // Right after a "window": a fixed window would allow 5 more at 10 000; GCRA allows what was earned.
  let at10 = 0
  while (take(10_000).allowed) at10++
  assert.equal(at10, 4)
  // After a full quiet period, the whole burst is back.
  let later = 0
  while (take(30_000).allowed) later++
  assert.equal(later, 5)
})

test('keys are independent, and a denied request does not use up quota', () => {
  const s = new MemoryStore()
  for (let i = 0; i < 3; i++) assert.equal(s.take('a', 3, 1_000, 0).allowed, true)
  for (let i = 0; i < 10; i++) assert.equal(s.take('a', 3, 1_000, 0).allowed, false)
  assert.equal(s.take('b', 3, 1_000, 0).allowed, true)
  assert.equal(s.take('a', 3, 1_000, 334).allowed, true, 'denials did not push the next slot further out')
})

test('the pure step keeps state only when it allows', () => {
  const first = gcra(null, 1_000, 2, 1_000)
  assert.equal(first.result.allowed, true)
  assert.equal(first.tat, 1_500)
  const over = gcra(2_000, 1_000, 2, 1_000)
  assert.equal(over.result.allowed, false)
  assert.equal(over.tat, null)
})

test('expired keys are swept', () => {
  const s = new MemoryStore()
  for (let i = 0; i < 100; i++) s.take(`k${i}`, 1, 1_000, 0)
  assert.equal(s.size, 100)
  s.take('trigger', 1, 1_000, 20_000)
  assert.equal(s.size, 1)
})

test('limits keyed by claim, API consumer and client address keep separate counts; the tightest sets the headers', async () => {
  const { compileRateLimits } = await import('../../src/gateway/compile/rate-limits.js')
  const { parseText } = await import('../../src/gateway/sources/yaml-documents.js')
  const { RequestFacts } = await import('../../src/gateway/dataplane/request-facts.js')
  const { RateLimiter } = await import('../../src/plugins/rate-limit/index.js')
  const { newSelection } = await import('../../src/gateway/dataplane/route-request.js')
  const resources: import('../../src/gateway/sources/yaml-documents.js').SourceResource[] = []
  parseText('rl.yaml', `apiVersion: meshgate.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: p, namespace: default}
spec:
  limits:
  - {name: by-user, requests: 2, per: 1m, key: "claim:sub"}
  - {name: by-consumer, requests: 3, per: 1m, key: apiKey}
  - {name: by-ip, requests: 100, per: 1m}
`, resources, [])
  const cfg = compileRateLimits(resources)
  const limiter = new RateLimiter(null, null, null)
  const facts = (sub: string, consumer: string, ip: string): InstanceType<typeof RequestFacts> => {
    const f = new RequestFacts('GET', 'http', 'h', '/', {}, 80, ip, '')
    f.claims = { sub }
    f.consumer = consumer
    return f
  }
  const status = (sub: string, consumer: string, ip = '10.0.0.1'): number => (limiter.check(cfg, facts(sub, consumer, ip), newSelection(), () => {}, null) as { status: number }).status
  assert.equal(status('alice', 'acme'), 0)
  assert.equal(status('alice', 'acme'), 0)
  assert.equal(status('alice', 'acme'), 429, 'alice used her 2')
  assert.equal(status('bob', 'acme'), 429, 'acme used its 3 (the denied request above counted for the other limits)')
  assert.equal(status('bob', 'globex'), 0)
  const r = limiter.check(cfg, facts('carol', 'initech', '10.0.0.9'), newSelection(), () => {}, null) as { status: number, headers: string[] }
  assert.deepEqual(r.headers.slice(0, 4), ['ratelimit-limit', '2', 'ratelimit-remaining', '1'], 'the tightest limit (by-user) is shown')
})
