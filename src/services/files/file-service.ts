import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { randomHex } from '../../core/ids.js';
import type { FileRecord, FileStore, PartRecord, UploadRecord } from '../../db/file-store.js';
import { GatewayError } from '../../errors/gateway-error.js';

/**
 * OpenAI's Files and Uploads over a FileStore: the local disk and the embedded database by default, the
 * shared PostgreSQL database (records and content) when configured, so every instance sees every file.
 * Content is hashed while it streams in and stored whole or not at all.
 */

export type { FileRecord, PartRecord, UploadRecord } from '../../db/file-store.js';

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
/** OpenAI's limit per part. */
const MAX_PART_BYTES = 64 * 1024 * 1024;

function notFound(kind: 'file' | 'upload', id: string): GatewayError {
  return new GatewayError(kind === 'file' ? 'file_not_found' : 'upload_not_found', `no ${kind} '${id}'`, {
    param: 'id',
  });
}

function tooLarge(maxBytes: number): GatewayError {
  return new GatewayError(
    'file_too_large',
    `the file is larger than ${maxBytes} bytes (jobs.max_file_size)`,
    {
      param: 'file',
    },
  );
}

/** An upload past its hour is expired whether or not anything has marked it. */
function withExpiry(u: UploadRecord): UploadRecord {
  return u.status === 'pending' && u.expiresAt < Date.now() ? { ...u, status: 'expired' } : u;
}

export class FileService {
  constructor(
    readonly store: FileStore,
    readonly maxFileBytes: number,
  ) {}

  /** Streams `body` into the store under `contentId` within `maxBytes`; returns its size and hashes. */
  private async write(
    body: AsyncIterable<Buffer>,
    contentId: string,
    maxBytes: number,
  ): Promise<{ bytes: number; sha256: string; md5: string }> {
    const sha = createHash('sha256');
    const md5 = createHash('md5');
    let bytes = 0;
    await this.store.writeContent(
      contentId,
      (async function* () {
        for await (const chunk of body) {
          bytes += chunk.length;
          if (bytes > maxBytes) throw tooLarge(maxBytes);
          sha.update(chunk);
          md5.update(chunk);
          yield chunk;
        }
        // busboy marks a stream cut at its own fileSize limit as truncated instead of failing it.
        if ((body as { truncated?: boolean }).truncated) throw tooLarge(maxBytes);
      })(),
    );
    return { bytes, sha256: sha.digest('hex'), md5: md5.digest('hex') };
  }

  async create(
    team: string,
    filename: string,
    purpose: string,
    body: AsyncIterable<Buffer>,
  ): Promise<FileRecord> {
    const id = `file-${randomHex(24)}`;
    const { bytes, sha256 } = await this.write(body, id, this.maxFileBytes);
    const f: FileRecord = { id, team, filename, purpose, bytes, sha256, createdAt: Date.now() };
    await this.store.insertFile(f);
    return f;
  }

  /** A file the gateway itself produces (batch output), streamed from `lines`. */
  createFromLines(
    team: string,
    filename: string,
    purpose: string,
    lines: AsyncIterable<string>,
  ): Promise<FileRecord> {
    return this.create(
      team,
      filename,
      purpose,
      (async function* () {
        for await (const l of lines) yield Buffer.from(l);
      })(),
    );
  }

  async setPurpose(id: string, purpose: string): Promise<FileRecord> {
    await this.store.setFilePurpose(id, purpose);
    const f = await this.store.getFile(id);
    if (!f) throw notFound('file', id);
    return f;
  }

  async get(id: string, team: string): Promise<FileRecord> {
    const f = await this.store.getFile(id);
    if (!f || f.team !== team) throw notFound('file', id);
    return f;
  }

  list(team: string, limit: number, after?: string, purpose?: string): Promise<FileRecord[]> {
    return this.store.listFiles(team, limit, after, purpose);
  }

  async content(id: string, team: string): Promise<{ file: FileRecord; stream: Readable }> {
    const file = await this.get(id, team);
    return { file, stream: this.store.readContent(id) };
  }

