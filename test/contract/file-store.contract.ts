import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbHandle } from '../../src/db/connect.js';
import { type BatchRow, CHUNK_BYTES, type FileStore } from '../../src/db/file-store.js';

/**
 * The one contract every FileStore passes: embedded (SQLite records, content on the local disk) and
 * PostgreSQL (records and content in the database). Run by test/contract/file-store.test.ts.
 */
export interface FileStoreFactory {
  name: string;
  skip?: boolean;
  /** A fresh, migrated database and a store over it; `second` is another instance's view of the same data. */
  open(): Promise<{ handle: DbHandle; store: FileStore; second: () => Promise<FileStore> }>;
  cleanup?(): Promise<void>;
}

async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield p;
}

async function readAll(store: FileStore, id: string): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of store.readContent(id)) out.push(c as Buffer);
  return Buffer.concat(out);
}

function batch(over: Partial<BatchRow> & Pick<BatchRow, 'id'>): BatchRow {
  return {
    team_id: 'alpha',
    endpoint: '/v1/chat/completions',
    input_file_id: 'file-x',
    completion_window: '24h',
    status: 'validating',
    output_file_id: null,
    error_file_id: null,
    errors: null,
    metadata: null,
    caller: null,
    total: 0,
    completed: 0,
    failed: 0,
    created_at: 1_000,
    in_progress_at: null,
    expires_at: 1_000 + 86_400_000,
    finalizing_at: null,
    completed_at: null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    ...over,
  };
}

