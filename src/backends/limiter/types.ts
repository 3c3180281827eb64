/**
 * The limiter backend: one atomic decision over several rate limits and budget caps at once.
 *
 * Rate limits are leaky buckets (equivalent to GCRA): a bucket holds `level` units that drain at
 * `limit / windowMs`; a consume of `cost` fits when `level + cost <= limit`. That is O(1) per limit, has no
 * window-boundary burst, and a refund is exact (the level goes down by what was not used).
 *
 * Budgets are plain integer counters (micro-dollars) per window: a reservation fits when
 * `spent + amount <= cap`.
 *
 * A decision admits only when every rate limit and every budget fits, and then consumes them all; a
 * rejected decision consumes nothing (unlike libraries that count a rejected consume against the key).
 * Costs are integers: callers round up (`Math.ceil`) before they get here, and backends reject anything
 * else, so a fractional count can never silently become 0 or throw halfway through.
 */

export interface RateCharge {
  /** Backend-relative key; the backend adds its own prefix. */
  key: string;
  /** Capacity: units per window (integer >= 1). */
  limit: number;
  /** The time in which a full bucket drains (ms, integer >= 1). */
  windowMs: number;
  /** Units to consume (integer >= 0). */
  cost: number;
}

export interface BudgetCharge {
  key: string;
  /** Cap for this window in micro-dollars (integer >= 0). */
  capMicros: number;
  /** Reservation in micro-dollars (integer >= 0). */
  amountMicros: number;
  /** How long the counter lives after its first write (ms); 0 = forever (the `total` window). */
  ttlMs: number;
}

export interface RateState {
  limit: number;
  /** Whole units left after this decision. */
  remaining: number;
  /** ms until the bucket is empty again (OpenAI's x-ratelimit-reset-*). */
  resetMs: number;
}

export interface BudgetState {
  capMicros: number;
  /** Spent plus reserved, after this decision. */
  spentMicros: number;
}

export type Blocked = { kind: 'rate' | 'budget'; index: number };

export interface Decision {
  ok: boolean;
  /** The first charge that did not fit (rate limits are checked before budgets). */
  blocked: Blocked | undefined;
  /**
   * ms until the blocking charges could fit, if nothing else consumes meanwhile. -1 when they never can:
   * a cost above a limit's capacity, or a budget that only a new window would free.
   */
  retryAfterMs: number;
  /** One per rate charge, in order; after the consume when ok, as found when not. */
  rates: RateState[];
  budgets: BudgetState[];
}

/** A correction after the fact: negative deltas return unused units, positive ones add what was used. */
export interface RateAdjust {
  key: string;
  limit: number;
  windowMs: number;
  delta: number;
}

export interface BudgetAdjust {
  key: string;
  deltaMicros: number;
  ttlMs: number;
  /**
   * The reservation this adjustment settles (micro-dollars, >= 0): taken off the counter's `reserved`
   * part, so what is left there is only what requests still in flight hold.
   */
  releaseMicros?: number | undefined;
}

/** One budget counter as usage views show it. */
export interface BudgetUsage {
  /** What the cap is checked against: spent plus reserved. */
  countedMicros: number;
  /** Reservations of requests not yet settled (part of `countedMicros`). */
  reservedMicros: number;
}

export interface LimiterBackend {
  readonly kind: 'memory' | 'redis';
  decide(rates: readonly RateCharge[], budgets: readonly BudgetCharge[]): Promise<Decision>;
  adjust(rates: readonly RateAdjust[], budgets: readonly BudgetAdjust[]): Promise<void>;
  /** Current spend per budget key (0 when unknown), reservations included. */
  spent(keys: readonly string[]): Promise<number[]>;
  /** Per budget key: the counter and the part of it that is reservations in flight, for usage views. */
  budgetUsage(keys: readonly string[]): Promise<BudgetUsage[]>;
  close(): Promise<void>;
}

export class LimiterInputError extends Error {}

/** The companion counter of a budget key that holds its reservations in flight. */
export function reservedKey(key: string): string {
  return `${key}:r`;
}

/**
 * How long a reservation counter outlives its last reservation. A request that never settles (its
 * instance died) stops showing as reserved after this; its reservation stays counted as spent.
 */
export const RESERVED_TTL_MS = 3_600_000;

export function checkCharges(rates: readonly RateCharge[], budgets: readonly BudgetCharge[]): void {
  for (const r of rates) {
    if (!(Number.isSafeInteger(r.limit) && r.limit >= 1))
      throw new LimiterInputError(`bad limit for ${r.key}`);
    if (!(Number.isSafeInteger(r.windowMs) && r.windowMs >= 1))
      throw new LimiterInputError(`bad window for ${r.key}`);
    if (!(Number.isSafeInteger(r.cost) && r.cost >= 0)) throw new LimiterInputError(`bad cost for ${r.key}`);
  }
  for (const b of budgets) {
    if (!(Number.isSafeInteger(b.capMicros) && b.capMicros >= 0))
      throw new LimiterInputError(`bad cap for ${b.key}`);
    if (!(Number.isSafeInteger(b.amountMicros) && b.amountMicros >= 0))
      throw new LimiterInputError(`bad amount for ${b.key}`);
    if (!(Number.isSafeInteger(b.ttlMs) && b.ttlMs >= 0)) throw new LimiterInputError(`bad ttl for ${b.key}`);
  }
}

export function checkAdjusts(rates: readonly RateAdjust[], budgets: readonly BudgetAdjust[]): void {
  for (const r of rates) {
    if (!(Number.isSafeInteger(r.limit) && r.limit >= 1))
      throw new LimiterInputError(`bad limit for ${r.key}`);
    if (!(Number.isSafeInteger(r.windowMs) && r.windowMs >= 1))
      throw new LimiterInputError(`bad window for ${r.key}`);
    if (!Number.isSafeInteger(r.delta)) throw new LimiterInputError(`bad delta for ${r.key}`);
  }
  for (const b of budgets) {
    if (!Number.isSafeInteger(b.deltaMicros)) throw new LimiterInputError(`bad delta for ${b.key}`);
    if (!(Number.isSafeInteger(b.ttlMs) && b.ttlMs >= 0)) throw new LimiterInputError(`bad ttl for ${b.key}`);
    const r = b.releaseMicros;
    if (r !== undefined && !(Number.isSafeInteger(r) && r >= 0))
      throw new LimiterInputError(`bad release for ${b.key}`);
  }
}
