import type { LRUCache } from 'lru-cache';
import { boundedLru } from '../../core/bounded-lru.js';
import { drained, fits, remaining, resetMs, waitMs } from './bucket.js';
import {
  type BudgetAdjust,
  type BudgetCharge,
  type BudgetState,
  type BudgetUsage,
  checkAdjusts,
  checkCharges,
  type Decision,
  type LimiterBackend,
  type RateAdjust,
  type RateCharge,
  type RateState,
} from './types.js';

interface Bucket {
  level: number;
  ts: number;
}
interface Counter {
  /** Spent plus reserved: what the cap is checked against. */
  spent: number;
  /** Reservations not yet settled (part of `spent`). */
  reserved: number;
}

export interface MemoryLimiterOptions {
  /** Bound on tracked buckets; the least recently used empty-ish ones go first. */
  maxBuckets?: number;
  maxBudgets?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

/**
 * One process's limits. Decisions are synchronous inside, so they are atomic without locks. Memory is
 * bounded: both maps are LRU-capped, and budget counters expire with their window.
 */
export class MemoryLimiter implements LimiterBackend {
  readonly kind = 'memory' as const;
  private readonly buckets: LRUCache<string, Bucket>;
  private readonly counters: LRUCache<string, Counter>;
  private readonly now: () => number;

  constructor(opts: MemoryLimiterOptions = {}) {
    // Buckets carry no TTL and are updated in place: a bucket's level drains with time by itself
    // (`drained`), so an old bucket reads as empty exactly when a TTL would have expired it, and a
    // request costs a lookup per limit instead of a new object and an LRU re-insert with TTL bookkeeping.
    // Memory stays bounded by the LRU: the least recently used buckets (the drained ones) go first.
    // Nothing is ever deleted on the request path: lru-cache's delete of the only entry clears the whole
    // cache, filling its arrays on every request of a lone caller.
    // boundedLru: the arrays grow with the keys tracked instead of being allocated for the bound.
    this.buckets = boundedLru({ maxEntries: opts.maxBuckets ?? 200_000 });
    // noDeleteOnStaleGet: a get of an expired counter answers undefined but leaves the entry for the
    // next set to overwrite (the LRU bound still holds), for the same reason.
    this.counters = boundedLru({ maxEntries: opts.maxBudgets ?? 100_000, noDeleteOnStaleGet: true });
    this.now = opts.now ?? Date.now;
  }

  async decide(rates: readonly RateCharge[], budgets: readonly BudgetCharge[]): Promise<Decision> {
    return this.decideSync(rates, budgets);
  }

  decideSync(rates: readonly RateCharge[], budgets: readonly BudgetCharge[]): Decision {
    checkCharges(rates, budgets);
    const now = this.now();
    const levels = new Array<number>(rates.length);
    let blocked: Decision['blocked'];
    let retryAfterMs = 0;
    for (let i = 0; i < rates.length; i++) {
      const r = rates[i] as RateCharge;
      const b = this.buckets.get(r.key);
      const level = b ? drained(b.level, b.ts, now, r.limit, r.windowMs) : 0;
      levels[i] = level;
      if (!fits(level, r.cost, r.limit)) {
        blocked ??= { kind: 'rate', index: i };
        const w = waitMs(level, r.cost, r.limit, r.windowMs);
        retryAfterMs = w < 0 || retryAfterMs < 0 ? -1 : Math.max(retryAfterMs, w);
      }
    }
    const spent = new Array<number>(budgets.length);
    for (let i = 0; i < budgets.length; i++) {
      const b = budgets[i] as BudgetCharge;
      const s = this.counters.get(b.key)?.spent ?? 0;
      spent[i] = s;
      if (s + b.amountMicros > b.capMicros) {
        blocked ??= { kind: 'budget', index: i };
        retryAfterMs = -1;
      }
    }
    const ok = blocked === undefined;
    const rateStates: RateState[] = new Array(rates.length);
    for (let i = 0; i < rates.length; i++) {
      const r = rates[i] as RateCharge;
      const level = ok ? (levels[i] as number) + r.cost : (levels[i] as number);
      if (ok && r.cost > 0) this.fill(r.key, level, now);
      rateStates[i] = {
        limit: r.limit,
        remaining: remaining(level, r.limit),
        resetMs: resetMs(level, r.limit, r.windowMs),
      };
    }
    const budgetStates: BudgetState[] = new Array(budgets.length);
    for (let i = 0; i < budgets.length; i++) {
      const b = budgets[i] as BudgetCharge;
      let s = spent[i] as number;
      if (ok && b.amountMicros > 0) {
        s += b.amountMicros;
        this.addSpent(b.key, b.amountMicros, b.ttlMs, b.amountMicros);
      }
      budgetStates[i] = { capMicros: b.capMicros, spentMicros: s };
    }
    return { ok, blocked, retryAfterMs: ok ? 0 : retryAfterMs, rates: rateStates, budgets: budgetStates };
  }

  async adjust(rates: readonly RateAdjust[], budgets: readonly BudgetAdjust[]): Promise<void> {
    this.adjustSync(rates, budgets);
  }

  /** {@link adjust}, done when it returns: the limits service's in-memory reconciliation. */
  adjustSync(rates: readonly RateAdjust[], budgets: readonly BudgetAdjust[]): void {
    checkAdjusts(rates, budgets);
    const now = this.now();
    for (const r of rates) {
      if (r.delta === 0) continue;
      const b = this.buckets.get(r.key);
      const current = b ? drained(b.level, b.ts, now, r.limit, r.windowMs) : 0;
      const level = Math.max(0, current + r.delta);
      if (b) {
        b.level = level;
        b.ts = now;
      } else if (level > 0) this.buckets.set(r.key, { level, ts: now });
    }
    for (const b of budgets) {
      if (b.deltaMicros !== 0 || b.releaseMicros) {
        this.addSpent(b.key, b.deltaMicros, b.ttlMs, -(b.releaseMicros ?? 0));
      }
    }
  }

  async spent(keys: readonly string[]): Promise<number[]> {
    return keys.map((k) => this.counters.get(k)?.spent ?? 0);
  }

  async budgetUsage(keys: readonly string[]): Promise<BudgetUsage[]> {
    return keys.map((k) => {
      const c = this.counters.get(k);
      return c
        ? { countedMicros: c.spent, reservedMicros: Math.min(c.reserved, c.spent) }
        : { countedMicros: 0, reservedMicros: 0 };
    });
  }

  /** The bucket at `key` now holds `level`: changed in place (the get that read it made it most recent). */
  private fill(key: string, level: number, now: number): void {
    const b = this.buckets.peek(key);
    if (b) {
      b.level = level;
      b.ts = now;
    } else this.buckets.set(key, { level, ts: now });
  }

  private addSpent(key: string, delta: number, ttlMs: number, reservedDelta: number): void {
    const c = this.counters.get(key);
    // The window's expiry is fixed by its first write, like the Redis counter's.
    if (c) {
      c.spent = Math.max(0, c.spent + delta);
      c.reserved = Math.max(0, c.reserved + reservedDelta);
    } else if (delta > 0) {
      this.counters.set(
        key,
        { spent: delta, reserved: Math.max(0, reservedDelta) },
        ttlMs > 0 ? { ttl: ttlMs } : {},
      );
    }
  }

  async close(): Promise<void> {
    this.buckets.clear();
    this.counters.clear();
  }
}