export function fileStoreContract(f: FileStoreFactory): void {
  describe.skipIf(f.skip)(`file store contract: ${f.name}`, () => {
    let handle: DbHandle;
    let store: FileStore;
    let second: () => Promise<FileStore>;

    beforeAll(async () => {
      ({ handle, store, second } = await f.open());
    });
    afterAll(async () => {
      await store?.close();
      await handle?.close();
      await f.cleanup?.();
    });

    it('stores content whole across chunk boundaries and streams it back, from another instance too', async () => {
      // Over two chunks, cut at odd places, so the chunking is exercised in every implementation.
      const data = randomBytes(CHUNK_BYTES * 2 + 12_345);
      await store.writeContent(
        'file-big',
        chunks(data.subarray(0, 7), data.subarray(7, CHUNK_BYTES + 3), data.subarray(CHUNK_BYTES + 3)),
      );
      const back = await readAll(store, 'file-big');
      expect(back.length).toBe(data.length);
      expect(createHash('sha256').update(back).digest('hex')).toBe(
        createHash('sha256').update(data).digest('hex'),
      );
      const other = await second();
      expect((await readAll(other, 'file-big')).equals(data)).toBe(true);
      // Streamed in pieces no larger than a chunk: memory stays bounded whatever the size.
      let largest = 0;
      for await (const c of store.readContent('file-big')) largest = Math.max(largest, (c as Buffer).length);
      expect(largest).toBeLessThanOrEqual(CHUNK_BYTES);
      await store.deleteContent(['file-big']);
    });

    it('leaves nothing behind when the source fails mid-write', async () => {
      const failing = (async function* () {
        yield Buffer.alloc(CHUNK_BYTES + 10, 1);
        throw new Error('client went away');
      })();
      await expect(store.writeContent('file-cut', failing)).rejects.toThrow('client went away');
      expect((await readAll(store, 'file-cut').catch(() => Buffer.alloc(0))).length).toBe(0);
    });

    it('keeps file records per team, newest first with a cursor, and deletes record and content', async () => {
      for (let i = 0; i < 5; i++) {
        await store.insertFile({
          id: `file-${i}`,
          team: i % 2 === 0 ? 'alpha' : 'beta',
          filename: `f${i}.jsonl`,
          purpose: i === 4 ? 'batch_output' : 'batch',
          bytes: i,
          sha256: 'h',
          // Two files in the same millisecond: the cursor must still neither skip nor repeat.
          createdAt: 1_000 + Math.min(i, 3),
        });
      }
      const all = await store.listFiles('alpha', 10);
      expect(all.map((x) => x.id)).toEqual(['file-4', 'file-2', 'file-0']);
      const p1 = await store.listFiles('alpha', 1);
      const p2 = await store.listFiles('alpha', 5, p1[0]?.id);
      expect([...p1, ...p2].map((x) => x.id)).toEqual(['file-4', 'file-2', 'file-0']);
      expect((await store.listFiles('alpha', 10, undefined, 'batch')).map((x) => x.id)).toEqual([
        'file-2',
        'file-0',
      ]);
      expect(await store.getFile('file-1')).toEqual({
        id: 'file-1',
        team: 'beta',
        filename: 'f1.jsonl',
        purpose: 'batch',
        bytes: 1,
        sha256: 'h',
        createdAt: 1_001,
      });
      await store.setFilePurpose('file-1', 'vision');
      expect((await (await second()).getFile('file-1'))?.purpose).toBe('vision');
      await store.writeContent('file-0', chunks(Buffer.from('x')));
      await store.deleteFile('file-0');
      expect(await store.getFile('file-0')).toBeUndefined();
      expect((await readAll(store, 'file-0').catch(() => Buffer.alloc(0))).length).toBe(0);
    });

    it('keeps uploads and their parts; an upload finishes once', async () => {
      await store.insertUpload({
        id: 'upload_1',
        team: 'alpha',
        filename: 'u.jsonl',
        purpose: 'batch',
        bytes: 10,
        mimeType: 'text/jsonl',
        status: 'pending',
        createdAt: 5,
        expiresAt: 10,
        fileId: null,
      });
      await store.writeContent('part_b', chunks(Buffer.from('bbbb')));
      await store.insertPart({ id: 'part_b', uploadId: 'upload_1', bytes: 4, sha256: 'hb', createdAt: 7 });
      await store.insertPart({ id: 'part_a', uploadId: 'upload_1', bytes: 6, sha256: 'ha', createdAt: 6 });
      const other = await second();
      expect((await other.parts('upload_1')).map((p) => [p.id, p.bytes])).toEqual([
        ['part_a', 6],
        ['part_b', 4],
      ]);
      expect(await store.finishUpload('upload_1', 'completed', 'file-9')).toBe(true);
      expect(await other.finishUpload('upload_1', 'cancelled', null)).toBe(false);
      expect(await other.getUpload('upload_1')).toMatchObject({
        status: 'completed',
        fileId: 'file-9',
        bytes: 10,
      });
      await store.dropParts('upload_1');
      expect(await store.parts('upload_1')).toEqual([]);
      expect((await readAll(store, 'part_b').catch(() => Buffer.alloc(0))).length).toBe(0);
    });

    it('moves batches by compare-and-set, records each line once, and finds expired ones', async () => {
      await store.insertBatch(
        batch({ id: 'batch_1', created_at: 2_000, expires_at: 5_000, caller: '{"team":"alpha"}' }),
      );
      await store.insertBatch(batch({ id: 'batch_2', created_at: 2_001, expires_at: 9_000 }));
      await store.insertBatch(batch({ id: 'batch_3', team_id: 'beta', created_at: 2_002 }));
      expect((await store.listBatches('alpha', 10)).map((b) => b.id)).toEqual(['batch_2', 'batch_1']);
      expect((await store.listBatches('alpha', 10, 'batch_2')).map((b) => b.id)).toEqual(['batch_1']);
      const moved = await store.updateBatch(
        'batch_1',
        { status: 'in_progress', total: 3, in_progress_at: 2_100 },
        ['validating'],
      );
      expect(moved).toMatchObject({
        status: 'in_progress',
        total: 3,
        in_progress_at: 2_100,
        caller: '{"team":"alpha"}',
      });
      expect(await store.updateBatch('batch_1', { status: 'failed' }, ['validating'])).toBeUndefined();
      const other = await second();
      expect(
        await other.recordResult('batch_1', { line: 2, customId: 'b', ok: false, record: '{"n":2}' }),
      ).toBe(true);
      expect(await store.recordResult('batch_1', { line: 2, customId: 'b', ok: true, record: 'again' })).toBe(
        false,
      );
      expect(
        await store.recordResult('batch_1', { line: 1, customId: 'a', ok: true, record: '{"n":1}' }),
      ).toBe(true);
      expect(await store.countResult('batch_1', false)).toEqual({ total: 3, completed: 0, failed: 1 });
      expect(await other.countResult('batch_1', true)).toEqual({ total: 3, completed: 1, failed: 1 });
      expect(await store.results('batch_1', 0, 10)).toEqual([
        { line: 1, customId: 'a', ok: true, record: '{"n":1}' },
        { line: 2, customId: 'b', ok: false, record: '{"n":2}' },
      ]);
      expect((await store.results('batch_1', 1, 10)).map((r) => r.line)).toEqual([2]);
      // Past batch_1's window but not batch_2's; finished batches never expire.
      expect((await store.expiredBatches(6_000, 10)).map((b) => b.id)).toEqual(['batch_1']);
      // Two finalizers race: exactly one claims it.
      const claims = await Promise.all([
        store.updateBatch('batch_1', { status: 'finalizing', finalizing_at: 6_000 }, ['in_progress']),
        other.updateBatch('batch_1', { status: 'finalizing', finalizing_at: 6_001 }, ['in_progress']),
      ]);
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.expiredBatches(6_000, 10)).toEqual([]);
      // The finalizer died: past the timeout, the batch is stalled, and exactly one taker wins it.
      const startedAt = (claims.find(Boolean) as { finalizing_at: number }).finalizing_at;
      expect(await store.stalledBatches(startedAt, 10)).toEqual([]);
      expect((await other.stalledBatches(startedAt + 1, 10)).map((b) => b.id)).toEqual(['batch_1']);
      const takers = await Promise.all([
        store.reclaimFinalizing('batch_1', startedAt, 7_000),
        other.reclaimFinalizing('batch_1', startedAt, 7_001),
      ]);
      expect(takers.filter(Boolean)).toHaveLength(1);
      const taken = takers.find(Boolean) as { status: string; finalizing_at: number };
      expect(taken.status).toBe('finalizing');
      expect([7_000, 7_001]).toContain(taken.finalizing_at);
      // A taker that read the old time loses; the results are still there for the one that won.
      expect(await store.reclaimFinalizing('batch_1', startedAt, 8_000)).toBeUndefined();
      expect(await store.stalledBatches(7_000, 10)).toEqual([]);
      expect((await store.results('batch_1', 0, 10)).map((r) => r.line)).toEqual([1, 2]);
      await store.updateBatch('batch_1', { status: 'completed', completed_at: 8_000 }, ['finalizing']);
      expect(await store.stalledBatches(100_000, 10)).toEqual([]);
      await store.deleteResults('batch_1');
      expect(await store.results('batch_1', 0, 10)).toEqual([]);
    });
  });
}
