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
 * `gcra` as one atomic Redis script, on Redis' own clock so that gateways with
 * skewed clocks share one timeline, for many keys in one call: KEYS[i] with
 * ARGV[2i-1] (period) and ARGV[2i] (interval). Each step gives four integers:
 * allowed, backlog (ms, rounded up), retryAfter (ms, rounded up) and the
 * requests remaining, counted here from the exact backlog (Redis turns Lua
 * numbers into integers, so a fractional interval would otherwise lose one).
 * A batch is exactly as if its keys had been sent one after another.
 */
export const GCRA_BATCH_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i, key in ipairs(KEYS) do
  local period = tonumber(ARGV[2 * i - 1])
  local interval = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key))
  if tat == nil or tat < now then tat = now end
  local nexttat = tat + interval
  local allowat = nexttat - period
  local n = #out
  if now < allowat then
    out[n + 1] = 0
    out[n + 2] = math.ceil(tat - now)
    out[n + 3] = math.ceil(allowat - now)
    out[n + 4] = 0
  else
    redis.call('SET', key, tostring(nexttat), 'PX', math.max(1, math.ceil(nexttat - now)))
    out[n + 1] = 1
    out[n + 2] = math.ceil(nexttat - now)
    out[n + 3] = 0
    out[n + 4] = math.max(0, math.floor((period - (nexttat - now)) / interval + 1e-9))
  end
end
return out
`
