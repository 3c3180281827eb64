import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DatabaseSpec } from '../../src/types/config.js';

/** The PostgreSQL that runs here and in CI (trust auth, database `test`). */
export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema name per test run, so runs never see each other's rows. */
export function freshSchemaName(): string {
  return `sy_test_${randomBytes(6).toString('hex')}`;
}

export function pgSpec(schema: string, over: Partial<DatabaseSpec> = {}): DatabaseSpec {
  return {
    kind: 'postgres',
    path: '',
    url: PG_URL,
    readUrl: undefined,
    schema,
    poolSize: 4,
    statementTimeoutMs: 5_000,
    migrate: true,
    credentialsRefreshMs: 0,
    ...over,
  };
}

export function sqliteSpec(path: string, over: Partial<DatabaseSpec> = {}): DatabaseSpec {
  return {
    kind: 'sqlite',
    path,
    url: undefined,
    readUrl: undefined,
    schema: 'public',
    poolSize: 1,
    statementTimeoutMs: 5_000,
    migrate: true,
    credentialsRefreshMs: 0,
    ...over,
  };
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

/** Runs one statement in the test database (outside the gateway), e.g. to break or inspect a schema. */
export async function pgQuery<T = Record<string, unknown>>(
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}
