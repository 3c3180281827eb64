import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/db/connect.js';
import { RequestLogThread } from '../../src/db/request-log-thread.js';
import { dropSchema, freshSchemaName, pgSpec, sqliteSpec } from '../helpers/postgres.js';
import { services } from '../helpers/services.js';
import { storeContract } from './store.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-store-'));
storeContract({
  name: 'sqlite',
  open: async () => openDatabase(sqliteSpec(join(dir, 'store.db'))),
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});

// The gateway's own arrangement on a SQLite file: the request log written by a worker thread over a
// second connection, read back through the main one.
const threadDir = mkdtempSync(join(tmpdir(), 'sy-store-thread-'));
storeContract({
  name: 'sqlite, request log on a worker thread',
  open: async () => openDatabase(sqliteSpec(join(threadDir, 'store.db'))),
  requestRows: (handle) =>
    new RequestLogThread(handle.sqlite!, {
      path: join(threadDir, 'store.db'),
      busyTimeoutMs: 5_000,
      log: { warn() {}, error() {} },
    }),
  cleanup: async () => rmSync(threadDir, { recursive: true, force: true }),
});

const schema = freshSchemaName();
storeContract({
  name: 'postgres',
  skip: !services.postgres,
  open: async () => openDatabase(pgSpec(schema)),
  cleanup: () => dropSchema(schema),
});
