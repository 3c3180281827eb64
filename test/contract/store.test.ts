import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/db/connect.js';
import { dropSchema, freshSchemaName, pgSpec, sqliteSpec } from '../helpers/postgres.js';
import { services } from '../helpers/services.js';
import { storeContract } from './store.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-store-'));
storeContract({
  name: 'sqlite',
  open: async () => openDatabase(sqliteSpec(join(dir, 'store.db'))),
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});

const schema = freshSchemaName();
storeContract({
  name: 'postgres',
  skip: !services.postgres,
  open: async () => openDatabase(pgSpec(schema)),
  cleanup: () => dropSchema(schema),
});
