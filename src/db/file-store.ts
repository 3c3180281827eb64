import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { randomHex } from '../core/ids.js';
import type { DbHandle } from './connect.js';

/**
 * Where files, uploads and batches live: their records and their bytes. One interface, two
 * implementations, one contract suite (test/contract/file-store.contract.ts):
 *
 * - embedded: records in the embedded SQLite database, content on the local disk (`jobs.files_dir`);
 * - PostgreSQL: records and content (a `bytea` table, in chunks of up to 1 MiB) in the shared database,
 *   so an upload on one instance is readable on every other, and by workers on any host.
 *
 * Content is written under a content id before any record points at it, so a half-written file is never
 * visible; reading streams one chunk at a time, so memory stays bounded whatever the file's size.
 * No business rules here (limits, checksums, ownership): FileService and BatchService hold those.
 */

export interface FileRecord {
  id: string;
  team: string;
  filename: string;
  purpose: string;
  bytes: number;
  sha256: string;
  createdAt: number;
}

export type UploadStatus = 'pending' | 'completed' | 'cancelled' | 'expired';

export interface UploadRecord {
  id: string;
  team: string;
  filename: string;
  purpose: string;
  bytes: number;
  mimeType: string;
  status: UploadStatus;
  createdAt: number;
  expiresAt: number;
  fileId: string | null;
}

export interface PartRecord {
  id: string;
  uploadId: string;
  bytes: number;
  sha256: string;
  createdAt: number;
}

export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

/** A batch as stored: OpenAI's batch object's fields (epoch ms), plus the team and the submitter. */
export interface BatchRow {
  id: string;
  team_id: string;
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  /** JSON: `{object: 'list', data: [...]}`. */
  errors: string | null;
  metadata: string | null;
  /** JSON: the submitting caller. */
  caller: string | null;
  total: number;
  completed: number;
  failed: number;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
}

export type BatchPatch = Partial<Omit<BatchRow, 'id' | 'team_id' | 'created_at'>>;

export interface BatchResult {
  line: number;
  customId: string;
  ok: boolean;
  /** The JSONL line for the output or error file. */
  record: string;
}

export interface FileStore {
  readonly kind: 'embedded' | 'postgres';
  /** Stores `source` under `contentId`, whole or not at all; a failure leaves nothing behind. */
  writeContent(contentId: string, source: AsyncIterable<Buffer>): Promise<void>;
  /** The bytes, streamed with bounded memory. */
  readContent(contentId: string): Readable;
  deleteContent(contentIds: readonly string[]): Promise<void>;

  insertFile(f: FileRecord): Promise<void>;
  getFile(id: string): Promise<FileRecord | undefined>;
  /** A team's files, newest first; `after` is the previous page's last id. */
  listFiles(team: string, limit: number, after?: string, purpose?: string): Promise<FileRecord[]>;
  setFilePurpose(id: string, purpose: string): Promise<void>;
  /** Deletes the record and its content. */
  deleteFile(id: string): Promise<void>;

  insertUpload(u: UploadRecord): Promise<void>;
  getUpload(id: string): Promise<UploadRecord | undefined>;
  /** Moves a pending upload to `status`; false when it was no longer pending (someone else finished it). */
  finishUpload(id: string, status: 'completed' | 'cancelled', fileId: string | null): Promise<boolean>;
  insertPart(p: PartRecord): Promise<void>;
  parts(uploadId: string): Promise<PartRecord[]>;
  /** Deletes the upload's part records and their content. */
  dropParts(uploadId: string): Promise<void>;

  insertBatch(b: BatchRow): Promise<void>;
  getBatch(id: string): Promise<BatchRow | undefined>;
  listBatches(team: string, limit: number, after?: string): Promise<BatchRow[]>;
  /** Applies `patch` when the batch's status is one of `from` (any when omitted); the row after, or undefined. */
  updateBatch(id: string, patch: BatchPatch, from?: readonly BatchStatus[]): Promise<BatchRow | undefined>;
  /** Unfinished batches (validating, in progress, cancelling) whose window ended before `now`. */
  expiredBatches(now: number, limit: number): Promise<BatchRow[]>;
  /** Batches that began finalizing before `before` and never ended: their finalizer's process died. */
  stalledBatches(before: number, limit: number): Promise<BatchRow[]>;
  /**
   * Takes over a stalled finalization: moves `finalizing_at` from `seenAt` to `now` if no one else did.
   * The row as taken, or undefined when another process took it (or it ended) first.
   */
  reclaimFinalizing(id: string, seenAt: number, now: number): Promise<BatchRow | undefined>;
  /** Records a line's result once; true if this call recorded it. */
  recordResult(batchId: string, r: BatchResult): Promise<boolean>;
  /** Counts a recorded result on the batch; returns the counts after. */
  countResult(batchId: string, ok: boolean): Promise<{ total: number; completed: number; failed: number }>;
  /** The lines recorded so far, in line order, a page at a time. */
  results(batchId: string, afterLine: number, limit: number): Promise<BatchResult[]>;
  deleteResults(batchId: string): Promise<void>;
  close(): Promise<void>;
}

