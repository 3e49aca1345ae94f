// The request-path metrics: cumulative buckets, sums, bounded series.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Registry, type Metric } from 'prom-client'
import { FastCounter, FastHistogram } from '../../src/plugins/fast-metrics.js'

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
