import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';
import { FILE_MIGRATIONS } from './file-migrations.js';

/**
 * Migrations live in code (not read from disk at runtime), so dist/ is self-contained. Names sort in
 * order; never edit one that has shipped, add the next. Other features append theirs to this list
 * (or register more through `extraMigrations`).
 *
 * `bigint` is used for every epoch-ms time and money amount: PostgreSQL's integer is 32-bit; SQLite's
 * integer affinity is 64-bit whatever the declared type.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations run against any schema state, not the final one
type AnyDb = Kysely<any>;

const m001: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('teams')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('api_keys')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('hash', 'text', (c) => c.notNull().unique())
      .addColumn('prefix', 'text', (c) => c.notNull())
      .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
      .addColumn('user_id', 'text')
      .addColumn('name', 'text')
      .addColumn('tier', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull().defaultTo('user'))
      .addColumn('allowed_models', 'text')
      .addColumn('limits', 'text')
      .addColumn('budget', 'text')
      .addColumn('require_signature', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
      .addColumn('expires_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('api_keys_team_idx')
      .ifNotExists()
      .on('api_keys')
      .columns(['team_id', 'created_at'])
      .execute();

    await db.schema
      .createTable('credentials')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('name', 'text')
      .addColumn('ciphertext', 'text', (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('last4', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('request_log')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('team_id', 'text', (c) => c.notNull())
      .addColumn('key_id', 'text')
      .addColumn('user_id', 'text')
      .addColumn('operation', 'text', (c) => c.notNull())
      .addColumn('model', 'text')
      .addColumn('provider', 'text')
      .addColumn('upstream_model', 'text')
      .addColumn('status', 'integer', (c) => c.notNull())
      .addColumn('error_class', 'text')
      .addColumn('stream', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('latency_ms', 'integer', (c) => c.notNull())
      .addColumn('ttft_ms', 'integer')
      .addColumn('prompt_tokens', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('completion_tokens', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('cost_micro_usd', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('usage_estimated', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('cache_status', 'text')
      .execute();
    // Every listing filters by a time range, and by team (team-scoped callers) or key.
    for (const [name, cols] of [
      ['request_log_time_idx', ['created_at']],
      ['request_log_team_idx', ['team_id', 'created_at']],
      ['request_log_key_idx', ['key_id', 'created_at']],
    ] as const) {
      await db.schema
        .createIndex(name)
        .ifNotExists()
        .on('request_log')
        .columns([...cols])
        .execute();
    }

    await db.schema
      .createTable('usage_daily')
      .ifNotExists()
      .addColumn('day', 'integer', (c) => c.notNull())
      .addColumn('team_id', 'text', (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('requests', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('errors', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('prompt_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('completion_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('cost_micro_usd', 'bigint', (c) => c.notNull().defaultTo(0))
      .addPrimaryKeyConstraint('usage_daily_pk', ['day', 'team_id', 'key_id', 'model'])
      .execute();
    await db.schema
      .createIndex('usage_daily_team_idx')
      .ifNotExists()
      .on('usage_daily')
      .columns(['team_id', 'day'])
      .execute();
    await db.schema
      .createIndex('usage_daily_key_idx')
      .ifNotExists()
      .on('usage_daily')
      .columns(['key_id', 'day'])
      .execute();
    // The `none` team: requests when auth is off, and the owner of nothing else.
    const now = Date.now();
    await sql`insert into teams (id, name, metadata, created_at, updated_at)
      values ('none', 'No team (auth off)', '{}', ${now}, ${now}) on conflict (id) do nothing`.execute(db);
  },
};

/** Stored Responses API responses and the item index behind `item_reference`. */
const m002: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('responses')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('team_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('previous_response_id', 'text')
      .addColumn('bytes', 'integer', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .execute();
    // The retention sweep deletes by expiry, oldest first.
    await db.schema
      .createIndex('responses_expires_idx')
      .ifNotExists()
      .on('responses')
      .column('expires_at')
      .execute();
    await db.schema
      .createTable('response_items')
      .ifNotExists()
      .addColumn('team_id', 'text', (c) => c.notNull())
      .addColumn('item_id', 'text', (c) => c.notNull())
      .addColumn('response_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      // A client may send the same item (say, an earlier output) in several requests: one row per holder.
      .addPrimaryKeyConstraint('response_items_pk', ['team_id', 'item_id', 'response_id'])
      .execute();
    // Deleting a response (or sweeping it) deletes its index rows.
    await db.schema
      .createIndex('response_items_response_idx')
      .ifNotExists()
      .on('response_items')
      .column('response_id')
      .execute();
  },
};

/** The cache namespaces a key may choose with `x-switchyard-cache-namespace` (JSON array; null: none). */
const m003: Migration = {
  async up(db: AnyDb) {
    await db.schema.alterTable('api_keys').addColumn('cache_namespaces', 'text').execute();
  },
};

export const CORE_MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_core': m001,
  '0002_responses': m002,
  '0003_key_cache_namespaces': m003,
};

/** Every migration the gateway applies; other features' tables join here under later names. */
export const ALL_MIGRATIONS: Readonly<Record<string, Migration>> = { ...CORE_MIGRATIONS, ...FILE_MIGRATIONS };

export class InCodeMigrations implements MigrationProvider {
  constructor(private readonly migrations: Readonly<Record<string, Migration>>) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...this.migrations };
  }
}
