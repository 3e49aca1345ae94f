// GCRA (the generic cell rate algorithm): one number per key, the theoretical
// arrival time (TAT). `requests` per `period` means one request per emission
// interval T = period / requests, with a burst of up to `requests` at once.
// Unlike a fixed window there is no double burst at a window edge, and unlike a
// sliding log it needs no list per key: the same state works in-process and as
// one atomic Redis script.

export interface GcraResult {
  readonly allowed: boolean
  /** Requests still allowed right now. */
  readonly remaining: number
  /** ms until the quota is whole again. */
  readonly resetMs: number
  /** ms until the next request would be allowed (0 when allowed). */
  readonly retryAfterMs: number
}

/** One step: the new TAT to store (or null when denied: nothing changes) and the result. */
export function gcra (storedTat: number | null, now: number, requests: number, periodMs: number): { tat: number | null, result: GcraResult } {
  const interval = periodMs / requests
  const tat = storedTat === null || storedTat < now ? now : storedTat
  const next = tat + interval
  const allowAt = next - periodMs
  if (now < allowAt) {
    return { tat: null, result: { allowed: false, remaining: 0, resetMs: tat - now, retryAfterMs: allowAt - now } }
  }
  return { tat: next, result: { allowed: true, remaining: remainingAfter(next - now, requests, periodMs), resetMs: next - now, retryAfterMs: 0 } }
}

export function remainingAfter (backlogMs: number, requests: number, periodMs: number): number {
  const interval = periodMs / requests
  return Math.max(0, Math.floor((periodMs - backlogMs) / interval + 1e-9))
}

/**
 * The same step as a Redis script, atomic per key, with Redis' own clock so that
 * gateways with skewed clocks share one timeline. Returns {allowed, backlog
 * (ms from now to the TAT after the step), retryAfter}.
 */
export const GCRA_LUA = `
local period = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local nexttat = tat + interval
local allowat = nexttat - period
if now < allowat then
  return {0, math.ceil(tat - now), math.ceil(allowat - now)}
end
redis.call('SET', KEYS[1], tostring(nexttat), 'PX', math.max(1, math.ceil(nexttat - now)))
return {1, math.ceil(nexttat - now), 0}
`
