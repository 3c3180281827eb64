import { parseDuration } from '../core/units.js';
import type { BudgetCaps, LimitsSpec, RateName, RateRule, TierSpec } from '../types/limits.js';
import type { RawConfig } from './schema.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
const RATE_WINDOWS: ReadonlyArray<[RateName, RateRule['unit'], number]> = [
  ['rpm', 'requests', MINUTE],
  ['rpd', 'requests', DAY],
  ['tpm', 'tokens', MINUTE],
  ['tpd', 'tokens', DAY],
];

export const DEFAULT_TIERS = {
  free: { rpm: 10, tpm: 20_000, on_limit: 'reject', priority: 1 },
  pro: { rpm: 50, tpm: 200_000, on_limit: 'reject', priority: 2 },
  enterprise: { rpm: 200, tpm: 2_000_000, on_limit: 'queue', max_queue_wait: '30s', priority: 4 },
  unlimited: { on_limit: 'reject', priority: 8 },
} as const;
export const DEFAULT_LIMITS_MAX_TOKENS = 4096;
export const DEFAULT_MAX_QUEUED = 1000;

type RawLimits = NonNullable<RawConfig['limits']>;
type RawTier = NonNullable<RawConfig['tiers']>[string];
type RawRates = Partial<Record<RateName, number>>;
type RawBudget = { daily?: number; monthly?: number; total?: number } | undefined;

function rates(raw: RawRates | undefined): RateRule[] {
  const out: RateRule[] = [];
  if (!raw) return out;
  for (const [name, unit, windowMs] of RATE_WINDOWS) {
    const limit = raw[name];
    if (limit !== undefined) out.push({ name, unit, limit, windowMs });
  }
  return out;
}

/** Dollars to integer micro-dollars, rounded to the nearest: 0.1 + 0.2 style drift never reaches a cap. */
export function usdToMicros(usd: number): number {
  return Math.round(usd * 1_000_000);
}

function budget(raw: RawBudget): BudgetCaps {
  return {
    dailyMicros: raw?.daily === undefined ? undefined : usdToMicros(raw.daily),
    monthlyMicros: raw?.monthly === undefined ? undefined : usdToMicros(raw.monthly),
    totalMicros: raw?.total === undefined ? undefined : usdToMicros(raw.total),
  };
}

function tier(name: string, raw: RawTier, issues: string[]): TierSpec {
  let maxQueueWaitMs = 30_000;
  if (raw.max_queue_wait !== undefined) {
    const d = parseDuration(raw.max_queue_wait);
    if (d === undefined) issues.push(`tiers.${name}.max_queue_wait: not a duration: ${raw.max_queue_wait}`);
    else maxQueueWaitMs = d;
  }
  return {
    name,
    rates: rates(raw),
    onLimit: raw.on_limit ?? 'reject',
    maxQueueWaitMs,
    priority: raw.priority ?? 1,
    budget: budget(raw.budget),
  };
}

/** Phase two for `tiers:` and `limits:`. Defaults: the four built-in tiers; off unless either block exists. */
export function resolveLimits(raw: RawConfig, issues: string[]): LimitsSpec {
  const l: RawLimits = raw.limits ?? {};
  const tiers = new Map<string, TierSpec>();
  for (const [name, t] of Object.entries(DEFAULT_TIERS)) tiers.set(name, tier(name, t as RawTier, issues));
  // A configured tier replaces the built-in of that name whole, so no default limit lingers unseen.
  for (const [name, t] of Object.entries(raw.tiers ?? {})) tiers.set(name, tier(name, t, issues));
  const anonymousTier = l.anonymous_tier ?? 'free';
  if (!tiers.has(anonymousTier)) {
    issues.push(
      `limits.anonymous_tier: unknown tier "${anonymousTier}" (known: ${[...tiers.keys()].join(', ')})`,
    );
  }
  const routes = new Map<string, { rates: RateRule[]; per: 'caller' | 'global' }>();
  for (const [path, r] of Object.entries(l.routes ?? {}))
    routes.set(path, { rates: rates(r), per: r.per ?? 'caller' });
  const teams = new Map<string, { rates: RateRule[]; budget: BudgetCaps }>();
  for (const [team, t] of Object.entries(l.teams ?? {})) {
    let base: TierSpec | undefined;
    if (t.tier !== undefined) {
      base = tiers.get(t.tier);
      if (!base) {
        issues.push(
          `limits.teams.${team}.tier: unknown tier "${t.tier}" (known: ${[...tiers.keys()].join(', ')})`,
        );
      }
    }
    // A team naming a tier gets that tier's rates and caps team-wide; its own fields override them.
    const own = rates(t);
    const merged = base ? [...base.rates.filter((r) => !own.some((o) => o.name === r.name)), ...own] : own;
    const caps = budget(t.budget);
    teams.set(team, {
      rates: merged,
      budget: base
        ? {
            dailyMicros: caps.dailyMicros ?? base.budget.dailyMicros,
            monthlyMicros: caps.monthlyMicros ?? base.budget.monthlyMicros,
            totalMicros: caps.totalMicros ?? base.budget.totalMicros,
          }
        : caps,
    });
  }
  return {
    enabled: l.enabled ?? (raw.limits !== undefined || raw.tiers !== undefined),
    tiers,
    anonymousTier,
    ip: rates(l.ip),
    routes,
    teams,
    redisFailure: l.redis_failure ?? 'open',
    defaultMaxTokens: l.default_max_tokens ?? DEFAULT_LIMITS_MAX_TOKENS,
    budgetExhaustedStatus: l.budget_exhausted_status ?? 429,
    maxQueued: l.max_queued ?? DEFAULT_MAX_QUEUED,
  };
}
