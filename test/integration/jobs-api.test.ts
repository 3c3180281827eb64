import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomHex } from '../../src/core/ids.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { PASS_THROUGH_STAGES } from '../../src/pipeline/context.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../../src/services/jobs/webhooks.js';
import { until } from '../contract/queue-contract.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The Jobs API over real HTTP, on both backends: lifecycle, SSE progress, cancel, idempotency, team
 * isolation, bad input, dead letters with admin retry and purge, metrics, signed webhooks, schedules.
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN = 'admin-secret-for-tests';
const WEBHOOK_SECRET = 'whsec_test_0123456789';

interface JobBody {
  id: string;
  object: string;
  type: string;
  status: string;
  progress: number;
  progress_message: string | null;
  attempts: number;
  max_attempts: number;
  result: unknown;
  error: { message: string; code: string | null } | null;
  status_url?: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const backends = [
  { name: 'sqlite', yaml: (dir: string) => `  database: ${join(dir, 'jobs.db')}\n  lease: 3s` },
  { name: 'bullmq', yaml: () => '  backend: bullmq' },
] as const;

describe.each(backends)('Jobs API on $name', ({ name, yaml }) => {
  let gw: TestGateway;
  let dir: string;
  let receiver: Server;
  let receiverUrl: string;
  const deliveries: Array<{
    valid: boolean;
    event: string;
    delivery: string;
    body: { event: string; data: JobBody };
  }> = [];
  let failFirstDelivery = true;
  const prefix = `sytest:${randomHex(8)}:`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-jobs-api-'));
    receiver = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => {
        raw += c.toString();
      });
      req.on('end', () => {
        const valid = verifyWebhook(
          WEBHOOK_SECRET,
          {
            signature: req.headers[SIGNATURE_HEADER] as string | undefined,
            timestamp: req.headers[TIMESTAMP_HEADER] as string | undefined,
          },
          raw,
        );
        deliveries.push({
          valid,
          event: String(req.headers['x-switchyard-event']),
          delivery: String(req.headers['x-switchyard-delivery']),
          body: JSON.parse(raw),
        });
        if (failFirstDelivery) {
          failFirstDelivery = false;
          res.statusCode = 503;
        } else res.statusCode = valid ? 204 : 401;
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    // Load shedding is not under test; a loaded 2-core machine must not turn these into 503s.
    gw = await startGateway(`
server: { load_shedding: { enabled: false } }
admin: { key: ${ADMIN} }
redis: { url: "${REDIS_URL}", key_prefix: "${prefix}" }
providers:
  mock: { type: mock, reply: "hello from a job" }
  slow: { type: mock, latency_ms: 4000, reply: "slow" }
  broken: { type: mock, faults: { errors: [{ status: 500, probability: 1 }] } }
models:
  fast: { targets: [{ provider: mock, model: m }] }
  slow: { targets: [{ provider: slow, model: s }] }
  broken: { targets: [{ provider: broken, model: b }], retry: { attempts: 1 } }
jobs:
${yaml(dir)}
  backoff: { base: 100ms, max: 400ms }
  max_input_size: 64kb
  webhooks: { secret: ${WEBHOOK_SECRET} }
  types:
    chat.completion: { max_attempts: 2 }
  schedules:
    - { name: tick, cron: "* * * * * *", type: text.split, input: { text: "scheduled" } }
`);
    // Identity is the identify stage's: these tests use a stage that reads the team from the bearer token,
    // as the keys stage does from a key.
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
  }, 30_000);

  afterAll(async () => {
    await gw?.close();
    receiver?.close();
    rmSync(dir, { recursive: true, force: true });
    if (name === 'bullmq') {
      const r = new Redis(REDIS_URL);
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
    }
  });

  const call = async (
    method: string,
    path: string,
    body?: unknown,
    team = 'a',
    headers: Record<string, string> = {},
  ) => {
    const res = await fetch(`${gw.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer team-${team}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  };
  const admin = async (method: string, path: string) => {
    const res = await fetch(`${gw.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const waitFor = (id: string, status: string, team = 'a') =>
    until(
      async () => {
        const r = await call('GET', `/v1/jobs/${id}`, undefined, team);
        return (r.body as unknown as JobBody).status === status ? (r.body as unknown as JobBody) : undefined;
      },
      `${id} ${status}`,
      20_000,
    );
  const chat = (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }] });

  it('runs a chat.completion job through the pipeline: 202, then completed with the completion', async () => {
    const r = await call('POST', '/v1/jobs', { type: 'chat.completion', input: chat('fast') });
    expect(r.status).toBe(202);
    const job = r.body as unknown as JobBody;
    expect(job).toMatchObject({
      object: 'job',
      type: 'chat.completion',
      status: 'queued',
      attempts: 0,
      max_attempts: 2,
    });
    expect(job.status_url).toBe(`/v1/jobs/${job.id}`);
    expect(r.headers.get('location')).toBe(`/v1/jobs/${job.id}`);
    const done = await waitFor(job.id, 'completed');
    expect(done.progress).toBe(100);
    expect(done.attempts).toBe(1);
    expect(done.error).toBeNull();
    const completion = done.result as { object: string; choices: Array<{ message: { content: string } }> };
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]?.message.content).toBe('hello from a job');
    expect(done.finished_at).toBeGreaterThanOrEqual(done.created_at);
  });

  it('streams progress and the final result over SSE, from a worker-thread tokenizer', async () => {
    const text = 'The quick brown fox jumps over the lazy dog.\n'.repeat(400);
    const r = await call('POST', '/v1/jobs', {
      type: 'text.split',
      input: { text, max_tokens_per_chunk: 500 },
      delay: 300,
    });
    expect(r.status).toBe(202);
    const id = (r.body as unknown as JobBody).id;
    const res = await fetch(`${gw.url}/v1/jobs/${id}/events`, {
      headers: { authorization: 'Bearer team-a' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const raw = await res.text();
    const events = raw
      .split('\n\n')
      .filter((b) => b.startsWith('event: '))
      .map((b) => {
        const [e, d] = b.split('\n');
        return { event: (e as string).slice(7), data: JSON.parse((d as string).slice(6)) as JobBody };
      });
    expect(events[0]).toMatchObject({ event: 'status', data: { id, status: 'queued' } });
    const last = events.at(-1);
    expect(last?.event).toBe('completed');
    const result = last?.data.result as {
      tokens: number;
      chunks: Array<{ tokens: number }>;
      worker_thread: number;
    };
    expect(result.tokens).toBe(4000);
    expect(result.chunks).toHaveLength(8);
    expect(result.chunks.every((c) => c.tokens <= 500)).toBe(true);
    // The tokenizer ran on the piscina pool, not the event loop's thread (0).
    expect(result.worker_thread).toBeGreaterThan(0);
    expect(
      events.some((e) => e.event === 'progress' || (e.event === 'status' && e.data.status === 'active')),
    ).toBe(true);
  });

  it('cancels an active job (DELETE), and a queued one never starts', async () => {
    const active = await call('POST', '/v1/jobs', { type: 'chat.completion', input: chat('slow') });
    const id = (active.body as unknown as JobBody).id;
    await waitFor(id, 'active');
    const del = await call('DELETE', `/v1/jobs/${id}`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ id, status: 'cancelled' });
    const final = await waitFor(id, 'cancelled');
    expect(final.error).toEqual({ message: 'cancelled', code: 'cancelled' });
    expect(final.result).toBeNull();

    const queued = await call('POST', '/v1/jobs', {
      type: 'chat.completion',
      input: chat('fast'),
      delay: 1000,
    });
    const qid = (queued.body as unknown as JobBody).id;
    expect((await call('DELETE', `/v1/jobs/${qid}`)).body).toMatchObject({ status: 'cancelled' });
    await new Promise((r) => setTimeout(r, 1500));
    const after = (await call('GET', `/v1/jobs/${qid}`)).body as unknown as JobBody;
    expect(after).toMatchObject({ status: 'cancelled', attempts: 0, started_at: null });
  });

  it('deduplicates submissions by Idempotency-Key', async () => {
    const key = `k-${randomHex(8)}`;
    const a = await call('POST', '/v1/jobs', { type: 'text.split', input: { text: 'x' } }, 'a', {
      'idempotency-key': key,
    });
    const b = await call('POST', '/v1/jobs', { type: 'text.split', input: { text: 'y' } }, 'a', {
      'idempotency-key': key,
    });
    expect(a.status).toBe(202);
    expect(b.status).toBe(200);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect(b.body.id).toBe(a.body.id);
    // The same key from another team is another job.
    const c = await call(
      'POST',
      '/v1/jobs',
      { type: 'text.split', input: { text: 'z' }, idempotency_key: key },
      'b',
    );
    expect(c.status).toBe(202);
    expect(c.body.id).not.toBe(a.body.id);
  });

  it('keeps teams apart: another team sees 404 and its own list only', async () => {
    const mine = await call(
      'POST',
      '/v1/jobs',
      { type: 'text.split', input: { text: 'secret of team c' } },
      'c',
    );
    const id = mine.body.id as string;
    for (const [method, path] of [
      ['GET', `/v1/jobs/${id}`],
      ['DELETE', `/v1/jobs/${id}`],
      ['GET', `/v1/jobs/${id}/events`],
    ] as const) {
      const r = await call(method, path, undefined, 'd');
      expect(r.status).toBe(404);
      expect(r.body).toEqual({
        error: { message: `no job '${id}'`, type: 'not_found_error', code: 'job_not_found', param: 'id' },
      });
    }
    const listD = await call('GET', '/v1/jobs?limit=100', undefined, 'd');
    expect(listD.body).toMatchObject({ object: 'list', data: [], has_more: false, first_id: null });
    const listC = await call('GET', '/v1/jobs?limit=1', undefined, 'c');
    expect((listC.body.data as JobBody[]).map((j) => j.id)).toEqual([id]);
    // A cursor of another team's job is not accepted either.
    expect((await call('GET', `/v1/jobs?after=${id}`, undefined, 'd')).status).toBe(404);
    expect((await call('GET', `/v1/jobs/${id}`, undefined, 'c')).status).toBe(200);
  });

  it('answers bad input with a 4xx naming the problem', async () => {
    const cases: Array<[unknown, number, string, string | null]> = [
      [{ type: 'no.such.type', input: {} }, 400, 'unknown_job_type', 'type'],
      [{ type: 'webhook.deliver', input: {} }, 400, 'unknown_job_type', 'type'],
      [{ type: 'chat.completion', input: { model: 'fast' } }, 400, 'invalid_job_input', 'input'],
      [
        { type: 'chat.completion', input: { ...chat('fast'), stream: true } },
        400,
        'invalid_job_input',
        'input',
      ],
      [{ type: 'text.split', input: { text: 'x'.repeat(70_000) } }, 413, 'job_input_too_large', 'input'],
      [
        { type: 'text.split', input: { text: 'x' }, webhook: 'ftp://example.com/x' },
        400,
        'invalid_value',
        'webhook',
      ],
      [{ type: 'text.split', input: { text: 'x' }, priority: 'urgent' }, 400, 'invalid_request', null],
      [{ type: 'text.split', input: { text: 'x' }, delay: -1 }, 400, 'invalid_request', null],
      [{ type: 'text.split', input: { text: 'x' }, extra: 1 }, 400, 'invalid_request', null],
    ];
    for (const [body, status, code, param] of cases) {
      const r = await call('POST', '/v1/jobs', body);
      expect({ body, status: r.status, code: (r.body.error as { code: string }).code }).toEqual({
        body,
        status,
        code,
      });
      if (param) expect((r.body.error as { param: string }).param).toBe(param);
    }
    const missing = await call('GET', '/v1/jobs/job_nope');
    expect(missing.status).toBe(404);
    expect((await call('GET', '/v1/jobs?limit=500')).status).toBe(400);
    expect((await call('GET', '/v1/jobs', undefined, 'a', { authorization: 'nobody' })).status).toBe(401);
  });

  it('dead-letters a job that keeps failing; admin lists, retries and purges it; metrics count it', async () => {
    const r = await call('POST', '/v1/jobs', { type: 'chat.completion', input: chat('broken') });
    const id = r.body.id as string;
    const failed = await waitFor(id, 'failed');
    expect(failed.attempts).toBe(2);
    expect(failed.error?.message).toMatch(/500|mock/i);

    expect((await fetch(`${gw.url}/admin/queues`)).status).toBe(401);
    const queues = await admin('GET', '/admin/queues');
    expect(queues.status).toBe(200);
    expect(queues.body.backend).toBe(name);
    const chatQueue = (queues.body.queues as Array<Record<string, number | string>>).find(
      (q) => q.queue === 'chat.completion',
    );
    expect(chatQueue?.failed).toBe(1);
    expect(chatQueue?.completed).toBeGreaterThanOrEqual(1);

    const dead = await admin('GET', '/admin/queues/failed');
    expect((dead.body.data as JobBody[]).map((j) => j.id)).toEqual([id]);
    const retried = await admin('POST', `/admin/queues/failed/${id}/retry`);
    expect(retried.status).toBe(200);
    expect(['queued', 'active']).toContain((retried.body as unknown as JobBody).status);
    await until(
      async () => (await call('GET', `/v1/jobs/${id}`)).body.status === 'failed',
      'failed again',
      20_000,
    );
    expect((await admin('POST', `/admin/queues/failed/job_nope/retry`)).status).toBe(404);
    const purged = await admin('DELETE', '/admin/queues/failed');
    expect(purged.body).toEqual({ purged: 1 });
    expect((await admin('GET', '/admin/queues/failed')).body.data).toEqual([]);

    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/ai_queue_size\{queue="chat\.completion",state="completed"\} [1-9]/);
    expect(metrics).toMatch(/ai_jobs_total\{type="chat\.completion",outcome="failed"\} 2/);
    expect(metrics).toMatch(
      /ai_job_duration_seconds_count\{type="chat\.completion",outcome="completed"\} [1-9]/,
    );
  });

  it('delivers a signed completion webhook, retried after a failure and recorded', async () => {
    const r = await call('POST', '/v1/jobs', {
      type: 'text.split',
      input: { text: 'webhook me' },
      webhook: receiverUrl,
    });
    const id = r.body.id as string;
    await waitFor(id, 'completed');
    await until(() => deliveries.filter((d) => d.body.data.id === id).length >= 2, 'two deliveries', 20_000);
    const mine = deliveries.filter((d) => d.body.data.id === id);
    expect(mine.every((d) => d.valid)).toBe(true);
    expect(mine[1]?.event).toBe('job.completed');
    expect(mine[1]?.body).toMatchObject({
      event: 'job.completed',
      data: { id, status: 'completed', type: 'text.split' },
    });
    // The delivery is itself a job of the same team, internal: kept out of the team's list and 404 to the
    // team, while its attempts and outcome are recorded for the admin. Both attempts name the same job.
    expect(mine[0]?.delivery).toMatch(/^job_/);
    expect(mine[1]?.delivery).toBe(mine[0]?.delivery);
    const deliveryId = mine[1]?.delivery as string;
    const delivery = await until(async () => {
      const r = await admin('GET', `/admin/queues/jobs/${deliveryId}`);
      return r.body.status === 'completed' ? r.body : undefined;
    }, 'recorded delivery');
    expect(delivery).toMatchObject({ type: 'webhook.deliver', team: 'a', listed: false, attempts: 2 });
    expect(delivery.result).toEqual({ status: 204, attempt: 2 });
    const list = (await call('GET', '/v1/jobs?limit=100')).body.data as JobBody[];
    expect(list.map((j) => j.id)).toContain(id);
    expect(list.some((j) => j.type === 'webhook.deliver')).toBe(false);
    expect((await call('GET', `/v1/jobs/${deliveryId}`)).status).toBe(404);
    expect((await call('GET', `/v1/jobs/${deliveryId}/events`)).status).toBe(404);
    expect((await call('DELETE', `/v1/jobs/${deliveryId}`)).status).toBe(404);
    // A tampered body fails verification.
    expect(
      verifyWebhook(
        WEBHOOK_SECRET,
        { signature: 'v1=00', timestamp: String(Math.floor(Date.now() / 1000)) },
        '{}',
      ),
    ).toBe(false);
  });

  it('runs the repeating job from the config schedule', async () => {
    await until(
      async () => {
        const q = (await admin('GET', '/admin/queues')).body.queues as Array<Record<string, number | string>>;
        return (q.find((x) => x.queue === 'text.split')?.completed as number) >= 2;
      },
      'scheduled runs',
      15_000,
    );
  });
});
