import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Endpoint, OutlierPolicy } from '../../src/gateway/snapshot.js'
import { EndpointState, isEjected } from '../../src/mesh-bridge/endpoint-state.js'
import { MAX_EJECTION_MS, OutlierDetector, type Outcome } from '../../src/mesh-bridge/outlier-detector.js'

function endpoint (i: number): Endpoint {
  return { address: `10.0.0.${i}`, port: 8080, labels: {}, weight: 1, key: `10.0.0.${i}:8080` }
}

function policy (over: Partial<OutlierPolicy> = {}): OutlierPolicy {
  // Istio's defaults once an outlierDetection block exists, with every endpoint ejectable.
  return { consecutive5xx: 5, consecutiveGatewayErrors: 0, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionPercent: 100, minHealthPercent: 0, ...over }
}

class FakeClock {
  t = 1_000_000
  readonly now = (): number => this.t
}

function setup (n: number, over: Partial<OutlierPolicy> = {}): { states: EndpointState[], detector: OutlierDetector, clock: FakeClock } {
  const states = Array.from({ length: n }, (_, i) => new EndpointState(endpoint(i + 1)))
  const clock = new FakeClock()
  return { states, detector: new OutlierDetector(policy(over), states, clock.now), clock }
}

function repeat (d: OutlierDetector, s: EndpointState, outcome: Outcome, times: number): void {
  for (let i = 0; i < times; i++) d.record(s, outcome)
}

test('an endpoint is ejected on its fifth consecutive 5xx, not before', () => {
  const { states, detector, clock } = setup(3)
  const s = states[0]!
  repeat(detector, s, 500, 4)
  assert.equal(s.ejected, false)
  detector.record(s, 503)
  assert.equal(s.ejected, true)
  assert.equal(s.ejectedUntil, clock.t + 30_000)
  assert.equal(s.ejectionCount, 1)
  assert.ok(isEjected(s, clock.t))
})

test('local failures count as 5xx', () => {
  const { states, detector } = setup(3, { consecutive5xx: 3 })
  repeat(detector, states[0]!, 'local-failure', 3)
  assert.equal(states[0]!.ejected, true)
})

test('a success resets the consecutive counters', () => {
  const { states, detector } = setup(3, { consecutiveGatewayErrors: 3 })
  const s = states[0]!
  repeat(detector, s, 502, 2)
  detector.record(s, 'success')
  assert.equal(s.consecutive5xx, 0)
  assert.equal(s.consecutiveGatewayErrors, 0)
  repeat(detector, s, 500, 4)
  assert.equal(s.ejected, false)
})

test('non-5xx statuses, 4xx included, count as success', () => {
  const { states, detector } = setup(3)
  const s = states[0]!
  for (let i = 0; i < 3; i++) {
    repeat(detector, s, 500, 4)
    detector.record(s, i === 0 ? 404 : i === 1 ? 200 : 429)
  }
  assert.equal(s.ejected, false)
  assert.equal(s.consecutive5xx, 0)
})

test('consecutive5xx 0 disables the 5xx detector', () => {
  const { states, detector } = setup(3, { consecutive5xx: 0 })
  repeat(detector, states[0]!, 500, 100)
  assert.equal(states[0]!.ejected, false)
})

test('the gateway-error detector counts 502, 503, 504 and local failures only', () => {
  const { states, detector } = setup(3, { consecutive5xx: 0, consecutiveGatewayErrors: 4 })
  const s = states[0]!
  detector.record(s, 502)
  detector.record(s, 503)
  detector.record(s, 'local-failure')
  assert.equal(s.consecutiveGatewayErrors, 3)
  // Envoy: another 5xx breaks the run of gateway errors.
  detector.record(s, 500)
  assert.equal(s.consecutiveGatewayErrors, 0)
  repeat(detector, s, 500, 10)
  assert.equal(s.ejected, false)
  repeat(detector, s, 504, 3)
  assert.equal(s.ejected, false)
  detector.record(s, 'local-failure')
  assert.equal(s.ejected, true)
})

test('the gateway-error detector is off when consecutiveGatewayErrors is 0 (Istio default)', () => {
  const { states, detector } = setup(3, { consecutive5xx: 0, consecutiveGatewayErrors: 0 })
  repeat(detector, states[0]!, 503, 50)
  assert.equal(states[0]!.ejected, false)
})

test('an ejection resets both counters', () => {
  const { states, detector } = setup(3, { consecutive5xx: 3, consecutiveGatewayErrors: 5 })
  const s = states[0]!
  repeat(detector, s, 503, 3)
  assert.equal(s.ejected, true)
  assert.equal(s.consecutive5xx, 0)
  assert.equal(s.consecutiveGatewayErrors, 0)
})

test('maxEjectionPercent caps the ejected share of the cluster', () => {
  const { states, detector } = setup(10, { maxEjectionPercent: 30 })
  for (const s of states) repeat(detector, s, 500, 5)
  assert.equal(states.filter(s => s.ejected).length, 3)
  assert.equal(detector.ejectedCount, 3)
})

