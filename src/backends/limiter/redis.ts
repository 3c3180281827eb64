import type { Redis } from 'ioredis';
import { ADJUST_LUA, DECIDE_LUA } from './scripts.js';
import {
  type BudgetAdjust,
  type BudgetCharge,
  type BudgetUsage,
  checkAdjusts,
  checkCharges,
  type Decision,
  type LimiterBackend,
  type RateAdjust,
  type RateCharge,
  reservedKey,
} from './types.js';

/** The two scripts as ioredis commands; the first argument is the number of keys. */
interface LimiterCommands {
  syLimitsDecide(numKeys: number, ...args: Array<string | number>): Promise<number[]>;
  syLimitsAdjust(numKeys: number, ...args: Array<string | number>): Promise<number>;
}

export class RedisUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`redis unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'RedisUnavailableError';
  }
}

/**
 * Limits shared by every instance through one Redis: each decision and each adjustment is one script
 * call, so one round trip and atomic. The connection is the caller's (created with the shared client
 * factory: no offline queue, bounded command timeout); this class only adds the prefix and the scripts.
 */
export class RedisLimiter implements LimiterBackend {
  readonly kind = 'redis' as const;
  private readonly cmd: LimiterCommands;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    redis.defineCommand('syLimitsDecide', { lua: DECIDE_LUA });
    redis.defineCommand('syLimitsAdjust', { lua: ADJUST_LUA });
    // defineCommand adds methods ioredis's types cannot know about.
    this.cmd = redis as unknown as LimiterCommands;
  }

  /** True when commands can be sent now; while false, calls fail fast (no offline queue). */
  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  async decide(rates: readonly RateCharge[], budgets: readonly BudgetCharge[]): Promise<Decision> {
    checkCharges(rates, budgets);
    const args: Array<string | number> = [];
    for (const r of rates) args.push(this.prefix + r.key);
    for (const b of budgets) args.push(this.prefix + b.key);
    for (const b of budgets) args.push(this.prefix + reservedKey(b.key));
    args.push(rates.length);
    for (const r of rates) args.push(r.limit, r.windowMs, r.cost);
    for (const b of budgets) args.push(b.capMicros, b.amountMicros, b.ttlMs);
    let out: number[];
    try {
      out = await this.cmd.syLimitsDecide(rates.length + 2 * budgets.length, ...args);
    } catch (err) {
      throw new RedisUnavailableError(err);
    }
    const ok = out[0] === 1;
    const kind = out[1];
    const decision: Decision = {
      ok,
      blocked: ok ? undefined : { kind: kind === 1 ? 'rate' : 'budget', index: out[2] as number },
      retryAfterMs: out[3] as number,
      rates: new Array(rates.length),
      budgets: new Array(budgets.length),
    };
    let p = 4;
    for (let i = 0; i < rates.length; i++) {
      decision.rates[i] = {
        limit: (rates[i] as RateCharge).limit,
        remaining: out[p++] as number,
        resetMs: out[p++] as number,
      };
    }
    for (let i = 0; i < budgets.length; i++) {
      decision.budgets[i] = {
        capMicros: (budgets[i] as BudgetCharge).capMicros,
        spentMicros: out[p++] as number,
      };
    }
    return decision;
  }

  async adjust(rates: readonly RateAdjust[], budgets: readonly BudgetAdjust[]): Promise<void> {
    checkAdjusts(rates, budgets);
    const rs = rates.filter((r) => r.delta !== 0);
    const bs = budgets.filter((b) => b.deltaMicros !== 0 || (b.releaseMicros ?? 0) > 0);
    if (rs.length === 0 && bs.length === 0) return;
    const args: Array<string | number> = [];
    for (const r of rs) args.push(this.prefix + r.key);
    for (const b of bs) args.push(this.prefix + b.key);
    for (const b of bs) args.push(this.prefix + reservedKey(b.key));
    args.push(rs.length);
    for (const r of rs) args.push(r.limit, r.windowMs, r.delta);
    for (const b of bs) args.push(b.deltaMicros, b.ttlMs, b.releaseMicros ?? 0);
    try {
      await this.cmd.syLimitsAdjust(rs.length + 2 * bs.length, ...args);
    } catch (err) {
      throw new RedisUnavailableError(err);
    }
  }

  async spent(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    try {
      const vals = await this.redis.mget(...keys.map((k) => this.prefix + k));
      return vals.map((v) => (v ? Number(v) : 0));
    } catch (err) {
      throw new RedisUnavailableError(err);
    }
  }

  async budgetUsage(keys: readonly string[]): Promise<BudgetUsage[]> {
    if (keys.length === 0) return [];
    let vals: Array<string | null>;
    try {
      vals = await this.redis.mget(
        ...keys.map((k) => this.prefix + k),
        ...keys.map((k) => this.prefix + reservedKey(k)),
      );
    } catch (err) {
      throw new RedisUnavailableError(err);
    }
    return keys.map((_, i) => {
      const counted = Number(vals[i] ?? 0);
      return {
        countedMicros: counted,
        reservedMicros: Math.min(counted, Number(vals[keys.length + i] ?? 0)),
      };
    });
  }

  async close(): Promise<void> {}
}
