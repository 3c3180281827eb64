import { describe, expect, it } from 'vitest';
import { MemoryLimiter } from '../../src/backends/limiter/memory.js';
import { boundedLru } from '../../src/core/bounded-lru.js';

describe('boundedLru', () => {
  it('holds at most maxEntries; a set beyond the bound evicts the least recently used', () => {
    const lru = boundedLru<string, number>({ maxEntries: 3 });
    for (const [i, k] of ['a', 'b', 'c'].entries()) lru.set(k, i);
    lru.get('a');
    lru.set('d', 3);
    expect(lru.size).toBe(3);
    expect([...lru.keys()].sort()).toEqual(['a', 'c', 'd']);
    for (let i = 0; i < 10_000; i++) lru.set(`k${i}`, i);
    expect(lru.size).toBe(3);
    expect([...lru.keys()].sort()).toEqual(['k9997', 'k9998', 'k9999']);
  });

  it('expires entries by TTL, default and per set', () => {
    let now = 1_000;
    const lru = boundedLru<string, number>({
      maxEntries: 10,
      ttl: 100,
      ttlResolution: 0,
      perf: { now: () => now },
    });
    lru.set('a', 1);
    lru.set('b', 2, { ttl: 500 });
    now += 101;
    expect(lru.get('a')).toBeUndefined();
    expect(lru.get('b')).toBe(2);
    now += 400;
    expect(lru.get('b')).toBeUndefined();
  });

  it('keeps an entry set without a TTL when later entries have one (TTL tracking starts on first use)', () => {
    let now = 1_000;
    const lru = boundedLru<string, number>({ maxEntries: 10, ttlResolution: 0, perf: { now: () => now } });
    lru.set('forever', 1);
    lru.set('brief', 2, { ttl: 100 });
    now += 1_000_000;
    expect(lru.get('forever')).toBe(1);
    expect(lru.get('brief')).toBeUndefined();
  });

  it('rejects a bound that is not a positive integer', () => {
    expect(() => boundedLru({ maxEntries: 0 })).toThrow(TypeError);
    expect(() => boundedLru({ maxEntries: 1.5 })).toThrow(TypeError);
  });
});

describe('MemoryLimiter bounds', () => {
  it('tracks at most maxBuckets buckets and maxBudgets counters, however many keys arrive', async () => {
    const m = new MemoryLimiter({ maxBuckets: 4, maxBudgets: 2 });
    for (let i = 0; i < 1_000; i++) {
      await m.decide(
        [{ key: `r${i}`, cost: 1, limit: 10, windowMs: 60_000 }],
        [{ key: `b${i}`, amountMicros: 1, capMicros: 10, ttlMs: 60_000 }],
      );
    }
    const rates = await m.decide(
      [0, 1, 2, 3, 4].map((i) => ({ key: `r${999 - i}`, cost: 0, limit: 10, windowMs: 60_000 })),
      [],
    );
    // The four most recent buckets are still tracked (one used), the fifth most recent was evicted.
    expect(rates.rates.map((r) => r.remaining)).toEqual([9, 9, 9, 9, 10]);
    expect(await m.spent(['b999', 'b998', 'b997'])).toEqual([1, 1, 0]);
  });
});
