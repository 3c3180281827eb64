import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { formatMicros, formatReset } from '../../src/services/limits/headers.js';

const parse = (yaml: string) => parseConfig(yaml, 'test', {});
const issues = (yaml: string): string[] => {
  try {
    parse(yaml);
  } catch (err) {
    return (err as { issues: string[] }).issues;
  }
  throw new Error('expected a config error');
};

describe('limits config', () => {
  it('is off without a tiers or limits block, with the four built-in tiers defined', () => {
    const l = parse('{}').limits;
    expect(l.enabled).toBe(false);
    expect([...l.tiers.keys()]).toEqual(['free', 'pro', 'enterprise', 'unlimited']);
    expect(l.tiers.get('enterprise')).toEqual({
      name: 'enterprise',
      rates: [
        { name: 'rpm', unit: 'requests', limit: 200, windowMs: 60_000 },
        { name: 'tpm', unit: 'tokens', limit: 2_000_000, windowMs: 60_000 },
      ],
      onLimit: 'queue',
      maxQueueWaitMs: 30_000,
      priority: 4,
      budget: { dailyMicros: undefined, monthlyMicros: undefined, totalMicros: undefined },
    });
    expect(l.redisFailure).toBe('open');
    expect(l.defaultMaxTokens).toBe(4096);
    expect(l.budgetExhaustedStatus).toBe(429);
  });

  it('a configured tier replaces the built-in whole; 2e6 is a count; dollars become micro-dollars', () => {
    const l = parse(`
tiers:
  free: { tpd: 2e6, budget: { daily: 0.1, monthly: 12.345678, total: 100 } }
limits:
  ip: { rpm: 100 }
  routes: { /v1/embeddings: { rpm: 600, per: global } }
  redis_failure: closed
  budget_exhausted_status: 402`).limits;
    expect(l.enabled).toBe(true);
    expect(l.tiers.get('free')?.rates).toEqual([
      { name: 'tpd', unit: 'tokens', limit: 2_000_000, windowMs: 86_400_000 },
    ]);
    expect(l.tiers.get('free')?.budget).toEqual({
      dailyMicros: 100_000,
      monthlyMicros: 12_345_678,
      totalMicros: 100_000_000,
    });
    expect(l.ip).toEqual([{ name: 'rpm', unit: 'requests', limit: 100, windowMs: 60_000 }]);
    expect(l.routes.get('/v1/embeddings')?.per).toBe('global');
    expect(l.redisFailure).toBe('closed');
    expect(l.budgetExhaustedStatus).toBe(402);
  });

  it('rejects fractional counts, unknown keys, an unknown anonymous tier and a bad wait', () => {
    expect(issues('tiers: { free: { rpm: 1.5 } }')).toContain('tiers.free.rpm: must be an integer');
    expect(issues('tiers: { free: { rpmm: 1 } }').join('\n')).toMatch(/rpmm/);
    expect(issues('limits: { anonymous_tier: gold }')).toContain(
      'limits.anonymous_tier: unknown tier "gold" (known: free, pro, enterprise, unlimited)',
    );
    expect(issues('tiers: { q: { max_queue_wait: soon } }')).toContain(
      'tiers.q.max_queue_wait: not a duration: soon',
    );
    expect(issues('limits: { budget_exhausted_status: 403 }').join('\n')).toMatch(/budget_exhausted_status/);
  });
});

describe('one tier definition', () => {
  it('keys and tokens name a tier defined under tiers: (built-ins included)', () => {
    const c = parse(`
auth: { mode: keys, default_tier: gold }
tiers:
  gold: { rpm: 100, tpm: 50000, on_limit: queue, max_queue_wait: 5s, budget: { monthly: 20 } }`);
    expect(c.auth.tiers).toEqual(['free', 'pro', 'enterprise', 'unlimited', 'gold']);
    expect(c.auth.defaultTier).toBe('gold');
    expect(c.limits.tiers.get('gold')).toMatchObject({
      onLimit: 'queue',
      maxQueueWaitMs: 5000,
      budget: { monthlyMicros: 20_000_000 },
    });
    // Without a tiers: block, the built-ins are the names a key may carry.
    expect(parse('auth: { mode: keys }').auth.tiers).toEqual(['free', 'pro', 'enterprise', 'unlimited']);
  });

  it('a team names a tier for its team-wide limits; its own fields override the tier', () => {
    const l = parse(`
tiers:
  plan: { rpm: 100, tpd: 5000, budget: { daily: 2, total: 50 } }
limits:
  teams:
    acme: { tier: plan, rpm: 7, budget: { daily: 1 } }
    solo: { tier: free }`).limits;
    expect(l.teams.get('acme')).toEqual({
      rates: [
        { name: 'tpd', unit: 'tokens', limit: 5000, windowMs: 86_400_000 },
        { name: 'rpm', unit: 'requests', limit: 7, windowMs: 60_000 },
      ],
      budget: { dailyMicros: 1_000_000, monthlyMicros: undefined, totalMicros: 50_000_000 },
    });
    expect(l.teams.get('solo')?.rates.map((r) => [r.name, r.limit])).toEqual([
      ['rpm', 10],
      ['tpm', 20_000],
    ]);
    expect(issues('limits: { teams: { acme: { tier: gold } } }')).toContain(
      'limits.teams.acme.tier: unknown tier "gold" (known: free, pro, enterprise, unlimited)',
    );
  });

  it('refuses the old auth.tiers list, naming the path and where tiers go now', () => {
    const found = issues('auth: { mode: keys, tiers: [free, gold] }');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      /^auth\.tiers: no longer supported\. Tiers are defined once, under the top-level `tiers:` map/,
    );
    expect(found[0]).toMatch(/remove auth\.tiers$/);
  });

  it('refuses a default tier that no tiers: entry defines', () => {
    expect(issues('auth: { default_tier: gold }')).toContain(
      "auth.default_tier: unknown tier 'gold' (tiers: free, pro, enterprise, unlimited)",
    );
  });
});

describe('header formats', () => {
  it('resets read like OpenAI (Go durations)', () => {
    expect(formatReset(0)).toBe('0s');
    expect(formatReset(20)).toBe('20ms');
    expect(formatReset(999.2)).toBe('1000ms');
    expect(formatReset(1000)).toBe('1s');
    expect(formatReset(1500)).toBe('1.5s');
    expect(formatReset(360_000)).toBe('6m0s');
    expect(formatReset(3_723_250)).toBe('1h2m3.25s');
  });

  it('micro-dollars print as dollars without float error', () => {
    expect(formatMicros(0)).toBe('0.000000');
    expect(formatMicros(608)).toBe('0.000608');
    expect(formatMicros(12_345_678)).toBe('12.345678');
    expect(formatMicros(-5)).toBe('-0.000005');
  });
});
