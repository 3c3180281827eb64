import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { type DbHandle, openDatabase } from '../../src/db/connect.js';
import { RequestLogThread } from '../../src/db/request-log-thread.js';
import { DAY_MS, type RequestRow, Store } from '../../src/db/store.js';
import { RequestLogWriter } from '../../src/services/request-log.js';
import { openStorage } from '../../src/services/storage.js';
import type { RequestLogSpec } from '../../src/types/config.js';
import { sqliteSpec } from '../helpers/postgres.js';

/**
 * The request log on a SQLite file, written by the worker thread (src/db/request-log-thread.ts) and read
 * through the main connection: real files in a temp dir, real worker threads.
 */

const dir = mkdtempSync(join(tmpdir(), 'sy-rlog-thread-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const silent = { info() {}, warn() {}, error() {} };
const T0 = Date.UTC(2026, 2, 1, 9, 0, 0);
let n = 0;

function row(over: Partial<RequestRow> = {}): RequestRow {
  const i = n++;
  return {
    id: `row-${String(i).padStart(6, '0')}`,
    requestId: `req-${i}`,
    createdAt: T0 + i * 10 + (i % 5 === 0 ? DAY_MS : 0),
    teamId: i % 3 === 0 ? 'beta' : 'alpha',
    keyId: i % 4 === 0 ? null : `k${i % 2}`,
    userId: i % 2 === 0 ? null : `u"${i}`,
    operation: i % 2 === 0 ? 'chat' : 'chat.stream',
    model: i % 7 === 0 ? null : 'gpt-4o',
    provider: 'openai',
    upstreamModel: 'gpt-4o-2024',
    status: i % 6 === 0 ? 502 : 200,
    errorClass: i % 6 === 0 ? 'server_error' : null,
    stream: i % 2 === 1,
    latencyMs: i + 0.4,
    ttftMs: i % 2 === 1 ? i / 2 : null,
    promptTokens: i,
    completionTokens: 2 * i,
    costMicroUsd: 1_000 * i,
    usageEstimated: i % 8 === 0,
    attempts: 1 + (i % 2),
    cacheStatus: i % 3 === 0 ? 'miss' : null,
    ...over,
  };
}

/** What the rows read back as: latencies are stored as whole milliseconds. */
function stored(r: RequestRow): RequestRow {
  return {
    ...r,
    latencyMs: Math.round(r.latencyMs),
    ttftMs: r.ttftMs === null ? null : Math.round(r.ttftMs),
  };
}

interface Setup {
  path: string;
  handle: DbHandle;
  thread: RequestLogThread;
  store: Store;
  writer: RequestLogWriter;
}

let files = 0;
async function setup(spec: Partial<RequestLogSpec> = {}, busyTimeoutMs = 5_000): Promise<Setup> {
  const path = join(dir, `log-${files++}.db`);
  const handle = await openDatabase(sqliteSpec(path));
  await handle.migrate();
  const thread = new RequestLogThread(handle.sqlite!, { path, busyTimeoutMs, log: silent });
  const store = new Store(handle, { requestRows: thread });
  const writer = new RequestLogWriter(
    store,
    { enabled: true, bufferSize: 10_000, batchSize: 100, flushIntervalMs: 10, retentionMs: 0, ...spec },
    silent,
  );
  return { path, handle, thread, store, writer };
}

async function teardown(s: Setup): Promise<void> {
  await s.writer.close();
  await s.thread.close();
  await s.handle.close();
}

async function readAll(store: Store): Promise<RequestRow[]> {
  const out: RequestRow[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listRequests({ limit: 500, cursor });
    out.push(...page.rows);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** The daily rollup the rows should have produced, keyed like the usage query's groups. */
function rollup(rows: readonly RequestRow[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const r of rows) {
    const day = new Date(Math.floor(r.createdAt / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
    const k = `${day}/${r.teamId}/${r.keyId}/${r.model ?? ''}`;
    const u = m.get(k) ?? [0, 0, 0, 0, 0];
    u[0]! += 1;
    if (r.status >= 400) u[1]! += 1;
    u[2]! += r.promptTokens;
    u[3]! += r.completionTokens;
    u[4]! += r.costMicroUsd;
    m.set(k, u);
  }
  return m;
}

async function usage(store: Store): Promise<Map<string, number[]>> {
  const day = Math.floor(T0 / DAY_MS);
  const got = await store.usage({
    fromDay: day - 1,
    toDay: day + 2,
    groupBy: ['day', 'team', 'key', 'model'],
  });
  return new Map(
    got.map((u) => [
      `${u.day}/${u.team}/${u.key}/${u.model}`,
      [u.requests, u.errors, u.promptTokens, u.completionTokens, u.costMicroUsd],
    ]),
  );
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('request log on a worker thread (SQLite file)', () => {
  it('writes on the worker; once flush() resolves the main connection reads both tables exactly', async () => {
    const s = await setup();
    const rows = Array.from({ length: 250 }, () => row());
    for (const r of rows) s.writer.push(r);
    await s.writer.flush();
    expect(s.writer.stats).toEqual({ written: 250, dropped: 0, writeErrors: 0 });
    // Written by the worker, not on this thread: three batches of at most 100.
    expect(s.thread.stats).toEqual({ workerBatches: 3, inThreadBatches: 0, workerExits: 0 });
    expect(s.thread.worker).toBeDefined();
    // The worker checkpoints; the main connection does not while it runs.
    expect(s.handle.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    expect(await readAll(s.store)).toEqual(rows.map(stored));
    expect(await usage(s.store)).toEqual(rollup(rows));
    await teardown(s);
    expect(s.handle.sqlite!.open).toBe(false);
  });

  it('a failed write is retried with backoff until it lands, counted once', async () => {
    // The busy timeout is short so the worker's write fails while another connection holds the lock.
    const s = await setup({}, 50);
    const lock = new Database(s.path, { timeout: 50 });
    lock.exec('BEGIN IMMEDIATE');
    const rows = Array.from({ length: 120 }, () => row());
    for (const r of rows) s.writer.push(r);
    await s.writer.flush();
    expect(s.writer.stats.writeErrors).toBe(1);
    expect(s.writer.stats.written).toBe(0);
    expect(s.writer.buffered).toBe(120);
    lock.exec('COMMIT');
    lock.close();
    // No flush() from here: the writer's own retry timer writes them.
    await until(() => s.writer.buffered === 0);
    expect(s.writer.stats).toEqual({ written: 120, dropped: 0, writeErrors: 1 });
    expect(s.thread.stats.workerExits).toBe(0);
    expect(await readAll(s.store)).toEqual(rows.map(stored));
    expect(await usage(s.store)).toEqual(rollup(rows));
    await teardown(s);
  });

  it('close() writes everything buffered, then ends the worker and gives checkpoints back', async () => {
    // A flush interval far beyond the test: nothing is written until close.
    const s = await setup({ flushIntervalMs: 60_000, batchSize: 50 });
    const rows = Array.from({ length: 1000 }, () => row());
    for (const r of rows) s.writer.push(r);
    await s.writer.close();
    expect(s.writer.stats).toEqual({ written: 1000, dropped: 0, writeErrors: 0 });
    await s.thread.close();
    expect(s.thread.worker).toBeUndefined();
    expect(s.thread.stats.workerBatches).toBe(20);
    expect(s.handle.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    expect(await readAll(s.store)).toEqual(rows.map(stored));
    expect(await usage(s.store)).toEqual(rollup(rows));
    await s.handle.close();
  });

  it('a worker killed with a batch in flight loses no row and counts none twice', async () => {
    const s = await setup();
    const rows = Array.from({ length: 300 }, () => row());
    for (const r of rows) s.writer.push(r);
    const flushing = s.writer.flush();
    // The first batch went to a worker started for it; end that worker before it answers (or just after
    // it committed: the retry must then add nothing).
    const killed = s.thread.worker!;
    await killed.terminate();
    await flushing;
    expect(s.writer.stats.writeErrors).toBe(1);
    expect(s.writer.buffered).toBe(300);
    expect(s.thread.stats.workerExits).toBe(1);
    await s.writer.close();
    expect(s.writer.stats).toEqual({ written: 300, dropped: 0, writeErrors: 1 });
    // A new worker took the retried batches.
    expect(s.thread.worker).toBeDefined();
    expect(s.thread.worker).not.toBe(killed);
    expect(s.thread.stats.inThreadBatches).toBe(0);
    expect(await readAll(s.store)).toEqual(rows.map(stored));
    expect(await usage(s.store)).toEqual(rollup(rows));
    await teardown(s);
  });

  it('a worker that keeps exiting is given up on: the writes move to the main thread, nothing lost', async () => {
    const s = await setup();
    const rows: RequestRow[] = [];
    for (let i = 0; i < 4; i++) {
      const batch = Array.from({ length: 30 }, () => row());
      rows.push(...batch);
      for (const r of batch) s.writer.push(r);
      const flushing = s.writer.flush();
      await until(() => s.thread.worker !== undefined);
      await s.thread.worker!.terminate();
      await flushing;
    }
    expect(s.thread.stats.workerExits).toBe(4);
    await s.writer.close();
    expect(s.writer.stats.written).toBe(120);
    expect(s.writer.stats.dropped).toBe(0);
    expect(s.thread.worker).toBeUndefined();
    expect(s.thread.stats.inThreadBatches).toBeGreaterThan(0);
    // No worker to checkpoint any more: the main connection does it again.
    expect(s.handle.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    expect(await readAll(s.store)).toEqual(rows.map(stored));
    expect(await usage(s.store)).toEqual(rollup(rows));
    await teardown(s);
  });

  it('retention runs on the worker in chunks, with writes between them; the rollup stays', async () => {
    const s = await setup({ batchSize: 100, bufferSize: 10_000 });
    // More than two delete chunks (2,000 rows each) of old rows, and a few newer ones that stay.
    const old = Array.from({ length: 4_500 }, (_, i) => row({ createdAt: T0 - DAY_MS - i }));
    const kept = Array.from({ length: 50 }, () => row());
    for (const r of [...old, ...kept]) s.writer.push(r);
    await s.writer.flush();
    const sweeping = s.store.deleteRequestsBefore(T0 - DAY_MS + 1);
    // A batch sent while the sweep runs is answered too.
    const during = Array.from({ length: 10 }, () => row());
    await s.store.insertRequests(during);
    expect(await sweeping).toBe(4_500);
    expect(s.thread.stats.inThreadBatches).toBe(0);
    expect(await readAll(s.store)).toEqual([...kept, ...during].map(stored));
    expect(await usage(s.store)).toEqual(rollup([...old, ...kept, ...during]));
    await teardown(s);
  });

  it("the gateway's storage writes through the worker and closes it at shutdown", async () => {
    const path = join(dir, 'gateway.db');
    const config = parseConfig(
      [
        `database: { path: ${path} }`,
        'request_log: { flush_interval: 10ms }',
        'providers: { mock: { type: mock } }',
        'models: { m: { targets: [ { provider: mock, model: m } ] } }',
      ].join('\n'),
      'test',
      {},
    );
    const storage = await openStorage(config, { log: silent, role: 'gateway' });
    const rows = Array.from({ length: 150 }, () => row());
    for (const r of rows) storage.requestLog!.push(r);
    await storage.requestLog!.flush();
    // Written by another connection: the main one never had to checkpoint.
    expect(storage.handle.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    expect(await readAll(storage.store)).toEqual(rows.map(stored));
    await storage.close();
    // Both connections closed: the last one to close checkpointed the WAL into the file and removed it.
    expect(existsSync(`${path}-wal`)).toBe(false);
    const reopened = await openDatabase(sqliteSpec(path));
    expect(await readAll(new Store(reopened))).toEqual(rows.map(stored));
    await reopened.close();
  });
});
