import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { PASS_THROUGH_STAGES } from '../../src/pipeline/context.js';
import { until } from '../contract/queue-contract.js';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/** OpenAI's Files, Uploads and Batch APIs against the gateway, through the official `openai` SDK. */

describe('Files, Uploads and Batch APIs', () => {
  let gw: TestGateway;
  let dir: string;
  let client: OpenAI;
  let other: OpenAI;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-files-'));
    // Load shedding is not under test; a loaded 2-core machine must not turn these into 503s.
    gw = await startGateway(`
server: { load_shedding: { enabled: false } }
providers:
  mock: { type: mock, reply: "batched answer" }
models:
  fast: { targets: [{ provider: mock, model: m }] }
jobs:
  database: ${join(dir, 'db.sqlite')}
  files_dir: ${join(dir, 'files')}
  max_file_size: 100kb
  backoff: { base: 50ms, max: 200ms }
  types:
    batch.request: { concurrency: 8 }
`);
    gw.state.stages = {
      ...PASS_THROUGH_STAGES,
      identify(ctx) {
        const auth = ctx.ingress.headers.authorization;
        if (typeof auth !== 'string' || !auth.startsWith('Bearer team-')) {
          throw new GatewayError('invalid_admin_key', 'test identify: Bearer team-<name> expected');
        }
        ctx.caller = { team: auth.slice('Bearer team-'.length) };
      },
    };
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'team-a', maxRetries: 0 });
    other = new OpenAI({ baseURL: gw.baseURL, apiKey: 'team-b', maxRetries: 0 });
  }, 30_000);

  afterAll(async () => {
    await gw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores, lists, serves and deletes a file; other teams cannot see it', async () => {
    const content = Buffer.from('{"hello":"world"}\n');
    const f = await client.files.create({ file: await toFile(content, 'hello.jsonl'), purpose: 'batch' });
    expect(f).toMatchObject({
      object: 'file',
      bytes: content.length,
      filename: 'hello.jsonl',
      purpose: 'batch',
      status: 'processed',
    });
    expect(f.id).toMatch(/^file-[0-9a-f]{24}$/);
    expect((f as unknown as { sha256: string }).sha256).toBe(
      createHash('sha256').update(content).digest('hex'),
    );
    expect(await client.files.retrieve(f.id)).toEqual(f);
    expect(await (await client.files.content(f.id)).text()).toBe(content.toString());
    const list = await client.files.list();
    expect(list.data.map((x) => x.id)).toContain(f.id);
    await expect(other.files.retrieve(f.id)).rejects.toMatchObject({ status: 404, code: 'file_not_found' });
    expect((await other.files.list()).data).toEqual([]);
    expect(await client.files.delete(f.id)).toEqual({ id: f.id, object: 'file', deleted: true });
    await expect(client.files.retrieve(f.id)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses a bad purpose and a file over the size limit', async () => {
    await expect(
      client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'nonsense' as 'batch' }),
    ).rejects.toMatchObject({ status: 400, code: 'invalid_value', param: 'purpose' });
    await expect(
      client.files.create({
        file: await toFile(Buffer.alloc(150 * 1024, 97), 'big.txt'),
        purpose: 'user_data',
      }),
    ).rejects.toMatchObject({ status: 413, code: 'file_too_large' });
    expect((await client.files.list()).data).toEqual([]);
  });

  it('runs a 100-line batch end to end through the SDK: output and error files in OpenAI format', async () => {
    const lines = Array.from({ length: 100 }, (_, i) =>
      JSON.stringify({
        custom_id: `req-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        // Two lines name a model that does not exist: they land in the error file.
        body: {
          model: i % 50 === 7 ? 'no-such-model' : 'fast',
          messages: [{ role: 'user', content: `question ${i}` }],
        },
      }),
    );
    const input = await client.files.create({
      file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'batch.jsonl'),
      purpose: 'batch',
    });
    const batch = await client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { purpose: 'test' },
    });
    expect(batch).toMatchObject({
      object: 'batch',
      status: 'validating',
      input_file_id: input.id,
      metadata: { purpose: 'test' },
    });
    const done = await until(
      async () => {
        const b = await client.batches.retrieve(batch.id);
        return b.status === 'completed' ? b : undefined;
      },
      'the batch to complete',
      60_000,
    );
    expect(done.request_counts).toEqual({ total: 100, completed: 98, failed: 2 });
    expect(done.output_file_id).toMatch(/^file-/);
    expect(done.error_file_id).toMatch(/^file-/);
    expect(done.completed_at).toBeGreaterThanOrEqual(done.created_at);

    const out = (await (await client.files.content(done.output_file_id as string)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(out).toHaveLength(98);
    expect(out[0]).toMatchObject({ custom_id: 'req-0', error: null, response: { status_code: 200 } });
    expect(out[0].id).toMatch(/^batch_req_/);
    expect(out[0].response.body.choices[0].message.content).toBe('batched answer');
    expect(new Set(out.map((l: { custom_id: string }) => l.custom_id)).size).toBe(98);

    const errs = (await (await client.files.content(done.error_file_id as string)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errs.map((e: { custom_id: string }) => e.custom_id)).toEqual(['req-7', 'req-57']);
    expect(errs[0].response.status_code).toBe(404);
    expect(errs[0].response.body.error.code).toBe('model_not_found');

    const listed = await client.batches.list();
    expect(listed.data.map((b) => b.id)).toContain(batch.id);
    // The batch's own jobs (its run and one per line) are internal: the team's job list never shows them.
    const jobs = (await (
      await fetch(`${gw.baseURL}/jobs?limit=100`, { headers: { authorization: 'Bearer team-a' } })
    ).json()) as { data: Array<{ type: string }> };
    expect(jobs.data.filter((j) => j.type.startsWith('batch.'))).toEqual([]);
    await expect(other.batches.retrieve(batch.id)).rejects.toMatchObject({
      status: 404,
      code: 'batch_not_found',
    });
    await expect(client.batches.cancel(batch.id)).rejects.toMatchObject({
      status: 400,
      code: 'batch_not_cancellable',
    });
  }, 90_000);

  it('fails a batch whose input has invalid lines, naming each line', async () => {
    const text = [
      JSON.stringify({
        custom_id: 'a',
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'fast', messages: [] },
      }),
      'not json',
      JSON.stringify({
        custom_id: 'a',
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'fast', messages: [] },
      }),
      JSON.stringify({ custom_id: 'b', method: 'GET', url: '/v1/chat/completions', body: {} }),
    ].join('\n');
    const input = await client.files.create({
      file: await toFile(Buffer.from(text), 'bad.jsonl'),
      purpose: 'batch',
    });
    const batch = await client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const failed = await until(async () => {
      const b = await client.batches.retrieve(batch.id);
      return b.status === 'failed' ? b : undefined;
    }, 'the batch to fail');
    expect(failed.errors?.data?.map((e) => [e.line, e.param])).toEqual([
      [2, null],
      [3, 'custom_id'],
      [4, 'method'],
    ]);
    await expect(
      client.batches.create({
        input_file_id: 'file-nope',
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    ).rejects.toMatchObject({ status: 404, code: 'file_not_found' });
  });

  it('completes a resumable upload after a part is retried, checking the SHA-256', async () => {
    const part1 = Buffer.alloc(40_000, 'a');
    const part2 = Buffer.alloc(25_000, 'b');
    const whole = Buffer.concat([part1, part2]);
    const upload = await client.uploads.create({
      filename: 'big.jsonl',
      purpose: 'batch',
      bytes: whole.length,
      mime_type: 'application/jsonl',
    });
    expect(upload).toMatchObject({ object: 'upload', status: 'pending', bytes: whole.length, file: null });
    const p1 = await client.uploads.parts.create(upload.id, { data: await toFile(part1, 'p1') });
    expect(p1).toMatchObject({ object: 'upload.part', upload_id: upload.id });

    // The first try of part 2 dies mid-body (the client's connection drops).
    const boundary = 'xxBOUNDARYxx';
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${gw.baseURL}/uploads/${upload.id}/parts`, {
        method: 'POST',
        headers: {
          authorization: 'Bearer team-a',
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(part2.length + 200),
        },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(
        `--${boundary}\r\ncontent-disposition: form-data; name="data"; filename="p2"\r\ncontent-type: application/octet-stream\r\n\r\n`,
      );
      req.write(part2.subarray(0, 10_000), () => setTimeout(() => req.destroy(), 100));
    });
    // Resuming: the upload shows what arrived; the broken part left nothing behind.
    const state = await until(async () => {
      const res = await fetch(`${gw.baseURL}/uploads/${upload.id}`, {
        headers: { authorization: 'Bearer team-a' },
      });
      const body = (await res.json()) as { bytes_received: number; parts: Array<{ id: string }> };
      return body.parts.length === 1 ? body : undefined;
    }, 'upload state');
    expect(state.bytes_received).toBe(part1.length);
    expect(state.parts.map((p) => p.id)).toEqual([p1.id]);

    const p2 = await client.uploads.parts.create(upload.id, { data: await toFile(part2, 'p2') });
    // A wrong checksum is refused and the upload stays pending.
    await expect(
      client.uploads.complete(upload.id, { part_ids: [p1.id, p2.id], md5: '0'.repeat(32) }),
    ).rejects.toMatchObject({ status: 400, code: 'checksum_mismatch' });
    const sha256 = createHash('sha256').update(whole).digest('hex');
    const done = await client.uploads.complete(upload.id, {
      part_ids: [p1.id, p2.id],
      md5: createHash('md5').update(whole).digest('hex'),
      sha256,
    } as OpenAI.Uploads.UploadCompleteParams);
    expect(done.status).toBe('completed');
    expect(done.file).toMatchObject({
      object: 'file',
      bytes: whole.length,
      filename: 'big.jsonl',
      purpose: 'batch',
    });
    const fileId = (done.file as { id: string }).id;
    const got = Buffer.from(await (await client.files.content(fileId)).arrayBuffer());
    expect(got.equals(whole)).toBe(true);
    expect((done.file as unknown as { sha256: string }).sha256).toBe(sha256);
    await expect(
      client.uploads.parts.create(upload.id, { data: await toFile(part2, 'p3') }),
    ).rejects.toMatchObject({
      status: 400,
      code: 'upload_not_pending',
    });
  });
});

