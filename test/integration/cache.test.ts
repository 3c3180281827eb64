import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/core/cache-key.js';
import type { GatewayEvents } from '../../src/types/events.js';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/push-source.js';

/** The response cache end to end: real gateway on a port, a fake OpenAI upstream, fetch and the SDK. */

const ADMIN = 'admin-secret-1';

const completion = {
  id: 'chatcmpl-up1',
  object: 'chat.completion',
  created: 1700000000,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hi  there!' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
};

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-s1',
  object: 'chat.completion.chunk',
  created: 1700000000,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, delta, finish_reason: finish }],
});
/** A streamed tool call in OpenAI's deltas: id and name first, arguments in pieces, usage last. */
const toolStream = [
  chunk({ role: 'assistant', content: null }),
  chunk({
    tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'weather', arguments: '' } }],
  }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
  chunk({}, 'tool_calls'),
  { ...chunk({}), choices: [], usage: { prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 } },
];

let up: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;
let answer: 'json' | 'tools' | 'fail' = 'json';
const invalidated: Array<GatewayEvents['ai.cache.invalidated']> = [];

beforeAll(async () => {
  up = await startFakeUpstream(async (req, res) => {
    const body = req.json as { stream?: boolean };
    if (answer === 'fail')
      return sendJson(res, 500, { error: { message: 'upstream down', type: 'server_error' } });
    if (answer === 'tools' || body.stream) {
      const events = (answer === 'tools' ? toolStream : completionAsChunks()).map((c) => JSON.stringify(c));
      return sendSse(res, { events: [...events, '[DONE]'], delayMs: 5 });
    }
    return sendJson(res, 200, completion);
  });
  gw = await startGateway(`
admin: { key: ${ADMIN} }
routing: { circuit_breaker: { enabled: false }, retry: { attempts: 1 } }
cache: { enabled: true, ttl: 1h, stale_grace: 1h }
providers:
  up: { type: openai, base_url: ${up.url}/v1, api_key: sk-x }
models:
  chat: { targets: [ { provider: up, model: gpt-4o-mini } ], degradation: { chain: [stale_cache, error] } }
  warm: { targets: [ { provider: up, model: gpt-4o-mini } ], cache: { cache_nonzero_temperature: true } }
  off: { targets: [ { provider: up, model: gpt-4o-mini } ], cache: { enabled: false } }
`);
  gw.state.events.on('ai.cache.invalidated', (e) => {
    invalidated.push(e);
  });
  // A stand-in identify stage (the keys feature's job): the team comes from a test header.
  gw.state.stages = {
    ...gw.state.stages,
    identify(ctx) {
      const team = ctx.ingress.headers['x-test-team'];
      if (typeof team === 'string')
        ctx.caller = { team, cacheNamespaces: team === 'ops' ? ['shared'] : [] } as never;
    },
  };
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'k', maxRetries: 0 });
});
afterAll(async () => {
  await gw.close();
  await up.close();
});
afterEach(async () => {
  answer = 'json';
  up.requests.length = 0;
  await purgeAll();
});

function completionAsChunks() {
  return [
    chunk({ role: 'assistant', content: '' }),
    chunk({ content: 'Hi ' }),
    chunk({ content: ' there!' }),
    chunk({}, 'stop'),
    { ...chunk({}), choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } },
  ];
}

async function post(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hello' }], ...body }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function purgeAll() {
  const res = await fetch(`${gw.url}/admin/cache/purge`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ all: true }),
  });
  expect(res.status).toBe(200);
}

