import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/push-source.js';
import { services } from '../helpers/services.js';

/** Request merging over HTTP: one gateway, and two gateways sharing the real Redis. */

const REDIS_URL = 'redis://127.0.0.1:6379';

const completion = {
  id: 'chatcmpl-m1',
  object: 'chat.completion',
  created: 1700000000,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'merged' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 },
};
const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  JSON.stringify({
    id: 'chatcmpl-m2',
    object: 'chat.completion.chunk',
    created: 1700000000,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta, finish_reason: finish }],
  });

let up: FakeUpstream;
let admin: Redis;
const gateways: TestGateway[] = [];
/** Streams wait for the test to release each chunk after the first. */
let releaseNext: (() => void) | undefined;
let mode: 'slow-json' | 'stepped-stream' | 'bad-request' = 'slow-json';
/** When set, whole answers wait for it rather than a fixed delay (a loaded machine can spread arrivals). */
let gate: Promise<void> | undefined;

/** Lets the stepped stream write its next chunk, once it is waiting for one. */
async function step(): Promise<void> {
  await until(() => releaseNext !== undefined);
  const r = releaseNext!;
  releaseNext = undefined;
  r();
}

beforeAll(async () => {
  if (services.redis) admin = new Redis(REDIS_URL);
  up = await startFakeUpstream(async (req, res) => {
    if (mode === 'bad-request') {
      await new Promise((r) => setTimeout(r, 200));
      return sendJson(res, 400, {
        error: { message: 'bad tool schema', type: 'invalid_request_error', code: null },
      });
    }
    if (mode === 'slow-json') {
      await (gate ?? new Promise((r) => setTimeout(r, 300)));
      return sendJson(res, 200, completion);
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const parts = [
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'a' }),
      chunk({ content: 'b' }),
      chunk({}, 'stop'),
    ];
    res.write(`data: ${parts[0]}\n\n`);
    for (const p of parts.slice(1)) {
      await new Promise<void>((r) => {
        releaseNext = r;
      });
      if (res.destroyed) return;
      res.write(`data: ${p}\n\n`);
    }
    res.end('data: [DONE]\n\n');
    void req;
  });
});
afterAll(async () => {
  await up.close();
  admin?.disconnect();
});
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  up.requests.length = 0;
  mode = 'slow-json';
});

async function gateway(redisPrefix?: string): Promise<TestGateway> {
  const gw = await startGateway(`
routing: { circuit_breaker: { enabled: false }, retry: { attempts: 1 } }
cache: { enabled: true, lock_ttl: 10s }
${redisPrefix ? `redis: { url: "${REDIS_URL}", key_prefix: "${redisPrefix}" }` : ''}
providers:
  up: { type: openai, base_url: ${up.url}/v1, api_key: sk-x }
models:
  chat: { targets: [ { provider: up, model: gpt-4o-mini } ] }
`);
  gateways.push(gw);
  return gw;
}

function post(gw: TestGateway, body: Record<string, unknown> = {}, signal?: AbortSignal) {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'merge me' }], ...body }),
    ...(signal ? { signal } : {}),
  });
}

