import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError, chunkJson } from '../helpers/openai-fixtures.js';

/**
 * Issue 8, item 8: an upstream error message that echoes the API key ("Incorrect API key provided:
 * sk-…") reached the client verbatim. Configured keys and anything shaped like a provider key are
 * redacted from every relayed message.
 */

let upstream: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

const OPENAI_KEY = 'sk-proj-Abc123Def456Ghi789Jkl0';
const LOCAL_KEY = 'local-proxy-secret-4f9a2c';
const GOOGLE_KEY = `AIzaSy${'D'.repeat(33)}`;

beforeAll(async () => {
  upstream = await startFakeUpstream((_req, res) => sendJson(res, 500, { error: 'no handler set' }));
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
providers:
  oa: { type: openai, base_url: ${upstream.url}, api_key: ${OPENAI_KEY} }
  local: { type: openai, base_url: ${upstream.url}, api_key: ${LOCAL_KEY} }
  gem: { type: gemini, base_url: ${upstream.url}, api_key: ${GOOGLE_KEY} }
models:
  oa: { targets: [ { provider: oa, model: m } ], retry: { attempts: 1 } }
  local: { targets: [ { provider: local, model: m } ], retry: { attempts: 1 } }
  gem: { targets: [ { provider: gem, model: gemini-2.0-flash } ], retry: { attempts: 1 } }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const hi = [{ role: 'user' as const, content: 'hi' }];

describe('issue 8-8: credentials never reach the client', () => {
  it("OpenAI's 401 echoing the key, masked or whole", async () => {
    upstream.setHandler((_req, res) =>
      sendJson(res, 401, {
        error: {
          message: `Incorrect API key provided: ${OPENAI_KEY}. Also seen as sk-proj-Abc1********************Jkl0.`,
          type: 'invalid_request_error',
          code: 'invalid_api_key',
        },
      }),
    );
    const err = await apiError(client.chat.completions.create({ model: 'oa', messages: hi }));
    const body = err.error as { message: string; code: string };
    expect([err.status, body.code]).toEqual([502, 'upstream_auth']);
    expect(body.message).toBe(
      "provider 'oa' returned 401: Incorrect API key provided: [redacted]. Also seen as [redacted].",
    );
  });

  it('a configured key of any shape, echoed by a local server', async () => {
    upstream.setHandler((_req, res) =>
      sendJson(res, 400, { error: { message: `bad key ${LOCAL_KEY} for model m` } }),
    );
    const err = await apiError(client.chat.completions.create({ model: 'local', messages: hi }));
    expect((err.error as { message: string }).message).toBe(
      "provider 'local' returned 400: bad key [redacted] for model m",
    );
  });

  it("Gemini's API key in an error message", async () => {
    upstream.setHandler((_req, res) =>
      sendJson(res, 400, {
        error: { code: 400, message: `API key not valid: ${GOOGLE_KEY}`, status: 'INVALID_ARGUMENT' },
      }),
    );
    const err = await apiError(client.chat.completions.create({ model: 'gem', messages: hi }));
    expect((err.error as { message: string }).message).toBe(
      "provider 'gem' returned 400: API key not valid: [redacted]",
    );
  });

  it('an error event in the middle of a stream', async () => {
    upstream.setHandler((_req, res) =>
      sendSse(res, {
        events: [
          chunkJson({ role: 'assistant', content: 'a' }),
          JSON.stringify({ error: { message: `key ${LOCAL_KEY} was revoked` } }),
        ],
      }),
    );
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'local', messages: hi, stream: true }),
    });
    const text = await res.text();
    expect(text).toContain('[redacted]');
    expect(text).not.toContain(LOCAL_KEY);
  });

  it('no key ever appears in what the client received or in the log', () => {
    const log = gw.rawLog();
    for (const k of [OPENAI_KEY, LOCAL_KEY, GOOGLE_KEY]) expect(log).not.toContain(k);
  });
});
