import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Database from 'better-sqlite3';
import { randomHex } from '../../core/ids.js';
import { openSqlite } from '../../db/sqlite.js';
import { GatewayError } from '../../errors/gateway-error.js';

/**
 * OpenAI's Files and Uploads, stored on the local disk (`jobs.files_dir`) with their records in the
 * embedded database. A file's bytes are written to a temporary name while hashed, and renamed into place
 * only once complete, so a crash never leaves a half file under a live id.
 */

export const FILE_PURPOSES = [
  'batch',
  'batch_output',
  'assistants',
  'fine-tune',
  'vision',
  'user_data',
  'evals',
] as const;
const UPLOAD_TTL_MS = 3_600_000;
const MAX_PARTS = 10_000;

export interface FileRecord {
  id: string;
  team: string;
  filename: string;
  purpose: string;
  bytes: number;
  sha256: string;
  createdAt: number;
}

export interface UploadRecord {
  id: string;
  team: string;
  filename: string;
  purpose: string;
  bytes: number;
  mimeType: string;
  status: 'pending' | 'completed' | 'cancelled' | 'expired';
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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sy_files (
  id TEXT PRIMARY KEY, team TEXT NOT NULL, filename TEXT NOT NULL, purpose TEXT NOT NULL,
  bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sy_files_team ON sy_files (team, created_at);
CREATE TABLE IF NOT EXISTS sy_uploads (
  id TEXT PRIMARY KEY, team TEXT NOT NULL, filename TEXT NOT NULL, purpose TEXT NOT NULL, bytes INTEGER NOT NULL,
  mime_type TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, file_id TEXT
);
CREATE TABLE IF NOT EXISTS sy_upload_parts (
  id TEXT PRIMARY KEY, upload_id TEXT NOT NULL, bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sy_upload_parts_upload ON sy_upload_parts (upload_id, created_at);
`;

interface FileRow {
  id: string;
  team: string;
  filename: string;
  purpose: string;
  bytes: number;
  sha256: string;
  created_at: number;
}

interface UploadRow {
  id: string;
  team: string;
  filename: string;
  purpose: string;
  bytes: number;
  mime_type: string;
  status: UploadRecord['status'];
  created_at: number;
  expires_at: number;
  file_id: string | null;
}

const fileOf = (r: FileRow): FileRecord => ({
  id: r.id,
  team: r.team,
  filename: r.filename,
  purpose: r.purpose,
  bytes: r.bytes,
  sha256: r.sha256,
  createdAt: r.created_at,
});

const uploadOf = (r: UploadRow): UploadRecord => ({
  id: r.id,
  team: r.team,
  filename: r.filename,
  purpose: r.purpose,
  bytes: r.bytes,
  mimeType: r.mime_type,
  // An upload past its hour is expired whether or not a sweep has marked it.
  status: r.status === 'pending' && r.expires_at < Date.now() ? 'expired' : r.status,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  fileId: r.file_id,
});

function notFound(kind: 'file' | 'upload', id: string): GatewayError {
  return new GatewayError(kind === 'file' ? 'file_not_found' : 'upload_not_found', `no ${kind} '${id}'`, {
    param: 'id',
  });
}

export class FileService {
  private readonly db: Database.Database;
  private readonly dir: string;

  constructor(
    dbPath: string,
    dir: string,
    readonly maxFileBytes: number,
  ) {
    if (dbPath !== ':memory:') mkdirSync(dirname(dbPath), { recursive: true });
    mkdirSync(join(dir, 'parts'), { recursive: true });
    this.dir = dir;
    this.db = openSqlite(dbPath);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  private path(id: string): string {
    return join(this.dir, id);
  }

  /** Streams `body` to disk, hashing it, within `maxBytes`; returns the size and SHA-256. */
  private async write(
    body: Readable,
    target: string,
    maxBytes: number,
  ): Promise<{ bytes: number; sha256: string }> {
    const tmp = `${target}.tmp-${randomHex(8)}`;
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      await pipeline(
        body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            bytes += chunk.length;
            if (bytes > maxBytes) {
              throw new GatewayError(
                'file_too_large',
                `the file is larger than ${maxBytes} bytes (jobs.max_file_size)`,
                {
                  param: 'file',
                },
              );
            }
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(tmp),
      );
      // busboy marks a stream cut at its own fileSize limit as truncated instead of failing it.
      if ((body as Readable & { truncated?: boolean }).truncated) {
        throw new GatewayError(
          'file_too_large',
          `the file is larger than ${maxBytes} bytes (jobs.max_file_size)`,
          {
            param: 'file',
          },
        );
      }
      await rename(tmp, target);
      return { bytes, sha256: hash.digest('hex') };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async create(team: string, filename: string, purpose: string, body: Readable): Promise<FileRecord> {
    const id = `file-${randomHex(24)}`;
    const { bytes, sha256 } = await this.write(body, this.path(id), this.maxFileBytes);
    return this.insertFile({ id, team, filename, purpose, bytes, sha256, createdAt: Date.now() });
  }

  /** A file the gateway itself produces (batch output). */
  async createFromText(team: string, filename: string, purpose: string, text: string): Promise<FileRecord> {
    const { Readable } = await import('node:stream');
    return this.create(team, filename, purpose, Readable.from([Buffer.from(text)]));
  }

  private insertFile(f: FileRecord): FileRecord {
    this.db
      .prepare(
        'INSERT INTO sy_files (id, team, filename, purpose, bytes, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(f.id, f.team, f.filename, f.purpose, f.bytes, f.sha256, f.createdAt);
    return f;
  }

  setPurpose(id: string, purpose: string): FileRecord {
    this.db.prepare('UPDATE sy_files SET purpose = ? WHERE id = ?').run(purpose, id);
    return fileOf(this.db.prepare('SELECT * FROM sy_files WHERE id = ?').get(id) as FileRow);
  }

  get(id: string, team: string): FileRecord {
    const r = this.db.prepare('SELECT * FROM sy_files WHERE id = ?').get(id) as FileRow | undefined;
    if (!r || r.team !== team) throw notFound('file', id);
    return fileOf(r);
  }

  list(team: string, limit: number, after?: string, purpose?: string): FileRecord[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM sy_files WHERE team = @team AND (@purpose IS NULL OR purpose = @purpose)
         AND (@after IS NULL OR rowid < (SELECT rowid FROM sy_files WHERE id = @after))
         ORDER BY rowid DESC LIMIT @limit`,
      )
      .all({ team, limit, after: after ?? null, purpose: purpose ?? null }) as FileRow[];
    return rows.map(fileOf);
  }