describe('request merging', () => {
  it('20 concurrent identical requests on one instance make exactly 1 upstream call', async () => {
    const gw = await gateway();
    let open!: () => void;
    gate = new Promise((r) => {
      open = r;
    });
    const pending = Promise.all(Array.from({ length: 20 }, () => post(gw)));
    // The upstream answers only once all 20 wait on the one flight: a loaded machine may otherwise spread
    // the arrivals past the answer, and late ones would be cache hits rather than merges.
    try {
      await until(() => gw.state.cache?.stats().waiting === 20, 20_000);
    } finally {
      open();
      gate = undefined;
    }
    const responses = await pending;
    expect(up.requests).toHaveLength(1);
    const merged = responses.filter((r) => r.headers.get('x-switchyard-merged-with') !== null);
    expect(merged).toHaveLength(19);
    for (const r of responses) {
      expect(r.status).toBe(200);
      expect(r.headers.get('x-cache')).toBe('MISS');
      expect(await r.json()).toEqual(completion);
    }
    // The leader's request id is what the others name.
    const leader = responses.find((r) => r.headers.get('x-switchyard-merged-with') === null)!;
    expect(new Set(merged.map((r) => r.headers.get('x-switchyard-merged-with')))).toEqual(
      new Set([leader.headers.get('x-request-id')]),
    );
    // The request log names the cache status and whom each merged request rode with.
    await until(() => gw.logs.filter((l) => l.msg === 'request').length === 20);
    const lines = gw.logs.filter((l) => l.msg === 'request');
    expect(lines.filter((l) => l.merged_with === leader.headers.get('x-request-id'))).toHaveLength(19);
    expect(lines.every((l) => l.cache === 'MISS')).toBe(true);
    // Merged requests spent nothing: only the leader's line carries tokens.
    expect(lines.filter((l) => l.prompt_tokens !== undefined)).toHaveLength(1);
  });

  it.skipIf(!services.redis)(
    '20 concurrent identical requests over two instances sharing Redis make exactly 1 upstream call',
    async () => {
      const prefix = `test-${randomUUID()}:`;
      try {
        const [a, b] = [await gateway(prefix), await gateway(prefix)];
        const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => post(i % 2 === 0 ? a : b)));
        expect(up.requests).toHaveLength(1);
        for (const r of responses) {
          expect(r.status).toBe(200);
          expect(await r.json()).toEqual(completion);
        }
        expect(responses.filter((r) => r.headers.get('x-switchyard-merged-with') === null)).toHaveLength(1);
        // Both instances hit afterwards, the second from the entry the first wrote to Redis.
        for (const gw of [a, b]) expect((await post(gw)).headers.get('x-cache')).toBe('HIT');
        expect(up.requests).toHaveLength(1);
      } finally {
        const keys = await admin.keys(`${prefix}*`);
        if (keys.length > 0) await admin.del(...keys);
      }
    },
  );

  it('a late joiner of a stream gets the chunks already sent, then the live ones, byte for byte', async () => {
    mode = 'stepped-stream';
    const gw = await gateway();
    const first = await post(gw, { stream: true });
    const reader = first.body!.getReader();
    const dec = new TextDecoder();
    let firstText = dec.decode((await reader.read()).value);
    await step();
    // The first client has seen two chunks before the second arrives.
    while (!firstText.includes('"content":"a"')) firstText += dec.decode((await reader.read()).value);
    const late = post(gw, { stream: true });
    await until(() => gw.state.cache!.stats().merges.local === 1);
    await step();
    await step();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      firstText += dec.decode(r.value);
    }
    const lateRes = await late;
    const lateText = await lateRes.text();
    expect(up.requests).toHaveLength(1);
    expect(lateRes.headers.get('x-switchyard-merged-with')).toBe(first.headers.get('x-request-id'));
    expect(lateText).toBe(firstText);
    expect(firstText).toBe(
      [
        chunk({ role: 'assistant', content: '' }),
        chunk({ content: 'a' }),
        chunk({ content: 'b' }),
        chunk({}, 'stop'),
        '[DONE]',
      ]
        .map((d) => `data: ${d}\n\n`)
        .join(''),
    );
  });

  it('an error fails every waiter with the same error, and nothing is stored', async () => {
    mode = 'bad-request';
    const gw = await gateway();
    const responses = await Promise.all(Array.from({ length: 5 }, () => post(gw)));
    expect(up.requests).toHaveLength(1);
    const bodies = await Promise.all(responses.map((r) => r.json()));
    for (let i = 0; i < 5; i++) {
      expect(responses[i]!.status).toBe(400);
      expect(bodies[i]).toEqual(bodies[0]);
    }
    expect((bodies[0] as { error: { code: string } }).error.code).toBe('upstream_bad_request');
    mode = 'slow-json';
    expect((await post(gw)).headers.get('x-cache')).toBe('MISS');
    expect(up.requests).toHaveLength(2);
  });

  it("one waiter's disconnect leaves the shared upstream running; when all leave it is aborted", async () => {
    mode = 'stepped-stream';
    const gw = await gateway();
    const leaving = new AbortController();
    const a = await post(gw, { stream: true }, leaving.signal);
    const b = await post(gw, { stream: true });
    expect(up.requests).toHaveLength(1);
    const upstream = up.requests[0]!;
    let upstreamAborted = false;
    void upstream.aborted.then(() => {
      upstreamAborted = true;
    });
    await a.body!.getReader().read();
    leaving.abort();
    // The gateway has seen the first client go (its request line says 499) before the stream goes on.
    await until(() => gw.logs.some((l) => l.msg === 'request' && l.status === 499));
    for (let i = 0; i < 3; i++) await step();
    const text = await b.text();
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(upstreamAborted).toBe(false);

    // A second flight that every client leaves: its upstream call is cancelled.
    up.requests.length = 0;
    const c1 = new AbortController();
    const c2 = new AbortController();
    const r1 = await post(gw, { stream: true, messages: [{ role: 'user', content: 'another' }] }, c1.signal);
    const r2 = await post(gw, { stream: true, messages: [{ role: 'user', content: 'another' }] }, c2.signal);
    expect(up.requests).toHaveLength(1);
    let aborted2 = false;
    void up.requests[0]!.aborted.then(() => {
      aborted2 = true;
    });
    await r1.body!.getReader().read();
    await r2.body!.getReader().read();
    c1.abort();
    c2.abort();
    await until(() => aborted2);
  });

  it('a non-streaming request joins a streaming flight and gets the assembled answer', async () => {
    mode = 'stepped-stream';
    const gw = await gateway();
    const streamed = await post(gw, { stream: true });
    const whole = post(gw);
    await until(() => gw.state.cache!.stats().merges.local === 1);
    for (let i = 0; i < 3; i++) await step();
    await streamed.text();
    const res = await whole;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: 'chatcmpl-m2',
      object: 'chat.completion',
      created: 1700000000,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ab' }, finish_reason: 'stop' }],
    });
    expect(up.requests).toHaveLength(1);
  });

  it('a whole-answer waiter that leaves a streaming flight is recorded as a client abort, not an internal error', async () => {
    mode = 'stepped-stream';
    const gw = await gateway();
    const settled: Array<{ status: number; errorCode: string | undefined }> = [];
    gw.state.events.on('ai.request.settled', (e) => {
      settled.push({ status: e.status, errorCode: e.errorCode });
    });
    const c1 = new AbortController();
    const c2 = new AbortController();
    const streamed = await post(gw, { stream: true }, c1.signal);
    const whole = post(gw, {}, c2.signal).catch(() => undefined);
    await until(() => gw.state.cache!.stats().merges.local === 1);
    await streamed.body!.getReader().read();
    c1.abort();
    c2.abort();
    await whole;
    // The request records (settle), not only the HTTP log line, say the clients left.
    await until(() => settled.length === 2);
    expect(settled).toEqual([
      { status: 499, errorCode: undefined },
      { status: 499, errorCode: undefined },
    ]);
  });

  it('with Redis down, merges and caches on the instance alone and answers every request', async () => {
    const gw = await startGateway(`
routing: { circuit_breaker: { enabled: false }, retry: { attempts: 1 } }
cache: { enabled: true }
redis: { url: "redis://127.0.0.1:1", key_prefix: "down:" }
providers:
  up: { type: openai, base_url: ${up.url}/v1, api_key: sk-x }
models:
  chat: { targets: [ { provider: up, model: gpt-4o-mini } ] }
`);
    gateways.push(gw);
    const responses = await Promise.all(Array.from({ length: 5 }, () => post(gw)));
    for (const r of responses) expect(r.status).toBe(200);
    expect(up.requests).toHaveLength(1);
    expect((await post(gw)).headers.get('x-cache')).toBe('HIT');
    expect(gw.state.cache!.stats().layers.redis!.errors).toBeGreaterThan(0);
  });
});
