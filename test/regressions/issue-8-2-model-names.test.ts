import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_TARGETS } from '../../src/resilience/circuit-breakers.js';
import { MAX_TARGET_STATS } from '../../src/services/target-stats.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError } from '../helpers/openai-fixtures.js';

/**
 * Issue 8, item 2: client-chosen `provider/model` names created state without bound (a circuit breaker,
 * routing statistics and a /health entry per name, never evicted), metric label values had no length
 * cap, and a 404 echoed a 1 MB name back.
 */

let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  gw = await startGateway(`
server: { body_limit: 4mb, load_shedding: { enabled: false } }
health: { expose_details: true }
providers:
  m: { type: mock }
models:
  mock: { targets: [ { provider: m, model: echo } ] }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
});

async function post(body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

const hi = [{ role: 'user' as const, content: 'hi' }];

describe('issue 8-2: model names are bounded, and so is the state they create', () => {
  it('a 1 MB model name is a 400 that echoes only a short prefix', async () => {
    const { status, text } = await post({ model: `m/${'x'.repeat(1024 * 1024)}`, messages: hi });
    expect(status).toBe(400);
    const body = JSON.parse(text) as {
      error: { code: string; param: string; message: string; type: string };
    };
    expect(body.error.code).toBe('model_name_invalid');
    expect(body.error.param).toBe('model');
    expect(body.error.type).toBe('invalid_request_error');
    expect(text.length).toBeLessThan(400);
  });

  it.each([
    ['non-ASCII', 'm/中文'],
    ['CR/LF', 'm/a\r\nx-injected: 1'],
    ['NUL', 'm/a\u0000b'],
    ['a space', 'm/a b'],
  ])('a model name with %s is a 400 model_name_invalid, not a 500', async (_what, model) => {
    const err = await apiError(client.chat.completions.create({ model, messages: hi }));
    expect([err.status, (err.error as { code?: string }).code]).toEqual([400, 'model_name_invalid']);
  });

  it('the same names are refused for streams too', async () => {
    const err = await apiError(
      client.chat.completions.create({ model: 'm/中文', messages: hi, stream: true }),
    );
    expect([err.status, (err.error as { code?: string }).code]).toEqual([400, 'model_name_invalid']);
  });

  it('an unknown model of 256 characters gets a 404 that echoes a 64-character prefix', async () => {
    const name = `nope-${'y'.repeat(251)}`;
    const { status, text } = await post({ model: name, messages: hi });
    expect(status).toBe(404);
    const body = JSON.parse(text) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('model_not_found');
    expect(body.error.message).toContain(`'${name.slice(0, 64)}…'`);
    expect(body.error.message).not.toContain(name.slice(0, 65));
  });

  it('1,000 distinct direct model names leave bounded breakers, stats, /health and /metrics', async () => {
    const names = Array.from({ length: 1000 }, (_, i) => `m/model-${i}-${'z'.repeat(200)}`);
    for (let k = 0; k < names.length; k += 25) {
      await Promise.all(
        names.slice(k, k + 25).map(async (model) => {
          const r = await client.chat.completions.create({ model, messages: hi });
          expect(r.choices[0]?.message.role).toBe('assistant');
        }),
      );
    }
    const breakers = gw.state.breakers.snapshot();
    expect(breakers.length).toBeLessThanOrEqual(MAX_TARGETS);
    expect(gw.state.targetStats.size).toBeLessThanOrEqual(MAX_TARGET_STATS);
    // The most recent names are the ones kept.
    expect(breakers.some((b) => b.model === names[999]!.slice(2))).toBe(true);
    expect(breakers.some((b) => b.model === names[0]!.slice(2))).toBe(false);

    const health = (await (await fetch(`${gw.url}/health`)).json()) as { targets: Record<string, unknown> };
    expect(Object.keys(health.targets).length).toBeLessThanOrEqual(MAX_TARGETS);

    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    // Label values are cut at 128 characters: the 208-character names never appear whole.
    expect(metrics).not.toContain(names[0]);
    expect(metrics).toContain(`model="${names[0]!.slice(0, 128)}"`);
    for (const m of metrics.matchAll(/model="([^"]*)"/g)) expect(m[1]!.length).toBeLessThanOrEqual(128);

    // A configured model still works after the churn.
    const ok = await client.chat.completions.create({ model: 'mock', messages: hi });
    expect(ok.choices[0]?.finish_reason).toBe('stop');
  }, 60_000);
});