/** The tables this store reads and writes, for Kysely's types. */
type FileTables = {
  files: {
    id: string;
    team_id: string;
    filename: string;
    purpose: string;
    bytes: number;
    sha256: string;
    created_at: number;
  };
  file_chunks: { content_id: string; seq: number; data: Buffer };
  uploads: {
    id: string;
    team_id: string;
    filename: string;
    purpose: string;
    bytes: number;
    mime_type: string;
    status: string;
    created_at: number;
    expires_at: number;
    file_id: string | null;
  };
  upload_parts: { id: string; upload_id: string; bytes: number; sha256: string; created_at: number };
  batches: BatchRow;
  batch_results: { batch_id: string; line: number; custom_id: string; ok: number; record: string };
};

/** Chunk size for content in PostgreSQL: large enough for few rows, small enough to hold one in memory. */
export const CHUNK_BYTES = 1024 * 1024;
const UNFINISHED: readonly BatchStatus[] = ['validating', 'in_progress', 'cancelling'];

/**
 * Newest-first keyset paging over a table with `created_at` and `id`: the cursor row's position, so a
 * page asks for rows strictly after it in (created_at desc, id desc), a total order (ties in the same
 * millisecond by id) in which pages never skip or repeat. Undefined: no cursor; null: an unknown one.
 */
async function cursorOf(
  db: Kysely<FileTables>,
  table: 'files' | 'batches',
  after: string | undefined,
): Promise<{ created_at: number; id: string } | null | undefined> {
  if (after === undefined) return undefined;
  const row = await db
    .selectFrom(table)
    .select(['created_at', 'id'])
    .where('id', '=', after)
    .executeTakeFirst();
  return row ?? null;
}

function olderThan(cursor: { created_at: number; id: string }) {
  return (eb: ExpressionBuilder<FileTables, 'files' | 'batches'>) =>
    eb.or([
      eb('created_at', '<', cursor.created_at),
      eb.and([eb('created_at', '=', cursor.created_at), eb('id', '<', cursor.id)]),
    ]);
}

type FileRow = FileTables['files'];
type UploadRow = FileTables['uploads'];

const fileOf = (r: FileRow): FileRecord => ({
  id: r.id,
  team: r.team_id,
  filename: r.filename,
  purpose: r.purpose,
  bytes: Number(r.bytes),
  sha256: r.sha256,
  createdAt: Number(r.created_at),
});

const uploadOf = (r: UploadRow): UploadRecord => ({
  id: r.id,
  team: r.team_id,
  filename: r.filename,
  purpose: r.purpose,
  bytes: Number(r.bytes),
  mimeType: r.mime_type,
  status: r.status as UploadStatus,
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
  fileId: r.file_id,
});

/** Records over Kysely (the same SQL on both dialects); content is the subclass's. */
abstract class KyselyFileStore implements FileStore {
  abstract readonly kind: FileStore['kind'];
  protected readonly db: Kysely<FileTables>;

  constructor(handle: DbHandle) {
    this.db = handle.db.withTables<FileTables>() as unknown as Kysely<FileTables>;
  }

  abstract writeContent(contentId: string, source: AsyncIterable<Buffer>): Promise<void>;
  abstract readContent(contentId: string): Readable;
  abstract deleteContent(contentIds: readonly string[]): Promise<void>;

  async insertFile(f: FileRecord): Promise<void> {
    await this.db
      .insertInto('files')
      .values({
        id: f.id,
        team_id: f.team,
        filename: f.filename,
        purpose: f.purpose,
        bytes: f.bytes,
        sha256: f.sha256,
        created_at: f.createdAt,
      })
      .execute();
  }

  async getFile(id: string): Promise<FileRecord | undefined> {
    const r = await this.db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? fileOf(r) : undefined;
  }

  async listFiles(team: string, limit: number, after?: string, purpose?: string): Promise<FileRecord[]> {
    let q = this.db.selectFrom('files').selectAll().where('team_id', '=', team);
    if (purpose !== undefined) q = q.where('purpose', '=', purpose);
    const cursor = await cursorOf(this.db, 'files', after);
    if (cursor === null) return [];
    if (cursor) q = q.where(olderThan(cursor));
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(fileOf);
  }

  async setFilePurpose(id: string, purpose: string): Promise<void> {
    await this.db.updateTable('files').set({ purpose }).where('id', '=', id).execute();
  }

