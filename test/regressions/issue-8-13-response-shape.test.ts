import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError } from '../helpers/openai-fixtures.js';

/**
 * Issue 8, item 13: translated answers lacked fields OpenAI always sends (message.refusal,
 * message.annotations, system_fingerprint, usage.*_details); with include_usage the chunks before the
 * last lacked `"usage": null`; an upstream 5xx had type `upstream_error`, which OpenAI does not define.
 */

let upstream: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeUpstream((req, res) => {
    if (req.url.startsWith('/v1/messages')) {
      sendJson(res, 200, {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-x',
        content: [{ type: 'text', text: 'hello' }],
        stop_reason: 'end_turn',
        usage: {
          input_tokens: 10,
          cache_read_input_tokens: 4,
          output_tokens: 7,
          output_tokens_details: { thinking_tokens: 3 },
        },
      });
    } else if (req.url.includes('streamGenerateContent')) {
      sendSse(res, {
        events: [
          JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: 'he' }] }, index: 0 }] }),
          JSON.stringify({
            candidates: [
              { content: { role: 'model', parts: [{ text: 'llo' }] }, finishReason: 'STOP', index: 0 },
            ],
            usageMetadata: { promptTokenCount: 6, candidatesTokenCount: 2, totalTokenCount: 8 },
          }),
        ],
      });
    } else if (req.url.includes('generateContent')) {
      sendJson(res, 200, {
        candidates: [
          { content: { role: 'model', parts: [{ text: 'hello' }] }, finishReason: 'STOP', index: 0 },
        ],
        usageMetadata: {
          promptTokenCount: 12,
          candidatesTokenCount: 5,
          thoughtsTokenCount: 9,
          cachedContentTokenCount: 2,
          totalTokenCount: 26,
        },
      });
    } else {
      sendJson(res, 503, { error: { message: 'upstream down', type: 'server_error' } });
    }
  });
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
routing: { retry: { attempts: 1 } }
providers:
  claude: { type: anthropic, base_url: ${upstream.url}, api_key: k-1234567890 }
  gem: { type: gemini, base_url: ${upstream.url}, api_key: k-1234567890 }
  oa: { type: openai, base_url: ${upstream.url}/oa, api_key: k-1234567890 }
models:
  claude: { targets: [ { provider: claude, model: claude-x } ] }
  gem: { targets: [ { provider: gem, model: gemini-2.5-flash } ] }
  oa: { targets: [ { provider: oa, model: m } ] }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const hi = [{ role: 'user' as const, content: 'hi' }];

describe('issue 8-13: the shape OpenAI clients expect', () => {
  it.each([
    ['claude', { prompt: 14, completion: 7, total: 21, cached: 4, reasoning: 3 }],
    ['gem', { prompt: 12, completion: 14, total: 26, cached: 2, reasoning: 9 }],
  ])('%s: refusal, annotations, system_fingerprint and both usage detail objects', async (model, u) => {
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: hi }),
    });
    const body = (await res.json()) as Record<string, unknown> & {
      choices: Array<{ message: Record<string, unknown> }>;
    };
    expect(body.system_fingerprint).toBeNull();
    expect(body.choices[0]!.message).toEqual({
      role: 'assistant',
      content: 'hello',
      refusal: null,
      annotations: [],
    });
    expect(body.usage).toEqual({
      prompt_tokens: u.prompt,
      completion_tokens: u.completion,
      total_tokens: u.total,
      prompt_tokens_details: { cached_tokens: u.cached, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: u.reasoning,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    });
  });

  it('with include_usage, every chunk but the usage chunk carries "usage": null', async () => {
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gem',
        messages: hi,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    const events = (await res.text())
      .split('\n\n')
      .filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]')
      .map((e) => JSON.parse(e.slice(6)) as { choices: unknown[]; usage?: unknown });
    expect(events.length).toBeGreaterThan(2);
    for (const e of events.slice(0, -1)) expect(e).toHaveProperty('usage', null);
    expect(events.at(-1)!.choices).toEqual([]);
    expect(events.at(-1)!.usage).toMatchObject({ prompt_tokens: 6, completion_tokens: 2, total_tokens: 8 });
  });

  it('without include_usage, chunks carry no usage key at all', async () => {
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gem', messages: hi, stream: true }),
    });
    const text = await res.text();
    expect(text).not.toContain('"usage"');
  });

  it("an upstream 5xx has OpenAI's type api_error, with our detail in code", async () => {
    const err = await apiError(client.chat.completions.create({ model: 'oa', messages: hi }));
    const body = err.error as { type?: string; code?: string };
    expect([err.status, body.type, body.code]).toEqual([503, 'api_error', 'upstream_overloaded']);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
  });
});
