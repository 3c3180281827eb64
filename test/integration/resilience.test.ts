import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { chunkJson } from '../helpers/openai-fixtures.js';
import { until } from '../helpers/poll.js';
import { services } from '../helpers/services.js';

/** Retries, failover, fallbacks, breakers, key pools, honest streams and degradation, end to end. */

const completion = (content: string) => ({
  id: 'chatcmpl-x',
  object: 'chat.completion',
  created: 1,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});
const chunk = chunkJson;
const okStream = (text: string) => [
  chunk({ role: 'assistant', content: '' }),
  chunk({ content: text }),
  chunk({}, 'stop'),
  '[DONE]',
];

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function upstream(handler: Parameters<typeof startFakeUpstream>[0]): Promise<FakeUpstream> {
  const up = await startFakeUpstream(handler);
  cleanups.push(() => up.close());
  return up;
}
async function gateway(yaml: string): Promise<TestGateway> {
  const gw = await startGateway(yaml);
  cleanups.push(() => gw.close());
  return gw;
}
async function chat(gw: TestGateway, model: string, extra: Record<string, unknown> = {}) {
  const res = await request(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

describe('retries', () => {
  it('retries a 429 after the Retry-After the provider asked for', async () => {
    const up = await upstream((_req, res) =>
      up.requests.length === 1
        ? sendJson(res, 429, { error: { message: 'slow down' } }, { 'retry-after-ms': '300' })
        : sendJson(res, 200, completion('second time lucky')),
    );
    const gw = await gateway(`
providers: { up: { type: openai, base_url: ${up.url}/v1 } }
models: { m: { targets: [ { provider: up, model: x } ], retry: { attempts: 3, base_delay: 1ms } } }
`);
    const r = await chat(gw, 'm');
    expect([
      r.status,
      r.headers['x-switchyard-attempts'],
      (r.json().choices as Array<{ message: { content: string } }>)[0]!.message.content,
    ]).toEqual([200, '2', 'second time lucky']);
    expect(up.requests).toHaveLength(2);
    const line = gw.logs.find((l) => l.msg === 'attempt failed')!;
    expect(line).toMatchObject({
      attempt: 1,
      provider: 'up',
      error_code: 'upstream_rate_limit',
      upstream_status: 429,
      next: 'retry',
    });
    // Full jitter on a 1 ms base is ~0; the 300 ms wait is the provider's.
    expect(line.delay_ms).toBe(300);
  });

  it('never retries the user’s own 400', async () => {
    const up = await upstream((_req, res) =>
      sendJson(res, 400, { error: { message: 'bad n', type: 'invalid_request_error' } }),
    );
    const gw = await gateway(`
providers: { up: { type: openai, base_url: ${up.url}/v1 } }
models: { m: { targets: [ { provider: up, model: x }, { provider: up, model: y } ], retry: { attempts: 3 } } }
`);
    const r = await chat(gw, 'm');
    expect([r.status, r.headers['x-switchyard-attempts'], up.requests.length]).toEqual([400, '1', 1]);
  });

  it('a Retry-After longer than max_delay is handed to the client instead of held', async () => {
    const up = await upstream((_req, res) =>
      sendJson(res, 429, { error: { message: 'later' } }, { 'retry-after': '30' }),
    );
    const gw = await gateway(`
providers: { up: { type: openai, base_url: ${up.url}/v1 } }
models: { m: { targets: [ { provider: up, model: x } ], retry: { attempts: 3, max_delay: 2s } } }
`);
    const t0 = performance.now();
    const r = await chat(gw, 'm');
    expect([r.status, r.headers['retry-after'], up.requests.length]).toEqual([429, '30', 1]);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('the total time budget is never exceeded', async () => {
    const arrivals: number[] = [];
    const up = await upstream((_req, res) => {
      arrivals.push(performance.now());
      sendJson(res, 500, { error: { message: 'down' } });
    });
    const gw = await gateway(`
providers: { up: { type: openai, base_url: ${up.url}/v1 } }
models:
  m:
    targets: [ { provider: up, model: x } ]
    retry: { attempts: 10, base_delay: 150ms, max_delay: 150ms }
    timeouts: { total: 600ms }
    circuit_breaker: { enabled: false }
`);
    const t0 = performance.now();
    const r = await chat(gw, 'm');
    expect(r.status).toBe(502);
    // Every attempt got a 500, unless the budget ran out while one was in flight (a slow loop under load):
    // then that one failed as a timeout, and the answer sums up the two kinds of failure.
    const code = (r.json() as { error: { code: string } }).error.code;
    expect(['upstream_server_error', 'all_targets_failed']).toContain(code);
    expect(up.requests.length).toBeGreaterThan(1);
    expect(Number(r.headers['x-switchyard-attempts'])).toBe(up.requests.length);
    // Measured where the budget is enforced: no attempt reaches the provider after it ran out, and the
    // gateway's own clock for the request stays within it (plus the last failure's round trip). The
    // client-side bound is loose: other test files share these two cores.
    // An attempt may start just inside the budget and reach the provider a moment later (loopback
    // transit, a busy event loop), so arrivals get 25 ms of slack; the attempt itself is cut at 600 ms.
    for (const at of arrivals) expect(at - t0).toBeLessThan(625);
    const line = gw.logs.find((l) => l.msg === 'request')!;
    expect(line.ms as number).toBeLessThan(650);
    expect(performance.now() - t0).toBeLessThan(1500);
  });
});

describe('failover and fallbacks', () => {
  it('fails over to the next target, then to a fallback model', async () => {
    const bad = await upstream((_req, res) => sendJson(res, 503, { error: { message: 'busy' } }));
    const good = await upstream((_req, res) => sendJson(res, 200, completion('from the fallback')));
    const gw = await gateway(`
providers:
  bad: { type: openai, base_url: ${bad.url}/v1 }
  good: { type: openai, base_url: ${good.url}/v1 }
models:
  chat: { targets: [ { provider: bad, model: a }, { provider: bad, model: b } ], fallbacks: [cheap], retry: { attempts: 1 } }
  cheap: { targets: [ { provider: good, model: c } ] }
`);
    const r = await chat(gw, 'chat');
    expect([
      r.status,
      r.headers['x-switchyard-provider'],
      r.headers['x-switchyard-model'],
      r.headers['x-switchyard-fallback'],
      r.headers['x-switchyard-attempts'],
    ]).toEqual([200, 'good', 'c', 'cheap', '3']);
    expect(bad.requests.map((q) => (q.json as { model: string }).model)).toEqual(['a', 'b']);
  });

  it('a context-length error goes to the larger-context model', async () => {
    const small = await upstream((_req, res) =>
      sendJson(res, 400, {
        error: { message: 'maximum context length is 8192 tokens', code: 'context_length_exceeded' },
      }),
    );
    const big = await upstream((_req, res) => sendJson(res, 200, completion('long enough')));
    const gw = await gateway(`
providers:
  small: { type: openai, base_url: ${small.url}/v1 }
  big: { type: openai, base_url: ${big.url}/v1 }
models:
  chat: { targets: [ { provider: small, model: s } ], context_fallback: long }
  long: { targets: [ { provider: big, model: l } ] }
`);
    const r = await chat(gw, 'chat');
    expect([
      r.status,
      r.headers['x-switchyard-fallback'],
      r.headers['x-switchyard-provider'],
      small.requests.length,
    ]).toEqual([200, 'long', 'big', 1]);
  });

  it('several different failures: 502 all_targets_failed naming each', async () => {
    const a = await upstream((_req, res) => sendJson(res, 500, { error: { message: 'boom' } }));
    const b = await upstream((_req, res) =>
      sendJson(res, 429, { error: { message: 'slow' } }, { 'retry-after': '9' }),
    );
    const gw = await gateway(`
providers:
  a: { type: openai, base_url: ${a.url}/v1 }
  b: { type: openai, base_url: ${b.url}/v1 }
models: { m: { targets: [ { provider: a, model: x }, { provider: b, model: y } ], retry: { attempts: 1 } } }
`);
    const r = await chat(gw, 'm');
    expect([r.status, r.headers['retry-after'], r.json()]).toEqual([
      502,
      '9',
      {
        error: {
          message: "All targets of model 'm' failed: a/x (upstream_server_error), b/y (upstream_rate_limit).",
          type: 'api_error',
          code: 'all_targets_failed',
          param: null,
        },
      },
    ]);
  });

  it('per-target params are merged over the request', async () => {
    const up = await upstream((_req, res) => sendJson(res, 200, completion('ok')));
    const gw = await gateway(`
providers: { up: { type: openai, base_url: ${up.url}/v1 } }
models: { m: { targets: [ { provider: up, model: x, params: { temperature: 0.1, max_tokens: 64 } } ] } }
`);
    await chat(gw, 'm', { temperature: 0.9 });
    expect(up.requests[0]!.json).toMatchObject({ model: 'x', temperature: 0.1, max_tokens: 64 });
  });
});

describe('honest streams', () => {
  it('a stream failing before its first byte fails over invisibly', async () => {
    const bad = await upstream((_req, res) => sendJson(res, 500, { error: { message: 'boom' } }));
    const good = await upstream((_req, res) => sendSse(res, { events: okStream('fine') }));
    const gw = await gateway(`
providers:
  bad: { type: openai, base_url: ${bad.url}/v1 }
  good: { type: openai, base_url: ${good.url}/v1 }
models: { m: { targets: [ { provider: bad, model: a }, { provider: good, model: b } ], retry: { attempts: 1 } } }
`);
    const r = await chat(gw, 'm', { stream: true });
    expect([r.status, r.headers['x-switchyard-provider'], r.headers['x-switchyard-attempts']]).toEqual([
      200,
      'good',
      '2',
    ]);
    expect(r.text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(r.text).toContain('"content":"fine"');
  });

  it('a first token that does not come in time fails over', async () => {
    const slow = await upstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      await new Promise((r) => setTimeout(r, 1000));
      if (!res.destroyed) res.end();
    });
    const good = await upstream((_req, res) => sendSse(res, { events: okStream('quick') }));
    const gw = await gateway(`
providers:
  slow: { type: openai, base_url: ${slow.url}/v1 }
  good: { type: openai, base_url: ${good.url}/v1 }
models:
  m:
    targets: [ { provider: slow, model: a, timeouts: { first_token: 200ms } }, { provider: good, model: b } ]
    retry: { attempts: 1 }
`);
    const t0 = performance.now();
    const r = await chat(gw, 'm', { stream: true });
    expect([r.status, r.headers['x-switchyard-provider']]).toEqual([200, 'good']);
    expect(performance.now() - t0).toBeLessThan(900);
    await slow.requests[0]!.aborted;
    expect(gw.logs.find((l) => l.msg === 'attempt failed')).toMatchObject({
      provider: 'slow',
      error_code: 'upstream_timeout',
    });
  });

  it('after the first byte, a failure is an explicit error event and nothing else is tried', async () => {
    const cut = await upstream((_req, res) =>
      sendSse(res, { events: okStream('partial'), cutAfter: 2, delayMs: 20 }),
    );
    const other = await upstream((_req, res) => sendSse(res, { events: okStream('never') }));
    const gw = await gateway(`
providers:
  cut: { type: openai, base_url: ${cut.url}/v1 }
  other: { type: openai, base_url: ${other.url}/v1 }
models: { m: { targets: [ { provider: cut, model: a }, { provider: other, model: b } ] } }
`);
    const r = await chat(gw, 'm', { stream: true });
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('data: [DONE]');
    expect(r.text.trim().split('\n\n').at(-1)).toBe(
      `data: ${JSON.stringify({
        error: {
          message: "stream from provider 'cut' was interrupted: connection lost",
          type: 'api_error',
          code: 'upstream_stream_interrupted',
          param: null,
        },
      })}`,
    );
    expect(other.requests).toHaveLength(0);
    await gw.state.events.flush();
    const metrics = await (await request(`${gw.url}/metrics`)).body.text();
    expect(metrics).toContain(
      'switchyard_stream_failures_total{provider="cut",model="a",phase="after_first_byte"} 1',
    );
  });
});

describe('key pools', () => {
  it('a key that gets a 429 or 401 rests and the next key is used', async () => {
    const up = await upstream((req, res) => {
      const auth = req.headers.authorization;
      if (auth === 'Bearer k1') return sendJson(res, 429, { error: { message: 'k1 exhausted' } });
      if (auth === 'Bearer k2') return sendJson(res, 401, { error: { message: 'k2 revoked' } });
      return sendJson(res, 200, completion(`served with ${auth}`));
    });
    const gw = await gateway(`
providers: { up: { type: openai, base_url: ${up.url}/v1, api_keys: [k1, k2, k3], key_cooldown: 1m } }
models: { m: { targets: [ { provider: up, model: x } ], retry: { attempts: 1 } } }
`);
    const first = await chat(gw, 'm');
    expect([first.status, first.headers['x-switchyard-attempts']]).toEqual([200, '3']);
    expect(up.requests.map((q) => q.headers.authorization)).toEqual(['Bearer k1', 'Bearer k2', 'Bearer k3']);
    const second = await chat(gw, 'm');
    expect([second.status, second.headers['x-switchyard-attempts']]).toEqual([200, '1']);
    expect(up.requests.at(-1)!.headers.authorization).toBe('Bearer k3');
    for (const k of ['k1', 'k2', 'k3']) expect(gw.rawLog()).not.toContain(`Bearer ${k}`);
  });
});

describe('circuit breakers', () => {
  it('opens, skips the target without a call, half-opens after the cooldown, and closes', async () => {
    let healthy = false;
    const up = await upstream((_req, res) =>
      healthy ? sendJson(res, 200, completion('back')) : sendJson(res, 500, { error: { message: 'down' } }),
    );
    const gw = await gateway(`
providers: { up: { type: openai, base_url: ${up.url}/v1 } }
models:
  m:
    targets: [ { provider: up, model: x } ]
    retry: { attempts: 1 }
    circuit_breaker: { min_requests: 2, failure_rate: 0.5, cooldown: 300ms }
`);
    const transitions: string[] = [];
    gw.state.events.on('ai.circuit.state_changed', (e) => {
      transitions.push(`${e.from}->${e.to}`);
    });
    expect((await chat(gw, 'm')).status).toBe(502);
    expect((await chat(gw, 'm')).status).toBe(502);
    const skipped = await chat(gw, 'm');
    expect([skipped.status, skipped.json()]).toEqual([
      503,
      {
        error: {
          message: "Every target of model 'm' is temporarily disabled after repeated failures. Retry later.",
          type: 'api_error',
          code: 'circuit_open',
          param: null,
        },
      },
    ]);
    expect(up.requests).toHaveLength(2);
    healthy = true;
    await until(() => gw.state.breakers.state('up', 'x') === 'half_open', 'the 300ms cooldown to end');
    expect((await chat(gw, 'm')).status).toBe(200);
    expect((await chat(gw, 'm')).status).toBe(200);
    await gw.state.events.flush();
    expect(transitions).toEqual(['closed->open', 'open->half_open', 'half_open->closed']);
    const health = (await (await request(`${gw.url}/health`)).body.json()) as Record<string, unknown>;
    expect(health).toEqual({ status: 'ok', version: '0.1.0', uptime_s: expect.any(Number) });
  });

  it.skipIf(!services.redis)(
    'one instance’s failures open the circuit for another within a second, through Redis',
    async () => {
      let calls = 0;
      const up = await upstream((_req, res) => {
        calls++;
        sendJson(res, 500, { error: { message: 'down' } });
      });
      const prefix = `test-${randomUUID()}:`;
      const yaml = `
redis: { url: redis://127.0.0.1:6379, key_prefix: "${prefix}" }
health: { expose_details: true }
providers: { up: { type: openai, base_url: ${up.url}/v1 } }
models:
  m:
    targets: [ { provider: up, model: x } ]
    retry: { attempts: 1 }
    circuit_breaker: { min_requests: 2, failure_rate: 0.5, cooldown: 10s }
`;
      const a = await gateway(yaml);
      const b = await gateway(yaml);
      await chat(a, 'm');
      await chat(a, 'm');
      const opened = performance.now();
      let r = await chat(b, 'm');
      while (r.status !== 503 && performance.now() - opened < 1000) {
        await new Promise((res) => setTimeout(res, 20));
        r = await chat(b, 'm');
      }
      expect(r.json()).toMatchObject({ error: { code: 'circuit_open' } });
      expect(performance.now() - opened).toBeLessThan(1000);
      const callsBefore = calls;
      await chat(b, 'm');
      expect(calls).toBe(callsBefore);
      const health = (await (await request(`${b.url}/health`)).body.json()) as {
        targets: Record<string, { circuit: string }>;
      };
      expect(health.targets['up/x']!.circuit).toBe('open');
    },
  );
});

describe('graceful degradation', () => {
  const failing = async () =>
    upstream((_req, res) => sendJson(res, 503, { error: { message: 'busy' } }, { 'retry-after': '4' }));

  it('offline: the mock answers, and the header says so', async () => {
    const up = await failing();
    const gw = await gateway(`
providers: { up: { type: openai, base_url: ${up.url}/v1 } }
models: { m: { targets: [ { provider: up, model: x } ], retry: { attempts: 1 }, degradation: { chain: [stale_cache, offline, error] } } }
`);
    const r = await chat(gw, 'm');
    expect([r.status, r.headers['x-switchyard-degraded'], r.headers['x-switchyard-provider']]).toEqual([
      200,
      'offline',
      'offline',
    ]);
    expect((r.json().choices as Array<{ message: { content: string } }>)[0]!.message.content).toBe(
      'The AI service is temporarily unavailable, so this is an automatic placeholder answer. Please try again shortly.',
    );
    const s = await chat(gw, 'm', { stream: true });
    expect([s.status, s.headers['x-switchyard-degraded']]).toEqual([200, 'offline']);
    expect(s.text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('offline with a configured mock provider', async () => {
    const up = await failing();
    const gw = await gateway(`
providers:
  up: { type: openai, base_url: ${up.url}/v1 }
  canned: { type: mock, reply: "s(\\"bd sd\\")" }
models: { m: { targets: [ { provider: up, model: x } ], retry: { attempts: 1 }, degradation: { chain: [offline], offline_provider: canned } } }
`);
    const r = await chat(gw, 'm');
    expect([
      r.status,
      (r.json().choices as Array<{ message: { content: string } }>)[0]!.message.content,
    ]).toEqual([200, 's("bd sd")']);
  });

  it('error: a polite message naming what failed and when to retry', async () => {
    const up = await failing();
    const gw = await gateway(`
providers: { up: { type: openai, base_url: ${up.url}/v1 } }
models: { m: { targets: [ { provider: up, model: x } ], retry: { attempts: 1 }, degradation: { chain: [stale_cache, error] } } }
`);
    const r = await chat(gw, 'm');
    expect([r.status, r.headers['x-switchyard-degraded'], r.headers['retry-after'], r.json()]).toEqual([
      503,
      'error',
      '4',
      {
        error: {
          message:
            "Model 'm' is temporarily unavailable: up/x (upstream_overloaded). Please retry in 4 seconds.",
          type: 'api_error',
          code: 'service_degraded',
          param: null,
        },
      },
    ]);
  });

  it('without a degradation chain the raw error stands', async () => {
    const up = await failing();
    const gw = await gateway(`
providers: { up: { type: openai, base_url: ${up.url}/v1 } }
models: { m: { targets: [ { provider: up, model: x } ], retry: { attempts: 1 } } }
`);
    const r = await chat(gw, 'm');
    expect([r.status, r.headers['x-switchyard-degraded']]).toEqual([503, undefined]);
    expect(r.json()).toMatchObject({ error: { code: 'upstream_overloaded' } });
  });
});

describe('strategies', () => {
  it('weighted routing spreads load by weight through the real gateway', async () => {
    const a = await upstream((_req, res) => sendJson(res, 200, completion('a')));
    const b = await upstream((_req, res) => sendJson(res, 200, completion('b')));
    const gw = await gateway(`
providers:
  a: { type: openai, base_url: ${a.url}/v1 }
  b: { type: openai, base_url: ${b.url}/v1 }
models: { m: { strategy: weighted, targets: [ { provider: a, model: x, weight: 3 }, { provider: b, model: y, weight: 1 } ] } }
`);
    for (let i = 0; i < 400; i++) await chat(gw, 'm');
    // 300 expected; 5 standard deviations of a binomial(400, 0.75) is ±43.
    expect(a.requests.length).toBeGreaterThan(257);
    expect(a.requests.length).toBeLessThan(343);
    expect(a.requests.length + b.requests.length).toBe(400);
  });
});

describe('timeouts against a hanging provider (mock faults)', () => {
  it('a stream whose provider hangs fails over after first_token; a call that hangs ends at the budget as 504', async () => {
    const gw = await gateway(`
providers:
  stuck: { type: mock, faults: { hang_probability: 1 } }
  spare: { type: mock, reply: spare answer }
models:
  s: { targets: [ { provider: stuck, model: a, timeouts: { first_token: 150ms } }, { provider: spare, model: b } ], retry: { attempts: 1 } }
  n: { targets: [ { provider: stuck, model: a } ], retry: { attempts: 1 }, timeouts: { total: 300ms } }
`);
    const s = await chat(gw, 's', { stream: true });
    expect([s.status, s.headers['x-switchyard-provider'], s.headers['x-switchyard-attempts']]).toEqual([
      200,
      'spare',
      '2',
    ]);
    expect(s.text).toContain('"content":"spare "');
    const t0 = performance.now();
    const n = await chat(gw, 'n');
    expect([n.status, n.json()]).toEqual([
      504,
      {
        error: {
          message: "provider 'stuck' timed out: the request's total time budget ran out",
          type: 'api_error',
          code: 'upstream_timeout',
          param: null,
        },
      },
    ]);
    expect(performance.now() - t0).toBeLessThan(600);
  });
});
