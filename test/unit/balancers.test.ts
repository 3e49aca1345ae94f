import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Cluster, Endpoint, HashPolicy, LbPolicy, OutlierPolicy } from '../../src/gateway/snapshot.js'
import { EndpointState } from '../../src/mesh-bridge/endpoint-state.js'
import {
  createBalancer, hashString, LeastRequestBalancer, MaglevBalancer, RandomBalancer, RingHashBalancer,
  RoundRobinBalancer, type Balancer
} from '../../src/mesh-bridge/balancers/index.js'
import { hashString as hashFromHashModule } from '../../src/mesh-bridge/hash.js'

const FOREVER = Number.MAX_SAFE_INTEGER

function endpoint (i: number, weight = 1): Endpoint {
  const address = `10.0.${i >> 8}.${i & 255}`
  return { address, port: 8080, labels: {}, weight, key: `${address}:8080` }
}

function statesOf (weights: readonly number[]): EndpointState[] {
  return weights.map((w, i) => new EndpointState(endpoint(i + 1, w)))
}

function cluster (opts: { lb?: LbPolicy, hash?: HashPolicy | null, outlier?: OutlierPolicy | null } = {}): Cluster {
  return {
    key: 'outbound|8080||reviews.default.svc.cluster.local',
    host: 'reviews.default.svc.cluster.local',
    port: 8080,
    subset: '',
    endpoints: [],
    lb: opts.lb ?? 'LEAST_REQUEST',
    hash: opts.hash ?? null,
    pool: {
      maxConnections: 2 ** 32 - 1, maxPendingRequests: 2 ** 32 - 1, maxRequests: 2 ** 32 - 1,
      maxRequestsPerConnection: 0, maxRetries: 2 ** 32 - 1, connectTimeoutMs: 10_000, idleTimeoutMs: 3_600_000, h2: false
    },
    outlier: opts.outlier ?? null,
    tls: null,
    destinationRule: null,
    fingerprint: 'test'
  }
}

function hashPolicy (maglev: boolean, tableSize = 0): HashPolicy {
  return { kind: 'header', name: 'x-user', cookiePath: '', cookieTtlS: -1, maglev, tableSize }
}

function outlierWithPanic (minHealthPercent: number): OutlierPolicy {
  return { consecutive5xx: 5, consecutiveGatewayErrors: 0, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionPercent: 100, minHealthPercent }
}

function eject (s: EndpointState, until = FOREVER): void {
  s.ejected = true
  s.ejectedUntil = until
}

function countPicks (b: Balancer, states: readonly EndpointState[], picks: number, key: (i: number) => string | null = () => null): number[] {
  const counts = new Array<number>(states.length).fill(0)
  for (let i = 0; i < picks; i++) {
    const s = b.pick(key(i), null)
    assert.ok(s !== null)
    counts[states.indexOf(s)]!++
  }
  return counts
}

/** Five standard deviations of a binomial count: a false failure is about one in a million. */
function assertBinomial (count: number, picks: number, p: number, label: string): void {
  const slack = 5 * Math.sqrt(picks * p * (1 - p))
  assert.ok(Math.abs(count - picks * p) <= slack, `${label}: ${count} of ${picks}, expected ${picks * p} ± ${slack.toFixed(1)}`)
}

function keys (n: number): string[] {
  return Array.from({ length: n }, (_, i) => `user-${i}`)
}

// --- hashString --------------------------------------------------------------

test('hashString is a deterministic unsigned 32-bit hash, re-exported by balancers/index', () => {
  assert.equal(hashString, hashFromHashModule)
  for (const s of ['', 'a', 'user-1', '10.0.0.1:8080_0', 'ünïcödé ☃']) {
    const h = hashString(s)
    assert.equal(h, hashString(s))
    assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32, `${s}: ${h}`)
  }
  assert.notEqual(hashString('user-1'), hashString('user-2'))
})

test('hashString spreads keys that differ only in their last character over the low bits', () => {
  const buckets = new Array<number>(16).fill(0)
  for (let i = 0; i < 16_000; i++) buckets[hashString(`user-${i}`) % 16]!++
  for (const b of buckets) assertBinomial(b, 16_000, 1 / 16, 'bucket')
})

