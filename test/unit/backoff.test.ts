import { describe, expect, it } from 'vitest';
import { fullJitterDelay, retryDelay } from '../../src/core/backoff.js';
import { seededRng } from '../../src/core/routing.js';

const spec = { baseDelayMs: 100, maxDelayMs: 1000 };
const half = (): number => 0.5;

describe('fullJitterDelay', () => {
  it('stays within [0, min(max, base * 2^retry)] and reaches near the cap', () => {
    const rng = seededRng(1);
    for (let retry = 0; retry <= 12; retry++) {
      const cap = Math.min(5000, 100 * 2 ** retry);
      let highest = 0;
      for (let i = 0; i < 1000; i++) {
        const d = fullJitterDelay(retry, 100, 5000, rng);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(cap);
        highest = Math.max(highest, d);
      }
      // Full jitter spans the whole range, not just its low end.
      expect(highest).toBeGreaterThan(cap * 0.99);
    }
  });

  it('averages half the cap over 10,000 samples (within 5%)', () => {
    for (const [retry, cap] of [
      [0, 100],
      [3, 800],
      [10, 5000],
    ] as const) {
      const rng = seededRng(retry + 1);
      let sum = 0;
      for (let i = 0; i < 10_000; i++) sum += fullJitterDelay(retry, 100, 5000, rng);
      expect(Math.abs(sum / 10_000 / (cap / 2) - 1)).toBeLessThanOrEqual(0.05);
    }
  });

  it('is exactly rng * cap', () => {
    expect(fullJitterDelay(0, 100, 1000, half)).toBe(50);
    expect(fullJitterDelay(2, 100, 1000, half)).toBe(200);
    expect(fullJitterDelay(5, 100, 1000, half)).toBe(500);
    expect(fullJitterDelay(5, 100, 1000, () => 0)).toBe(0);
  });

  it('does not overflow for large retries', () => {
    expect(fullJitterDelay(1000, 100, 30_000, half)).toBe(15_000);
    expect(fullJitterDelay(1024, 100, 30_000, half)).toBe(15_000);
    expect(fullJitterDelay(1e9, 100, 30_000, half)).toBe(15_000);
    expect(fullJitterDelay(Number.POSITIVE_INFINITY, 100, 30_000, half)).toBe(15_000);
    // 0 * 2^2000 would be NaN.
    expect(fullJitterDelay(2000, 0, 30_000, half)).toBe(0);
    // No max at all still yields a finite number.
    expect(Number.isFinite(fullJitterDelay(2000, 100, Number.POSITIVE_INFINITY, half))).toBe(true);
  });

  it('treats negative and NaN inputs as 0', () => {
    expect(fullJitterDelay(-3, 100, 1000, half)).toBe(50);
    expect(fullJitterDelay(Number.NaN, 100, 1000, half)).toBe(50);
    expect(fullJitterDelay(2, -100, 1000, half)).toBe(0);
    expect(fullJitterDelay(2, Number.NaN, 1000, half)).toBe(0);
    expect(fullJitterDelay(2, 100, -1, half)).toBe(0);
    expect(fullJitterDelay(2, 100, Number.NaN, half)).toBe(0);
  });

  it('clamps a misbehaving RNG into [0, cap]', () => {
    expect(fullJitterDelay(0, 100, 1000, () => 1.5)).toBe(100);
    expect(fullJitterDelay(0, 100, 1000, () => -0.5)).toBe(0);
    expect(fullJitterDelay(0, 100, 1000, () => Number.NaN)).toBe(0);
  });
});

describe('retryDelay', () => {
  it('uses the jittered delay without a Retry-After', () => {
    expect(retryDelay(1, spec, undefined, 10_000, half)).toBe(100);
  });

  it('lets a longer Retry-After win, fractional seconds included', () => {
    expect(retryDelay(0, spec, 2, 10_000, half)).toBe(2000);
    expect(retryDelay(0, spec, 0.5, 10_000, half)).toBe(500);
  });

  it('keeps the jittered delay when Retry-After is shorter', () => {
    expect(retryDelay(1, spec, 0.01, 10_000, half)).toBe(100);
    expect(retryDelay(1, spec, 0, 10_000, half)).toBe(100);
  });

  it('ignores negative and non-finite Retry-After values', () => {
    expect(retryDelay(1, spec, -5, 10_000, half)).toBe(100);
    expect(retryDelay(1, spec, Number.NaN, 10_000, half)).toBe(100);
    expect(retryDelay(1, spec, Number.POSITIVE_INFINITY, 10_000, half)).toBe(100);
  });

  it('does not cap Retry-After at maxDelayMs, only at the time budget', () => {
    expect(retryDelay(0, spec, 30, 60_000, half)).toBe(30_000);
  });

  it('returns undefined when the wait does not fit in the remaining budget', () => {
    expect(retryDelay(0, spec, 10, 5000, half)).toBeUndefined();
    expect(retryDelay(3, spec, undefined, 400, half)).toBeUndefined();
    expect(retryDelay(3, spec, undefined, 401, half)).toBe(400);
    // Sleeping until exactly the deadline would leave no time for the attempt.
    expect(retryDelay(3, spec, undefined, 400, half)).toBeUndefined();
    expect(retryDelay(0, spec, undefined, 0, half)).toBeUndefined();
    expect(retryDelay(0, spec, undefined, -100, half)).toBeUndefined();
    expect(retryDelay(0, spec, undefined, Number.NaN, half)).toBeUndefined();
  });

  it('allows any wait with an unbounded budget', () => {
    expect(retryDelay(0, spec, 3600, Number.POSITIVE_INFINITY, half)).toBe(3_600_000);
  });

  it('handles retry 1000', () => {
    expect(retryDelay(1000, spec, undefined, 10_000, half)).toBe(500);
  });
});
