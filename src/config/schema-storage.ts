import { Type as T } from '@sinclair/typebox';

/**
 * Config blocks for storage, auth, the request log and pricing (issue 9). Kept out of schema.ts so that
 * features adding their own blocks touch that file in one line each.
 */

const Duration = T.Union([T.String(), T.Number({ minimum: 0 })], {
  description: "duration: '30s', '200ms', or ms",
});

export const DatabaseSchema = T.Object(
  {
    /** SQLite file (embedded mode). Default ./data/switchyard.db; ':memory:' for a throwaway database. */
    path: T.Optional(T.String({ minLength: 1 })),
    /** PostgreSQL connection URL; when set (or DATABASE_URL), PostgreSQL is used instead of SQLite. */
    url: T.Optional(T.String()),
    /** A read replica for analytics (usage, request log listing). */
    read_url: T.Optional(T.String()),
    /** PostgreSQL schema (search_path); default public. */
    schema: T.Optional(T.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$' })),
    pool_size: T.Optional(T.Integer({ minimum: 1, maximum: 200 })),
    statement_timeout: T.Optional(Duration),
    /** Run migrations at start (default true). `switchyard migrate` runs them explicitly. */
    migrate: T.Optional(T.Boolean()),
    /** How often each instance re-reads stored provider credentials (default 10s; 0: only on change here). */
    credentials_refresh: T.Optional(Duration),
  },
  { additionalProperties: false },
);

export const RequestLogSchema = T.Object(
  {
    enabled: T.Optional(T.Boolean()),
    /** Rows held in memory while the database is slow or down; past this, new rows are dropped and counted. */
    buffer_size: T.Optional(T.Integer({ minimum: 1, maximum: 1_000_000 })),
    /** Rows per write transaction (at most 100: a bigger SQLite batch blocks the event loop noticeably). */
    batch_size: T.Optional(T.Integer({ minimum: 1, maximum: 100 })),
    flush_interval: T.Optional(Duration),
    /** How long request rows are kept; daily usage aggregates are kept. 0 keeps rows forever. */
    retention: T.Optional(Duration),
  },
  { additionalProperties: false },
);

const JwtSchema = T.Object(
  {
    /** HS256 shared secret. */
    secret: T.Optional(T.String({ minLength: 1 })),
    /** RS256/ES256 public key, PEM (SPKI). */
    public_key: T.Optional(T.String({ minLength: 1 })),
    /** A JWKS JSON file. */
    jwks_file: T.Optional(T.String({ minLength: 1 })),
    algorithms: T.Optional(T.Array(T.String({ minLength: 1 }), { minItems: 1 })),
    issuer: T.Optional(T.String({ minLength: 1 })),
    audience: T.Optional(T.String({ minLength: 1 })),
    /** Claim names mapped to the caller. */
    claims: T.Optional(
      T.Object(
        {
          team: T.Optional(T.String({ minLength: 1 })),
          user: T.Optional(T.String({ minLength: 1 })),
          tier: T.Optional(T.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Team for tokens without a team claim; unset: such tokens are rejected. */
    default_team: T.Optional(T.String({ minLength: 1 })),
    clock_tolerance: T.Optional(Duration),
  },
  { additionalProperties: false },
);

export const AuthSchema = T.Object(
  {
    mode: T.Optional(
      T.Union([T.Literal('none'), T.Literal('keys'), T.Literal('jwt'), T.Literal('keys+jwt')], {
        description: 'auth mode: none, keys, jwt, keys+jwt',
      }),
    ),
    /** Key cache TTL: the bound on how long a revoked key may still work on another instance (max 5s). */
    key_cache_ttl: T.Optional(Duration),
    /** Removed: tiers are defined under the top-level `tiers:`. Kept in the schema only to name it in the error. */
    tiers: T.Optional(T.Unknown()),
    /** The tier (a name under `tiers:`) of keys created without one and of tokens without a tier claim. */
    default_tier: T.Optional(T.String({ minLength: 1 })),
    jwt: T.Optional(JwtSchema),
    /** Per-key HMAC request signatures: how old a signed timestamp may be. */
    signature_window: T.Optional(Duration),
  },
  { additionalProperties: false },
);

const Price = T.Object(
  { input: T.Number({ minimum: 0 }), output: T.Optional(T.Number({ minimum: 0 })) },
  { additionalProperties: false },
);

/** USD per million tokens by upstream model name; overrides and extends the built-in table. */
export const PricingSchema = T.Record(T.String({ minLength: 1 }), Price);
