import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, jsonSchema } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError } from '../helpers/openai-fixtures.js';

/**
 * Issue 8, item 10: Anthropic silently dropped response_format, so the openai SDK's parse(), the AI SDK's
 * generateObject and LangChain's withStructuredOutput all failed; n > 1 returned one choice with a 200.
 * json_schema becomes Anthropic's native structured output (`output_config.format`); json_object, n > 1
 * and logprobs, which Anthropic cannot honour, are a 400 naming the parameter.
 */

let upstream: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

const ANSWER = '{"city":"Paris","temperature_c":18}';

beforeAll(async () => {
  upstream = await startFakeUpstream((_req, res) =>
    sendJson(res, 200, {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: ANSWER }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 10, output_tokens: 8 },
    }),
  );
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
routing: { retry: { attempts: 1 } }
providers:
  claude: { type: anthropic, base_url: ${upstream.url}, api_key: k-1234567890 }
models:
  claude: { targets: [ { provider: claude, model: claude-sonnet-4-5 } ] }
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

const SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, temperature_c: { type: 'number' } },
  required: ['city', 'temperature_c'],
  additionalProperties: false,
};
const hi = [{ role: 'user' as const, content: 'Weather in Paris as JSON' }];

describe('issue 8-10: Anthropic honours or refuses every shape-changing parameter', () => {
  it("json_schema is sent as output_config.format, and the openai SDK's parse() gets the object", async () => {
    const r = await client.chat.completions.parse({
      model: 'claude',
      messages: hi,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'weather', strict: true, schema: SCHEMA },
      },
    });
    expect(r.choices[0]?.message.parsed).toEqual({ city: 'Paris', temperature_c: 18 });
    expect(r.choices[0]?.message.refusal).toBeNull();
    const sent = upstream.requests[0]!.json as Record<string, unknown>;
    expect(sent.output_config).toEqual({ format: { type: 'json_schema', schema: SCHEMA } });
    expect(sent.response_format).toBeUndefined();
  });

  it("the AI SDK's generateObject (chat model) gets the object", async () => {
    const provider = createOpenAI({ baseURL: gw.baseURL, apiKey: 'unused' });
    const { object } = await generateObject({
      model: provider.chat('claude'),
      schema: jsonSchema<{ city: string; temperature_c: number }>(SCHEMA),
      prompt: 'Weather in Paris as JSON',
      maxRetries: 0,
    });
    expect(object).toEqual({ city: 'Paris', temperature_c: 18 });
    const sent = upstream.requests[0]!.json as { output_config?: { format?: { type?: string } } };
    expect(sent.output_config?.format?.type).toBe('json_schema');
  });

  it("LangChain's withStructuredOutput gets the object", async () => {
    const model = new ChatOpenAI({
      model: 'claude',
      apiKey: 'unused',
      configuration: { baseURL: gw.baseURL },
      maxRetries: 0,
    });
    const structured = model.withStructuredOutput(SCHEMA, { name: 'weather', method: 'jsonSchema' });
    expect(await structured.invoke('Weather in Paris as JSON')).toEqual({ city: 'Paris', temperature_c: 18 });
    const sent = upstream.requests[0]!.json as { output_config?: { format?: { type?: string } } };
    expect(sent.output_config?.format?.type).toBe('json_schema');
  });

  it.each([
    [{ response_format: { type: 'json_object' } }, 'response_format.type'],
    [{ n: 2 }, 'n'],
    [{ logprobs: true }, 'logprobs'],
    [{ top_logprobs: 3 }, 'top_logprobs'],
  ])('%j is a 400 unsupported_parameter naming %s, never a silent drop', async (extra, param) => {
    const err = await apiError(
      client.chat.completions.create({ model: 'claude', messages: hi, ...(extra as object) }),
    );
    const body = err.error as { code?: string; param?: string; type?: string };
    expect([err.status, body.code, body.param, body.type]).toEqual([
      400,
      'unsupported_parameter',
      param,
      'invalid_request_error',
    ]);
    expect(upstream.requests.length).toBe(0);
  });

  it('n: 1 and response_format text are fine', async () => {
    const r = await client.chat.completions.create({
      model: 'claude',
      messages: hi,
      n: 1,
      response_format: { type: 'text' },
    });
    expect(r.choices.length).toBe(1);
    expect((upstream.requests[0]!.json as Record<string, unknown>).output_config).toBeUndefined();
  });
});