  async deleteFile(id: string): Promise<void> {
    await this.db.deleteFrom('files').where('id', '=', id).execute();
    await this.deleteContent([id]);
  }

  async insertUpload(u: UploadRecord): Promise<void> {
    await this.db
      .insertInto('uploads')
      .values({
        id: u.id,
        team_id: u.team,
        filename: u.filename,
        purpose: u.purpose,
        bytes: u.bytes,
        mime_type: u.mimeType,
        status: u.status,
        created_at: u.createdAt,
        expires_at: u.expiresAt,
        file_id: u.fileId,
      })
      .execute();
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const r = await this.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? uploadOf(r) : undefined;
  }

  async finishUpload(id: string, status: 'completed' | 'cancelled', fileId: string | null): Promise<boolean> {
    const r = await this.db
      .updateTable('uploads')
      .set({ status, file_id: fileId })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async insertPart(p: PartRecord): Promise<void> {
    await this.db
      .insertInto('upload_parts')
      .values({
        id: p.id,
        upload_id: p.uploadId,
        bytes: p.bytes,
        sha256: p.sha256,
        created_at: p.createdAt,
      })
      .execute();
  }

  async parts(uploadId: string): Promise<PartRecord[]> {
    const rows = await this.db
      .selectFrom('upload_parts')
      .selectAll()
      .where('upload_id', '=', uploadId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((p) => ({
      id: p.id,
      uploadId: p.upload_id,
      bytes: Number(p.bytes),
      sha256: p.sha256,
      createdAt: Number(p.created_at),
    }));
  }

  async dropParts(uploadId: string): Promise<void> {
    const ids = (await this.parts(uploadId)).map((p) => p.id);
    await this.db.deleteFrom('upload_parts').where('upload_id', '=', uploadId).execute();
    await this.deleteContent(ids);
  }

  async insertBatch(b: BatchRow): Promise<void> {
    await this.db.insertInto('batches').values(b).execute();
  }

  async getBatch(id: string): Promise<BatchRow | undefined> {
    const r = await this.db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? normalizeBatch(r) : undefined;
  }

  async listBatches(team: string, limit: number, after?: string): Promise<BatchRow[]> {
    let q = this.db.selectFrom('batches').selectAll().where('team_id', '=', team);
    const cursor = await cursorOf(this.db, 'batches', after);
    if (cursor === null) return [];
    if (cursor) q = q.where(olderThan(cursor));
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(normalizeBatch);
  }

  async updateBatch(
    id: string,
    patch: BatchPatch,
    from?: readonly BatchStatus[],
  ): Promise<BatchRow | undefined> {
    let q = this.db.updateTable('batches').set(patch).where('id', '=', id);
    if (from) q = q.where('status', 'in', [...from]);
    const r = await q.returningAll().executeTakeFirst();
    return r ? normalizeBatch(r) : undefined;
  }

  async expiredBatches(now: number, limit: number): Promise<BatchRow[]> {
    const rows = await this.db
      .selectFrom('batches')
      .selectAll()
      .where('status', 'in', [...UNFINISHED])
      .where('expires_at', '<', now)
      .orderBy('expires_at')
      .limit(limit)
      .execute();
    return rows.map(normalizeBatch);
  }

  async stalledBatches(before: number, limit: number): Promise<BatchRow[]> {
    const rows = await this.db
      .selectFrom('batches')
      .selectAll()
      .where('status', '=', 'finalizing')
      .where('finalizing_at', '<', before)
      .orderBy('finalizing_at')
      .limit(limit)
      .execute();
    return rows.map(normalizeBatch);
  }

  async reclaimFinalizing(id: string, seenAt: number, now: number): Promise<BatchRow | undefined> {
    const r = await this.db
      .updateTable('batches')
      .set({ finalizing_at: now })
      .where('id', '=', id)
      .where('status', '=', 'finalizing')
      .where('finalizing_at', '=', seenAt)
      .returningAll()
      .executeTakeFirst();
    return r ? normalizeBatch(r) : undefined;
  }

  async recordResult(batchId: string, r: BatchResult): Promise<boolean> {
    const res = await this.db
      .insertInto('batch_results')
      .values({ batch_id: batchId, line: r.line, custom_id: r.customId, ok: r.ok ? 1 : 0, record: r.record })
      .onConflict((oc) => oc.columns(['batch_id', 'line']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async countResult(
    batchId: string,
    ok: boolean,
  ): Promise<{ total: number; completed: number; failed: number }> {
    const r = await this.db
      .updateTable('batches')
      .set({
        completed: sql`completed + ${ok ? 1 : 0}`,
        failed: sql`failed + ${ok ? 0 : 1}`,
      })
      .where('id', '=', batchId)
      .returning(['total', 'completed', 'failed'])
      .executeTakeFirstOrThrow();
    return { total: Number(r.total), completed: Number(r.completed), failed: Number(r.failed) };
  }

  async results(batchId: string, afterLine: number, limit: number): Promise<BatchResult[]> {
    const rows = await this.db
      .selectFrom('batch_results')
      .selectAll()
      .where('batch_id', '=', batchId)
      .where('line', '>', afterLine)
      .orderBy('line')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ line: r.line, customId: r.custom_id, ok: r.ok === 1, record: r.record }));
  }

  async deleteResults(batchId: string): Promise<void> {
    await this.db.deleteFrom('batch_results').where('batch_id', '=', batchId).execute();
  }

  async close(): Promise<void> {
    // The database handle is the storage layer's (or the worker's); whoever opened it closes it.
  }
}

function normalizeBatch(r: BatchRow): BatchRow {
  const n = (v: number | null) => (v === null ? null : Number(v));
  return {
    ...r,
    total: Number(r.total),
    completed: Number(r.completed),
    failed: Number(r.failed),
    created_at: Number(r.created_at),
    expires_at: Number(r.expires_at),
    in_progress_at: n(r.in_progress_at),
    finalizing_at: n(r.finalizing_at),
    completed_at: n(r.completed_at),
    failed_at: n(r.failed_at),
    expired_at: n(r.expired_at),
    cancelling_at: n(r.cancelling_at),
    cancelled_at: n(r.cancelled_at),
  };
}

/** Embedded: content on the local disk, written under a temporary name and renamed into place. */
export class EmbeddedFileStore extends KyselyFileStore {
  readonly kind = 'embedded' as const;
  private ready: Promise<void> | undefined;

  constructor(
    handle: DbHandle,
    private readonly dir: string,
  ) {
    super(handle);
  }

  private path(contentId: string): string {
    return join(this.dir, contentId);
  }

  async writeContent(contentId: string, source: AsyncIterable<Buffer>): Promise<void> {
    // Created on first write: a gateway that never stores a file creates no directory.
    this.ready ??= mkdir(this.dir, { recursive: true }).then(() => undefined);
    await this.ready;
    const target = this.path(contentId);
    const tmp = `${target}.tmp-${randomHex(8)}`;
    try {
      await pipeline(Readable.from(source, { objectMode: false }), createWriteStream(tmp));
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  readContent(contentId: string): Readable {
    return createReadStream(this.path(contentId));
  }

  async deleteContent(contentIds: readonly string[]): Promise<void> {
    for (const id of contentIds) await rm(this.path(id), { force: true });
  }
}

/** PostgreSQL: content in `file_chunks`, shared by every instance. */
export class PostgresFileStore extends KyselyFileStore {
  readonly kind = 'postgres' as const;

  async writeContent(contentId: string, source: AsyncIterable<Buffer>): Promise<void> {
    let seq = 0;
    let pending: Buffer[] = [];
    let size = 0;
    const flush = async () => {
      if (size === 0) return;
      const data = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, size);
      pending = [];
      size = 0;
      await this.db.insertInto('file_chunks').values({ content_id: contentId, seq, data }).execute();
      seq += 1;
    };
    try {
      // Each chunk commits on its own: no transaction held open while a slow client uploads. Nothing
      // points at the content id until the caller inserts its record, so a partial write is invisible.
      for await (const chunk of source) {
        let c = chunk;
        while (c.length > 0) {
          const take = Math.min(c.length, CHUNK_BYTES - size);
          pending.push(take === c.length ? c : c.subarray(0, take));
          size += take;
          c = c.subarray(take);
          if (size === CHUNK_BYTES) await flush();
        }
      }
      await flush();
    } catch (err) {
      await this.deleteContent([contentId]).catch(() => {});
      throw err;
    }
  }

  readContent(contentId: string): Readable {
    const db = this.db;
    return Readable.from(
      (async function* () {
        // One chunk in memory at a time, however large the file.
        for (let seq = 0; ; seq++) {
          const row = await db
            .selectFrom('file_chunks')
            .select('data')
            .where('content_id', '=', contentId)
            .where('seq', '=', seq)
            .executeTakeFirst();
          if (!row) return;
          yield row.data;
        }
      })(),
      { objectMode: false },
    );
  }

  async deleteContent(contentIds: readonly string[]): Promise<void> {
    if (contentIds.length === 0) return;
    await this.db
      .deleteFrom('file_chunks')
      .where('content_id', 'in', [...contentIds])
      .execute();
  }
}

/** The store for this database: PostgreSQL keeps content too; SQLite keeps it in `filesDir`. */
export function createFileStore(handle: DbHandle, filesDir: string): FileStore {
  return handle.kind === 'postgres' ? new PostgresFileStore(handle) : new EmbeddedFileStore(handle, filesDir);
}