// --- createBalancer -----------------------------------------------------------

test('createBalancer follows cluster.hash first, then cluster.lb, defaulting to least request', () => {
  const states = statesOf([1, 1, 1])
  assert.ok(createBalancer(cluster(), states) instanceof LeastRequestBalancer)
  assert.ok(createBalancer(cluster({ lb: 'ROUND_ROBIN' }), states) instanceof RoundRobinBalancer)
  assert.ok(createBalancer(cluster({ lb: 'RANDOM' }), states) instanceof RandomBalancer)
  assert.ok(createBalancer(cluster({ lb: 'ROUND_ROBIN', hash: hashPolicy(false) }), states) instanceof RingHashBalancer)
  assert.ok(createBalancer(cluster({ lb: 'ROUND_ROBIN', hash: hashPolicy(true) }), states) instanceof MaglevBalancer)
})

test('a cluster without endpoints picks nothing', () => {
  for (const c of [cluster(), cluster({ lb: 'ROUND_ROBIN' }), cluster({ lb: 'RANDOM' }), cluster({ hash: hashPolicy(false) }), cluster({ hash: hashPolicy(true) })]) {
    assert.equal(createBalancer(c, []).pick('k', null), null)
  }
})

// --- behaviour shared by every balancer --------------------------------------

const ALL_KINDS: ReadonlyArray<{ name: string, cluster: Cluster }> = [
  { name: 'least request', cluster: cluster() },
  { name: 'round robin', cluster: cluster({ lb: 'ROUND_ROBIN' }) },
  { name: 'random', cluster: cluster({ lb: 'RANDOM' }) },
  { name: 'ring hash', cluster: cluster({ hash: hashPolicy(false) }) },
  { name: 'maglev', cluster: cluster({ hash: hashPolicy(true) }) }
]

for (const kind of ALL_KINDS) {
  test(`${kind.name}: a single endpoint is always picked`, () => {
    const states = statesOf([1])
    const b = createBalancer(kind.cluster, states)
    for (let i = 0; i < 20; i++) assert.equal(b.pick(`k${i}`, null), states[0])
    assert.equal(b.pick(null, states[0]!), states[0], 'a retry still gets the only endpoint')
  })

  test(`${kind.name}: ejected endpoints are never picked`, () => {
    const states = statesOf([1, 1, 1, 1, 1])
    eject(states[1]!)
    eject(states[3]!)
    const b = createBalancer(kind.cluster, states)
    for (let i = 0; i < 2000; i++) {
      const s = b.pick(i % 2 === 0 ? `user-${i}` : null, null)
      assert.ok(s !== null && !s.ejected, `pick ${i}`)
    }
  })

  test(`${kind.name}: with every endpoint ejected and no panic threshold, pick returns null`, () => {
    const states = statesOf([1, 1, 1])
    for (const s of states) eject(s)
    const b = createBalancer(kind.cluster, states)
    assert.equal(b.pick('user-1', null), null)
    assert.equal(b.pick(null, null), null)
  })

  test(`${kind.name}: an ejection whose time has passed no longer blocks the endpoint`, () => {
    const states = statesOf([1])
    eject(states[0]!, 1_000)
    const b = createBalancer(kind.cluster, states, () => 2_000)
    assert.equal(b.pick('user-1', null), states[0])
  })

  test(`${kind.name}: below minHealthPercent (panic mode) ejected endpoints take traffic again`, () => {
    const states = statesOf([1, 1, 1, 1])
    for (const s of states) eject(s)
    const b = createBalancer({ ...kind.cluster, outlier: outlierWithPanic(50) }, states)
    const seen = new Set<EndpointState>()
    for (let i = 0; i < 400; i++) {
      const s = b.pick(`user-${i}`, null)
      assert.ok(s !== null)
      seen.add(s)
    }
    assert.equal(seen.size, 4)
  })
}

