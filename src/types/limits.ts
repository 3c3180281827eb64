/** Resolved limits config (issue 10). */

export type RateName = 'rpm' | 'rpd' | 'tpm' | 'tpd';

export interface RateRule {
  name: RateName;
  /** Requests or tokens. */
  unit: 'requests' | 'tokens';
  limit: number;
  windowMs: number;
}

export interface BudgetCaps {
  dailyMicros?: number | undefined;
  monthlyMicros?: number | undefined;
  totalMicros?: number | undefined;
}

export interface TierSpec {
  name: string;
  rates: RateRule[];
  /** Over a rate limit: 429 at once, wait in the priority queue, or become a 202 job (chat only). */
  onLimit: 'reject' | 'queue' | 'job';
  maxQueueWaitMs: number;
  priority: number;
  budget: BudgetCaps;
}

export interface LimitsSpec {
  enabled: boolean;
  tiers: ReadonlyMap<string, TierSpec>;
  anonymousTier: string;
  ip: RateRule[];
  routes: ReadonlyMap<string, { rates: RateRule[]; per: 'caller' | 'global' }>;
  teams: ReadonlyMap<string, { rates: RateRule[]; budget: BudgetCaps }>;
  redisFailure: 'open' | 'closed';
  defaultMaxTokens: number;
  budgetExhaustedStatus: 402 | 429;
  maxQueued: number;
}
