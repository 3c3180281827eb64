import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, createKey } from '../helpers/admin.js';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/poll.js';

/**
 * Jobs run as the whole caller that submitted them, with real keys: a job's chat is admitted against and
 * billed to the submitting key (its limits, its request-log row); a tier with `on_limit: job` turns an
 * over-limit chat request into a 202 job; internal jobs are neither listed nor readable by keys.
 */

const ADMIN = 'admin-key-for-jobs-caller-tests';
type Json = Record<string, unknown>;

describe('jobs carry their caller', () => {
  let up: FakeUpstream;
  let gw: TestGateway;
  let dir: string;
  /** Requests whose prompt says "hold" wait here until the test releases them. */
  let release: () => void = () => {};
  let held = new Promise<void>((r) => {
    release = r;
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-jobs-caller-'));
    up = await startFakeUpstream(async (req, res) => {
      const text = JSON.stringify(req.json);
      if (text.includes('hold')) await held;
      sendJson(res, 200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-test',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 },
      });
    });
    gw = await startGateway(`
admin: { key: ${ADMIN} }
auth: { mode: keys }
request_log: { flush_interval: 20ms }
providers:
  up: { type: openai, base_url: "${up.url}/v1", api_key: k }
models:
  m: { targets: [{ provider: up, model: gpt-test }], retry: { attempts: 1 } }
tiers:
  capped: { rpd: 2 }
  deferring: { tpm: 6000, on_limit: job }
jobs:
  database: ${join(dir, 'jobs.db')}
  files_dir: ${join(dir, 'files')}
  backoff: { base: 100ms, max: 400ms }
  # A deferred job that still meets its limit on a loaded machine retries rather than failing.
  types:
    chat.completion: { max_attempts: 6 }
`);
  });

  afterAll(async () => {
    release();
    await gw?.close();
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (secret: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${gw.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${secret}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Json };
  };
  const finished = (secret: string, id: string) =>
    until(
      async () => {
        const r = await call(secret, 'GET', `/v1/jobs/${id}`);
        return ['completed', 'failed'].includes(r.body.status as string) ? r.body : undefined;
      },
      `job ${id} to finish`,
      20_000,
    );
  const logRow = (requestId: string) =>
    until(
      async () => {
        const r = await adminCall<{ data: Json[] }>(gw.url, ADMIN, 'GET', '/requests?limit=500');
        return r.body.data.find((x) => x.request_id === requestId);
      },
      `request-log row ${requestId}`,
      10_000,
    );
  const hi = (content = 'hi', max_tokens?: number) => ({
    model: 'm',
    messages: [{ role: 'user', content }],
    ...(max_tokens !== undefined ? { max_tokens } : {}),
  });

  it("bills a job's chat to the submitting key: its limits, its request-log row", async () => {
    const a = await createKey(gw.url, ADMIN, 'alpha', { tier: 'capped', user: 'ann' });
    const b = await createKey(gw.url, ADMIN, 'alpha', { tier: 'capped' });
    const sub = await call(a.secret, 'POST', '/v1/jobs', { type: 'chat.completion', input: hi() });
    expect(sub.status).toBe(202);
    const job = await finished(a.secret, sub.body.id as string);
    expect(job.status).toBe('completed');
    // The job's run is a request of key A, user ann, in the log...
    expect(await logRow(`${job.id}.1`)).toMatchObject({
      team: 'alpha',
      key: a.id,
      user: 'ann',
      operation: 'chat',
      status: 200,
      prompt_tokens: 7,
      completion_tokens: 2,
    });
    // ...and it used one of key A's two requests a day: one left, then the key's own 429.
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: a.secret, maxRetries: 0 });
    await client.chat.completions.create(hi() as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const over = await call(a.secret, 'POST', '/v1/chat/completions', hi());
    expect(over.status).toBe(429);
    expect(over.headers.get('x-switchyard-limit')).toBe('key.rpd');
    // Another key of the same team and tier was not charged for it.
    expect((await call(b.secret, 'POST', '/v1/chat/completions', hi())).status).toBe(200);
    expect((await call(b.secret, 'POST', '/v1/chat/completions', hi())).status).toBe(200);
  });

  it("runs every line of a key's batch as that key", async () => {
    const e = await createKey(gw.url, ADMIN, 'epsilon', { user: 'eve' });
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: e.secret, maxRetries: 0 });
    const text = [0, 1]
      .map((i) =>
        JSON.stringify({
          custom_id: `c${i}`,
          method: 'POST',
          url: '/v1/chat/completions',
          body: hi(`line ${i}`),
        }),
      )
      .join('\n');
    const input = await client.files.create({
      file: await toFile(Buffer.from(text), 'b.jsonl'),
      purpose: 'batch',
    });
    const batch = await client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await until(
      async () => (await client.batches.retrieve(batch.id)).status === 'completed',
      'the batch to complete',
      20_000,
    );
    const rows = await until(async () => {
      const r = await adminCall<{ data: Json[] }>(gw.url, ADMIN, 'GET', '/requests?limit=500');
      const mine = r.body.data.filter((x) => x.team === 'epsilon');
      return mine.length === 2 ? mine : undefined;
    }, 'two batch line rows');
    expect(rows.map((r) => [r.key, r.user, r.status])).toEqual([
      [e.id, 'eve', 200],
      [e.id, 'eve', 200],
    ]);
  });

  it('on_limit: job answers an over-limit chat request with 202 and a job that runs it later', async () => {
    const c = await createKey(gw.url, ADMIN, 'gamma', { tier: 'deferring' });
    // 7 prompt tokens + 3043 reserved for the answer: 3050 of the 6000 tokens a minute, held upstream.
    const first = call(c.secret, 'POST', '/v1/chat/completions', hi('hold', 3043));
    await until(
      () => up.requests.some((r) => JSON.stringify(r.json).includes('hold')),
      'first upstream call',
    );
    // 3000 more do not fit until about half a second of tokens drains back: a job instead of a 429.
    const second = await call(c.secret, 'POST', '/v1/chat/completions', hi('later', 2993));
    expect(second.status).toBe(202);
    const id = second.body.id as string;
    expect(id).toMatch(/^job_/);
    expect(second.body).toMatchObject({
      object: 'job',
      type: 'chat.completion',
      status: 'queued',
      status_url: `/v1/jobs/${id}`,
    });
    expect(second.headers.get('location')).toBe(`/v1/jobs/${id}`);
    release();
    expect((await first).status).toBe(200);
    const job = await finished(c.secret, id);
    expect(job).toMatchObject({ status: 'completed', type: 'chat.completion' });
    expect((job.result as Json).object).toBe('chat.completion');
    expect(((job.result as Json).choices as Json[])[0]).toMatchObject({ message: { content: 'ok' } });
    // The job is the caller's own: listed for its team, run as its key, and the deferred request's row is a 202.
    const list = await call(c.secret, 'GET', '/v1/jobs');
    expect((list.body.data as Json[]).map((j) => j.id)).toEqual([id]);
    const runs = await until(async () => {
      const r = await adminCall<{ data: Json[] }>(gw.url, ADMIN, 'GET', '/requests?limit=500');
      const mine = r.body.data.filter((x) => String(x.request_id).startsWith(`${id}.`) && x.status === 200);
      return mine.length > 0 ? mine : undefined;
    }, 'the job run row');
    expect(runs[0]).toMatchObject({ key: c.id, team: 'gamma' });
    const deferredRow = await logRow(second.headers.get('x-request-id') as string);
    expect(deferredRow).toMatchObject({ key: c.id, status: 202, error: null });
  });

  it('a streamed request of an on_limit: job tier is refused with 429, not deferred', async () => {
    held = new Promise<void>((r) => {
      release = r;
    });
    const d = await createKey(gw.url, ADMIN, 'delta', { tier: 'deferring' });
    const first = call(d.secret, 'POST', '/v1/chat/completions', hi('hold again', 3043));
    await until(
      () => up.requests.some((r) => JSON.stringify(r.json).includes('hold again')),
      'first upstream call',
    );
    const streamed = await call(d.secret, 'POST', '/v1/chat/completions', {
      ...hi('later', 2993),
      stream: true,
    });
    expect(streamed.status).toBe(429);
    expect((streamed.body.error as Json).code).toBe('rate_limit_exceeded');
    release();
    expect((await first).status).toBe(200);
  });
});
