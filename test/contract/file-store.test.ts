import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/db/connect.js';
import { createFileStore } from '../../src/db/file-store.js';
import { dropSchema, freshSchemaName, pgSpec, sqliteSpec } from '../helpers/postgres.js';
import { services } from '../helpers/services.js';
import { fileStoreContract } from './file-store.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-file-store-'));
fileStoreContract({
  name: 'embedded (SQLite + local disk)',
  async open() {
    const spec = sqliteSpec(join(dir, 'store.db'));
    const handle = await openDatabase(spec);
    await handle.migrate();
    const store = createFileStore(handle, join(dir, 'files'));
    // Another process on the same host: its own connection to the same file and directory.
    const second = async () => createFileStore(await openDatabase(spec), join(dir, 'files'));
    return { handle, store, second };
  },
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});

const schema = freshSchemaName();
const seconds: Array<{ close(): Promise<void> }> = [];
fileStoreContract({
  name: 'postgres',
  skip: !services.postgres,
  async open() {
    const handle = await openDatabase(pgSpec(schema));
    await handle.migrate();
    // No directory: with PostgreSQL the content is in the database, never on this host's disk.
    const store = createFileStore(handle, '/nonexistent/never-written');
    const second = async () => {
      const h = await openDatabase(pgSpec(schema));
      seconds.push(h);
      return createFileStore(h, '/nonexistent/other-host');
    };
    return { handle, store, second };
  },
  async cleanup() {
    for (const h of seconds.splice(0)) await h.close();
    await dropSchema(schema);
  },
});
