// The request-path metrics: cumulative buckets, sums, bounded series.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Registry, type Metric } from 'prom-client'
import { FastCounter, FastHistogram } from '../../src/plugins/fast-metrics.js'
import { GatewayMetrics } from '../../src/plugins/metrics.js'

test('a histogram series reports cumulative buckets, +Inf, sum and count', async () => {
  const h = new FastHistogram('t_seconds', 'help', [0.1, 1, 10])
  const s = h.add('k', { route: 'r' })
  for (const v of [0.05, 0.1, 0.5, 5, 50]) s.observe(v)
  const reg = new Registry()
  reg.registerMetric({ name: h.name, get: () => h.collect() } as unknown as Metric)
  const text = await reg.metrics()
  assert.match(text, /t_seconds_bucket\{le="0.1",route="r"\} 2\n/)
  assert.match(text, /t_seconds_bucket\{le="1",route="r"\} 3\n/)
  assert.match(text, /t_seconds_bucket\{le="10",route="r"\} 4\n/)
  assert.match(text, /t_seconds_bucket\{le="\+Inf",route="r"\} 5\n/)
  assert.match(text, /t_seconds_sum\{route="r"\} 55.65\n/)
  assert.match(text, /t_seconds_count\{route="r"\} 5/)
})

test('series beyond the limit share one overflow series', async () => {
  const c = new FastCounter('t_total', 'help', 2)
  for (const k of ['a', 'b', 'c', 'd']) (c.get(k) ?? c.add(k, { k })).inc()
  const { values } = await c.collect()
  assert.deepEqual(values.map(v => [v.labels, v.value]), [[{ k: 'a' }, 1], [{ k: 'b' }, 1], [{ overflow: 'true' }, 2]])
})

test('consumer series go to the busiest N consumers, chosen at each scrape; a demoted one folds into other and sums only grow', async () => {
  const m = new GatewayMetrics({ maxConsumers: 2 })
  const series = async (): Promise<Map<string, number>> => {
    const text = await m.registry.getSingleMetricAsString('meshgate_consumer_requests_total')
    const out = new Map<string, number>()
    for (const [, consumer, value] of text.matchAll(/meshgate_consumer_requests_total\{consumer="([^"]+)",code="2xx"\} (\d+)/g)) out.set(consumer!, Number(value))
    return out
  }
  const total = (s: Map<string, number>): number => [...s.values()].reduce((a, b) => a + b, 0)
  const send = (c: string, n: number): void => { for (let i = 0; i < n; i++) m.countConsumer(c, 200) }
  // The first two consumers seen get series at once; the busy latecomer counts as other.
  send('quiet', 1)
  send('medium', 5)
  send('busy', 50)
  // The scrape chooses the top two first: busy and medium. quiet's 1 moves to
  // other; busy's 50 so far stay there, and its series starts now.
  const first = await series()
  assert.deepEqual(Object.fromEntries(first), { medium: 5, other: 51 })
  assert.equal(total(first), 56)
  send('busy', 10)
  send('quiet', 3)
  const third = await series()
  assert.deepEqual(Object.fromEntries(third), { medium: 5, busy: 10, other: 54 })
  assert.equal(total(third), 69)
})

test('the consumer counts stay bounded however many consumers come by', () => {
  const m = new GatewayMetrics({ maxConsumers: 3 })
  for (let i = 0; i < 10_000; i++) m.countConsumer(`c${i}`, 200)
  m.countConsumer('c9999', 200)
  assert.ok(m.consumerCount <= 30, `${m.consumerCount} consumers remembered`)
})
