import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError } from '../helpers/openai-fixtures.js';

/**
 * Issue 8, item 14: retries multiplied (the gateway retried, then the client retried the gateway), and a
 * Gemini 429 with RetryInfo.retryDelay reached the client with no Retry-After.
 */

let upstream: FakeUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream((_req, res) => sendJson(res, 500, { error: { message: 'boom' } }));
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
providers:
  up: { type: openai, base_url: ${upstream.url}, api_key: k-1234567890 }
  gem: { type: gemini, base_url: ${upstream.url}, api_key: g-1234567890 }
models:
  up: { targets: [ { provider: up, model: m } ], retry: { attempts: 2, base_delay: 1ms, max_delay: 2ms } }
  gem: { targets: [ { provider: gem, model: gemini-2.5-flash } ], retry: { attempts: 1 } }
`);
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

beforeEach(() => {
  upstream.requests.length = 0;
});

const hi = [{ role: 'user' as const, content: 'hi' }];

describe('issue 8-14: the gateway spends the retries, the client does not multiply them', () => {
  it('the openai SDK with its default 2 retries makes one gateway call: 2 upstream hits, not 6', async () => {
    upstream.setHandler((_req, res) => sendJson(res, 500, { error: { message: 'boom' } }));
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused' });
    const err = await apiError(client.chat.completions.create({ model: 'up', messages: hi }));
    expect(err.status).toBe(502);
    expect(err.headers?.get('x-should-retry')).toBe('false');
    expect(err.headers?.get('x-switchyard-attempts')).toBe('2');
    expect(upstream.requests.length).toBe(2);
  });

  it('errors before any attempt carry no advice, so clients keep their own rules', async () => {
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'nope', messages: hi }),
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('x-should-retry')).toBeNull();
  });

  it('a Gemini 429 with RetryInfo.retryDelay reaches the client with Retry-After', async () => {
    upstream.setHandler((_req, res) =>
      sendJson(res, 429, {
        error: {
          code: 429,
          message: 'Resource has been exhausted (e.g. check quota).',
          status: 'RESOURCE_EXHAUSTED',
          details: [
            { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [] },
            { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37s' },
          ],
        },
      }),
    );
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
    const err = await apiError(client.chat.completions.create({ model: 'gem', messages: hi }));
    expect(err.status).toBe(429);
    expect((err.error as { code?: string; type?: string }).code).toBe('upstream_rate_limit');
    expect(err.headers?.get('retry-after')).toBe('37');
    expect(err.headers?.get('x-should-retry')).toBe('false');
  });

  it('a fractional retryDelay rounds up', async () => {
    upstream.setHandler((_req, res) =>
      sendJson(res, 429, {
        error: {
          code: 429,
          message: 'slow down',
          status: 'RESOURCE_EXHAUSTED',
          details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1.5s' }],
        },
      }),
    );
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gem', messages: hi }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('2');
  });
});