describe('batch expiry', () => {
  let gw: TestGateway;
  let dir: string;
  let client: OpenAI;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-batch-expiry-'));
    // A 5 s window and a model that answers in 20 s, one line at a time: the window ends first.
    gw = await startGateway(`
server: { shutdown_timeout: 1s }
providers:
  quick: { type: mock, reply: "in time" }
  slow: { type: mock, latency_ms: 20000, reply: "too late" }
models:
  quick: { targets: [{ provider: quick, model: q }] }
  slow: { targets: [{ provider: slow, model: s }] }
jobs:
  database: ${join(dir, 'db.sqlite')}
  files_dir: ${join(dir, 'files')}
  batch_window: 5s
  types:
    batch.request: { concurrency: 1 }
`);
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'none', maxRetries: 0 });
  }, 30_000);

  afterAll(async () => {
    await gw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('expires a batch not finished within its window: finished lines kept, the rest batch_expired', async () => {
    const line = (i: number, model: string) =>
      JSON.stringify({
        custom_id: `req-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model, messages: [{ role: 'user', content: `q${i}` }] },
      });
    // The quick line runs first (line order at one line at a time), then the slow one holds the only slot.
    const text = [line(0, 'quick'), line(1, 'slow'), line(2, 'slow'), line(3, 'slow')].join('\n');
    const input = await client.files.create({
      file: await toFile(Buffer.from(text), 'in.jsonl'),
      purpose: 'batch',
    });
    const batch = await client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect((batch.expires_at ?? 0) - batch.created_at).toBeLessThanOrEqual(6);
    const done = await until(
      async () => {
        const b = await client.batches.retrieve(batch.id);
        return b.status === 'expired' ? b : undefined;
      },
      'the batch to expire',
      20_000,
    );
    expect(done.expired_at).toBeGreaterThanOrEqual(done.created_at);
    expect(done.completed_at).toBeNull();
    expect(done.request_counts).toEqual({ total: 4, completed: 1, failed: 3 });
    const out = (await (await client.files.content(done.output_file_id as string)).text()).trim().split('\n');
    expect(out.map((l) => JSON.parse(l).custom_id)).toEqual(['req-0']);
    const errs = (await (await client.files.content(done.error_file_id as string)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errs.map((e: { custom_id: string }) => e.custom_id)).toEqual(['req-1', 'req-2', 'req-3']);
    for (const e of errs) {
      expect(e).toMatchObject({
        response: null,
        error: {
          code: 'batch_expired',
          message: 'This request could not be executed before the completion window expired.',
        },
      });
      expect(e.id).toMatch(/^batch_req_/);
    }
    // An expired batch is finished: it cannot be cancelled, and stays expired.
    await expect(client.batches.cancel(batch.id)).rejects.toMatchObject({
      status: 400,
      code: 'batch_not_cancellable',
    });
    expect((await client.batches.retrieve(batch.id)).status).toBe('expired');
  }, 40_000);
});

describe('a batch whose finalizer died', () => {
  let gw: TestGateway;
  let dir: string;
  let up: FakeUpstream;
  let release: () => void = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-batch-stall-'));
    // Lines wait at the upstream until the test has put the batch where a dead finalizer leaves it.
    up = await startFakeUpstream(async (_req, res) => {
      await held;
      sendJson(res, 200, {
        id: 'c1',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-test',
        choices: [{ index: 0, message: { role: 'assistant', content: 'late' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
    });
    gw = await startGateway(
      `
server: { load_shedding: { enabled: false } }
providers: { up: { type: openai, base_url: "${up.url}/v1", api_key: k } }
models: { m: { targets: [{ provider: up, model: gpt-test }] } }
jobs:
  database: ${join(dir, 'jobs.db')}
  files_dir: ${join(dir, 'files')}
  batch_finalize_timeout: 3s
`,
      { SWITCHYARD_DB_PATH: join(dir, 'sy.db') },
    );
  }, 30_000);

  afterAll(async () => {
    release();
    await gw?.close();
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is finished by the sweep once batch_finalize_timeout has passed, with every recorded line', async () => {
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'none', maxRetries: 0 });
    const text = [0, 1]
      .map((i) =>
        JSON.stringify({
          custom_id: `req-${i}`,
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'm', messages: [{ role: 'user', content: `q${i}` }] },
        }),
      )
      .join('\n');
    const input = await client.files.create({
      file: await toFile(Buffer.from(text), 'in.jsonl'),
      purpose: 'batch',
    });
    const batch = await client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await until(() => (up.requests.length === 2 ? true : undefined), 'both lines at the upstream', 15_000);
    // What a process that claimed the finalization and then died leaves behind: `finalizing`, no files.
    const db = new Database(join(dir, 'sy.db'));
    try {
      db.prepare("UPDATE batches SET status = 'finalizing', finalizing_at = ? WHERE id = ?").run(
        Date.now(),
        batch.id,
      );
    } finally {
      db.close();
    }
    release();
    const done = await until(
      async () => {
        const b = await client.batches.retrieve(batch.id);
        return b.status === 'completed' ? b : undefined;
      },
      'the sweep to finish the batch',
      20_000,
    );
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    expect(done.error_file_id).toBeNull();
    const out = (await (await client.files.content(done.output_file_id as string)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { custom_id: string; response: { status_code: number } });
    expect(out.map((l) => [l.custom_id, l.response.status_code])).toEqual([
      ['req-0', 200],
      ['req-1', 200],
    ]);
  });
});