  content(id: string, team: string): { file: FileRecord; stream: Readable } {
    const file = this.get(id, team);
    return { file, stream: createReadStream(this.path(id)) };
  }

  async text(id: string, team: string): Promise<string> {
    const { stream } = this.content(id, team);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async delete(id: string, team: string): Promise<void> {
    this.get(id, team);
    this.db.prepare('DELETE FROM sy_files WHERE id = ?').run(id);
    await rm(this.path(id), { force: true });
  }

  // ---- uploads ----

  createUpload(
    team: string,
    u: { filename: string; purpose: string; bytes: number; mimeType: string },
  ): UploadRecord {
    if (u.bytes > this.maxFileBytes) {
      throw new GatewayError(
        'file_too_large',
        `bytes is larger than ${this.maxFileBytes} (jobs.max_file_size)`,
        {
          param: 'bytes',
        },
      );
    }
    const now = Date.now();
    const id = `upload_${randomHex(24)}`;
    this.db
      .prepare(
        `INSERT INTO sy_uploads (id, team, filename, purpose, bytes, mime_type, status, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
      )
      .run(id, team, u.filename, u.purpose, u.bytes, u.mimeType, now, now + UPLOAD_TTL_MS);
    return this.getUpload(id, team);
  }

  getUpload(id: string, team: string): UploadRecord {
    const r = this.db.prepare('SELECT * FROM sy_uploads WHERE id = ?').get(id) as UploadRow | undefined;
    if (!r || r.team !== team) throw notFound('upload', id);
    return uploadOf(r);
  }

  private pendingUpload(id: string, team: string): UploadRecord {
    const u = this.getUpload(id, team);
    if (u.status !== 'pending') {
      throw new GatewayError(
        'upload_not_pending',
        `upload '${id}' is ${u.status}; parts are accepted only while pending`,
        {
          param: 'id',
        },
      );
    }
    return u;
  }

  parts(uploadId: string): PartRecord[] {
    return (
      this.db
        .prepare('SELECT * FROM sy_upload_parts WHERE upload_id = ? ORDER BY created_at, id')
        .all(uploadId) as Array<{
        id: string;
        upload_id: string;
        bytes: number;
        sha256: string;
        created_at: number;
      }>
    ).map((p) => ({
      id: p.id,
      uploadId: p.upload_id,
      bytes: p.bytes,
      sha256: p.sha256,
      createdAt: p.created_at,
    }));
  }

  /** Bytes received so far over the declared total: the upload's progress. */
  received(uploadId: string): number {
    const r = this.db
      .prepare('SELECT COALESCE(SUM(bytes), 0) AS n FROM sy_upload_parts WHERE upload_id = ?')
      .get(uploadId) as {
      n: number;
    };
    return r.n;
  }

  async addPart(uploadId: string, team: string, body: Readable): Promise<PartRecord> {
    const u = this.pendingUpload(uploadId, team);
    if (this.parts(uploadId).length >= MAX_PARTS) {
      throw new GatewayError('too_many_parts', `an upload may have at most ${MAX_PARTS} parts`, {
        param: 'data',
      });
    }
    const id = `part_${randomHex(24)}`;
    // A part may not exceed what the upload still lacks (64 MiB per part, as OpenAI allows, at most).
    const room = Math.min(64 * 1024 * 1024, Math.max(0, u.bytes - this.received(uploadId)));
    const { bytes, sha256 } = await this.write(body, join(this.dir, 'parts', id), Math.max(room, 0));
    const createdAt = Date.now();
    this.db
      .prepare(
        'INSERT INTO sy_upload_parts (id, upload_id, bytes, sha256, created_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(id, uploadId, bytes, sha256, createdAt);
    return { id, uploadId, bytes, sha256, createdAt };
  }

  /**
   * Joins the named parts, in the order given, into a file. A retried part leaves an unused earlier part
   * behind; only the ids listed count. The total must match the declared `bytes`; `md5`/`sha256`, when
   * given, must match the assembled file.
   */
  async completeUpload(
    uploadId: string,
    team: string,
    partIds: readonly string[],
    check: { md5?: string | undefined; sha256?: string | undefined },
  ): Promise<{ upload: UploadRecord; file: FileRecord }> {
    const u = this.pendingUpload(uploadId, team);
    const known = new Map(this.parts(uploadId).map((p) => [p.id, p]));
    const seen = new Set<string>();
    let total = 0;
    for (const [i, id] of partIds.entries()) {
      const p = known.get(id);
      if (!p)
        throw new GatewayError('invalid_value', `part_ids[${i}]: '${id}' is not a part of this upload`, {
          param: `part_ids[${i}]`,
        });
      if (seen.has(id))
        throw new GatewayError('invalid_value', `part_ids[${i}]: '${id}' is listed twice`, {
          param: `part_ids[${i}]`,
        });
      seen.add(id);
      total += p.bytes;
    }
    if (total !== u.bytes) {
      throw new GatewayError(
        'upload_size_mismatch',
        `the parts hold ${total} bytes; the upload declared ${u.bytes}`,
        {
          param: 'part_ids',
        },
      );
    }
    const fileId = `file-${randomHex(24)}`;
    const md5 = createHash('md5');
    const { Readable } = await import('node:stream');
    const dir = this.dir;
    const joined = Readable.from(
      (async function* () {
        for (const id of partIds) {
          for await (const c of createReadStream(join(dir, 'parts', id))) {
            md5.update(c as Buffer);
            yield c as Buffer;
          }
        }
      })(),
    );
    const { bytes, sha256 } = await this.write(joined, this.path(fileId), this.maxFileBytes);
    const md5hex = md5.digest('hex');
    if (
      (check.md5 && check.md5.toLowerCase() !== md5hex) ||
      (check.sha256 && check.sha256.toLowerCase() !== sha256)
    ) {
      await rm(this.path(fileId), { force: true });
      throw new GatewayError(
        'checksum_mismatch',
        `the assembled file's checksum does not match (sha256 ${sha256}, md5 ${md5hex})`,
        {
          param: check.sha256 ? 'sha256' : 'md5',
        },
      );
    }
    const file = this.insertFile({
      id: fileId,
      team,
      filename: u.filename,
      purpose: u.purpose,
      bytes,
      sha256,
      createdAt: Date.now(),
    });
    this.db
      .prepare(`UPDATE sy_uploads SET status = 'completed', file_id = ? WHERE id = ?`)
      .run(fileId, uploadId);
    await this.dropParts(uploadId);
    return { upload: this.getUpload(uploadId, team), file };
  }

  async cancelUpload(uploadId: string, team: string): Promise<UploadRecord> {
    this.pendingUpload(uploadId, team);
    this.db.prepare(`UPDATE sy_uploads SET status = 'cancelled' WHERE id = ?`).run(uploadId);
    await this.dropParts(uploadId);
    return this.getUpload(uploadId, team);
  }

  private async dropParts(uploadId: string): Promise<void> {
    for (const p of this.parts(uploadId)) await rm(join(this.dir, 'parts', p.id), { force: true });
    this.db.prepare('DELETE FROM sy_upload_parts WHERE upload_id = ?').run(uploadId);
  }

  async size(id: string): Promise<number> {
    return (await stat(this.path(id))).size;
  }

  close(): void {
    this.db.close();
  }
}