for (const kind of ALL_KINDS.filter(k => k.cluster.hash === null)) {
  test(`${kind.name}: a retry avoids the endpoint the previous attempt used`, () => {
    const states = statesOf([1, 1])
    const b = createBalancer(kind.cluster, states)
    let same = 0
    for (let i = 0; i < 1000; i++) if (b.pick(null, states[0]!) === states[0]) same++
    // Six draws in a row would have to land on it: about 1/64 for random choices.
    assert.ok(same <= 40, `previous endpoint picked again ${same} times`)
  })

  test(`${kind.name}: a retry falls back to the previous endpoint when it is the only usable one`, () => {
    const states = statesOf([1, 1, 1])
    eject(states[1]!)
    eject(states[2]!)
    const b = createBalancer(kind.cluster, states)
    assert.equal(b.pick(null, states[0]!), states[0])
  })
}

// --- round robin -------------------------------------------------------------

test('round robin gives equal endpoints exactly equal shares', () => {
  const states = statesOf([1, 1, 1, 1])
  const b = createBalancer(cluster({ lb: 'ROUND_ROBIN' }), states)
  assert.deepEqual(countPicks(b, states, 400), [100, 100, 100, 100])
})

test('round robin visits every endpoint once per cycle', () => {
  const states = statesOf([1, 1, 1, 1, 1])
  const b = createBalancer(cluster({ lb: 'ROUND_ROBIN' }), states)
  for (let cycle = 0; cycle < 10; cycle++) {
    const seen = new Set<EndpointState | null>()
    for (let i = 0; i < 5; i++) seen.add(b.pick(null, null))
    assert.equal(seen.size, 5)
  }
})

test('round robin splits an ejected endpoint\'s share evenly over the rest', () => {
  const states = statesOf([1, 1, 1, 1])
  eject(states[2]!)
  const b = createBalancer(cluster({ lb: 'ROUND_ROBIN' }), states)
  assert.deepEqual(countPicks(b, states, 300), [100, 100, 0, 100])
})

test('weighted round robin follows the weights exactly over whole cycles', () => {
  const states = statesOf([1, 2, 3])
  const b = createBalancer(cluster({ lb: 'ROUND_ROBIN' }), states)
  assert.deepEqual(countPicks(b, states, 600), [100, 200, 300])
})

test('weighted round robin interleaves a heavy endpoint with the light ones', () => {
  const states = statesOf([5, 1, 1])
  const b = createBalancer(cluster({ lb: 'ROUND_ROBIN' }), states)
  let run = 0
  let longest = 0
  for (let i = 0; i < 70; i++) {
    run = b.pick(null, null) === states[0] ? run + 1 : 0
    longest = Math.max(longest, run)
  }
  // Smooth WRR's cycle is a a b a c a a: at most four in a row across cycles, never five.
  assert.ok(longest <= 4, `heavy endpoint picked ${longest} times in a row`)
})

test('weighted round robin keeps the relative weights of the endpoints that are not ejected', () => {
  const states = statesOf([1, 2, 3, 4])
  eject(states[3]!)
  const b = createBalancer(cluster({ lb: 'ROUND_ROBIN' }), states)
  const counts = countPicks(b, states, 600)
  // The random warm-up ran with all four endpoints, so the window may straddle a cycle by one pick.
  ;[100, 200, 300, 0].forEach((want, i) => assert.ok(Math.abs(counts[i]! - want) <= 2, `endpoint ${i}: ${counts[i]}`))
})

// --- random --------------------------------------------------------------------

test('random spreads picks uniformly', () => {
  const states = statesOf([1, 1, 1, 1])
  const b = createBalancer(cluster({ lb: 'RANDOM' }), states)
  const counts = countPicks(b, states, 8000)
  counts.forEach((c, i) => assertBinomial(c, 8000, 1 / 4, `endpoint ${i}`))
})

test('random is uniform over the endpoints that are not ejected', () => {
  const states = statesOf([1, 1, 1, 1, 1])
  eject(states[0]!)
  eject(states[1]!)
  eject(states[2]!)
  const b = createBalancer(cluster({ lb: 'RANDOM' }), states)
  const counts = countPicks(b, states, 4000)
  assert.equal(counts[0]! + counts[1]! + counts[2]!, 0)
  assertBinomial(counts[3]!, 4000, 1 / 2, 'endpoint 3')
})

