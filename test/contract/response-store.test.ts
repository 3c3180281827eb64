import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { type DbHandle, openDatabase } from '../../src/db/connect.js';
import { ResponseRows } from '../../src/db/response-rows.js';
import { DbResponseStore, MemoryResponseStore } from '../../src/services/response-store.js';
import type { DatabaseSpec } from '../../src/types/config.js';
import type { ResponseObject } from '../../src/types/responses.js';
import { dropSchema, freshSchemaName, pgSpec, sqliteSpec } from '../helpers/postgres.js';
import { services } from '../helpers/services.js';
import {
  type ResponseStoreFactory,
  type ResponseStoreLimits,
  responseStoreContract,
} from './response-store.contract.js';

const silent = { info() {}, warn() {}, error() {} };

responseStoreContract({
  name: 'memory',
  open: async (limits) => ({ store: new MemoryResponseStore({ maxEntries: 10_000, ...limits }) }),
});

/** Each open is a fresh database; a peer is a second connection (another instance) to the same one. */
function dbFactory(
  name: string,
  skip: boolean,
  awaitCommitMs: number,
  spec: () => DatabaseSpec,
  dispose: () => Promise<void>,
): ResponseStoreFactory {
  const handles: DbHandle[] = [];
  const connect = async (s: DatabaseSpec) => {
    const h = await openDatabase(s);
    handles.push(h);
    await h.migrate();
    return h;
  };
  const storeOver = (h: DbHandle, limits: ResponseStoreLimits) =>
    new DbResponseStore(new ResponseRows(h), { ...limits, log: silent, sweepEveryMs: 0, awaitCommitMs });
  return {
    name,
    skip,
    async open(limits) {
      const s = spec();
      const h = await connect(s);
      const rows = new ResponseRows(h);
      const store = storeOver(h, limits);
      return {
        store,
        sweep: () => store.sweep(),
        rows: () => rows.count(),
        peer: async (l) => storeOver(await connect(s), l),
        awaitsCommit: awaitCommitMs > 0,
        async breakDatabase() {
          await sql`alter table responses rename to responses_gone`.execute(h.db);
          return async () => {
            await sql`alter table responses_gone rename to responses`.execute(h.db);
          };
        },
      };
    },
    async cleanup() {
      for (const h of handles) await h.close();
      await dispose();
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'sy-respstore-'));
let files = 0;
responseStoreContract(
  dbFactory(
    'sqlite',
    false,
    0,
    () => sqliteSpec(join(dir, `responses-${++files}.db`)),
    async () => rmSync(dir, { recursive: true, force: true }),
  ),
);

const schemas: string[] = [];
responseStoreContract(
  dbFactory(
    'postgres',
    !services.postgres,
    // As storage.ts opens it for PostgreSQL.
    2_000,
    () => {
      const schema = freshSchemaName();
      schemas.push(schema);
      return pgSpec(schema);
    },
    async () => {
      for (const s of schemas) await dropSchema(s);
    },
  ),
);

describe('MemoryResponseStore (no database)', () => {
  it('is bounded by max_stored: the least recently used response goes first', async () => {
    const store = new MemoryResponseStore({
      maxEntries: 2,
      retentionMs: 60_000,
      maxBytes: 64 * 1024,
      now: () => 0,
    });
    const rec = (id: string) => ({
      id,
      team: 't',
      createdAt: 0,
      input: [],
      response: { id, output: [] } as unknown as ResponseObject,
    });
    await store.put(rec('a'));
    await store.put(rec('b'));
    await store.get('t', 'a');
    await store.put(rec('c'));
    expect(await store.get('t', 'b')).toBeUndefined();
    expect((await store.get('t', 'a'))?.id).toBe('a');
    expect((await store.get('t', 'c'))?.id).toBe('c');
  });
});
