import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApp } from '../helpers/app-under-test.js';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { apiError, chunkJson } from '../helpers/openai-fixtures.js';
import { OwnRedis } from '../helpers/redis-server.js';
import { services } from '../helpers/services.js';

/**
 * Limits through real HTTP on one instance (memory backend): exact request and token limits, the
 * reservation and its reconciliation for JSON, streams, cut-off streams and errors, per-route and per-IP
 * limits, the queue, budgets and the headers. Daily windows (rpd, tpd), so no capacity drains back
 * while a test runs and every figure is exact.
 */

let upstream: FakeUpstream;
let usage = { prompt_tokens: 8, completion_tokens: 100 };
let mode: 'json' | 'stream' | 'cut' | 'error' | 'slow' = 'json';

beforeAll(async () => {
  upstream = await startFakeUpstream(async (req, res) => {
    if (req.url.endsWith('/embeddings')) {
      sendJson(res, 200, {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
        model: 'emb',
        usage: { prompt_tokens: 3, total_tokens: 3 },
      });
      return;
    }
    if (mode === 'error') {
      sendJson(res, 400, {
        error: { message: 'bad', type: 'invalid_request_error', code: null, param: null },
      });
      return;
    }
    if (mode === 'stream' || mode === 'cut') {
      await sendSse(res, {
        events: [
          chunkJson({ role: 'assistant', content: '' }),
          chunkJson({ content: 'Hello' }),
          chunkJson({ content: ' world' }),
          chunkJson({}, 'stop'),
          JSON.stringify({
            id: 'c',
            object: 'chat.completion.chunk',
            created: 1,
            model: 'm',
            choices: [],
            usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
          }),
          '[DONE]',
        ],
        ...(mode === 'cut' ? { cutAfter: 3, delayMs: 30 } : {}),
      });
      return;
    }
    if (mode === 'slow') await new Promise((r) => setTimeout(r, 800));
    sendJson(res, 200, {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-test',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
      usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
    });
  });
});
afterAll(() => upstream.close());

const apps: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  mode = 'json';
  usage = { prompt_tokens: 8, completion_tokens: 100 };
  for (const a of apps.splice(0)) await a.close();
});

async function gateway(limitsYaml: string, opts: Parameters<typeof startApp>[1] = {}) {
  const yaml = `
logging: { level: warn }
providers:
  up: { type: openai, base_url: ${upstream.url}/v1, api_key: k }
models:
  m: { targets: [{ provider: up, model: gpt-test }], retry: { attempts: 1 } }
  e: { targets: [{ provider: up, model: emb }] }
${limitsYaml}`;
  const gw = await startApp(yaml, opts);
  apps.push(gw);
  return gw;
}

/** "hi" as one user message: 3 to prime the reply + 3 for the message + 1 token = 7 prompt tokens. */
function chat(url: string, extra: Record<string, unknown> = {}) {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 300,
      ...extra,
    }),
  });
}

