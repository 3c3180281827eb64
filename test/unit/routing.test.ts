import { describe, expect, it } from 'vitest';
import {
  LATENCY_EXPLORE_PROBABILITY,
  orderTargets,
  seededRng,
  type TargetLoad,
} from '../../src/core/routing.js';

interface T {
  id: string;
  weight: number;
}

const idle: TargetLoad = { inFlight: 0, latencyMs: undefined, ttftMs: undefined };
const noLoad = (): TargetLoad => idle;
/** Never below LATENCY_EXPLORE_PROBABILITY, so the latency strategy never explores. */
const noExplore = (): number => 0.5;

function targets(...weights: number[]): T[] {
  return weights.map((weight, i) => ({ id: String.fromCharCode(97 + i), weight }));
}

function ids(order: readonly T[]): string {
  return order.map((t) => t.id).join('');
}

function loads(list: Array<Partial<TargetLoad>>): (i: number) => TargetLoad {
  return (i) => ({ ...idle, ...list[i] });
}

/** First-pick shares over `runs` requests, asserting every order is a permutation of all targets. */
function firstPickShares(ts: readonly T[], runs: number, seed: number): number[] {
  const rng = seededRng(seed);
  const counts = ts.map(() => 0);
  const all = ids(ts);
  for (let i = 0; i < runs; i++) {
    const order = orderTargets(ts, 'weighted', noLoad, rng);
    // Checked on every request rather than sampled: a dropped or duplicated target means a lost failover.
    if (order.length !== ts.length || [...ids(order)].sort().join('') !== all) {
      throw new Error(`request ${i}: '${ids(order)}' is not a permutation of '${all}'`);
    }
    const first = order[0]!;
    counts[ts.indexOf(first)]!++;
  }
  return counts.map((c) => c / runs);
}

describe('orderTargets: weighted', () => {
  it('weights 3:1 are respected within 2 percentage points over 10,000 requests', () => {
    const shares = firstPickShares(targets(3, 1), 10_000, 1);
    expect(Math.abs(shares[0]! - 0.75)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(shares[1]! - 0.25)).toBeLessThanOrEqual(0.02);
  });

  it('weights 5:3:2 are respected within 2 percentage points over 10,000 requests', () => {
    const shares = firstPickShares(targets(5, 3, 2), 10_000, 42);
    expect(Math.abs(shares[0]! - 0.5)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(shares[1]! - 0.3)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(shares[2]! - 0.2)).toBeLessThanOrEqual(0.02);
  });

  it('holds for other seeds too (not a lucky seed)', () => {
    for (const seed of [7, 1234, 0xdeadbeef]) {
      const shares = firstPickShares(targets(5, 3, 2), 10_000, seed);
      expect(Math.abs(shares[0]! - 0.5)).toBeLessThanOrEqual(0.02);
      expect(Math.abs(shares[1]! - 0.3)).toBeLessThanOrEqual(0.02);
      expect(Math.abs(shares[2]! - 0.2)).toBeLessThanOrEqual(0.02);
    }
  });

  it('draws the failover order by weight too (without replacement)', () => {
    // P(b second) = P(a first)·3/5 + P(c first)·3/8 = 0.5·0.6 + 0.2·0.375 = 0.375
    const ts = targets(5, 3, 2);
    const rng = seededRng(3);
    let bSecond = 0;
    for (let i = 0; i < 10_000; i++) if (orderTargets(ts, 'weighted', noLoad, rng)[1]!.id === 'b') bSecond++;
    expect(Math.abs(bSecond / 10_000 - 0.375)).toBeLessThanOrEqual(0.02);
  });

  it('puts zero-weight targets last, in config order, and never first', () => {
    const ts = [
      { id: 'z1', weight: 0 },
      { id: 'a', weight: 1 },
      { id: 'z2', weight: Number.NaN },
      { id: 'b', weight: 1 },
    ];
    const rng = seededRng(9);
    for (let i = 0; i < 200; i++) {
      const order = orderTargets(ts, 'weighted', noLoad, rng).map((t) => t.id);
      expect(order.slice(2)).toEqual(['z1', 'z2']);
      expect(order.slice(0, 2).sort()).toEqual(['a', 'b']);
    }
  });

  it('is deterministic for a given seed', () => {
    const ts = targets(5, 3, 2);
    const run = (): string[] => {
      const rng = seededRng(99);
      return Array.from({ length: 20 }, () => ids(orderTargets(ts, 'weighted', noLoad, rng)));
    };
    expect(run()).toEqual(run());
  });

  it('survives an RNG returning 1 or NaN (picks the last positive-weight target first)', () => {
    expect(ids(orderTargets(targets(1, 1, 0), 'weighted', noLoad, () => 1))).toBe('bac');
    expect(ids(orderTargets(targets(1, 1, 0), 'weighted', noLoad, () => Number.NaN))).toBe('bac');
    expect(ids(orderTargets(targets(1, 1, 0), 'weighted', noLoad, () => 0))).toBe('abc');
  });
});

