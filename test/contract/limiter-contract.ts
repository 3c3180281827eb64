import { describe, expect, it } from 'vitest';
import { type LimiterBackend, LimiterInputError, type RateCharge } from '../../src/backends/limiter/types.js';

/**
 * ONE contract for every limiter backend. `factory` returns a fresh backend whose keys cannot collide
 * with another test's (the Redis factory uses a unique prefix per run).
 */
export function limiterContract(name: string, factory: () => Promise<LimiterBackend>): void {
  const rate = (key: string, limit: number, windowMs: number, cost = 1): RateCharge => ({
    key,
    limit,
    windowMs,
    cost,
  });
  const DAY = 86_400_000;

  async function until(check: () => Promise<boolean>, limitMs = 3_000): Promise<void> {
    const end = Date.now() + limitMs;
    while (!(await check())) {
      if (Date.now() > end) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  describe(`limiter contract: ${name}`, () => {
    it('admits exactly the limit out of a concurrent burst, and reports what is left', async () => {
      const b = await factory();
      const results = await Promise.all(
        Array.from({ length: 250 }, () => b.decide([rate('burst', 100, DAY)], [])),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(100);
      const rejected = results.filter((r) => !r.ok);
      expect(rejected).toHaveLength(150);
      for (const r of rejected) {
        expect(r.blocked).toEqual({ kind: 'rate', index: 0 });
        // One unit drains in DAY / 100 ms.
        expect(r.retryAfterMs).toBeGreaterThan(DAY / 100 - 1_000);
        expect(r.retryAfterMs).toBeLessThanOrEqual(DAY / 100);
        expect(r.rates[0]?.remaining).toBe(0);
      }
      const remainders = results.filter((r) => r.ok).map((r) => r.rates[0]?.remaining);
      expect(new Set(remainders).size).toBe(100);
      expect(Math.min(...(remainders as number[]))).toBe(0);
      expect(Math.max(...(remainders as number[]))).toBe(99);
      await b.close();
    });

    it('remaining and reset follow the bucket: 1 of 10 per 1000 ms resets in 100 ms', async () => {
      const b = await factory();
      const d = await b.decide([rate('hdr', 10, 1_000)], []);
      expect(d.ok).toBe(true);
      expect(d.rates[0]).toEqual({ limit: 10, remaining: 9, resetMs: 100 });
      const e = await b.decide([rate('hdr-tokens', 1000, 60_000, 250)], []);
      expect(e.rates[0]).toEqual({ limit: 1000, remaining: 750, resetMs: 15_000 });
      await b.close();
    });

    it('a rejected decision consumes nothing, on any of its limits', async () => {
      const b = await factory();
      expect((await b.decide([rate('full', 2, DAY, 2)], [])).ok).toBe(true);
      for (let i = 0; i < 5; i++) {
        const d = await b.decide([rate('roomy', 10, DAY, 3), rate('full', 2, DAY)], []);
        expect(d.ok).toBe(false);
        expect(d.blocked).toEqual({ kind: 'rate', index: 1 });
        expect(d.rates[0]?.remaining).toBe(10);
      }
      const probe = await b.decide([rate('roomy', 10, DAY, 0)], []);
      expect(probe.ok).toBe(true);
      expect(probe.rates[0]?.remaining).toBe(10);
      // Rejections did not extend the blocked limit either: a refund of 1 makes exactly one fit.
      await b.adjust([{ key: 'full', limit: 2, windowMs: DAY, delta: -1 }], []);
      expect((await b.decide([rate('full', 2, DAY)], [])).ok).toBe(true);
      expect((await b.decide([rate('full', 2, DAY)], [])).ok).toBe(false);
      await b.close();
    });

    it('a cost above the capacity never fits (retry -1) and consumes nothing', async () => {
      const b = await factory();
      const d = await b.decide([rate('cap', 100, 60_000, 101)], []);
      expect(d.ok).toBe(false);
      expect(d.retryAfterMs).toBe(-1);
      const e = await b.decide([rate('cap', 100, 60_000, 100)], []);
      expect(e.ok).toBe(true);
      expect(e.rates[0]?.remaining).toBe(0);
      await b.close();
    });

    it('cost 0 always fits and only reports', async () => {
      const b = await factory();
      await b.decide([rate('zero', 5, DAY, 5)], []);
      const d = await b.decide([rate('zero', 5, DAY, 0)], []);
      expect(d.ok).toBe(true);
      expect(d.rates[0]?.remaining).toBe(0);
      await b.close();
    });

    it('fractional, negative and non-finite counts are refused before anything is consumed', async () => {
      const b = await factory();
      for (const cost of [0.5, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expect(b.decide([rate('ok-first', 10, DAY), rate('frac', 10, DAY, cost)], [])).rejects.toThrow(
          LimiterInputError,
        );
      }
      await expect(
        b.decide([rate('ok-first', 10, DAY)], [{ key: 'bf', capMicros: 10, amountMicros: 1.5, ttlMs: 0 }]),
      ).rejects.toThrow(LimiterInputError);
      await expect(
        b.adjust([{ key: 'ok-first', limit: 10, windowMs: DAY, delta: -0.5 }], []),
      ).rejects.toThrow(LimiterInputError);
      const probe = await b.decide([rate('ok-first', 10, DAY, 0)], []);
      expect(probe.rates[0]?.remaining).toBe(10);
      await b.close();
    });

    it('capacity drains back over the window', async () => {
      const b = await factory();
      expect((await b.decide([rate('drain', 2, 400, 2)], [])).ok).toBe(true);
      const d = await b.decide([rate('drain', 2, 400)], []);
      expect(d.ok).toBe(false);
      expect(d.retryAfterMs).toBeGreaterThan(0);
      expect(d.retryAfterMs).toBeLessThanOrEqual(200);
      await until(async () => (await b.decide([rate('drain', 2, 400)], [])).ok);
      await b.close();
    });

    it('refunds return exactly what was unused and never below empty; overuse is added past the limit', async () => {
      const b = await factory();
      expect((await b.decide([rate('tok', 1000, DAY, 800)], [])).ok).toBe(true);
      await b.adjust([{ key: 'tok', limit: 1000, windowMs: DAY, delta: -300 }], []);
      let d = await b.decide([rate('tok', 1000, DAY, 0)], []);
      expect(d.rates[0]?.remaining).toBe(500);
      await b.adjust([{ key: 'tok', limit: 1000, windowMs: DAY, delta: -5000 }], []);
      d = await b.decide([rate('tok', 1000, DAY, 0)], []);
      expect(d.rates[0]?.remaining).toBe(1000);
      await b.adjust([{ key: 'tok', limit: 1000, windowMs: DAY, delta: 1200 }], []);
      d = await b.decide([rate('tok', 1000, DAY, 1)], []);
      expect(d.ok).toBe(false);
      expect(d.rates[0]?.remaining).toBe(0);
      await b.close();
    });

    it('budgets reserve only what fits, all or nothing, and rejection leaves the rate limits untouched', async () => {
      const b = await factory();
      const cap = (key: string, capMicros: number, amountMicros: number) => ({
        key,
        capMicros,
        amountMicros,
        ttlMs: 0,
      });
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          b.decide([rate('brate', 1000, DAY)], [cap('team-total', 10_000, 700)]),
        ),
      );
      // 14 * 700 = 9800 fits; a 15th would be 10500.
      expect(results.filter((r) => r.ok)).toHaveLength(14);
      const no = results.find((r) => !r.ok);
      expect(no?.blocked).toEqual({ kind: 'budget', index: 0 });
      expect(no?.retryAfterMs).toBe(-1);
      expect(await b.spent(['team-total'])).toEqual([9800]);
      expect((await b.decide([rate('brate', 1000, DAY, 0)], [])).rates[0]?.remaining).toBe(986);
      // Two budgets: the second is full, so the first is not charged either.
      const d = await b.decide([], [cap('key-day', 1000, 100), cap('team-total', 10_000, 300)]);
      expect(d.ok).toBe(false);
      expect(d.blocked).toEqual({ kind: 'budget', index: 1 });
      expect(d.budgets).toEqual([
        { capMicros: 1000, spentMicros: 0 },
        { capMicros: 10_000, spentMicros: 9800 },
      ]);
      expect(await b.spent(['key-day', 'team-total', 'never'])).toEqual([0, 9800, 0]);
      // Exactly to the cap fits.
      expect((await b.decide([], [cap('team-total', 10_000, 200)])).ok).toBe(true);
      await b.close();
    });

    it('budget usage separates reservations in flight from settled spend', async () => {
      const b = await factory();
      const c = { key: 'resv', capMicros: 10_000, amountMicros: 3000, ttlMs: 0 };
      expect((await b.decide([], [c])).ok).toBe(true);
      expect((await b.decide([], [c])).ok).toBe(true);
      expect(await b.budgetUsage(['resv', 'none'])).toEqual([
        { countedMicros: 6000, reservedMicros: 6000 },
        { countedMicros: 0, reservedMicros: 0 },
      ]);
      // The first settles at 1000 (2000 given back), the second at 3500 (500 more).
      await b.adjust([], [{ key: 'resv', deltaMicros: -2000, ttlMs: 0, releaseMicros: 3000 }]);
      expect(await b.budgetUsage(['resv'])).toEqual([{ countedMicros: 4000, reservedMicros: 3000 }]);
      await b.adjust([], [{ key: 'resv', deltaMicros: 500, ttlMs: 0, releaseMicros: 3000 }]);
      expect(await b.budgetUsage(['resv'])).toEqual([{ countedMicros: 4500, reservedMicros: 0 }]);
      // A settlement with nothing to correct still releases its reservation.
      expect((await b.decide([], [c])).ok).toBe(true);
      await b.adjust([], [{ key: 'resv', deltaMicros: 0, ttlMs: 0, releaseMicros: 3000 }]);
      expect(await b.budgetUsage(['resv'])).toEqual([{ countedMicros: 7500, reservedMicros: 0 }]);
      expect(await b.spent(['resv'])).toEqual([7500]);
      await expect(
        b.adjust([], [{ key: 'resv', deltaMicros: 0, ttlMs: 0, releaseMicros: -1 }]),
      ).rejects.toThrow(LimiterInputError);
      await b.close();
    });

    it('budget reconciliation refunds and adds, never below zero; windows expire', async () => {
      const b = await factory();
      const c = { key: 'recon', capMicros: 5000, amountMicros: 3000, ttlMs: 0 };
      expect((await b.decide([], [c])).ok).toBe(true);
      await b.adjust([], [{ key: 'recon', deltaMicros: -1000, ttlMs: 0 }]);
      expect(await b.spent(['recon'])).toEqual([2000]);
      await b.adjust([], [{ key: 'recon', deltaMicros: 4000, ttlMs: 0 }]);
      expect(await b.spent(['recon'])).toEqual([6000]);
      expect((await b.decide([], [{ ...c, amountMicros: 0 }])).ok).toBe(false);
      await b.adjust([], [{ key: 'recon', deltaMicros: -10_000, ttlMs: 0 }]);
      expect(await b.spent(['recon'])).toEqual([0]);
      // A refund against a window that already expired creates nothing.
      await b.adjust([], [{ key: 'gone', deltaMicros: -10, ttlMs: 1000 }]);
      expect(await b.spent(['gone'])).toEqual([0]);
      expect((await b.decide([], [{ key: 'short', capMicros: 100, amountMicros: 100, ttlMs: 150 }])).ok).toBe(
        true,
      );
      expect((await b.decide([], [{ key: 'short', capMicros: 100, amountMicros: 1, ttlMs: 150 }])).ok).toBe(
        false,
      );
      await until(async () => (await b.spent(['short']))[0] === 0);
      expect((await b.decide([], [{ key: 'short', capMicros: 100, amountMicros: 100, ttlMs: 150 }])).ok).toBe(
        true,
      );
      await b.close();
    });
  });
}
