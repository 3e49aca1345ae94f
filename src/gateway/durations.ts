// Protobuf Duration strings as Istio accepts them in YAML: `1.5s`, `100ms`, `2m`, `1h`, `30us`.

const DURATION = /^(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns)$/

const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 }

/** Milliseconds, or NaN when the text is not a duration. Compound forms (`1m30s`) are accepted too. */
export function parseDurationMs (text: unknown): number {
  if (typeof text === 'number' && Number.isFinite(text)) return text * 1000
  if (typeof text !== 'string' || text === '') return NaN
  let rest = text.trim()
  let total = 0
  let parts = 0
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/.exec(rest)
    if (m === null) return NaN
    total += Number(m[1]) * UNIT_MS[m[2]!]!
    rest = rest.slice(m[0].length)
    parts++
  }
  return parts === 0 ? NaN : total
}

export function isDuration (text: unknown): boolean {
  return typeof text === 'string' && (DURATION.test(text) || !Number.isNaN(parseDurationMs(text)))
}

/** Istio's admission rule: at least 1 ms and a whole number of milliseconds. */
export function durationProblem (text: unknown): string | null {
  const ms = parseDurationMs(text)
  if (Number.isNaN(ms)) return `${JSON.stringify(text)} is not a duration (expected e.g. 500ms, 2s, 1m)`
  if (ms < 1) return `${JSON.stringify(text)} is shorter than 1ms`
  if (Math.abs(ms - Math.round(ms)) > 1e-9) return `${JSON.stringify(text)} is not a whole number of milliseconds`
  return null
}
