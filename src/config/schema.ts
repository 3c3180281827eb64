import { type Static, Type as T } from '@sinclair/typebox';
import { JobsSchema } from './jobs.js';
import { CacheSchema, ModelCacheSchema } from './schema-cache.js';
import { LimitsSchema, TiersSchema } from './schema-limits.js';
import { AuthSchema, DatabaseSchema, PricingSchema, RequestLogSchema } from './schema-storage.js';

/**
 * The YAML file's shape (phase one). Unknown keys are rejected everywhere so that a typo such as
 * `base_ulr` fails at boot instead of silently doing nothing. Phase two (resolve.ts) applies defaults,
 * parses durations and checks references.
 */

const Duration = T.Union([T.String(), T.Number({ minimum: 0 })], {
  description: "duration: '30s', '200ms', or ms",
});
const Size = T.Union([T.String(), T.Integer({ minimum: 0 })], { description: "size: '10mb', or bytes" });

export const ProviderTimeoutsSchema = T.Object(
  { connect: T.Optional(Duration), headers: T.Optional(Duration), body: T.Optional(Duration) },
  { additionalProperties: false },
);

const Probability = T.Number({ minimum: 0, maximum: 1 });

/** Fault injection for the mock provider: chaos testing for users' own apps, and for ours. */
function MockFaultsSchema() {
  return T.Object(
    {
      /** Deterministic fault sequence when set. */
      seed: T.Optional(T.Integer()),
      errors: T.Optional(
        T.Array(
          T.Object(
            {
              status: T.Integer({ minimum: 400, maximum: 599 }),
              probability: Probability,
              message: T.Optional(T.String()),
              retry_after: T.Optional(Duration),
            },
            { additionalProperties: false },
          ),
        ),
      ),
      latency: T.Optional(
        T.Object(
          {
            distribution: T.Union([
              T.Literal('fixed'),
              T.Literal('uniform'),
              T.Literal('normal'),
              T.Literal('exponential'),
            ]),
            min: T.Optional(Duration),
            max: T.Optional(Duration),
            mean: T.Optional(Duration),
            stddev: T.Optional(Duration),
          },
          { additionalProperties: false },
        ),
      ),
      reset_probability: T.Optional(Probability),
      hang_probability: T.Optional(Probability),
      malformed_probability: T.Optional(Probability),
      stream_cut_after: T.Optional(T.Integer({ minimum: 0 })),
      stream_cut_probability: T.Optional(Probability),
    },
    { additionalProperties: false },
  );
}

export const ProviderSchema = T.Object(
  {
    type: T.Union([T.Literal('openai'), T.Literal('anthropic'), T.Literal('gemini'), T.Literal('mock')]),
    base_url: T.Optional(T.String({ format: 'uri' })),
    api_key: T.Optional(T.String()),
    headers: T.Optional(T.Record(T.String(), T.String())),
    timeouts: T.Optional(ProviderTimeoutsSchema),
    anthropic_version: T.Optional(T.String({ minLength: 1 })),
    default_max_tokens: T.Optional(T.Integer({ minimum: 1 })),
    api_keys: T.Optional(T.Array(T.String({ minLength: 1 }), { minItems: 1 })),
    key_cooldown: T.Optional(Duration),
    max_response_size: T.Optional(Size),
    reply: T.Optional(T.String()),
    latency_ms: T.Optional(T.Integer({ minimum: 0 })),
    chunk_delay_ms: T.Optional(T.Integer({ minimum: 0 })),
    faults: T.Optional(MockFaultsSchema()),
  },
  { additionalProperties: false },
);

const ErrorClassName = T.Union(
  ['rate_limit', 'server_error', 'overloaded', 'timeout', 'connection', 'invalid_response'].map((c) =>
    T.Literal(c),
  ),
  {
    description:
      'retryable error class: rate_limit, server_error, overloaded, timeout, connection, invalid_response',
  },
);

export const RetrySchema = T.Object(
  {
    attempts: T.Optional(T.Integer({ minimum: 1, maximum: 10 })),
    base_delay: T.Optional(Duration),
    max_delay: T.Optional(Duration),
    on: T.Optional(T.Array(ErrorClassName)),
  },
  { additionalProperties: false },
);

export const RouteTimeoutsSchema = T.Object(
  { first_token: T.Optional(Duration), total: T.Optional(Duration) },
  { additionalProperties: false },
);

export const CircuitBreakerSchema = T.Object(
  {
    enabled: T.Optional(T.Boolean()),
    failure_rate: T.Optional(Probability),
    window: T.Optional(Duration),
    min_requests: T.Optional(T.Integer({ minimum: 1 })),
    consecutive_failures: T.Optional(T.Integer({ minimum: 0, maximum: 1000 })),
    cooldown: T.Optional(Duration),
  },
  { additionalProperties: false },
);

