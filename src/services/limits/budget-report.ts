import type { KeyRecord } from '../../db/store.js';
import type { LimitsSpec } from '../../types/limits.js';
import type { BudgetUsageRow, LimitCaller, LimitsService } from './limits-service.js';

/** Keys read for one report, at most; past it the report says it is truncated. */
export const MAX_REPORTED_KEYS = 5000;
const PAGE = 500;

export interface BudgetReportSource {
  /** Active keys, newest first, one page at a time (the store's listKeys). */
  listKeys(opts: {
    teamId?: string;
    limit: number;
    cursor?: string;
  }): Promise<{ keys: KeyRecord[]; nextCursor: string | null }>;
  /** One key (in `teamId` when given), revoked or not. */
  getKey(id: string, teamId?: string): Promise<KeyRecord | undefined>;
}

/** What the limits stage sees of a key (identify puts the same on the caller). */
function keyCaller(k: KeyRecord): LimitCaller {
  return {
    team: k.teamId,
    key: k.id,
    tier: k.tier,
    ...(k.userId !== null ? { user: k.userId } : {}),
    ...(k.budget !== null ? { budget: k.budget } : {}),
  };
}

/**
 * The spend caps that apply to the keys and teams a usage view asks about, with spend, reservations and
 * what is left, read from the limiter backend that enforces them. Keys with no cap of their own or of
 * their tier add no key rows; a team's row appears once, whether it comes from a key or from
 * `limits.teams`. Callers with no key are reported by team: `none` (auth off) has the anonymous tier's
 * cap as its team's, exactly as admission charges it. JWT users are not listed: the gateway keeps no list
 * of them (their teams' caps are, when `limits.teams` sets them).
 */
export async function budgetReport(
  limits: LimitsService,
  spec: LimitsSpec,
  source: BudgetReportSource,
  filter: { team?: string | undefined; key?: string | undefined },
  /** Whether callers without a key exist (auth `none`): then team `none` is reported too. */
  anonymous: boolean,
): Promise<{ rows: BudgetUsageRow[]; truncated: boolean }> {
  if (!spec.enabled) return { rows: [], truncated: false };
  const callers: LimitCaller[] = [];
  let truncated = false;
  if (filter.key !== undefined) {
    const k = await source.getKey(filter.key, filter.team);
    if (k) callers.push(keyCaller(k));
  } else {
    let cursor: string | undefined;
    let read = 0;
    do {
      const page = await source.listKeys({
        ...(filter.team !== undefined ? { teamId: filter.team } : {}),
        limit: Math.min(PAGE, MAX_REPORTED_KEYS - read),
        ...(cursor !== undefined ? { cursor } : {}),
      });
      for (const k of page.keys) callers.push(keyCaller(k));
      read += page.keys.length;
      cursor = page.nextCursor ?? undefined;
      if (cursor !== undefined && read >= MAX_REPORTED_KEYS) {
        truncated = true;
        cursor = undefined;
      }
    } while (cursor !== undefined);
    for (const [team, t] of spec.teams) {
      const b = t.budget;
      const capped =
        b.dailyMicros !== undefined || b.monthlyMicros !== undefined || b.totalMicros !== undefined;
      if (capped && (filter.team === undefined || filter.team === team)) callers.push({ team });
    }
    if (anonymous && (filter.team === undefined || filter.team === 'none')) callers.push({ team: 'none' });
  }
  return { rows: await limits.budgetUsage(spec, callers), truncated };
}
