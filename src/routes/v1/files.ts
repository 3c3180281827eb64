import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { BATCH_ENDPOINTS, type BatchService, batchJson } from '../../services/files/batch-service.js';
import {
  FILE_PURPOSES,
  type FileRecord,
  type FileService,
  type UploadRecord,
} from '../../services/files/file-service.js';
import type { GatewayState } from '../../services/gateway-state.js';
import { callerOf, teamOf } from './caller.js';

/** OpenAI's Files, Uploads and Batch APIs. Thin handlers over FileService and BatchService. */

const sec = (ms: number) => Math.floor(ms / 1000);

function fileJson(f: FileRecord) {
  return {
    id: f.id,
    object: 'file' as const,
    bytes: f.bytes,
    created_at: sec(f.createdAt),
    expires_at: null,
    filename: f.filename,
    purpose: f.purpose,
    status: 'processed',
    status_details: null,
    sha256: f.sha256,
  };
}

function uploadJson(u: UploadRecord, file: FileRecord | null, received: number) {
  return {
    id: u.id,
    object: 'upload' as const,
    bytes: u.bytes,
    created_at: sec(u.createdAt),
    filename: u.filename,
    purpose: u.purpose,
    status: u.status,
    expires_at: sec(u.expiresAt),
    file: file ? fileJson(file) : null,
    // Ours: how much has arrived, for resuming.
    bytes_received: received,
  };
}

const idParams = {
  params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } },
};
const listQuery = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: { type: 'string', pattern: '^[0-9]{1,5}$' },
      after: { type: 'string', minLength: 1, maxLength: 100 },
      purpose: { type: 'string', maxLength: 64 },
      order: { enum: ['desc'] },
    },
  },
};

function limitOf(q: { limit?: string }, max: number): number {
  const n = q.limit === undefined ? 20 : Number(q.limit);
  if (n < 1 || n > max)
    throw new GatewayError('invalid_value', `limit must be from 1 to ${max}`, { param: 'limit' });
  return n;
}

function page<T extends { id: string }>(rows: T[], limit: number) {
  const data = rows.slice(0, limit);
  return {
    object: 'list' as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: rows.length > limit,
  };
}

