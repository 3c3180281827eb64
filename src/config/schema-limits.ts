import { Type as T } from '@sinclair/typebox';

/**
 * Config blocks for rate limits, tiers and budgets (issue 10), kept out of schema.ts so that file gains
 * one line per block.
 */

const Duration = T.Union([T.String(), T.Number({ minimum: 0 })], {
  description: "duration: '30s', '200ms', or ms",
});
/** Counts may be written as 2e6 in YAML; they must still be whole. */
const Count = T.Integer({ minimum: 1 });
const Usd = T.Number({ minimum: 0, description: 'US dollars; counted internally in integer micro-dollars' });

const RateFields = {
  rpm: T.Optional(Count),
  rpd: T.Optional(Count),
  tpm: T.Optional(Count),
  tpd: T.Optional(Count),
};

export const BudgetSchema = T.Object(
  { daily: T.Optional(Usd), monthly: T.Optional(Usd), total: T.Optional(Usd) },
  { additionalProperties: false },
);

export const TierSchema = T.Object(
  {
    ...RateFields,
    on_limit: T.Optional(T.Union([T.Literal('reject'), T.Literal('queue'), T.Literal('job')])),
    max_queue_wait: T.Optional(Duration),
    /** Queue weight: a higher tier is served first and gets that share of freed capacity. */
    priority: T.Optional(T.Integer({ minimum: 1, maximum: 1000 })),
    /** Spend cap per key (per team when the caller has no key). */
    budget: T.Optional(BudgetSchema),
  },
  { additionalProperties: false },
);

export const TiersSchema = T.Record(T.String({ pattern: '^[a-z0-9][a-z0-9_-]*$' }), TierSchema);

export const LimitsSchema = T.Object(
  {
    /** Default: on when a `limits` or `tiers` block is present. */
    enabled: T.Optional(T.Boolean()),
    /** Tier for callers without one (anonymous callers, before keys exist). Default free. */
    anonymous_tier: T.Optional(T.String({ minLength: 1 })),
    /** Per client IP, whoever the caller is: the abuse guard. */
    ip: T.Optional(T.Object(RateFields, { additionalProperties: false })),
    routes: T.Optional(
      T.Record(
        T.String({ pattern: '^/' }),
        T.Object(
          { ...RateFields, per: T.Optional(T.Union([T.Literal('caller'), T.Literal('global')])) },
          { additionalProperties: false },
        ),
      ),
    ),
    /** Team-wide limits and spend caps, shared by all of a team's keys. */
    teams: T.Optional(
      T.Record(
        T.String({ minLength: 1 }),
        T.Object(
          {
            /** A tier (under `tiers:`) whose rates and budget the team gets team-wide; the fields here override. */
            tier: T.Optional(T.String({ minLength: 1 })),
            ...RateFields,
            budget: T.Optional(BudgetSchema),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    redis_failure: T.Optional(T.Union([T.Literal('open'), T.Literal('closed')])),
    /** Tokens reserved for the completion when a request names no max_tokens. */
    default_max_tokens: T.Optional(Count),
    budget_exhausted_status: T.Optional(T.Union([T.Literal(402), T.Literal(429)])),
    /** Waiting requests per instance, across all queues; past it, over-limit requests are rejected. */
    max_queued: T.Optional(T.Integer({ minimum: 0, maximum: 100_000 })),
  },
  { additionalProperties: false },
);
