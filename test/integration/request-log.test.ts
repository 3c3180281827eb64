import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, createKey, eventually } from '../helpers/admin.js';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError, chunkJson } from '../helpers/openai-fixtures.js';
import { dropSchema, freshSchemaName, PG_URL, pgQuery } from '../helpers/postgres.js';
import { services } from '../helpers/services.js';

/**
 * The request log on the scaled backend (PostgreSQL in a fresh schema): one row per request, written
 * from settle in batches, costed from actual usage, queryable through /admin; and what happens while
 * the database refuses writes.
 */

const ADMIN = 'adm-log-test-0123456789';
const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [
    { index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop', logprobs: null },
  ],
  usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
};
const usageChunk = JSON.stringify({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [],
  usage: { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 },
});

type Row = Record<string, unknown>;

function yaml(upstream: string, schema: string, extra = ''): string {
  return `
admin: { key: ${ADMIN} }
auth: { mode: keys }
database: { url: "${PG_URL}", schema: ${schema} }
request_log: { flush_interval: 20ms ${extra} }
providers:
  up: { type: openai, base_url: "${upstream}/v1", api_key: sk-up }
models:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }], retry: { attempts: 1 } }
  pricey: { targets: [{ provider: up, model: gpt-4o }], retry: { attempts: 1 } }
  unknown: { targets: [{ provider: up, model: house-model-7 }], retry: { attempts: 1 } }
`;
}

describe.skipIf(!services.postgres)('request log on PostgreSQL', () => {
  const schema = freshSchemaName();
  let up: FakeUpstream;
  let gw: TestGateway;
  let key: { id: string; secret: string };
  let client: OpenAI;

  beforeAll(async () => {
    up = await startFakeUpstream((_req, res) => sendJson(res, 200, completion));
    gw = await startGateway(yaml(up.url, schema));
    key = await createKey(gw.url, ADMIN, 'alpha', { user: 'u1' });
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: key.secret, maxRetries: 0 });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
    await dropSchema(schema);
  });

  async function rowFor(requestId: string): Promise<Row> {
    return eventually(async () => {
      const r = await adminCall<{ data: Row[] }>(gw.url, ADMIN, 'GET', '/requests?limit=500');
      return r.body.data.find((x) => x.request_id === requestId);
    });
  }

  it('success: one row with usage, cost, latency and the caller, visible within a second', async () => {
    up.setHandler((_req, res) => sendJson(res, 200, completion));
    const { response } = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    const rid = response.headers.get('x-request-id')!;
    const t0 = Date.now();
    const row = await rowFor(rid);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(row).toEqual({
      id: expect.any(String),
      request_id: rid,
      created_at: expect.any(String),
      team: 'alpha',
      key: key.id,
      user: 'u1',
      operation: 'chat',
      model: 'chat',
      provider: 'up',
      upstream_model: 'gpt-4o-mini',
      status: 200,
      error: null,
      stream: false,
      latency_ms: expect.any(Number),
      ttft_ms: null,
      prompt_tokens: 9,
      completion_tokens: 3,
      // 9 x $0.15 + 3 x $0.60 per million tokens = 3.15 micro-dollars, rounded once.
      cost_micro_usd: 3,
      usage_estimated: false,
      attempts: 1,
      cache: null,
    });
  });

  it('an upstream error: a row with its status and error class', async () => {
    up.setHandler((_req, res) =>
      sendJson(res, 400, {
        error: { message: 'bad', type: 'invalid_request_error', code: null, param: null },
      }),
    );
    const err = await apiError(
      client.chat.completions.create({ model: 'pricey', messages: [{ role: 'user', content: 'x' }] }),
    );
    const row = await rowFor(err.headers!.get('x-request-id')!);
    expect(row).toMatchObject({
      status: 400,
      error: 'upstream_bad_request',
      model: 'pricey',
      provider: 'up',
      prompt_tokens: 0,
      cost_micro_usd: 0,
      attempts: 1,
    });
  });

  it('a request rejected before any upstream (no key) still gets its row', async () => {
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(401);
    const row = await rowFor(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({
      team: 'none',
      key: null,
      status: 401,
      error: 'missing_api_key',
      provider: null,
    });
  });

  it('a stream: usage from the final chunk, time to first token', async () => {
    up.setHandler((_req, res) =>
      sendSse(res, {
        events: [
          chunkJson({ role: 'assistant', content: 'he' }),
          chunkJson({ content: 'llo' }, 'stop'),
          usageChunk,
          '[DONE]',
        ],
      }),
    );
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'pricey', messages: [{ role: 'user', content: 'x' }], stream: true })
      .withResponse();
    for await (const _ of stream) {
      // drain
    }
    const row = await rowFor(response.headers.get('x-request-id')!);
    expect(row).toMatchObject({
      operation: 'chat.stream',
      stream: true,
      status: 200,
      prompt_tokens: 20,
      completion_tokens: 10,
      // gpt-4o: 20 x 2.5 + 10 x 10
      cost_micro_usd: 150,
      usage_estimated: false,
    });
    expect(row.ttft_ms).toEqual(expect.any(Number));
  });

  it('a stream cut before its usage: tokens counted by the gateway and flagged as estimated', async () => {
    up.setHandler((_req, res) =>
      sendSse(res, {
        events: [chunkJson({ role: 'assistant', content: 'hello there' }), chunkJson({ content: ' friend' })],
        delayMs: 30,
        cutAfter: 2,
      }),
    );
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'x' }], stream: true })
      .withResponse();
    await expect(
      (async () => {
        for await (const _ of stream) {
          // drain until the cut
        }
      })(),
    ).rejects.toThrow();
    const row = await rowFor(response.headers.get('x-request-id')!);
    expect(row).toMatchObject({ stream: true, error: 'upstream_stream_interrupted', usage_estimated: true });
    expect(row.completion_tokens).toBeGreaterThan(0);
    expect(row.prompt_tokens).toBeGreaterThan(0);
  });

  it('an unpriced model costs 0 and is flagged in /health', async () => {
    up.setHandler((_req, res) => sendJson(res, 200, { ...completion, model: 'house-model-7' }));
    await client.chat.completions.create({ model: 'unknown', messages: [{ role: 'user', content: 'x' }] });
    const health = await fetch(`${gw.url}/health`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const body = (await health.json()) as { pricing: { unpriced_models: string[] } };
    expect(body.pricing.unpriced_models).toEqual(['house-model-7']);
  });

  it('usage aggregates match the request rows, by team, key, model and day', async () => {
    const all = await eventually(async () => {
      const r = await adminCall<{ data: Row[] }>(gw.url, ADMIN, 'GET', '/requests?limit=500');
      // Everything the tests above sent has landed.
      return r.body.data.length >= 6 ? r.body.data : undefined;
    });
    const usage = await adminCall<{ data: Row[] }>(
      gw.url,
      ADMIN,
      'GET',
      '/usage?group_by=team,key,model,day',
    );
    expect(usage.status).toBe(200);
    const expected = new Map<string, Row>();
    for (const r of all) {
      const k = `${r.team}|${r.key}|${r.model ?? ''}|${String(r.created_at).slice(0, 10)}`;
      const e = expected.get(k) ?? {
        team: r.team,
        key: r.key,
        model: r.model ?? '',
        day: String(r.created_at).slice(0, 10),
        requests: 0,
        errors: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_micro_usd: 0,
      };
      e.requests = (e.requests as number) + 1;
      e.errors = (e.errors as number) + ((r.status as number) >= 400 ? 1 : 0);
      e.prompt_tokens = (e.prompt_tokens as number) + (r.prompt_tokens as number);
      e.completion_tokens = (e.completion_tokens as number) + (r.completion_tokens as number);
      e.cost_micro_usd = (e.cost_micro_usd as number) + (r.cost_micro_usd as number);
      expected.set(k, e);
    }
    const got = usage.body.data.map(({ cost_usd: _, ...rest }) => rest);
    const sortKey = (r: Row) => `${r.team}|${r.key}|${r.model}|${r.day}`;
    expect(got.sort((a, b) => sortKey(a).localeCompare(sortKey(b)))).toEqual(
      [...expected.values()].sort((a, b) => sortKey(a).localeCompare(sortKey(b))),
    );
  });

  it('filters and pagination on /admin/requests', async () => {
    const errors = await adminCall<{ data: Row[] }>(
      gw.url,
      ADMIN,
      'GET',
      '/requests?outcome=error&team=alpha',
    );
    expect(errors.body.data.every((r) => (r.status as number) >= 400 && r.team === 'alpha')).toBe(true);
    const p1 = await adminCall<{ data: Row[]; next_cursor: string }>(
      gw.url,
      ADMIN,
      'GET',
      '/requests?limit=2',
    );
    expect(p1.body.data).toHaveLength(2);
    const p2 = await adminCall<{ data: Row[] }>(
      gw.url,
      ADMIN,
      'GET',
      `/requests?limit=2&cursor=${p1.body.next_cursor}`,
    );
    expect(p2.body.data[0]!.id).not.toBe(p1.body.data[1]!.id);
    expect((await adminCall(gw.url, ADMIN, 'GET', '/requests?cursor=zz')).status).toBe(400);
    expect((await adminCall(gw.url, ADMIN, 'GET', '/requests?limit=0')).status).toBe(400);
    expect((await adminCall(gw.url, ADMIN, 'GET', '/requests?from=yesterday')).status).toBe(400);
  });
});

