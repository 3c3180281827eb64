import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayEvents } from '../../src/types/events.js';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, startGatewayFromFile, type TestGateway } from '../helpers/gateway.js';

/**
 * Issue 7: claims in the docs that the code did not keep. Each is now true, and tested here:
 * - a target's `timeouts.total` was parsed and never used (it now caps each attempt on the target);
 * - breakers' `min_requests` counts attempts, not client requests;
 * - `redis` is restart-only (a reload kept the old connections but reported the new URL as applied);
 * - during shutdown the health routes still answer on a held connection, in their own shape;
 * - `errorType` in lifecycle events is an error class for provider failures and a code otherwise.
 */

const completion = (content: string) => ({
  id: 'chatcmpl-x',
  object: 'chat.completion',
  created: 1,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
async function gateway(yaml: string): Promise<TestGateway> {
  const gw = await startGateway(yaml);
  cleanups.push(() => gw.close());
  return gw;
}
async function upstream(handler: Parameters<typeof startFakeUpstream>[0]): Promise<FakeUpstream> {
  const up = await startFakeUpstream(handler);
  cleanups.push(() => up.close());
  return up;
}
async function chat(gw: TestGateway, model: string) {
  const res = await request(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  return {
    status: res.statusCode,
    headers: res.headers,
    json: (await res.body.json()) as Record<string, unknown>,
  };
}

describe("a target's timeouts.total", () => {
  it('caps each attempt on that target; the next target answers inside the model budget', async () => {
    const slow = await upstream(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 5_000));
      if (!res.destroyed) sendJson(res, 200, completion('late'));
    });
    const quick = await upstream((_req, res) => sendJson(res, 200, completion('quick')));
    const gw = await gateway(`
providers:
  slow: { type: openai, base_url: ${slow.url}/v1 }
  quick: { type: openai, base_url: ${quick.url}/v1 }
models:
  m:
    strategy: ordered
    retry: { attempts: 1 }
    timeouts: { total: 30s }
    targets:
      - { provider: slow, model: s, timeouts: { total: 300ms } }
      - { provider: quick, model: q }
`);
    const started = performance.now();
    const r = await chat(gw, 'm');
    expect([r.status, r.headers['x-switchyard-provider'], r.headers['x-switchyard-attempts']]).toEqual([
      200,
      'quick',
      '2',
    ]);
    // Without the cap the slow target would hold the request for its 5 s.
    expect(performance.now() - started).toBeLessThan(4_000);
    expect(slow.requests).toHaveLength(1);
  });

  it('names the target cap when it is what ran out', async () => {
    const slow = await upstream(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 5_000));
      if (!res.destroyed) sendJson(res, 200, completion('late'));
    });
    const gw = await gateway(`
providers: { slow: { type: openai, base_url: ${slow.url}/v1 } }
models:
  m:
    retry: { attempts: 1 }
    targets: [ { provider: slow, model: s, timeouts: { total: 200ms } } ]
`);
    const r = await chat(gw, 'm');
    expect([r.status, r.json]).toEqual([
      504,
      {
        error: {
          message: "provider 'slow' timed out: the target's total timeout (200 ms) ran out",
          type: 'api_error',
          code: 'upstream_timeout',
          param: null,
        },
      },
    ]);
  });
});

describe('circuit breaker min_requests', () => {
  it('counts attempts: two requests retried once each open a breaker with min_requests 4', async () => {
    const up = await upstream((_req, res) => sendJson(res, 500, { error: { message: 'down' } }));
    const gw = await gateway(`
providers: { up: { type: openai, base_url: ${up.url}/v1 } }
models:
  m:
    targets: [ { provider: up, model: x } ]
    retry: { attempts: 2, base_delay: 1ms, max_delay: 1ms }
    circuit_breaker: { min_requests: 4, failure_rate: 0.5, cooldown: 1m }
`);
    expect((await chat(gw, 'm')).status).toBe(502);
    expect((await chat(gw, 'm')).status).toBe(502);
    expect(up.requests).toHaveLength(4);
    const third = await chat(gw, 'm');
    expect([third.status, (third.json.error as { code: string }).code]).toEqual([503, 'circuit_open']);
    expect(up.requests).toHaveLength(4);
  });
});

describe('redis is restart-only', () => {
  it('a reload that changes it keeps the running value and names it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-redis-reload-'));
    const file = join(dir, 'switchyard.yaml');
    const yaml = (prefix: string) => `
redis: { url: "redis://127.0.0.1:1", key_prefix: "${prefix}" }
providers: { m: { type: mock } }
models: { a: { targets: [ { provider: m, model: x } ] } }
`;
    await writeFile(file, yaml('one:'));
    const gw = await startGatewayFromFile(file, {}, { watch: false });
    cleanups.push(() => gw.close());
    await writeFile(file, yaml('two:'));
    expect(await gw.reload()).toEqual({ status: 'applied', restartRequired: ['redis'] });
    expect(gw.state.runtime.config.redis).toEqual({ url: 'redis://127.0.0.1:1', keyPrefix: 'one:' });
    expect(gw.logs.find((l) => l.msg?.toString().includes('needs a restart'))).toMatchObject({
      keys: ['redis'],
    });
  });
});

describe('during shutdown', () => {
  it('health routes answer on a held connection, with Connection: close', async () => {
    const gw = await gateway(`
providers: { m: { type: mock } }
models: { a: { targets: [ { provider: m, model: x } ] } }
`);
    gw.state.shuttingDown = true;
    try {
      const ready = await request(`${gw.url}/health/ready`);
      expect([ready.statusCode, ready.headers.connection, await ready.body.json()]).toEqual([
        503,
        'close',
        { status: 'shutting_down' },
      ]);
      const live = await request(`${gw.url}/health/live`);
      expect([live.statusCode, live.headers.connection, await live.body.json()]).toEqual([
        200,
        'close',
        { status: 'ok' },
      ]);
    } finally {
      gw.state.shuttingDown = false;
    }
  });
});

describe('errorType in lifecycle events', () => {
  it('is the class for a provider failure, and the code for a gateway error', async () => {
    const down = await upstream((_req, res) => sendJson(res, 500, { error: { message: 'down' } }));
    const limited = await upstream((_req, res) => sendJson(res, 429, { error: { message: 'slow down' } }));
    const gw = await gateway(`
providers:
  down: { type: openai, base_url: ${down.url}/v1 }
  limited: { type: openai, base_url: ${limited.url}/v1 }
models:
  one: { targets: [ { provider: down, model: x } ], retry: { attempts: 1 } }
  two:
    strategy: ordered
    retry: { attempts: 1 }
    targets: [ { provider: down, model: x }, { provider: limited, model: y } ]
`);
    const errors: Array<GatewayEvents['ai.response.error']> = [];
    const attempts: Array<GatewayEvents['ai.attempt.failed']> = [];
    gw.state.events.on('ai.response.error', (e) => {
      errors.push(e);
    });
    gw.state.events.on('ai.attempt.failed', (e) => {
      attempts.push(e);
    });
    expect((await chat(gw, 'one')).status).toBe(502);
    expect((await chat(gw, 'two')).status).toBe(502);
    await gw.state.events.flush();
    expect(errors.map((e) => [e.code, e.errorType])).toEqual([
      ['upstream_server_error', 'server_error'],
      ['all_targets_failed', 'all_targets_failed'],
    ]);
    expect(attempts.map((e) => [e.code, e.errorType])).toEqual([
      ['upstream_server_error', 'server_error'],
      ['upstream_server_error', 'server_error'],
      ['upstream_rate_limit', 'rate_limit'],
    ]);
  });
});