test('random ignores endpoint weights, as Envoy does', () => {
  const states = statesOf([1, 9])
  const b = createBalancer(cluster({ lb: 'RANDOM' }), states)
  assertBinomial(countPicks(b, states, 4000)[0]!, 4000, 1 / 2, 'endpoint 0')
})

// --- least request ---------------------------------------------------------------

test('least request spreads idle endpoints uniformly', () => {
  const states = statesOf([1, 1, 1, 1])
  const b = createBalancer(cluster(), states)
  const counts = countPicks(b, states, 8000)
  counts.forEach((c, i) => assertBinomial(c, 8000, 1 / 4, `endpoint ${i}`))
})

test('least request with two endpoints always picks the less busy one', () => {
  const states = statesOf([1, 1])
  states[0]!.active = 3
  const b = createBalancer(cluster(), states)
  assert.deepEqual(countPicks(b, states, 500), [0, 500])
})

test('least request prefers the idle endpoint among busy ones (power of two choices)', () => {
  const states = statesOf([1, 1, 1, 1])
  states[0]!.active = 5
  states[1]!.active = 5
  states[2]!.active = 5
  const b = createBalancer(cluster(), states)
  // The idle endpoint wins whenever it is one of the two distinct draws: 1 - C(3,2)/C(4,2) = 1/2.
  assertBinomial(countPicks(b, states, 4000)[3]!, 4000, 1 / 2, 'idle endpoint')
})

test('least request follows endpoint weights when they differ', () => {
  const states = statesOf([1, 3])
  const b = createBalancer(cluster(), states)
  const counts = countPicks(b, states, 400)
  assert.ok(Math.abs(counts[0]! - 100) <= 2, `light endpoint: ${counts[0]}`)
})

test('weighted least request divides each weight by its requests in flight plus one', () => {
  const states = statesOf([1, 2])
  states[1]!.active = 3 // effective weight 2 / 4 = 0.5 against 1
  const b = createBalancer(cluster(), states)
  const counts = countPicks(b, states, 300)
  assert.ok(Math.abs(counts[0]! - 200) <= 2, `idle light endpoint: ${counts[0]}`)
})

// --- consistent hash: ring hash and Maglev -------------------------------------------

const HASH_KINDS: ReadonlyArray<{ name: string, policy: HashPolicy }> = [
  { name: 'ring hash', policy: hashPolicy(false) },
  { name: 'maglev', policy: hashPolicy(true) }
]

function mapKeys (b: Balancer, ks: readonly string[]): Map<string, string> {
  const m = new Map<string, string>()
  for (const k of ks) {
    const s = b.pick(k, null)
    assert.ok(s !== null)
    m.set(k, s.endpoint.key)
  }
  return m
}