test('the first ejection is always allowed, even when maxEjectionPercent is below one endpoint\'s share', () => {
  const { states, detector } = setup(3, { maxEjectionPercent: 10 })
  repeat(detector, states[0]!, 500, 5)
  assert.equal(states[0]!.ejected, true)
  repeat(detector, states[1]!, 500, 5)
  assert.equal(states[1]!.ejected, false, 'a second ejection would make 67% > 10%')
})

test('a refused ejection needs a fresh run of errors before the next try', () => {
  const { states, detector, clock } = setup(3, { maxEjectionPercent: 10 })
  repeat(detector, states[0]!, 500, 5)
  repeat(detector, states[1]!, 500, 5)
  assert.equal(states[1]!.ejected, false)
  assert.equal(states[1]!.consecutive5xx, 0)
  clock.t += 30_000 // the first ejection ends; room for another
  repeat(detector, states[1]!, 500, 4)
  assert.equal(states[1]!.ejected, false)
  detector.record(states[1]!, 500)
  assert.equal(states[1]!.ejected, true)
})

test('an endpoint returns after its ejection time, on sweep', () => {
  const { states, detector, clock } = setup(3)
  const s = states[0]!
  repeat(detector, s, 500, 5)
  clock.t += 29_999
  detector.sweep()
  assert.equal(s.ejected, true)
  clock.t += 1
  assert.equal(isEjected(s, clock.t), false, 'the time check alone already lets it back')
  detector.sweep()
  assert.equal(s.ejected, false)
  assert.equal(detector.ejectedCount, 0)
})

test('record() sweeps expired ejections lazily', () => {
  const { states, detector, clock } = setup(3)
  repeat(detector, states[0]!, 500, 5)
  clock.t += 30_000
  detector.record(states[1]!, 'success')
  assert.equal(states[0]!.ejected, false)
})

test('each ejection lasts baseEjectionTime times the number of ejections, capped at 300 s', () => {
  const { states, detector, clock } = setup(3, { baseEjectionMs: 40_000 })
  const s = states[0]!
  const durations: number[] = []
  for (let i = 0; i < 10; i++) {
    repeat(detector, s, 500, 5)
    assert.equal(s.ejected, true)
    durations.push(s.ejectedUntil - clock.t)
    clock.t = s.ejectedUntil
    detector.sweep()
  }
  assert.deepEqual(durations, [40_000, 80_000, 120_000, 160_000, 200_000, 240_000, 280_000, 300_000, 300_000, 300_000])
  assert.equal(MAX_EJECTION_MS, 300_000)
})

test('a base ejection time above 300 s is used as is', () => {
  const { states, detector, clock } = setup(3, { baseEjectionMs: 600_000 })
  repeat(detector, states[0]!, 500, 5)
  assert.equal(states[0]!.ejectedUntil - clock.t, 600_000)
})

test('ejected endpoints with requests still in flight are not ejected again', () => {
  const { states, detector, clock } = setup(3)
  const s = states[0]!
  repeat(detector, s, 500, 5)
  const until = s.ejectedUntil
  clock.t += 1_000
  repeat(detector, s, 500, 10)
  assert.equal(s.ejectedUntil, until)
  assert.equal(s.ejectionCount, 1)
  assert.equal(detector.ejectedCount, 1)
})

test('the interval timer un-ejects and forgives one backoff step per healthy interval', async () => {
  const { states, detector, clock } = setup(3, { intervalMs: 5, baseEjectionMs: 1_000 })
  const s = states[0]!
  repeat(detector, s, 500, 5)
  clock.t = s.ejectedUntil
  repeat(detector, s, 500, 5) // second ejection: backoff 2
  assert.equal(s.ejectionCount, 2)
  clock.t = s.ejectedUntil
  detector.start()
  try {
    // 1. the tick un-ejects; 2. a later tick, one interval on, forgives a step;
    // 3. another interval on, forgives the last one.
    await waitFor(() => !s.ejected)
    clock.t += 5
    await waitFor(() => s.ejectionCount === 1)
    clock.t += 5
    await waitFor(() => s.ejectionCount === 0)
  } finally {
    detector.stop()
  }
  repeat(detector, s, 500, 5)
  assert.equal(s.ejectedUntil - clock.t, 1_000, 'back to the base ejection time')
})

test('start() and stop() are idempotent and the timer does not keep the process alive', () => {
  const { detector } = setup(1)
  detector.start()
  detector.start()
  detector.stop()
  detector.stop()
})

test('a detector built over states that are already ejected counts them', () => {
  const states = [new EndpointState(endpoint(1)), new EndpointState(endpoint(2)), new EndpointState(endpoint(3))]
  const clock = new FakeClock()
  states[0]!.ejected = true
  states[0]!.ejectedUntil = clock.t + 10_000
  const detector = new OutlierDetector(policy({ maxEjectionPercent: 10 }), states, clock.now)
  assert.equal(detector.ejectedCount, 1)
  repeat(detector, states[1]!, 500, 5)
  assert.equal(states[1]!.ejected, false, 'not the first ejection any more')
  clock.t += 10_000
  detector.record(states[2]!, 'success')
  assert.equal(detector.ejectedCount, 0)
})

async function waitFor (cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 2_000
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in 2 s')
    await new Promise(resolve => setTimeout(resolve, 2))
  }
}
