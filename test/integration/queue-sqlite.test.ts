import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteQueue } from '../../src/backends/queue/sqlite-queue.js';
import { queueContract } from '../contract/queue-contract.js';

queueContract('embedded SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-queue-'));
  const path = join(dir, 'switchyard.db');
  const opts = { path, backoff: { baseMs: 50, maxMs: 1_000 }, leaseMs: 2_000, pollMs: 20 };
  const backend = new SqliteQueue(opts);
  const others: SqliteQueue[] = [];
  return {
    backend,
    second: () => {
      const o = new SqliteQueue(opts);
      others.push(o);
      return o;
    },
    cleanup: async () => {
      await Promise.all([backend, ...others].map((b) => b.close()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
