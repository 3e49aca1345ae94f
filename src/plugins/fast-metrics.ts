// Counters and histograms for the request path. prom-client's own metrics hash
// the label object on every inc()/observe(); these keep one series object per
// label set, found by a key the caller already has, and hand prom-client's
// Registry the usual `get()` shape at scrape time (aggregation across workers
// included).

export type Labels = Readonly<Record<string, string>>

const OVERFLOW = '\u0000overflow'

interface MetricValue { labels: Labels, value: number, metricName?: string }

export class CounterSeries {
  readonly labels: Labels
  value: number
  constructor (labels: Labels) { this.labels = labels; this.value = 0 }
  inc (): void { this.value++ }
}

export class FastCounter {
  readonly name: string
  readonly help: string
  readonly type = 'counter'
  readonly aggregator = 'sum'
  readonly #series = new Map<string, CounterSeries>()
  readonly #limit: number

  constructor (name: string, help: string, limit = 10_000) {
    this.name = name
    this.help = help
    this.#limit = limit
  }

  /** The series for `key`, or undefined before add(). */
  get (key: string): CounterSeries | undefined {
    return this.#series.get(key)
  }

  /**
   * The series for the pair (`a`, `b`), found by two lookups on strings the
   * caller keeps (config names, constants) rather than a key string built per
   * call; `labels` is called once, when the pair is first seen. Its key is
   * `a|b`, as `get`/`add` callers would write it.
   */
  pair (a: string, b: string, labels: (a: string, b: string) => Labels): CounterSeries {
    let inner = this.#pairs.get(a)
    if (inner === undefined) { inner = new Map(); this.#pairs.set(a, inner) }
    let s = inner.get(b)
    if (s === undefined) {
      const key = `${a}|${b}`
      s = this.get(key) ?? this.add(key, labels(a, b))
      inner.set(b, s)
    }
    return s
  }

  readonly #pairs = new Map<string, Map<string, CounterSeries>>()

  /** Adds the series for `key`; beyond the limit, new label sets share one `overflow` series. */
  add (key: string, labels: Labels): CounterSeries {
    if (this.#series.size >= this.#limit) return this.get(OVERFLOW) ?? this.#put(OVERFLOW, new CounterSeries({ overflow: 'true' }))
    return this.#put(key, new CounterSeries(labels))
  }

  /** Drops the series for `key` (not one made by `pair`); returns it, or undefined. */
  remove (key: string): CounterSeries | undefined {
    const s = this.#series.get(key)
    this.#series.delete(key)
    return s
  }

  /** Every series, by key. */
  entries (): IterableIterator<[string, CounterSeries]> {
    return this.#series.entries()
  }

  #put (key: string, s: CounterSeries): CounterSeries {
    this.#series.set(key, s)
    return s
  }

  /** prom-client's Registry reads this at scrape time. */
  async collect (): Promise<{ name: string, help: string, type: string, aggregator: string, values: MetricValue[] }> {
    const values: MetricValue[] = []
    for (const s of this.#series.values()) values.push({ labels: s.labels, value: s.value })
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }
}

export class HistogramSeries {
  readonly labels: Labels
  readonly counts: Float64Array
  sum: number
  count: number
  readonly #upper: readonly number[]

  constructor (labels: Labels, upper: readonly number[]) {
    this.labels = labels
    this.#upper = upper
    this.counts = new Float64Array(upper.length + 1)
    this.sum = 0
    this.count = 0
  }

  observe (v: number): void {
    const u = this.#upper
    let i = 0
    while (i < u.length && v > u[i]!) i++
    this.counts[i]!++
    this.sum += v
    this.count++
  }
}

export class FastHistogram {
  readonly name: string
  readonly help: string
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly buckets: readonly number[]
  readonly #series = new Map<string, HistogramSeries>()
  readonly #limit: number

  constructor (name: string, help: string, buckets: readonly number[], limit = 10_000) {
    this.name = name
    this.help = help
    this.buckets = [...buckets].sort((a, b) => a - b)
    this.#limit = limit
  }

  get (key: string): HistogramSeries | undefined {
    return this.#series.get(key)
  }

  add (key: string, labels: Labels): HistogramSeries {
    if (this.#series.size >= this.#limit) return this.get(OVERFLOW) ?? this.#put(OVERFLOW, new HistogramSeries({ overflow: 'true' }, this.buckets))
    return this.#put(key, new HistogramSeries(labels, this.buckets))
  }

  #put (key: string, s: HistogramSeries): HistogramSeries {
    this.#series.set(key, s)
    return s
  }

  async collect (): Promise<{ name: string, help: string, type: string, aggregator: string, values: MetricValue[] }> {
    const values: MetricValue[] = []
    for (const s of this.#series.values()) {
      let cumulative = 0
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i]!
        values.push({ metricName: `${this.name}_bucket`, labels: { le: String(le), ...s.labels }, value: cumulative })
      })
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count })
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum })
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }
}
