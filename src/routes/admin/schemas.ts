import { Type as T } from '@sinclair/typebox';

/** Request schemas for /admin/*: Fastify validates them (400 invalid_request naming the field) and OpenAPI documents them. */

const Id = T.String({ minLength: 1, maxLength: 128 });
const Meta = T.Record(T.String({ maxLength: 128 }), T.Unknown(), { maxProperties: 64 });
const ModelList = T.Union([T.Array(T.String({ minLength: 1, maxLength: 256 }), { maxItems: 256 }), T.Null()]);
const Limits = T.Union([
  T.Object(
    {
      rpm: T.Optional(T.Integer({ minimum: 0 })),
      rpd: T.Optional(T.Integer({ minimum: 0 })),
      tpm: T.Optional(T.Integer({ minimum: 0 })),
      tpd: T.Optional(T.Integer({ minimum: 0 })),
    },
    { additionalProperties: false },
  ),
  T.Null(),
]);
const Budget = T.Union([
  T.Object(
    {
      daily_micro_usd: T.Optional(T.Integer({ minimum: 0 })),
      monthly_micro_usd: T.Optional(T.Integer({ minimum: 0 })),
      total_micro_usd: T.Optional(T.Integer({ minimum: 0 })),
    },
    { additionalProperties: false },
  ),
  T.Null(),
]);
const Expiry = T.Union([T.String({ format: 'date-time' }), T.Null()]);
/**
 * Loose here (a bound on the body only): the key service checks the real rule (32 names, the namespace
 * header's charset) and answers invalid_cache_namespaces saying which, for the API and the CLI alike.
 */
const CacheNamespaces = T.Union([T.Array(T.String({ maxLength: 256 }), { maxItems: 256 }), T.Null()]);

const KeyFields = {
  user: T.Optional(T.Union([T.String({ minLength: 1, maxLength: 256 }), T.Null()])),
  name: T.Optional(T.Union([T.String({ maxLength: 256 }), T.Null()])),
  tier: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
  role: T.Optional(T.Union([T.Literal('user'), T.Literal('team_admin')])),
  allowed_models: T.Optional(ModelList),
  limits: T.Optional(Limits),
  budget: T.Optional(Budget),
  /** Namespaces this key may choose with x-switchyard-cache-namespace (`*`: any). */
  cache_namespaces: T.Optional(CacheNamespaces),
  require_signature: T.Optional(T.Boolean()),
  metadata: T.Optional(Meta),
  expires_at: T.Optional(Expiry),
};

export const CreateKeyBody = T.Object({ team: Id, ...KeyFields }, { additionalProperties: false });
export const UpdateKeyBody = T.Object(KeyFields, { additionalProperties: false, minProperties: 1 });
export const CreateTeamBody = T.Object(
  { id: Id, name: T.Optional(T.String({ minLength: 1, maxLength: 256 })), metadata: T.Optional(Meta) },
  { additionalProperties: false },
);
export const UpdateTeamBody = T.Object(
  { name: T.Optional(T.String({ minLength: 1, maxLength: 256 })), metadata: T.Optional(Meta) },
  { additionalProperties: false, minProperties: 1 },
);
export const CreateCredentialBody = T.Object(
  {
    provider: T.String({ pattern: '^[a-z0-9][a-z0-9_-]*$', maxLength: 64 }),
    name: T.Optional(T.String({ maxLength: 256 })),
    value: T.String({ minLength: 1, maxLength: 4096 }),
  },
  { additionalProperties: false },
);

export const IdParams = T.Object({ id: Id });
/** Query strings are not coerced (ajv `coerceTypes: false`): numbers and flags arrive as text. */
const Limit = T.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1-500' });
const Day = T.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' });
const Time = T.String({ minLength: 10, maxLength: 40 });

export const ListKeysQuery = T.Object(
  {
    team: T.Optional(Id),
    include_revoked: T.Optional(T.Union([T.Literal('true'), T.Literal('false')])),
    limit: T.Optional(Limit),
    cursor: T.Optional(T.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);
export const ListTeamsQuery = T.Object({ limit: T.Optional(Limit) }, { additionalProperties: false });
export const UsageQuery = T.Object(
  {
    from: T.Optional(Day),
    to: T.Optional(Day),
    team: T.Optional(Id),
    key: T.Optional(Id),
    model: T.Optional(T.String({ minLength: 1, maxLength: 256 })),
    group_by: T.Optional(T.String({ pattern: '^((team|key|model|day)(,(team|key|model|day))*)?$' })),
  },
  { additionalProperties: false },
);
export const RequestsQuery = T.Object(
  {
    from: T.Optional(Time),
    to: T.Optional(Time),
    team: T.Optional(Id),
    key: T.Optional(Id),
    model: T.Optional(T.String({ minLength: 1, maxLength: 256 })),
    status: T.Optional(T.String({ pattern: '^[1-5][0-9]{2}$' })),
    outcome: T.Optional(T.Union([T.Literal('success'), T.Literal('error')])),
    limit: T.Optional(Limit),
    cursor: T.Optional(T.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);