describe('response cache over HTTP', () => {
  it('a miss goes upstream and is stored; the same request then hits, with age and no upstream call', async () => {
    const first = await post({});
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(first.headers.get('age')).toBeNull();
    expect(JSON.parse(first.text)).toEqual(completion);
    const second = await post({});
    expect(second.status).toBe(200);
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.headers.get('age')).toBe('0');
    expect(second.text).toBe(first.text);
    expect(up.requests).toHaveLength(1);
    // Key order in the body does not matter; whitespace inside content does.
    const reordered = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"messages":[{"content":"hello","role":"user"}],"model":"chat"}',
    });
    expect(reordered.headers.get('x-cache')).toBe('HIT');
    expect((await post({ messages: [{ role: 'user', content: 'hello ' }] })).headers.get('x-cache')).toBe(
      'MISS',
    );
  });

  it('Cache-Control: no-cache skips the lookup (BYPASS) but stores the fresh answer', async () => {
    await post({});
    const bypass = await post({}, { 'cache-control': 'no-cache' });
    expect(bypass.headers.get('x-cache')).toBe('BYPASS');
    expect(up.requests).toHaveLength(2);
    expect((await post({})).headers.get('x-cache')).toBe('HIT');
    expect(up.requests).toHaveLength(2);
  });

  it('Cache-Control: no-store answers without storing', async () => {
    const first = await post({}, { 'cache-control': 'no-store' });
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect((await post({})).headers.get('x-cache')).toBe('MISS');
    expect(up.requests).toHaveLength(2);
  });

  it('temperature > 0 bypasses the cache unless the model allows it; models with caching off say nothing', async () => {
    const hot = await post({ temperature: 0.7 });
    expect(hot.headers.get('x-cache')).toBe('BYPASS');
    expect((await post({ temperature: 0.7 })).headers.get('x-cache')).toBe('BYPASS');
    expect(up.requests).toHaveLength(2);
    await post({ model: 'warm', temperature: 0.7 });
    expect((await post({ model: 'warm', temperature: 0.7 })).headers.get('x-cache')).toBe('HIT');
    const off = await post({ model: 'off' });
    expect(off.status).toBe(200);
    expect(off.headers.get('x-cache')).toBeNull();
  });

  it('x-switchyard-cache-ttl sets the entry lifetime; a malformed one is a 400 naming the header', async () => {
    await post({}, { 'x-switchyard-cache-ttl': '1' });
    const hit = await post({});
    expect(hit.headers.get('x-cache')).toBe('HIT');
    // After one second the entry is stale (kept only for stale-if-error): a normal request misses.
    await until(async () => (await gw.state.cache!.lookup(planFor('none')))?.fresh === false);
    expect((await post({})).headers.get('x-cache')).toBe('MISS');

    const bad = await post({}, { 'x-switchyard-cache-ttl': 'forever' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toEqual({
      error: {
        message:
          "Header 'x-switchyard-cache-ttl' must be a positive number of seconds or a duration such as 5m, at most 30 days.",
        type: 'invalid_request_error',
        code: 'invalid_cache_header',
        param: 'x-switchyard-cache-ttl',
      },
    });
  });

  it('entries are per team; a namespace header needs the key to allow it', async () => {
    await post({}, { 'x-test-team': 'alpha' });
    expect((await post({}, { 'x-test-team': 'alpha' })).headers.get('x-cache')).toBe('HIT');
    expect((await post({}, { 'x-test-team': 'beta' })).headers.get('x-cache')).toBe('MISS');
    expect((await post({})).headers.get('x-cache')).toBe('MISS');

    const denied = await post({}, { 'x-test-team': 'beta', 'x-switchyard-cache-namespace': 'alpha' });
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.text)).toEqual({
      error: {
        message:
          "This key may not use cache namespace 'alpha'; it uses its team's namespace unless its key lists others.",
        type: 'permission_error',
        code: 'cache_namespace_forbidden',
        param: 'x-switchyard-cache-namespace',
      },
    });
    // A key that lists a shared namespace may use it, and then hits what other teams put there.
    await post({}, { 'x-test-team': 'ops', 'x-switchyard-cache-namespace': 'shared' });
    expect(
      (await post({}, { 'x-test-team': 'ops', 'x-switchyard-cache-namespace': 'shared' })).headers.get(
        'x-cache',
      ),
    ).toBe('HIT');
  });

  it('a streamed answer replays byte for byte, tool-call deltas and usage included', async () => {
    answer = 'tools';
    const body = { stream: true, stream_options: { include_usage: true } };
    const first = await post(body);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(first.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const second = await post(body);
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.text).toBe(first.text);
    // With include_usage, OpenAI's chunks before the usage chunk carry `usage: null`.
    expect(second.text).toBe(
      `${toolStream
        .map((c) => `data: ${JSON.stringify(c.choices.length > 0 ? { ...c, usage: null } : c)}\n\n`)
        .join('')}data: [DONE]\n\n`,
    );
    expect(up.requests).toHaveLength(1);

    // Without include_usage the same entry replays without the usage chunk, and the entry keeps it.
    const noUsage = await post({ stream: true });
    expect(noUsage.text).toBe(
      `${toolStream
        .slice(0, -1)
        .map((c) => `data: ${JSON.stringify(c)}\n\n`)
        .join('')}data: [DONE]\n\n`,
    );
    expect((await post(body)).text).toBe(first.text);

    // A non-streaming request is served from the cached stream, assembled, through the SDK.
    const whole = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(whole.choices[0]?.message.tool_calls).toEqual([
      { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
    ]);
    expect(whole.choices[0]?.finish_reason).toBe('tool_calls');
    expect(whole.usage).toEqual({ prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 });
    expect(up.requests).toHaveLength(1);
  });

  it('a streaming request is served from a cached whole answer, through the SDK', async () => {
    await post({});
    const stream = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: unknown;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe('Hi  there!');
    expect(usage).toEqual(completion.usage);
    expect(up.requests).toHaveLength(1);
  });

  it('a stream cut off mid-way is never stored', async () => {
    up.setHandler((_req, res) =>
      sendSse(res, { events: completionAsChunks().map((c) => JSON.stringify(c)), cutAfter: 3, delayMs: 20 }),
    );
    try {
      const cut = await post({ model: 'warm', stream: true });
      expect(cut.status).toBe(200);
      expect(cut.text).toContain('"code":"upstream_stream_interrupted"');
      expect(cut.text).not.toContain('[DONE]');
      await new Promise((r) => setImmediate(r));
      expect(await gw.state.cache!.lookup(planFor('none', 'warm'))).toBeUndefined();
      expect((await post({ model: 'warm' })).headers.get('x-cache')).toBe('MISS');
    } finally {
      up.setHandler(async (req, res) => {
        const body = req.json as { stream?: boolean };
        if (answer === 'fail')
          return sendJson(res, 500, { error: { message: 'upstream down', type: 'server_error' } });
        if (answer === 'tools' || body.stream) {
          const events = (answer === 'tools' ? toolStream : completionAsChunks()).map((c) =>
            JSON.stringify(c),
          );
          return sendSse(res, { events: [...events, '[DONE]'], delayMs: 5 });
        }
        return sendJson(res, 200, completion);
      });
    }
  });

  it('stale-if-error: when every target fails, an expired entry in its grace period answers as STALE', async () => {
    await post({}, { 'x-switchyard-cache-ttl': '1' });
    await until(async () => (await gw.state.cache!.lookup(planFor('none')))?.fresh === false);
    answer = 'fail';
    const stale = await post({});
    expect(stale.status).toBe(200);
    expect(stale.headers.get('x-cache')).toBe('STALE');
    expect(stale.headers.get('x-switchyard-degraded')).toBe('stale_cache');
    expect(Number(stale.headers.get('age'))).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(stale.text)).toEqual(completion);
    // Without an entry the chain goes on to its polite error.
    const none = await post({ messages: [{ role: 'user', content: 'never cached' }] });
    expect(none.status).toBe(503);
    expect(JSON.parse(none.text).error.code).toBe('service_degraded');
  });

  it('/admin/cache shows per-layer stats and purges by team, model and key, emitting ai.cache.invalidated', async () => {
    const noKey = await fetch(`${gw.url}/admin/cache`);
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toEqual({
      error: {
        message: 'The admin key is missing or not valid.',
        type: 'authentication_error',
        code: 'invalid_admin_key',
        param: null,
      },
    });
    await post({}, { 'x-test-team': 'alpha' });
    await post({ messages: [{ role: 'user', content: 'other' }] }, { 'x-test-team': 'beta' });
    await post({ model: 'warm' }, { 'x-test-team': 'beta' });
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const stats = (await (await fetch(`${gw.url}/admin/cache`, { headers: admin })).json()) as {
      memory: { entries: number; bytes: number; hit_rate: number };
    };
    expect(stats.memory.entries).toBe(3);
    expect(stats.memory.bytes).toBeGreaterThan(0);

    invalidated.length = 0;
    const purge = (body: unknown) =>
      fetch(`${gw.url}/admin/cache/purge`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    expect(await purge({ team: 'alpha' })).toEqual({
      status: 200,
      body: { purged: { memory: 1, redis: null } },
    });
    expect((await post({}, { 'x-test-team': 'alpha' })).headers.get('x-cache')).toBe('MISS');
    expect(await purge({ model: 'warm' })).toEqual({
      status: 200,
      body: { purged: { memory: 1, redis: null } },
    });
    const key = cacheKey({
      model: 'chat',
      namespace: 'beta',
      body: { model: 'chat', messages: [{ role: 'user', content: 'other' }] },
    });
    expect(await purge({ key })).toEqual({ status: 200, body: { purged: { memory: 1, redis: null } } });
    expect((await purge({})).status).toBe(400);
    await until(() => invalidated.length === 3);
    expect(invalidated[0]).toEqual({ reason: 'admin: {"team":"alpha"}', keys: 1 });
  });
});

