import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomHex } from '../../src/core/ids.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/poll.js';
import { dropSchema, freshSchemaName, PG_URL, pgQuery } from '../helpers/postgres.js';
import { services } from '../helpers/services.js';

/**
 * Two gateway instances sharing PostgreSQL (and Redis for the queue), each with its own, different
 * `files_dir`: a file or upload made on one is complete and readable on the other, and a batch created on
 * one runs on both and is retrieved, with its output, on the other. Nothing touches either local disk.
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe.skipIf(!services.postgres || !services.redis)(
  'files, uploads and batches shared through PostgreSQL',
  () => {
    const schema = freshSchemaName();
    const prefix = `sytest:${randomHex(8)}:`;
    let dir: string;
    let a: TestGateway;
    let b: TestGateway;
    let onA: OpenAI;
    let onB: OpenAI;

    const yaml = (filesDir: string) => `
database: { url: "${PG_URL}", schema: ${schema} }
redis: { url: "${REDIS_URL}", key_prefix: "${prefix}" }
providers:
  mock: { type: mock, reply: "shared answer" }
models:
  fast: { targets: [{ provider: mock, model: m }] }
jobs:
  backend: bullmq
  files_dir: ${filesDir}
  backoff: { base: 50ms, max: 200ms }
`;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sy-files-pg-'));
      a = await startGateway(yaml(join(dir, 'a-files')));
      b = await startGateway(yaml(join(dir, 'b-files')));
      onA = new OpenAI({ baseURL: a.baseURL, apiKey: 'none', maxRetries: 0 });
      onB = new OpenAI({ baseURL: b.baseURL, apiKey: 'none', maxRetries: 0 });
    }, 30_000);

    afterAll(async () => {
      await a?.close();
      await b?.close();
      rmSync(dir, { recursive: true, force: true });
      await dropSchema(schema);
      const r = new Redis(REDIS_URL);
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
    });

    it('a file uploaded on A is listed and served, byte for byte, by B; deleted on B, gone on A', async () => {
      const content = Buffer.from('{"shared":true}\n'.repeat(1000));
      const f = await onA.files.create({ file: await toFile(content, 'shared.jsonl'), purpose: 'user_data' });
      expect(await onB.files.retrieve(f.id)).toEqual(f);
      expect((await onB.files.list()).data.map((x) => x.id)).toContain(f.id);
      const got = Buffer.from(await (await onB.files.content(f.id)).arrayBuffer());
      expect(got.equals(content)).toBe(true);
      // The bytes are in the database, in chunks, not on either instance's disk.
      const rows = await pgQuery<{ n: string }>(
        `select sum(length(data)) as n from "${schema}".file_chunks where content_id = $1`,
        [f.id],
      );
      expect(Number(rows[0]?.n)).toBe(content.length);
      await onB.files.delete(f.id);
      await expect(onA.files.retrieve(f.id)).rejects.toMatchObject({ status: 404, code: 'file_not_found' });
    });

    it('an upload started on A takes parts on A and B, completes on B, and serves on A', async () => {
      const part1 = Buffer.alloc(300_000, 'x');
      const part2 = Buffer.alloc(1_500_000, 'y');
      const whole = Buffer.concat([part1, part2]);
      const upload = await onA.uploads.create({
        filename: 'two-hosts.jsonl',
        purpose: 'batch',
        bytes: whole.length,
        mime_type: 'application/jsonl',
      });
      const p1 = await onA.uploads.parts.create(upload.id, { data: await toFile(part1, 'p1') });
      const p2 = await onB.uploads.parts.create(upload.id, { data: await toFile(part2, 'p2') });
      // B sees both parts and the progress, whichever instance received them.
      const state = (await (await fetch(`${b.baseURL}/uploads/${upload.id}`)).json()) as {
        bytes_received: number;
        parts: Array<{ id: string }>;
      };
      expect(state.bytes_received).toBe(whole.length);
      expect(state.parts.map((p) => p.id)).toEqual([p1.id, p2.id]);
      const sha256 = createHash('sha256').update(whole).digest('hex');
      const done = await onB.uploads.complete(upload.id, {
        part_ids: [p1.id, p2.id],
        sha256,
      } as OpenAI.Uploads.UploadCompleteParams);
      expect(done.status).toBe('completed');
      const fileId = (done.file as { id: string }).id;
      expect(
        await onA.uploads.parts.create(upload.id, { data: await toFile(part1, 'late') }).catch((e) => e),
      ).toMatchObject({
        status: 400,
        code: 'upload_not_pending',
      });
      const got = Buffer.from(await (await onA.files.content(fileId)).arrayBuffer());
      expect(createHash('sha256').update(got).digest('hex')).toBe(sha256);
      // The parts are gone once joined.
      const left = await pgQuery<{ n: string }>(
        `select count(*) as n from "${schema}".file_chunks where content_id in ($1, $2)`,
        [p1.id, p2.id],
      );
      expect(Number(left[0]?.n)).toBe(0);
    });

    it('a batch created on A runs on the shared queue and is retrieved, with its output, on B', async () => {
      const lines = Array.from({ length: 20 }, (_, i) =>
        JSON.stringify({
          custom_id: `line-${i}`,
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'fast', messages: [{ role: 'user', content: `q${i}` }] },
        }),
      );
      const input = await onA.files.create({
        file: await toFile(Buffer.from(lines.join('\n')), 'batch.jsonl'),
        purpose: 'batch',
      });
      const batch = await onA.batches.create({
        input_file_id: input.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      expect((await onB.batches.list()).data.map((x) => x.id)).toContain(batch.id);
      const done = await until(
        async () => {
          const r = await onB.batches.retrieve(batch.id);
          return r.status === 'completed' ? r : undefined;
        },
        'the batch to complete, seen from B',
        60_000,
      );
      expect(done.request_counts).toEqual({ total: 20, completed: 20, failed: 0 });
      const out = (await (await onB.files.content(done.output_file_id as string)).text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(out.map((l: { custom_id: string }) => l.custom_id)).toEqual(lines.map((_, i) => `line-${i}`));
      expect(out[0].response.body.choices[0].message.content).toBe('shared answer');
      expect(done.error_file_id).toBeNull();
      // Neither instance wrote a byte to its own disk.
      expect(existsSync(join(dir, 'a-files'))).toBe(false);
      expect(existsSync(join(dir, 'b-files'))).toBe(false);
    }, 90_000);
  },
);