for (const kind of HASH_KINDS) {
  test(`${kind.name}: the same key always reaches the same endpoint, across balancer instances`, () => {
    const c = cluster({ hash: kind.policy })
    const first = mapKeys(createBalancer(c, statesOf([1, 1, 1, 1, 1])), keys(500))
    const again = createBalancer(c, statesOf([1, 1, 1, 1, 1]))
    for (let round = 0; round < 3; round++) assert.deepEqual(mapKeys(again, keys(500)), first)
  })

  test(`${kind.name}: keys spread over all endpoints in roughly equal shares`, () => {
    const states = statesOf([1, 1, 1, 1, 1])
    const counts = countPicks(createBalancer(cluster({ hash: kind.policy }), states), states, 10_000, i => `user-${i}`)
    for (const c of counts) assert.ok(c > 1400 && c < 2600, `share ${c} of 10000`)
  })

  test(`${kind.name}: endpoint weights set the share of keys`, () => {
    const states = statesOf([1, 3])
    const counts = countPicks(createBalancer(cluster({ hash: kind.policy }), states), states, 10_000, i => `user-${i}`)
    assert.ok(counts[0]! > 1900 && counts[0]! < 3100, `light endpoint has ${counts[0]} of 10000`)
  })

  test(`${kind.name}: removing one of five endpoints remaps about a fifth of the keys`, () => {
    const c = cluster({ hash: kind.policy })
    const all = statesOf([1, 1, 1, 1, 1])
    const before = mapKeys(createBalancer(c, all), keys(10_000))
    const removed = all[2]!.endpoint.key
    const after = mapKeys(createBalancer(c, all.filter((_, i) => i !== 2).map(s => new EndpointState(s.endpoint))), keys(10_000))
    let moved = 0
    let movedFromSurvivors = 0
    for (const [k, owner] of before) {
      if (after.get(k) === owner) continue
      moved++
      if (owner !== removed) movedFromSurvivors++
    }
    assert.ok(moved / 10_000 <= 0.2 + 0.08, `moved ${moved} of 10000`)
    assert.ok(movedFromSurvivors / 10_000 <= 0.05, `${movedFromSurvivors} keys left a surviving endpoint`)
  })

  test(`${kind.name}: an ejected endpoint's keys move elsewhere and every other key stays`, () => {
    const states = statesOf([1, 1, 1, 1, 1])
    const b = createBalancer(cluster({ hash: kind.policy }), states)
    const before = mapKeys(b, keys(5000))
    eject(states[0]!)
    const during = mapKeys(b, keys(5000))
    const targets = new Set<string>()
    for (const [k, owner] of before) {
      if (owner === states[0]!.endpoint.key) {
        assert.notEqual(during.get(k), owner)
        targets.add(during.get(k)!)
      } else {
        assert.equal(during.get(k), owner, k)
      }
    }
    assert.ok(targets.size >= 2, 'the ejected endpoint\'s keys spread over more than one endpoint')
    assert.deepEqual(mapKeys(b, keys(5000)), during, 'fallbacks are stable while the ejection lasts')
    states[0]!.ejected = false
    assert.deepEqual(mapKeys(b, keys(5000)), before, 'keys return when the endpoint does')
  })

  test(`${kind.name}: a request without a hash key gets a random endpoint`, () => {
    const states = statesOf([1, 1, 1, 1])
    const counts = countPicks(createBalancer(cluster({ hash: kind.policy }), states), states, 4000)
    for (const c of counts) assert.ok(c > 600 && c < 1400, `share ${c} of 4000`)
  })
}

test('ring hash: every endpoint gets the minimum ring size in points per unit of weight (1024 by default)', () => {
  const states = statesOf([1, 1, 1, 1, 1])
  assert.equal((createBalancer(cluster({ hash: hashPolicy(false) }), states) as RingHashBalancer).ringSize, 5 * 1024)
  assert.equal((createBalancer(cluster({ hash: hashPolicy(false, 4096) }), states) as RingHashBalancer).ringSize, 5 * 4096)
  // Weights are relative: 10/30 is 1/3.
  assert.equal((createBalancer(cluster({ hash: hashPolicy(false) }), statesOf([10, 30])) as RingHashBalancer).ringSize, 4 * 1024)
})

test('ring hash: removing an endpoint never moves a key between two surviving endpoints', () => {
  const c = cluster({ hash: hashPolicy(false) })
  for (const n of [2, 3, 5, 8, 9]) {
    const all = statesOf(Array.from({ length: n }, () => 1))
    const before = mapKeys(createBalancer(c, all), keys(3000))
    const after = mapKeys(createBalancer(c, all.slice(1).map(s => new EndpointState(s.endpoint))), keys(3000))
    for (const [k, owner] of before) {
      if (owner !== all[0]!.endpoint.key) assert.equal(after.get(k), owner, `${n} endpoints, ${k}`)
    }
  }
})

test('maglev: the table size is 65537 by default, and a configured size is used', () => {
  const states = statesOf([1, 1, 1])
  assert.equal((createBalancer(cluster({ hash: hashPolicy(true) }), states) as MaglevBalancer).tableSize, 65537)
  assert.equal((createBalancer(cluster({ hash: hashPolicy(true, 251) }), states) as MaglevBalancer).tableSize, 251)
  // A composite size (refused by Istio's admission) is moved up to a prime so the fill terminates.
  assert.equal((createBalancer(cluster({ hash: hashPolicy(true, 250) }), states) as MaglevBalancer).tableSize, 251)
})