export default async function fileRoutes(
  app: FastifyInstance,
  opts: { state: GatewayState; files: FileService; batches: BatchService; maxFileBytes: number },
): Promise<void> {
  const { state, batches, files } = opts;
  const team = (request: FastifyRequest, reply: FastifyReply) => teamOf(request, reply, state, undefined);
  // Multipart only here: the rest of the API accepts JSON alone.
  await app.register(multipart, {
    limits: {
      fileSize: opts.maxFileBytes,
      files: 1,
      fields: 10,
      fieldSize: 1024,
      parts: 12,
      headerPairs: 100,
    },
  });

  /** Reads a multipart body: the one file part streams to `onFile`; fields are collected. */
  async function readMultipart(
    request: FastifyRequest,
    reply: FastifyReply,
    fileField: string,
    onFile: (
      stream: NodeJS.ReadableStream & import('node:stream').Readable,
      filename: string,
    ) => Promise<unknown>,
  ): Promise<{ fields: Record<string, string>; result: unknown }> {
    if (!request.isMultipart()) {
      throw new GatewayError('invalid_request', 'the body must be multipart/form-data', { param: fileField });
    }
    const fields: Record<string, string> = {};
    let result: unknown;
    let got = false;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== fileField || got) {
            part.file.resume();
            throw new GatewayError(
              'invalid_request',
              `unexpected file field '${part.fieldname}'; send one '${fileField}'`,
              {
                param: part.fieldname,
              },
            );
          }
          got = true;
          result = await onFile(part.file, part.filename);
        } else fields[part.fieldname] = String(part.value);
      }
    } catch (err) {
      // Refused before the body was read to its end (a finished upload, a bad field): the rest of it is
      // still on the socket, so this connection cannot carry another request. Close it after the answer.
      reply.header('connection', 'close');
      throw err;
    }
    if (!got)
      throw new GatewayError('missing_required_parameter', `'${fileField}' is required`, {
        param: fileField,
      });
    return { fields, result };
  }

  // ---- files ----

  app.post('/files', async (request, reply) => {
    const owner = await team(request, reply);
    let created: FileRecord | undefined;
    // The purpose may come after the file, so the file is stored first and removed if the purpose is bad.
    const { fields } = await readMultipart(request, reply, 'file', async (stream, filename) => {
      created = await files.create(owner, (filename || 'file').slice(0, 255), 'pending', stream);
    });
    const purpose = fields.purpose;
    const file = created as FileRecord;
    if (!purpose || !(FILE_PURPOSES as readonly string[]).includes(purpose) || purpose === 'batch_output') {
      await files.delete(file.id, owner);
      throw new GatewayError(
        'invalid_value',
        `purpose must be one of ${FILE_PURPOSES.filter((p) => p !== 'batch_output').join(', ')}`,
        {
          param: 'purpose',
        },
      );
    }
    return fileJson(await files.setPurpose(file.id, purpose));
  });

  app.get('/files', { schema: listQuery }, async (request, reply) => {
    const q = request.query as { limit?: string; after?: string; purpose?: string };
    const owner = await team(request, reply);
    const limit = limitOf(q, 10_000);
    return page((await files.list(owner, limit + 1, q.after, q.purpose)).map(fileJson), limit);
  });

  app.get('/files/:id', { schema: idParams }, async (request, reply) => {
    return fileJson(await files.get((request.params as { id: string }).id, await team(request, reply)));
  });

  app.get('/files/:id/content', { schema: idParams }, async (request, reply) => {
    const { file, stream } = await files.content(
      (request.params as { id: string }).id,
      await team(request, reply),
    );
    reply.header('content-type', 'application/octet-stream').header('content-length', String(file.bytes));
    reply.header('content-disposition', `attachment; filename="${file.filename.replace(/["\\\r\n]/g, '_')}"`);
    return reply.send(stream);
  });

  app.delete('/files/:id', { schema: idParams }, async (request, reply) => {
    const { id } = request.params as { id: string };
    await files.delete(id, await team(request, reply));
    return { id, object: 'file', deleted: true };
  });

  // ---- uploads ----

  app.post(
    '/uploads',
    {
      schema: {
        body: {
          type: 'object',
          required: ['filename', 'purpose', 'bytes', 'mime_type'],
          additionalProperties: false,
          properties: {
            filename: { type: 'string', minLength: 1, maxLength: 255 },
            purpose: { enum: FILE_PURPOSES.filter((p) => p !== 'batch_output') },
            bytes: { type: 'integer', minimum: 1 },
            mime_type: { type: 'string', minLength: 1, maxLength: 255 },
          },
        },
      },
    },
    async (request, reply) => {
      const b = request.body as { filename: string; purpose: string; bytes: number; mime_type: string };
      const u = await files.createUpload(await team(request, reply), {
        filename: b.filename,
        purpose: b.purpose,
        bytes: b.bytes,
        mimeType: b.mime_type,
      });
      return uploadJson(u, null, 0);
    },
  );

  app.get('/uploads/:id', { schema: idParams }, async (request, reply) => {
    const u = await files.getUpload((request.params as { id: string }).id, await team(request, reply));
    const parts = await files.parts(u.id);
    const received = parts.reduce((n, p) => n + p.bytes, 0);
    return {
      ...uploadJson(u, u.fileId ? await files.get(u.fileId, u.team) : null, received),
      parts: parts.map((p) => ({
        id: p.id,
        object: 'upload.part',
        bytes: p.bytes,
        sha256: p.sha256,
        created_at: sec(p.createdAt),
      })),
    };
  });

  app.post('/uploads/:id/parts', { schema: idParams }, async (request, reply) => {
    const owner = await team(request, reply);
    const { id } = request.params as { id: string };
    await files.getUpload(id, owner);
    const { result } = await readMultipart(request, reply, 'data', (stream) =>
      files.addPart(id, owner, stream),
    );
    const part = result as Awaited<ReturnType<FileService['addPart']>>;
    return {
      id: part.id,
      object: 'upload.part',
      created_at: sec(part.createdAt),
      upload_id: id,
      bytes: part.bytes,
      sha256: part.sha256,
    };
  });

  app.post(
    '/uploads/:id/complete',
    {
      schema: {
        ...idParams,
        body: {
          type: 'object',
          required: ['part_ids'],
          additionalProperties: false,
          properties: {
            part_ids: {
              type: 'array',
              minItems: 1,
              maxItems: 10_000,
              items: { type: 'string', minLength: 1, maxLength: 100 },
            },
            md5: { type: 'string', pattern: '^[0-9a-fA-F]{32}$' },
            sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
          },
        },
      },
    },
    async (request, reply) => {
      const b = request.body as { part_ids: string[]; md5?: string; sha256?: string };
      const owner = await team(request, reply);
      const { upload, file } = await files.completeUpload(
        (request.params as { id: string }).id,
        owner,
        b.part_ids,
        {
          md5: b.md5,
          sha256: b.sha256,
        },
      );
      return uploadJson(upload, file, file.bytes);
    },
  );

  app.post('/uploads/:id/cancel', { schema: idParams }, async (request, reply) => {
    const u = await files.cancelUpload((request.params as { id: string }).id, await team(request, reply));
    return uploadJson(u, null, 0);
  });

  // ---- batches ----

  app.post(
    '/batches',
    {
      schema: {
        body: {
          type: 'object',
          required: ['input_file_id', 'endpoint', 'completion_window'],
          additionalProperties: false,
          properties: {
            input_file_id: { type: 'string', minLength: 1, maxLength: 100 },
            endpoint: { enum: [...BATCH_ENDPOINTS] },
            completion_window: { const: '24h' },
            metadata: {
              type: 'object',
              maxProperties: 16,
              additionalProperties: { type: 'string', maxLength: 512 },
            },
            output_expires_after: { type: 'object' },
          },
        },
      },
    },
    async (request, reply) => {
      const b = request.body as {
        input_file_id: string;
        endpoint: string;
        completion_window: string;
        metadata?: Record<string, string>;
      };
      return batchJson(await batches.create(await callerOf(request, reply, state, undefined), b));
    },
  );

  app.get('/batches', { schema: listQuery }, async (request, reply) => {
    const q = request.query as { limit?: string; after?: string };
    const limit = limitOf(q, 100);
    return page((await batches.list(await team(request, reply), limit + 1, q.after)).map(batchJson), limit);
  });

  app.get('/batches/:id', { schema: idParams }, async (request, reply) =>
    batchJson(await batches.get((request.params as { id: string }).id, await team(request, reply))),
  );

  app.post('/batches/:id/cancel', { schema: idParams }, async (request, reply) =>
    batchJson(await batches.cancel((request.params as { id: string }).id, await team(request, reply))),
  );
}