describe('request limits', () => {
  it('admits exactly the limit out of a concurrent burst; the rest get 429 with Retry-After and the limit named', async () => {
    const gw = await gateway('tiers: { t: { rpd: 5 } }\nlimits: { anonymous_tier: t }');
    const res = await Promise.all(Array.from({ length: 20 }, () => chat(gw.url)));
    const ok = res.filter((r) => r.status === 200);
    const no = res.filter((r) => r.status === 429);
    expect(ok).toHaveLength(5);
    expect(no).toHaveLength(15);
    expect(ok.map((r) => r.headers.get('x-ratelimit-remaining-requests')).sort()).toEqual([
      '0',
      '1',
      '2',
      '3',
      '4',
    ]);
    for (const r of ok) {
      expect(r.headers.get('x-ratelimit-limit-requests')).toBe('5');
      expect(r.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+h)?(\d+m)?[\d.]+s$/);
    }
    const r = no[0] as Response;
    // One request drains back in a day / 5 = 4h48m.
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(17_270);
    expect(Number(r.headers.get('retry-after'))).toBeLessThanOrEqual(17_280);
    expect(r.headers.get('x-switchyard-limit')).toBe('caller.rpd');
    expect(r.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    const body = (await r.json()) as { error: Record<string, unknown> };
    expect(body.error.type).toBe('rate_limit_error');
    expect(body.error.code).toBe('rate_limit_exceeded');
    expect(body.error.param).toBe(null);
    expect(body.error.message).toMatch(
      /^Rate limit reached for caller\.rpd \(limit 5 requests per 24h0m0s\)\. Try again in 4h4[78]m[\d.]+s\.$/,
    );
  });

  it('the openai SDK sees the headers on success and a RateLimitError with Retry-After', async () => {
    const gw = await gateway('tiers: { t: { rpd: 1, tpd: 10000 } }\nlimits: { anonymous_tier: t }');
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'x', maxRetries: 0 });
    const { response } = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 300 })
      .withResponse();
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('1');
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(response.headers.get('x-ratelimit-reset-requests')).toBe('24h0m0s');
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('10000');
    expect(response.headers.get('x-ratelimit-remaining-tokens')).toBe('9693');
    const err = await apiError(
      client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.headers?.get('retry-after')).toMatch(/^\d+$/);
  });

  it('per-route and per-IP limits apply on their own and name themselves', async () => {
    const gw = await gateway(`
tiers: { t: {} }
limits:
  anonymous_tier: t
  ip: { rpd: 4 }
  routes: { /v1/embeddings: { rpd: 2 } }`);
    const emb = () =>
      fetch(`${gw.url}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'e', input: 'hello' }),
      });
    expect((await emb()).status).toBe(200);
    expect((await emb()).status).toBe(200);
    const third = await emb();
    expect(third.status).toBe(429);
    expect(third.headers.get('x-switchyard-limit')).toBe('route.rpd');
    // The route's rejection took nothing from the IP's 4: two chats still fit.
    expect((await chat(gw.url)).status).toBe(200);
    expect((await chat(gw.url)).status).toBe(200);
    const ip = await chat(gw.url);
    expect(ip.status).toBe(429);
    expect(ip.headers.get('x-switchyard-limit')).toBe('ip.rpd');
    expect(((await ip.json()) as { error: { message: string } }).error.message).toMatch(
      /^Rate limit reached for ip\.rpd /,
    );
  });
});

describe('token limits', () => {
  const limits = 'tiers: { t: { tpd: 1000 } }\nlimits: { anonymous_tier: t }';
  const remaining = (r: Response) => Number(r.headers.get('x-ratelimit-remaining-tokens'));

  it('reserve prompt + max_tokens, reconcile to actual usage for JSON, streams, cut streams and errors', async () => {
    const gw = await gateway(limits);
    // Reserve 7 + 300; the answer used 8 + 100 (the provider's count wins), so 199 come back.
    let r = await chat(gw.url);
    expect(r.status).toBe(200);
    expect(remaining(r)).toBe(693);
    r = await chat(gw.url);
    expect(remaining(r)).toBe(1000 - 108 - 307);
    // A stream reconciles when it ends: 8 + 50 used.
    mode = 'stream';
    usage = { prompt_tokens: 8, completion_tokens: 50 };
    r = await chat(gw.url, { stream: true, max_tokens: 100 });
    expect(r.status).toBe(200);
    expect(remaining(r)).toBe(1000 - 216 - 107);
    await r.text();
    // An upstream error before any answer gives the whole reservation back.
    mode = 'error';
    r = await chat(gw.url, { max_tokens: 100 });
    expect(r.status).toBe(400);
    expect(remaining(r)).toBe(1000 - 216 - 58 - 107);
    // A stream cut off without usage keeps its reservation (7 + 100): its use is unknown.
    mode = 'cut';
    r = await chat(gw.url, { stream: true, max_tokens: 100 });
    expect(r.status).toBe(200);
    expect(remaining(r)).toBe(1000 - 274 - 107);
    expect(await r.text()).toContain('"code":"upstream_stream_interrupted"');
    mode = 'json';
    r = await chat(gw.url, { max_tokens: 10 });
    expect(remaining(r)).toBe(1000 - 274 - 107 - 17);
  });

  it('a request larger than the whole limit is refused as too large', async () => {
    const gw = await gateway(limits);
    const r = await chat(gw.url, { max_tokens: 5000 });
    expect(r.status).toBe(429);
    expect(((await r.json()) as { error: { message: string } }).error.message).toBe(
      'Request too large for caller.tpd: it needs 5007 tokens and the limit is 1000 per 24h0m0s. Lower max_tokens or the prompt.',
    );
  });

  it('under concurrency the tokens used never pass the limit', async () => {
    const gw = await gateway(limits);
    let used = 0;
    for (let round = 0; round < 6; round++) {
      const res = await Promise.all(Array.from({ length: 6 }, () => chat(gw.url)));
      const ok = res.filter((r) => r.status === 200).length;
      used += ok * 108;
      expect(used).toBeLessThanOrEqual(1000);
    }
    // Rounds admit 3, 2, 1, 1, then none: 7 * 108 = 756, and 756 + a 307 reservation would pass 1000.
    expect(used).toBe(756);
  });
});

describe('queue', () => {
  it('a queued request is admitted when capacity comes back, with its wait in a header', async () => {
    const gw = await gateway(
      'tiers: { q: { tpd: 500, on_limit: queue, max_queue_wait: 10s } }\nlimits: { anonymous_tier: q }',
    );
    mode = 'slow';
    const before = upstream.requests.length;
    const first = chat(gw.url);
    // The first is admitted (it reached the upstream, which holds it 800 ms) before the second asks.
    await until(async () => upstream.requests.length > before);
    const second = await chat(gw.url);
    expect(second.status).toBe(200);
    expect(Number(second.headers.get('x-switchyard-queue-wait-ms'))).toBeGreaterThan(100);
    expect((await first).headers.get('x-switchyard-queue-wait-ms')).toBe(null);
  });

  it('a queued request gives up at max_queue_wait with a 429', async () => {
    const gw = await gateway(
      'tiers: { q: { rpd: 1, on_limit: queue, max_queue_wait: 300ms } }\nlimits: { anonymous_tier: q }',
    );
    expect((await chat(gw.url)).status).toBe(200);
    const t0 = performance.now();
    const r = await chat(gw.url);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(
      /Waited \d+ ms in the queue\./,
    );
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_limit_queue_wait_seconds_count\{outcome="timeout"\} 1/);
    expect(metrics).toMatch(
      /switchyard_limit_decisions_total\{outcome="queue_timeout",limit="caller.rpd"\} 1/,
    );
  });
});

describe('budgets', () => {
  const priceOf = (model: string) =>
    model === 'gpt-test' ? { inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 2_000_000 } : undefined;

  it('reserve the estimated cost, reconcile to actual, show spend in headers, answer 402 when configured', async () => {
    const gw = await gateway(
      'tiers: { t: { budget: { daily: 0.001 } } }\nlimits: { anonymous_tier: t, budget_exhausted_status: 402 }',
      { priceOf },
    );
    // Reserved: 7 input + 300 output tokens = 7 + 600 micro-dollars. Used: 8 + 200.
    let r = await chat(gw.url);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-switchyard-budget-limit')).toBe('team.daily');
    expect(r.headers.get('x-switchyard-budget-spent-usd')).toBe('0.000607');
    expect(r.headers.get('x-switchyard-budget-remaining-usd')).toBe('0.000393');
    r = await chat(gw.url);
    expect(r.headers.get('x-switchyard-budget-spent-usd')).toBe('0.000815');
    r = await chat(gw.url);
    expect(r.status).toBe(402);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await r.json()).toEqual({
      error: {
        message:
          'Budget exceeded: team.daily spend cap of $0.001000 (spent $0.000416, this request reserves $0.000607).',
        type: 'permission_error',
        code: 'budget_exceeded',
        param: null,
      },
    });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_limit_reserved_total\{unit="micros"\} 1214/);
    expect(metrics).toMatch(/switchyard_limit_used_total\{unit="micros"\} 416/);
  });
});

describe.skipIf(!services.redis)('redis unreachable, through HTTP', () => {
  const own: OwnRedis[] = [];
  afterEach(async () => {
    for (const r of own.splice(0)) await r.down();
  });

  async function withRedis(failure: 'open' | 'closed') {
    const r = await OwnRedis.start();
    own.push(r);
    const gw = await gateway(`
redis: { url: ${r.url}, key_prefix: "t:" }
tiers: { t: { rpd: 100 } }
limits: { anonymous_tier: t, redis_failure: ${failure} }`);
    return { r, gw };
  }
  const left = (res: Response) => Number(res.headers.get('x-ratelimit-remaining-requests'));

  it('fail open: local limits while Redis is down, shared again once it is back, all counted', async () => {
    const { r, gw } = await withRedis('open');
    expect(left(await chat(gw.url))).toBe(99);
    await r.down();
    // The local limiter starts from its own empty bucket.
    const during = await chat(gw.url);
    expect(during.status).toBe(200);
    expect(left(during)).toBe(99);
    await r.up();
    // Redis came back empty (nothing persisted): a fresh shared bucket, used again without a restart.
    await until(async () => {
      await chat(gw.url);
      const c = new Redis(r.url);
      const n = await c.exists('t:limits:rl:a:127.0.0.1:rpd');
      c.disconnect();
      return n === 1;
    });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_limit_decisions_total\{outcome="fail_open",limit="redis"\} [1-9]/);
    expect(metrics).toMatch(/switchyard_limit_redis_errors_total\{op="decide"\} [1-9]/);
  });

  it('fail closed: 503 limits_unavailable while Redis is down, and served again once it is back', async () => {
    const { r, gw } = await withRedis('closed');
    expect((await chat(gw.url)).status).toBe(200);
    await r.down();
    const during = await chat(gw.url);
    expect(during.status).toBe(503);
    expect(during.headers.get('retry-after')).toBe('1');
    expect(await during.json()).toEqual({
      error: {
        message: 'rate limits cannot be checked right now; try again',
        type: 'server_error',
        code: 'limits_unavailable',
        param: null,
      },
    });
    await r.up();
    await until(async () => (await chat(gw.url)).status === 200);
  });
});

async function until(check: () => Promise<boolean>, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