export const DegradationSchema = T.Object(
  {
    chain: T.Array(T.Union([T.Literal('stale_cache'), T.Literal('offline'), T.Literal('error')]), {
      minItems: 1,
    }),
    /** The offline responder: a mock provider id (default: a built-in mock). */
    offline_provider: T.Optional(T.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const TargetSchema = T.Object(
  {
    provider: T.String({ minLength: 1 }),
    model: T.String({ minLength: 1 }),
    weight: T.Optional(T.Number({ exclusiveMinimum: 0 })),
    /** Request parameters merged over the client's for this target (e.g. a different temperature). */
    params: T.Optional(T.Record(T.String(), T.Unknown())),
    timeouts: T.Optional(RouteTimeoutsSchema),
  },
  { additionalProperties: false },
);

const StrategySchema = T.Union([
  T.Literal('weighted'),
  T.Literal('least-busy'),
  T.Literal('latency'),
  T.Literal('ordered'),
]);

export const ModelSchema = T.Object(
  {
    targets: T.Array(TargetSchema, { minItems: 1 }),
    strategy: T.Optional(StrategySchema),
    fallbacks: T.Optional(T.Array(T.String({ minLength: 1 }))),
    context_fallback: T.Optional(T.String({ minLength: 1 })),
    retry: T.Optional(RetrySchema),
    timeouts: T.Optional(RouteTimeoutsSchema),
    circuit_breaker: T.Optional(CircuitBreakerSchema),
    degradation: T.Optional(DegradationSchema),
    cache: T.Optional(ModelCacheSchema),
  },
  { additionalProperties: false },
);

/** Defaults for every model; a model's own keys win. */
export const RoutingDefaultsSchema = T.Object(
  {
    strategy: T.Optional(StrategySchema),
    retry: T.Optional(RetrySchema),
    timeouts: T.Optional(RouteTimeoutsSchema),
    circuit_breaker: T.Optional(CircuitBreakerSchema),
    degradation: T.Optional(DegradationSchema),
  },
  { additionalProperties: false },
);

export const RawConfigSchema = T.Object(
  {
    server: T.Optional(
      T.Object(
        {
          host: T.Optional(T.String({ minLength: 1 })),
          port: T.Optional(T.Integer({ minimum: 0, maximum: 65535 })),
          body_limit: T.Optional(Size),
          request_timeout: T.Optional(Duration),
          headers_timeout: T.Optional(Duration),
          idle_timeout: T.Optional(Duration),
          shutdown_timeout: T.Optional(Duration),
          cors: T.Optional(
            T.Object({ origins: T.Array(T.String({ minLength: 1 })) }, { additionalProperties: false }),
          ),
          load_shedding: T.Optional(
            T.Object(
              {
                enabled: T.Optional(T.Boolean()),
                max_event_loop_delay: T.Optional(Duration),
                max_heap_used: T.Optional(Size),
                max_rss: T.Optional(Size),
                retry_after: T.Optional(Duration),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    logging: T.Optional(
      T.Object(
        {
          level: T.Optional(
            T.Union([
              T.Literal('fatal'),
              T.Literal('error'),
              T.Literal('warn'),
              T.Literal('info'),
              T.Literal('debug'),
              T.Literal('trace'),
              T.Literal('silent'),
            ]),
          ),
          log_prompts: T.Optional(T.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    metrics: T.Optional(T.Object({ enabled: T.Optional(T.Boolean()) }, { additionalProperties: false })),
    redis: T.Optional(
      T.Object(
        { url: T.String({ minLength: 1 }), key_prefix: T.Optional(T.String()) },
        { additionalProperties: false },
      ),
    ),
    routing: T.Optional(RoutingDefaultsSchema),
    cache: T.Optional(CacheSchema),
    tracing: T.Optional(
      T.Object(
        {
          enabled: T.Optional(T.Boolean()),
          endpoint: T.Optional(T.String({ format: 'uri' })),
          headers: T.Optional(T.Record(T.String(), T.String())),
          service_name: T.Optional(T.String({ minLength: 1 })),
          sample_ratio: T.Optional(T.Number({ minimum: 0, maximum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    health: T.Optional(
      T.Object({ expose_details: T.Optional(T.Boolean()) }, { additionalProperties: false }),
    ),
    responses: T.Optional(
      T.Object(
        {
          retention: T.Optional(Duration),
          max_stored: T.Optional(T.Integer({ minimum: 1 })),
          max_size: T.Optional(Size),
        },
        { additionalProperties: false },
      ),
    ),
    audio: T.Optional(T.Object({ max_file_size: T.Optional(Size) }, { additionalProperties: false })),
    admin: T.Optional(
      T.Object(
        { key: T.Optional(T.String()), allow_ips: T.Optional(T.Array(T.String({ minLength: 1 }))) },
        { additionalProperties: false },
      ),
    ),
    database: T.Optional(DatabaseSchema),
    request_log: T.Optional(RequestLogSchema),
    auth: T.Optional(AuthSchema),
    pricing: T.Optional(PricingSchema),
    sentry: T.Optional(
      T.Object(
        { dsn: T.Optional(T.String()), environment: T.Optional(T.String()) },
        { additionalProperties: false },
      ),
    ),
    tiers: T.Optional(TiersSchema),
    limits: T.Optional(LimitsSchema),
    providers: T.Optional(T.Record(T.String({ pattern: '^[a-z0-9][a-z0-9_-]*$' }), ProviderSchema)),
    models: T.Optional(T.Record(T.String({ minLength: 1 }), ModelSchema)),
    jobs: T.Optional(JobsSchema),
  },
  { additionalProperties: false },
);

export type RawConfig = Static<typeof RawConfigSchema>;
export type RawProvider = Static<typeof ProviderSchema>;