describe('orderTargets: single target and ordered', () => {
  const mustNotCall = (): never => {
    throw new Error('must not be called');
  };

  it('returns a single target without consulting load or rng', () => {
    const ts = targets(1);
    for (const strategy of ['weighted', 'least-busy', 'latency', 'ordered'] as const) {
      const order = orderTargets(ts, strategy, mustNotCall, mustNotCall);
      expect(order).toEqual(ts);
      expect(order).not.toBe(ts);
    }
    expect(orderTargets([], 'weighted', mustNotCall, mustNotCall)).toEqual([]);
  });

  it('ordered keeps config order, ignores weights and load, and returns a copy', () => {
    const ts = targets(1, 100, 5);
    const order = orderTargets(ts, 'ordered', mustNotCall, mustNotCall);
    expect(ids(order)).toBe('abc');
    expect(order).not.toBe(ts);
  });
});

describe('orderTargets: least-busy', () => {
  it('orders by ascending in-flight count', () => {
    const ts = targets(1, 1, 1);
    const rng = seededRng(5);
    for (let i = 0; i < 100; i++) {
      expect(
        ids(orderTargets(ts, 'least-busy', loads([{ inFlight: 3 }, { inFlight: 0 }, { inFlight: 2 }]), rng)),
      ).toBe('bca');
    }
  });

  it('breaks ties by weight-random', () => {
    const ts = targets(3, 1, 10);
    const load = loads([{ inFlight: 1 }, { inFlight: 1 }, { inFlight: 4 }]);
    const rng = seededRng(11);
    let aFirst = 0;
    for (let i = 0; i < 10_000; i++) {
      const order = ids(orderTargets(ts, 'least-busy', load, rng));
      // The busiest stays last however heavy its weight.
      expect(order[2]).toBe('c');
      if (order[0] === 'a') aFirst++;
    }
    expect(Math.abs(aFirst / 10_000 - 0.75)).toBeLessThanOrEqual(0.02);
  });

  it('reads each target load once, by config index', () => {
    const seen: number[] = [];
    orderTargets(
      targets(1, 1, 1),
      'least-busy',
      (i) => {
        seen.push(i);
        return idle;
      },
      seededRng(1),
    );
    expect(seen).toEqual([0, 1, 2]);
  });
});

describe('orderTargets: latency', () => {
  it('prefers the lower EWMA latency', () => {
    const ts = targets(1, 1, 1);
    const load = loads([{ latencyMs: 300 }, { latencyMs: 100 }, { latencyMs: 200 }]);
    expect(ids(orderTargets(ts, 'latency', load, noExplore))).toBe('bca');
  });

  it('puts unmeasured targets first so they get measured', () => {
    const ts = targets(1, 1, 1);
    const load = loads([{ latencyMs: 100 }, {}, { latencyMs: 50 }]);
    expect(ids(orderTargets(ts, 'latency', load, noExplore))).toBe('bca');
  });

  it('scores by the mean of latency and TTFT when both are measured, or by whichever is', () => {
    const ts = targets(1, 1, 1);
    // a: (1000 + 100) / 2 = 550, b: (600 + 600) / 2 = 600, c: TTFT only, 580
    const load = loads([{ latencyMs: 1000, ttftMs: 100 }, { latencyMs: 600, ttftMs: 600 }, { ttftMs: 580 }]);
    expect(ids(orderTargets(ts, 'latency', load, noExplore))).toBe('acb');
  });

  it('explores with a weight-random order on a small share of requests', () => {
    const ts = targets(1, 1);
    const load = loads([{ latencyMs: 500 }, { latencyMs: 100 }]);
    expect(ids(orderTargets(ts, 'latency', load, () => 0))).toBe('ab');
    const rng = seededRng(17);
    let slowFirst = 0;
    for (let i = 0; i < 10_000; i++) if (orderTargets(ts, 'latency', load, rng)[0]!.id === 'a') slowFirst++;
    // Exploring requests pick the slow one half the time (equal weights).
    expect(Math.abs(slowFirst / 10_000 - LATENCY_EXPLORE_PROBABILITY / 2)).toBeLessThanOrEqual(0.01);
  });
});

describe('seededRng', () => {
  it('is deterministic per seed, in [0, 1), and differs across seeds', () => {
    const a = seededRng(123);
    const b = seededRng(123);
    const c = seededRng(124);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c())).not.toEqual(xs);
    for (const x of xs) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });

  it('matches the reference mulberry32 sequence', () => {
    const rng = seededRng(1);
    expect([rng(), rng(), rng()]).toEqual([0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
  });
});