  /** The whole file as text: for inputs the gateway must parse whole (a batch's JSONL, bounded by its limits). */
  async text(id: string, team: string): Promise<string> {
    const { stream } = await this.content(id, team);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async delete(id: string, team: string): Promise<void> {
    await this.get(id, team);
    await this.store.deleteFile(id);
  }

  // ---- uploads ----

  async createUpload(
    team: string,
    u: { filename: string; purpose: string; bytes: number; mimeType: string },
  ): Promise<UploadRecord> {
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
    const rec: UploadRecord = {
      id: `upload_${randomHex(24)}`,
      team,
      filename: u.filename,
      purpose: u.purpose,
      bytes: u.bytes,
      mimeType: u.mimeType,
      status: 'pending',
      createdAt: now,
      expiresAt: now + UPLOAD_TTL_MS,
      fileId: null,
    };
    await this.store.insertUpload(rec);
    return rec;
  }

  async getUpload(id: string, team: string): Promise<UploadRecord> {
    const u = await this.store.getUpload(id);
    if (!u || u.team !== team) throw notFound('upload', id);
    return withExpiry(u);
  }

  private async pendingUpload(id: string, team: string): Promise<UploadRecord> {
    const u = await this.getUpload(id, team);
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

  parts(uploadId: string): Promise<PartRecord[]> {
    return this.store.parts(uploadId);
  }

  /** Bytes received so far over the declared total: the upload's progress. */
  async received(uploadId: string): Promise<number> {
    return (await this.store.parts(uploadId)).reduce((n, p) => n + p.bytes, 0);
  }

  async addPart(uploadId: string, team: string, body: AsyncIterable<Buffer>): Promise<PartRecord> {
    const u = await this.pendingUpload(uploadId, team);
    const parts = await this.store.parts(uploadId);
    if (parts.length >= MAX_PARTS) {
      throw new GatewayError('too_many_parts', `an upload may have at most ${MAX_PARTS} parts`, {
        param: 'data',
      });
    }
    const id = `part_${randomHex(24)}`;
    // A part may not exceed what the upload still lacks (and OpenAI's 64 MiB per part).
    const have = parts.reduce((n, p) => n + p.bytes, 0);
    const room = Math.min(MAX_PART_BYTES, Math.max(0, u.bytes - have));
    const { bytes, sha256 } = await this.write(body, id, room);
    const part: PartRecord = { id, uploadId, bytes, sha256, createdAt: Date.now() };
    await this.store.insertPart(part);
    return part;
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
    const u = await this.pendingUpload(uploadId, team);
    const known = new Map((await this.store.parts(uploadId)).map((p) => [p.id, p]));
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
    const store = this.store;
    const joined = (async function* () {
      for (const id of partIds) for await (const c of store.readContent(id)) yield c as Buffer;
    })();
    const { bytes, sha256, md5 } = await this.write(joined, fileId, this.maxFileBytes);
    if (
      (check.md5 && check.md5.toLowerCase() !== md5) ||
      (check.sha256 && check.sha256.toLowerCase() !== sha256)
    ) {
      await this.store.deleteContent([fileId]);
      throw new GatewayError(
        'checksum_mismatch',
        `the assembled file's checksum does not match (sha256 ${sha256}, md5 ${md5})`,
        { param: check.sha256 ? 'sha256' : 'md5' },
      );
    }
    const file: FileRecord = {
      id: fileId,
      team,
      filename: u.filename,
      purpose: u.purpose,
      bytes,
      sha256,
      createdAt: Date.now(),
    };
    // Completed once: a second completion racing this one (another instance) finds it no longer pending.
    if (!(await this.store.finishUpload(uploadId, 'completed', fileId))) {
      await this.store.deleteContent([fileId]);
      await this.pendingUpload(uploadId, team);
    }
    await this.store.insertFile(file);
    await this.store.dropParts(uploadId);
    return { upload: await this.getUpload(uploadId, team), file };
  }

  async cancelUpload(uploadId: string, team: string): Promise<UploadRecord> {
    await this.pendingUpload(uploadId, team);
    await this.store.finishUpload(uploadId, 'cancelled', null);
    await this.store.dropParts(uploadId);
    return this.getUpload(uploadId, team);
  }
}
