import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type SqliteDatabase from 'better-sqlite3';
import { Kysely, type Migration, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import type pg from 'pg';
import type { DatabaseSpec } from '../types/config.js';
import { ALL_MIGRATIONS, InCodeMigrations } from './migrations.js';
import { openSqlite as openSqliteFile } from './sqlite.js';
import type { Database } from './tables.js';

/** One open database: the writer, a reader for analytics (a replica when configured), migrations. */
export interface DbHandle {
  kind: 'sqlite' | 'postgres';
  db: Kysely<Database>;
  /** Analytics reads (usage, request log listing): `read_url` when set, else `db`. */
  read: Kysely<Database>;
  /** SQLite only: the connection itself, for the request log's prepared-statement fast path. */
  sqlite?: SqliteDatabase.Database;
  /** Applies pending migrations; returns the names applied by this call. Safe to run concurrently. */
  migrate(extra?: Readonly<Record<string, Migration>>): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * int8 (counts, sums of bigint columns, epoch-ms times) and numeric (sum() over bigint) arrive as strings
 * from pg by default; every value we store fits a double exactly (times, micro-dollars, token counts).
 */
const INT8_OID = 20;
const NUMERIC_OID = 1700;
function pgTypes(pgModule: typeof pg) {
  return {
    getTypeParser: ((oid: number, format?: string) => {
      if (oid === INT8_OID || oid === NUMERIC_OID) return (v: string) => Number(v);
      return pgModule.types.getTypeParser(oid, format as 'text');
    }) as typeof pg.types.getTypeParser,
  };
}

/** `pg` is loaded only for PostgreSQL, so the embedded default starts without it. */
export async function openDatabase(spec: DatabaseSpec): Promise<DbHandle> {
  if (spec.kind !== 'postgres') return openSqlite(spec);
  const pgModule = (await import('pg')).default;
  return openPostgres(spec, pgModule);
}

function openSqlite(spec: DatabaseSpec): DbHandle {
  if (spec.path !== ':memory:') mkdirSync(dirname(spec.path), { recursive: true });
  // `timeout` is SQLite's busy timeout: how long a writer waits for another process's lock.
  const sqlite = openSqliteFile(spec.path, { timeout: spec.statementTimeoutMs });
  sqlite.pragma('journal_mode = WAL');
  // WAL + NORMAL: durable across process crashes, one fsync per checkpoint instead of per commit.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return {
    kind: 'sqlite',
    db,
    read: db,
    sqlite,
    async migrate(extra) {
      // Kysely's SQLite migration lock is a no-op (one connection per process). Across processes,
      // BEGIN IMMEDIATE takes SQLite's write lock up front (waiting up to the busy timeout), so a second
      // process starting at the same moment waits, then finds every migration applied. SQLite DDL is
      // transactional, so a failed migration leaves nothing half-done.
      sqlite.exec('BEGIN IMMEDIATE');
      try {
        const applied = await runMigrator(db, undefined, extra);
        sqlite.exec('COMMIT');
        return applied;
      } catch (err) {
        if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
        throw err;
      }
    },
    async close() {
      await db.destroy();
    },
  };
}

function pgPool(pgModule: typeof pg, url: string, spec: DatabaseSpec): pg.Pool {
  const pool = new pgModule.Pool({
    connectionString: url,
    max: spec.poolSize,
    statement_timeout: spec.statementTimeoutMs,
    connectionTimeoutMillis: Math.max(1000, spec.statementTimeoutMs),
    idleTimeoutMillis: 30_000,
    options: `-c search_path=${spec.schema}`,
    types: pgTypes(pgModule),
  });
  // An idle client losing its connection (a database restart) emits here; without a listener it would
  // crash the process. The next query gets a fresh connection or a clear error.
  pool.on('error', () => {});
  return pool;
}

function openPostgres(spec: DatabaseSpec, pgModule: typeof pg): DbHandle {
  const pool = pgPool(pgModule, spec.url!, spec);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const readPool = spec.readUrl ? pgPool(pgModule, spec.readUrl, spec) : undefined;
  const read = readPool ? new Kysely<Database>({ dialect: new PostgresDialect({ pool: readPool }) }) : db;
  return {
    kind: 'postgres',
    db,
    read,
    async migrate(extra) {
      // Kysely's Postgres adapter takes a session advisory lock around the run; two instances starting
      // at once: one applies, the other waits and finds nothing pending.
      return runMigrator(db, spec.schema, extra);
    },
    async close() {
      await db.destroy();
      if (read !== db) await read.destroy();
    },
  };
}

async function runMigrator(
  db: Kysely<Database>,
  schema: string | undefined,
  extra: Readonly<Record<string, Migration>> = {},
): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: new InCodeMigrations({ ...ALL_MIGRATIONS, ...extra }),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(
      `database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? String(error)}`,
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
