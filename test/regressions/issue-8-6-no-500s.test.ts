import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError } from '../helpers/openai-fixtures.js';

/**
 * Issue 8, item 6: inputs that gave a 500. An assistant message with tool_calls and no content sent to
 * Anthropic (valid OpenAI input, so it must work), 130,000 content parts in one same-role run (a spread
 * overflowed the stack), JSON nested 10,000 levels deep, and model names that are not valid header values.
 */

let upstream: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

const ANTHROPIC_OK = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-x',
  content: [{ type: 'text', text: 'done' }],
  stop_reason: 'end_turn',
  usage: { input_tokens: 1, output_tokens: 1 },
};
const GEMINI_OK = {
  candidates: [{ content: { role: 'model', parts: [{ text: 'done' }] }, finishReason: 'STOP', index: 0 }],
};

beforeAll(async () => {
  upstream = await startFakeUpstream((req, res) =>
    sendJson(res, 200, req.url.startsWith('/v1/messages') ? ANTHROPIC_OK : GEMINI_OK),
  );
  gw = await startGateway(`
server: { body_limit: 8mb, load_shedding: { enabled: false } }
routing: { retry: { attempts: 1 } }
providers:
  claude: { type: anthropic, base_url: ${upstream.url}, api_key: k-1234567890 }
  gem: { type: gemini, base_url: ${upstream.url}, api_key: k-1234567890 }
  m: { type: mock }
models:
  claude: { targets: [ { provider: claude, model: claude-x } ] }
  gem: { targets: [ { provider: gem, model: gemini-2.5-flash } ] }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

beforeEach(() => {
  upstream.requests.length = 0;
});

async function postRaw(text: string): Promise<{ status: number; body: { error?: { code: string } } }> {
  const res = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: text,
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
}

describe('issue 8-6: no 500s', () => {
  it.each([
    ['no content field', {}],
    ['content null', { content: null }],
    ['content ""', { content: '' }],
  ])('an assistant tool_calls message with %s works against Anthropic', async (_what, content) => {
    const r = await client.chat.completions.create({
      model: 'claude',
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          ...content,
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          ],
        } as OpenAI.ChatCompletionAssistantMessageParam,
        { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
      ],
    });
    expect(r.choices[0]?.message.content).toBe('done');
    expect((upstream.requests[0]!.json as { messages: unknown[] }).messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } }],
    });
  });

  it.each(['claude', 'gem'])(
    '130,000 content parts in one same-role run go to %s',
    async (model) => {
      const parts = Array.from({ length: 130_000 }, () => ({ type: 'text' as const, text: 'a' }));
      // The second message merges into the first one's turn: that merge was a push(...parts).
      const r = await client.chat.completions.create({
        model,
        messages: [
          { role: 'user', content: 'first' },
          { role: 'user', content: parts },
        ],
      });
      expect(r.choices[0]?.message.content).toBe('done');
      const sent = upstream.requests[0]!.json as {
        messages?: Array<{ content: unknown[] }>;
        contents?: Array<{ parts: unknown[] }>;
      };
      expect(sent.messages?.[0]?.content.length ?? sent.contents?.[0]?.parts.length).toBe(130_001);
    },
    60_000,
  );

  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  it.each([
    [
      'an unknown field',
      (d: string) => `{"model":"claude","messages":[{"role":"user","content":"hi"}],"x":${d}}`,
    ],
    [
      'tools[].function.parameters',
      (d: string) =>
        `{"model":"claude","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","x":${d}}}}]}`,
    ],
    [
      'response_format.json_schema',
      (d: string) =>
        `{"model":"gem","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object","x":${d}}}}}`,
    ],
  ])('JSON nested 10,000 levels deep in %s is a 400 at parse', async (_where, make) => {
    const { status, body } = await postRaw(make(deep(10_000)));
    expect([status, body.error?.code]).toEqual([400, 'invalid_json']);
    expect(upstream.requests.length).toBe(0);
  });

  it('nesting of 100 levels in a schema is fine', async () => {
    let schema = '{"type":"string"}';
    for (let i = 0; i < 45; i++) schema = `{"type":"object","properties":{"a":${schema}}}`;
    const { status } = await postRaw(
      `{"model":"claude","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":${schema}}}}`,
    );
    expect(status).toBe(200);
  });

  it.each(['m/中文', 'm/a\r\nb', 'm/a\u0000b'])(
    'model %j that is no valid header value is a 400, streamed or not',
    async (model) => {
      for (const stream of [false, true]) {
        const err = await apiError(
          client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], stream }),
        );
        expect([err.status, (err.error as { code?: string }).code]).toEqual([400, 'model_name_invalid']);
      }
    },
  );
});
