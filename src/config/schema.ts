import { type Static, Type as T } from '@sinclair/typebox';

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

export const ProviderSchema = T.Object(
  {
    type: T.Union([T.Literal('openai'), T.Literal('anthropic'), T.Literal('gemini'), T.Literal('mock')]),
    base_url: T.Optional(T.String({ format: 'uri' })),
    api_key: T.Optional(T.String()),
    headers: T.Optional(T.Record(T.String(), T.String())),
    timeouts: T.Optional(ProviderTimeoutsSchema),
    anthropic_version: T.Optional(T.String({ minLength: 1 })),
    default_max_tokens: T.Optional(T.Integer({ minimum: 1 })),
    reply: T.Optional(T.String()),
    latency_ms: T.Optional(T.Integer({ minimum: 0 })),
    chunk_delay_ms: T.Optional(T.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const TargetSchema = T.Object(
  { provider: T.String({ minLength: 1 }), model: T.String({ minLength: 1 }) },
  { additionalProperties: false },
);

export const ModelSchema = T.Object(
  { targets: T.Array(TargetSchema, { minItems: 1 }) },
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
    admin: T.Optional(T.Object({ key: T.Optional(T.String()) }, { additionalProperties: false })),
    sentry: T.Optional(
      T.Object(
        { dsn: T.Optional(T.String()), environment: T.Optional(T.String()) },
        { additionalProperties: false },
      ),
    ),
    providers: T.Optional(T.Record(T.String({ pattern: '^[a-z0-9][a-z0-9_-]*$' }), ProviderSchema)),
    models: T.Optional(T.Record(T.String({ minLength: 1 }), ModelSchema)),
  },
  { additionalProperties: false },
);

export type RawConfig = Static<typeof RawConfigSchema>;
export type RawProvider = Static<typeof ProviderSchema>;
