/**
 * Retry delays. Pure functions: the caller owns the clock, the RNG and the sleeping, so the executor
 * can test its retry loop without timers and seed runs for reproducibility.
 */

/** NaN and negative inputs become 0 so a bad config value degrades to "no delay" instead of NaN timers. */
function nonNegative(x: number): number {
  // biome-ignore lint/complexity/useMathMinMax: Math.max(NaN, 0) is NaN; the comparison maps NaN to 0.
  return x > 0 ? x : 0;
}

/**
 * Exponential backoff with full jitter: uniform in [0, min(maxMs, baseMs * 2^retry)] (AWS "full jitter").
 * `retry` is 0 for the first retry.
 */
export function fullJitterDelay(retry: number, baseMs: number, maxMs: number, rng: () => number): number {
  const base = nonNegative(baseMs);
  const max = nonNegative(maxMs);
  // A zero base must short-circuit: 0 * 2^retry is NaN once 2^retry overflows to Infinity.
  if (base === 0 || max === 0) return 0;
  // 2 ** retry is Infinity from retry 1024 on (and base * 2 ** retry may overflow earlier), which is
  // harmless: base > 0 keeps the product from being NaN, and min() with a finite max clamps it.
  let cap = Math.min(max, base * 2 ** nonNegative(retry));
  // An unbounded max (Infinity) with a huge retry would otherwise yield an Infinity or NaN delay.
  if (!Number.isFinite(cap)) cap = Number.MAX_SAFE_INTEGER;
  const r = rng();
  // A misbehaving RNG (NaN, out of range) must not produce a negative or over-cap wait.
  const u = r > 0 ? Math.min(r, 1) : 0;
  return u * cap;
}

/**
 * The wait before the next attempt: the provider's Retry-After (seconds, may be fractional) wins when it
 * is longer than the jittered delay; returns undefined when the wait would not fit in `remainingMs` (the
 * request's total time budget), so the caller moves on instead of sleeping past its deadline.
 */
export function retryDelay(
  retry: number,
  spec: { baseDelayMs: number; maxDelayMs: number },
  retryAfterSec: number | undefined,
  remainingMs: number,
  rng: () => number,
): number | undefined {
  const jitter = fullJitterDelay(retry, spec.baseDelayMs, spec.maxDelayMs, rng);
  // Retry-After is not capped by maxDelayMs: the provider told us when it will accept us again, and
  // retrying earlier only burns an attempt on another 429. The time budget is the only cap.
  const retryAfterMs =
    retryAfterSec !== undefined && Number.isFinite(retryAfterSec) && retryAfterSec > 0
      ? retryAfterSec * 1000
      : 0;
  const wait = Math.max(retryAfterMs, jitter);
  // Strictly less: sleeping until exactly the deadline leaves no time for the attempt itself. Written so
  // that a NaN budget also fails the check — without a known budget, don't sleep.
  return wait < remainingMs ? wait : undefined;
}
