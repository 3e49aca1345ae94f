import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { CompiledRule, RouteDestination } from '../../src/gateway/snapshot.js'
import { pickDestination, stickyPoint } from '../../src/gateway/dataplane/route-request.js'

function rule (weights: Record<string, number>): CompiledRule {
  const destinations = Object.entries(weights).map(([subset, weight]) => ({ host: 'shop', subset, weight }) as unknown as RouteDestination)
  return { destinations, totalWeight: destinations.reduce((a, d) => a + d.weight, 0) } as unknown as CompiledRule
}

const users = Array.from({ length: 1000 }, (_, i) => `user-${i}`)

function sideOf (r: CompiledRule, key: string): string {
  return pickDestination(r, key)!.subset
}

test('a sticky key always lands on the same side', () => {
  const r = rule({ v1: 50, v2: 50 })
  for (const u of users.slice(0, 50)) {
    const first = sideOf(r, u)
    for (let i = 0; i < 20; i++) assert.equal(sideOf(r, u), first)
  }
})

test('1000 users split 50/50 within binomial tolerance (4 standard deviations)', () => {
  const r = rule({ v1: 50, v2: 50 })
  const onV2 = users.filter(u => sideOf(r, u) === 'v2').length
  // n = 1000, p = 0.5: sd = 15.8
  assert.ok(Math.abs(onV2 - 500) <= 63, `v2 got ${onV2} of 1000`)
})

test('90/10 and 3-way splits hold their weights', () => {
  const r = rule({ v1: 90, v2: 10 })
  const onV2 = users.filter(u => sideOf(r, u) === 'v2').length
  assert.ok(Math.abs(onV2 - 100) <= 38, `v2 got ${onV2} of 1000 (sd 9.5)`)
  const three = rule({ a: 20, b: 30, c: 50 })
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 }
  for (const u of users) counts[sideOf(three, u)]!++
  assert.ok(Math.abs(counts.a! - 200) <= 51 && Math.abs(counts.b! - 300) <= 58 && Math.abs(counts.c! - 500) <= 63, JSON.stringify(counts))
})

test('raising the canary from 10% to 20% keeps every user already on it', () => {
  const before = rule({ v1: 90, v2: 10 })
  const after = rule({ v1: 80, v2: 20 })
  const was = users.filter(u => sideOf(before, u) === 'v2')
  assert.ok(was.length > 0)
  for (const u of was) assert.equal(sideOf(after, u), 'v2', `${u} moved back to v1`)
  const now = users.filter(u => sideOf(after, u) === 'v2').length
  assert.ok(now > was.length, 'more users are on v2 after the change')
  // Rolling out to 100% moves everyone, rolling back to 0% too.
  for (const u of users.slice(0, 100)) {
    assert.equal(sideOf(rule({ v1: 0, v2: 100 }), u), 'v2')
    assert.equal(sideOf(rule({ v1: 100, v2: 0 }), u), 'v1')
  }
})

test('the sticky point is a pure function of the key: pinned values', () => {
  // Workers and replicas agree only if no seed, clock or process state enters the
  // hash; a change here moves users between sides on upgrade, so it is pinned.
  assert.equal(stickyPoint('user-1'), 0.8282831052783877)
  assert.equal(stickyPoint('alice'), 0.6550054808612913)
})

test('without a key the choice is random but still follows the weights', () => {
  const r = rule({ v1: 50, v2: 50 })
  let v2 = 0
  for (let i = 0; i < 2000; i++) if (pickDestination(r, undefined)!.subset === 'v2') v2++
  assert.ok(v2 > 850 && v2 < 1150, `v2 got ${v2} of 2000`)
})
