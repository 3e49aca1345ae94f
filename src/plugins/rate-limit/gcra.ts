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
 * skewed clocks share one timeline, for many keys in one call. KEYS[i] takes
 * ARGV[3i] checks in a row, with ARGV[3i-2] (period) and ARGV[3i-1]
 * (interval): one read and at most one write per key, however many checks.
 *
 * All checks of one call see the same instant, so once one is refused the rest
 * of its run is refused too: the allowed checks are always the first ones. The
 * reply is therefore small: Redis' time, then per key the TAT the run started
 * from (written with 17 digits, so it parses back to the same double) and how
 * many were allowed. `replayGcraRun` derives each check's numbers from that
 * with the same arithmetic; a batch is exactly as if its checks had been sent
 * one after another.
 */
export const GCRA_BATCH_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {now}
for i, key in ipairs(KEYS) do
  local period = tonumber(ARGV[3 * i - 2])
  local interval = tonumber(ARGV[3 * i - 1])
  local count = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key))
  if tat == nil or tat < now then tat = now end
  local start = tat
  local allowed = 0
  while allowed < count do
    local nexttat = tat + interval
    if now < nexttat - period then break end
    tat = nexttat
    allowed = allowed + 1
  end
  if allowed > 0 then
    redis.call('SET', key, tostring(tat), 'PX', math.max(1, math.ceil(tat - now)))
  end
  out[2 * i] = string.format('%.17g', start)
  out[2 * i + 1] = allowed
end
return out
`

/**
 * The results of a run of `count` checks on one key that started from `start`
 * (the TAT, already no earlier than `now`), of which the first `allowed` passed:
 * the script's steps again, in the same order of floating-point operations.
 * Times are rounded up to whole ms, as the script did before this form.
 */
export function replayGcraRun (start: number, now: number, allowed: number, count: number, periodMs: number, interval: number, each: (i: number, r: GcraResult) => void): void {
  let tat = start
  for (let i = 0; i < count; i++) {
    const next = tat + interval
    if (i < allowed) {
      tat = next
      each(i, { allowed: true, remaining: Math.max(0, Math.floor((periodMs - (next - now)) / interval + 1e-9)), resetMs: Math.ceil(next - now), retryAfterMs: 0 })
    } else {
      each(i, { allowed: false, remaining: 0, resetMs: Math.ceil(tat - now), retryAfterMs: Math.ceil(next - periodMs - now) })
    }
  }
}
