import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { type RequestRow, Store } from '../../src/db/store.js';
import { RequestLogWriter } from '../../src/services/request-log.js';
import { sqliteSpec } from '../helpers/postgres.js';

const silent = { warn() {}, error() {} };

function row(): RequestRow {
  return {
    id: randomUUID(),
    requestId: randomUUID(),
    createdAt: Date.now(),
    teamId: 'none',
    keyId: null,
    userId: null,
    operation: 'chat',
    model: 'm',
    provider: 'p',
    upstreamModel: 'm',
    status: 200,
    errorClass: null,
    stream: false,
    latencyMs: 1,
    ttftMs: null,
    promptTokens: 1,
    completionTokens: 1,
    costMicroUsd: 0,
    usageEstimated: false,
    attempts: 1,
    cacheStatus: null,
  };
}

async function store(): Promise<Store> {
  const handle = await openDatabase(sqliteSpec(':memory:'));
  await handle.migrate();
  return new Store(handle);
}

describe('request log writer', () => {
  it('writes everything pushed, in batches, off the push call', async () => {
    const s = await store();
    const w = new RequestLogWriter(
      s,
      { enabled: true, bufferSize: 1000, batchSize: 100, flushIntervalMs: 10, retentionMs: 0 },
      silent,
    );
    for (let i = 0; i < 250; i++) w.push(row());
    // push never writes: nothing is in the database until the timer fires.
    expect((await s.listRequests({ limit: 500 })).rows).toHaveLength(0);
    await w.close();
    expect(w.stats).toEqual({ written: 250, dropped: 0, writeErrors: 0 });
    expect((await s.listRequests({ limit: 500 })).rows).toHaveLength(250);
    await s.handle.close();
  });

  it('is bounded while the database fails: drops past the bound and counts them', async () => {
    const s = await store();
    await s.handle.close(); // every write now fails
    const w = new RequestLogWriter(
      s,
      { enabled: true, bufferSize: 5, batchSize: 2, flushIntervalMs: 5, retentionMs: 0 },
      silent,
    );
    for (let i = 0; i < 8; i++) w.push(row());
    await w.flush();
    expect(w.buffered).toBe(5);
    expect(w.stats.dropped).toBe(3);
    expect(w.stats.writeErrors).toBeGreaterThan(0);
    await w.close(50);
    // Shutdown could not write them either: they are counted, not silently lost.
    expect(w.stats.dropped).toBe(8);
  });
});