function planFor(namespace: string, model = 'chat') {
  return {
    key: cacheKey({ model, namespace, body: { messages: [{ role: 'user', content: 'hello' }] } }),
    namespace,
    team: namespace,
    model,
    lookup: true,
    store: true,
    merge: true,
    ttlMs: 1,
    staleMs: 1,
    bypass: undefined,
  };
}

describe('cache metrics', () => {
  it('counts operations per layer and result, and L1 bytes', async () => {
    await purgeAll();
    await post({ messages: [{ role: 'user', content: 'metrics' }] });
    await post({ messages: [{ role: 'user', content: 'metrics' }] });
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const value = (line: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(line))
          ?.slice(line.length + 1),
      );
    expect(
      value('ai_cache_operations_total{operation="get",cache_layer="memory",result="hit"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      value('ai_cache_operations_total{operation="get",cache_layer="memory",result="miss"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      value('ai_cache_operations_total{operation="set",cache_layer="memory",result="ok"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(value('ai_cache_bytes')).toBe(gw.state.cache!.store.l1.bytes);
    expect(text).toContain('ai_cache_merges_total{scope="local"}');
  });
});

describe('cache warming', () => {
  it('runs the configured requests at start, so the first client request hits', async () => {
    const before = up.requests.length;
    const warm = await startGateway(`
cache:
  enabled: true
  warm:
    requests:
      - { model: chat, messages: [ { role: user, content: warmed } ] }
providers:
  up: { type: openai, base_url: ${up.url}/v1, api_key: sk-x }
models:
  chat: { targets: [ { provider: up, model: gpt-4o-mini } ] }
`);
    try {
      await until(() => warm.state.cache!.stats().layers.memory.writes === 1);
      expect(up.requests.length - before).toBe(1);
      const res = await fetch(`${warm.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'warmed' }] }),
      });
      expect(res.headers.get('x-cache')).toBe('HIT');
      expect(await res.json()).toEqual(completion);
      expect(up.requests.length - before).toBe(1);
    } finally {
      await warm.close();
    }
  });
});
