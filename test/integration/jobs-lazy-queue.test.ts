import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteQueue } from '../../src/backends/queue/sqlite-queue.js';
import { until } from '../contract/queue-contract.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The embedded queue shares its file with the gateway's database by default (keys, request log), so the
 * file exists from the first start. A gateway that never runs jobs must still not create the queue or poll
 * it; a queue holding jobs from before must be worked from the start, with no API call to wake it.
 */

const YAML = (db: string) => `
providers:
  mock: { type: mock, reply: "hi" }
models:
  m: { targets: [{ provider: mock, model: m }] }
jobs:
  database: ${db}
`;

function queueState(path: string, id?: string): { table: boolean; state?: string } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const table =
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sy_jobs'").get() !== undefined;
    if (!table || !id) return { table };
    const row = db.prepare('SELECT state FROM sy_jobs WHERE id = ?').get(id) as { state: string } | undefined;
    return { table, ...(row ? { state: row.state } : {}) };
  } finally {
    db.close();
  }
}

describe('the embedded queue in the gateway database file', () => {
  let dir: string;
  let gw: TestGateway | undefined;

  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('is not created by a start, and is created (and worked) by the first job', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-lazy-queue-'));
    const path = join(dir, 'switchyard.db');
    gw = await startGateway(YAML(path), { SWITCHYARD_DB_PATH: path });
    // The gateway's own tables are there: the file is shared, the queue's table is not.
    expect(queueState(path).table).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(queueState(path).table).toBe(false);

    const res = await fetch(`${gw.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'text.split', input: { text: 'one two three' } }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect(queueState(path).table).toBe(true);
    await until(
      async () => queueState(path, id).state === 'completed' || undefined,
      `${id} completed`,
      20_000,
    );
  });

  it('is worked from the start when it holds jobs from before', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-lazy-queue-'));
    const path = join(dir, 'switchyard.db');
    const before = new SqliteQueue({ path, backoff: { baseMs: 50, maxMs: 1_000 } });
    const { job } = await before.enqueue({
      type: 'text.split',
      team: 'default',
      input: { text: 'left over' },
    });
    await before.close();
    expect(queueState(path, job.id).state).toBe('queued');

    gw = await startGateway(YAML(path), { SWITCHYARD_DB_PATH: path });
    // Read from the file, not through the API: an API call would open the queue by itself.
    await until(
      async () => queueState(path, job.id).state === 'completed' || undefined,
      `${job.id} completed`,
      20_000,
    );
  });
});
