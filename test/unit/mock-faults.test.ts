import { describe, expect, it } from 'vitest';
import {
  createRng,
  DRAWS_PER_PLAN,
  type FaultPlan,
  malformedIndex,
  NO_FAULTS,
  planFaults,
  type Rng,
  sampleLatency,
} from '../../src/providers/mock/faults.js';
import type { MockFaults } from '../../src/types/config.js';

const N = 10_000;

function faults(over: Partial<MockFaults>): MockFaults {
  return {
    seed: undefined,
    errors: [],
    latency: undefined,
    resetProbability: 0,
    hangProbability: 0,
    malformedProbability: 0,
    streamCutAfter: undefined,
    streamCutProbability: 0,
    ...over,
  };
}

function plans(f: MockFaults, stream: boolean, seed = 42, n = N): FaultPlan[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => planFaults(f, rng, stream));
}

function rate(ps: FaultPlan[], pred: (p: FaultPlan) => boolean): number {
  return ps.filter(pred).length / ps.length;
}

function frac(xs: number[], pred: (x: number) => boolean): number {
  return xs.filter(pred).length / xs.length;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function stddev(xs: number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

function latencies(latency: MockFaults['latency'], seed = 42): number[] {
  return plans(faults({ latency }), false, seed).map((p) => p.latencyMs);
}

describe('createRng', () => {
  it('is deterministic for a seed, distinct across seeds, and in [0, 1)', () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const sa = Array.from({ length: 1000 }, () => a());
    const sb = Array.from({ length: 1000 }, () => b());
    const sc = Array.from({ length: 1000 }, () => c());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    expect(sa.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(mean(sa)).toBeCloseTo(0.5, 1);
  });

  it('falls back to Math.random without a seed', () => {
    expect(createRng(undefined)).toBe(Math.random);
  });
});

describe('planFaults', () => {
  it('plans nothing, and draws nothing, without faults', () => {
    let draws = 0;
    const rng: Rng = () => {
      draws++;
      return 0;
    };
    expect(planFaults(undefined, rng, true)).toBe(NO_FAULTS);
    expect(draws).toBe(0);
  });

  it('draws the same number of values per request whatever the config and mode', () => {
    for (const [f, stream] of [
      [faults({}), false],
      [
        faults({ errors: [{ status: 500, probability: 1, message: undefined, retryAfterMs: undefined }] }),
        true,
      ],
      [faults({ streamCutAfter: 2, streamCutProbability: 1 }), true],
      [
        faults({
          latency: { distribution: 'normal', minMs: 0, maxMs: 0, meanMs: 10, stddevMs: 5 },
          hangProbability: 1,
        }),
        false,
      ],
    ] as const) {
      let draws = 0;
      const base = createRng(1);
      const rng: Rng = () => {
        draws++;
        return base();
      };
      planFaults(f, rng, stream);
      expect(draws).toBe(DRAWS_PER_PLAN);
    }
  });

  it('fires a 0.3 error 30% ± 2% of the time, with its status, message and retry-after', () => {
    const f = faults({
      errors: [{ status: 429, probability: 0.3, message: 'slow down', retryAfterMs: 2000 }],
    });
    const ps = plans(f, false);
    expect(rate(ps, (p) => p.outcome.kind === 'error')).toBeGreaterThanOrEqual(0.28);
    expect(rate(ps, (p) => p.outcome.kind === 'error')).toBeLessThanOrEqual(0.32);
    expect(rate(ps, (p) => p.outcome.kind === 'ok')).toBe(1 - rate(ps, (p) => p.outcome.kind === 'error'));
    expect(ps.find((p) => p.outcome.kind === 'error')!.outcome).toEqual({
      kind: 'error',
      status: 429,
      message: 'slow down',
      retryAfterMs: 2000,
    });
  });

  it('gives each configured fault exactly its own rate (one shared draw, not independent dice)', () => {
    const f = faults({
      resetProbability: 0.05,
      hangProbability: 0.05,
      errors: [
        { status: 429, probability: 0.1, message: undefined, retryAfterMs: undefined },
        { status: 500, probability: 0.2, message: undefined, retryAfterMs: undefined },
      ],
      malformedProbability: 0.1,
    });
    const ps = plans(f, false);
    const within = (r: number, p: number) => {
      expect(r).toBeGreaterThanOrEqual(p - 0.02);
      expect(r).toBeLessThanOrEqual(p + 0.02);
    };
    within(
      rate(ps, (p) => p.outcome.kind === 'reset'),
      0.05,
    );
    within(
      rate(ps, (p) => p.outcome.kind === 'hang'),
      0.05,
    );
    within(
      rate(ps, (p) => p.outcome.kind === 'error' && p.outcome.status === 429),
      0.1,
    );
    within(
      rate(ps, (p) => p.outcome.kind === 'error' && p.outcome.status === 500),
      0.2,
    );
    within(
      rate(ps, (p) => p.outcome.kind === 'malformed'),
      0.1,
    );
    within(
      rate(ps, (p) => p.outcome.kind === 'ok'),
      0.5,
    );
  });

  it('takes the first entry in order when probabilities add up past 1', () => {
    const f = faults({
      errors: [
        { status: 503, probability: 1, message: undefined, retryAfterMs: undefined },
        { status: 500, probability: 1, message: 'never', retryAfterMs: undefined },
      ],
    });
    expect(plans(f, false, 3, 100).map((p) => p.outcome)).toEqual(
      Array(100).fill({
        kind: 'error',
        status: 503,
        message: 'mock provider fault: HTTP 503',
        retryAfterMs: undefined,
      }),
    );
  });

  it('puts a malformed event anywhere in the stream', () => {
    const ps = plans(faults({ malformedProbability: 1 }), true);
    const fractions = ps.map((p) => (p.outcome.kind === 'malformed' ? p.outcome.atFraction : -1));
    expect(fractions.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(mean(fractions)).toBeGreaterThan(0.48);
    expect(mean(fractions)).toBeLessThan(0.52);
  });

  it('cuts streams only, at the configured point and probability, after request-level faults', () => {
    const always = faults({ streamCutAfter: 3, streamCutProbability: 1 });
    expect(plans(always, true, 1, 50).map((p) => p.outcome)).toEqual(
      Array(50).fill({ kind: 'cut', after: 3 }),
    );
    expect(plans(always, false, 1, 50).map((p) => p.outcome)).toEqual(Array(50).fill({ kind: 'ok' }));

    const quarter = plans(faults({ streamCutAfter: 5, streamCutProbability: 0.25 }), true);
    expect(rate(quarter, (p) => p.outcome.kind === 'cut')).toBeGreaterThanOrEqual(0.23);
    expect(rate(quarter, (p) => p.outcome.kind === 'cut')).toBeLessThanOrEqual(0.27);

    // A request that fails before the stream opens never reaches the cut.
    const both = faults({
      streamCutAfter: 3,
      streamCutProbability: 1,
      errors: [{ status: 500, probability: 0.4, message: undefined, retryAfterMs: undefined }],
    });
    const ps = plans(both, true);
    expect(rate(ps, (p) => p.outcome.kind === 'error') + rate(ps, (p) => p.outcome.kind === 'cut')).toBe(1);
  });

  it('replays the same sequence for the same seed, whether or not requests stream', () => {
    const f = faults({
      seed: 99,
      errors: [{ status: 500, probability: 0.5, message: undefined, retryAfterMs: undefined }],
      latency: { distribution: 'uniform', minMs: 0, maxMs: 100, meanMs: 0, stddevMs: 0 },
      streamCutAfter: 2,
      streamCutProbability: 0.5,
    });
    const a = plans(f, false, 99, 200);
    expect(plans(f, false, 99, 200)).toEqual(a);

    const rng = createRng(99);
    const mixed = Array.from({ length: 200 }, (_, i) => planFaults(f, rng, i % 2 === 0));
    expect(mixed.map((p) => p.outcome.kind === 'error')).toEqual(a.map((p) => p.outcome.kind === 'error'));
    expect(mixed.map((p) => p.latencyMs)).toEqual(a.map((p) => p.latencyMs));
    // The first statuses for seed 99, pinned so a change to the generator is a visible decision.
    expect(a.slice(0, 12).map((p) => (p.outcome.kind === 'error' ? 500 : 200))).toEqual([
      500, 200, 500, 500, 200, 200, 200, 500, 200, 200, 200, 500,
    ]);
  });
});

describe('latency distributions (10k samples, seed 42)', () => {
  it('fixed: the mean, or the min when no mean is given', () => {
    expect(
      new Set(latencies({ distribution: 'fixed', minMs: 0, maxMs: 0, meanMs: 150, stddevMs: 0 })),
    ).toEqual(new Set([150]));
    expect(
      new Set(latencies({ distribution: 'fixed', minMs: 80, maxMs: 0, meanMs: 0, stddevMs: 0 })),
    ).toEqual(new Set([80]));
  });

  it('uniform: within [min, max], mean in the middle, flat', () => {
    const xs = latencies({ distribution: 'uniform', minMs: 100, maxMs: 300, meanMs: 0, stddevMs: 0 });
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...xs)).toBeLessThanOrEqual(300);
    expect(Math.abs(mean(xs) - 200)).toBeLessThan(3);
    // Uniform over 200ms: stddev 200/sqrt(12) = 57.7.
    expect(Math.abs(stddev(xs) - 57.7)).toBeLessThan(2);
    expect(Math.abs(frac(xs, (x) => x < 150) - 0.25)).toBeLessThan(0.02);
  });

  it('normal: the configured mean and stddev', () => {
    const xs = latencies({ distribution: 'normal', minMs: 0, maxMs: 0, meanMs: 500, stddevMs: 100 });
    expect(Math.abs(mean(xs) - 500)).toBeLessThan(4);
    expect(Math.abs(stddev(xs) - 100)).toBeLessThan(4);
    // Within one stddev: 68.3%.
    expect(Math.abs(frac(xs, (x) => Math.abs(x - 500) <= 100) - 0.683)).toBeLessThan(0.02);
  });

  it('normal: clamped at 0 (and at min, and at max when set)', () => {
    const xs = latencies({ distribution: 'normal', minMs: 0, maxMs: 0, meanMs: 50, stddevMs: 100 });
    expect(Math.min(...xs)).toBe(0);
    // P(N(50, 100) < 0) = P(Z < -0.5) = 30.9%.
    expect(Math.abs(frac(xs, (x) => x === 0) - 0.309)).toBeLessThan(0.02);
    const bounded = latencies({ distribution: 'normal', minMs: 400, maxMs: 600, meanMs: 500, stddevMs: 200 });
    expect(Math.min(...bounded)).toBe(400);
    expect(Math.max(...bounded)).toBe(600);
  });

  it('exponential: the configured mean, a median of mean·ln2, a long tail', () => {
    const xs = latencies({ distribution: 'exponential', minMs: 0, maxMs: 0, meanMs: 200, stddevMs: 0 });
    expect(Math.abs(mean(xs) - 200)).toBeLessThan(8);
    const sorted = [...xs].sort((a, b) => a - b);
    expect(Math.abs(sorted[N / 2]! - 200 * Math.LN2)).toBeLessThan(6);
    // P(X > 3·mean) = e^-3 = 4.98%.
    expect(Math.abs(frac(xs, (x) => x > 600) - 0.0498)).toBeLessThan(0.01);
  });

  it('exponential with a min: a floor plus a tail, keeping the configured mean', () => {
    const xs = latencies({ distribution: 'exponential', minMs: 100, maxMs: 0, meanMs: 300, stddevMs: 0 });
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(100);
    expect(Math.abs(mean(xs) - 300)).toBeLessThan(8);
    const capped = latencies({ distribution: 'exponential', minMs: 0, maxMs: 250, meanMs: 200, stddevMs: 0 });
    expect(Math.max(...capped)).toBe(250);
  });

  it('samples whole milliseconds; none without a latency block', () => {
    expect(sampleLatency(undefined, 0.5, 0.5)).toBe(0);
    expect(
      sampleLatency({ distribution: 'uniform', minMs: 0, maxMs: 10, meanMs: 0, stddevMs: 0 }, 0.123, 0),
    ).toBe(1);
  });
});

describe('malformedIndex', () => {
  it('maps [0, 1) onto the chunk indices', () => {
    expect(malformedIndex(0, 10)).toBe(0);
    expect(malformedIndex(0.35, 10)).toBe(3);
    expect(malformedIndex(0.999999, 10)).toBe(9);
  });
});