describe.skipIf(!services.postgres)('request log while the database refuses writes', () => {
  const schema = freshSchemaName();
  let up: FakeUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startFakeUpstream((_req, res) => sendJson(res, 200, completion));
    gw = await startGateway(yaml(up.url, schema, ', buffer_size: 3').replace('mode: keys', 'mode: none'));
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
    await dropSchema(schema);
  });

  const metric = async (name: string) => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1]);
  };

  it('requests all succeed; rows wait up to the bound, the rest are dropped and counted; recovery writes the waiting rows', async () => {
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'none', maxRetries: 0 });
    await pgQuery(`alter table "${schema}".request_log rename to request_log_away`);
    for (let i = 0; i < 6; i++) {
      const r = await client.chat.completions.create({
        model: 'chat',
        messages: [{ role: 'user', content: `${i}` }],
      });
      expect(r.choices[0]?.message.content).toBe('ok');
    }
    await eventually(async () => {
      const d = await metric('switchyard_request_log_dropped_total');
      return d === 3 ? true : undefined;
    });
    // Rows are dropped as they arrive; the first write (and its failure) comes with the flush timer, which
    // six quick requests may beat.
    await eventually(async () =>
      (await metric('switchyard_request_log_write_errors_total')) > 0 ? true : undefined,
    );
    expect(await metric('switchyard_request_log_buffered')).toBe(3);
    expect(await metric('switchyard_request_log_dropped_total')).toBe(3);
    await pgQuery(`alter table "${schema}".request_log_away rename to request_log`);
    const rows = await eventually(async () => {
      const r = await pgQuery<{ n: string }>(`select count(*) as n from "${schema}".request_log`);
      return Number(r[0]!.n) === 3 ? 3 : undefined;
    }, 10_000);
    expect(rows).toBe(3);
    expect(await metric('switchyard_request_log_written_total')).toBe(3);
    expect(await metric('switchyard_request_log_dropped_total')).toBe(3);
  });
});
