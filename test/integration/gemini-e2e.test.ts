import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/** The gemini adapter end to end: official OpenAI SDK -> gateway -> fake Generative Language API. */

const FIXTURES = new URL('../fixtures/gemini/', import.meta.url);
const fixtureText = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const fixtureJson = (name: string): unknown => JSON.parse(fixtureText(name));
/** A recorded .sse transcript as the fake's list of `data:` payloads. */
const sseData = (name: string): string[] =>
  fixtureText(name)
    .split(/\r?\n\r?\n/)
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice('data: '.length));

let fake: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  fake = await startFakeUpstream((_req, res) =>
    sendJson(res, 500, { error: { code: 500, message: 'unscripted' } }),
  );
  // Translation is under test here; retries have their own suite, so each error reaches the client as is.
  gw = await startGateway(`
routing: { retry: { attempts: 1 } }
providers:
  gemini: { type: gemini, base_url: ${fake.url}, api_key: test-key }
models:
  flash: { targets: [ { provider: gemini, model: gemini-2.0-flash } ] }
  embed: { targets: [ { provider: gemini, model: text-embedding-004 } ] }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await fake?.close();
});

beforeEach(() => {
  fake.requests.length = 0;
});

describe('gemini end to end', () => {
  it('non-streaming chat', async () => {
    fake.setHandler((_req, res) => sendJson(res, 200, fixtureJson('generate-text.json')));
    const completion = await client.chat.completions.create(
      {
        model: 'flash',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Why is the sky blue?' },
        ],
      },
      { headers: { 'x-request-id': 'e2e-text' } },
    );
    expect(completion).toEqual({
      id: 'chatcmpl-mVxRaKqlFe2Xz7IP5qy4mAQ',
      object: 'chat.completion',
      system_fingerprint: null,
      created: completion.created,
      model: 'gemini-2.0-flash',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'The sky is blue because of Rayleigh scattering.',
            refusal: null,
            annotations: [],
            // Thought parts come back as reasoning, not content.
            reasoning_content: 'Thinking about the sky...',
          },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: 12,
        completion_tokens: 13,
        total_tokens: 25,
        prompt_tokens_details: { cached_tokens: 8, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 4,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
    });
    expect(fake.requests.map((r) => [r.method, r.url, r.json])).toEqual([
      [
        'POST',
        '/v1beta/models/gemini-2.0-flash:generateContent',
        {
          systemInstruction: { parts: [{ text: 'Be brief.' }] },
          contents: [{ role: 'user', parts: [{ text: 'Why is the sky blue?' }] }],
        },
      ],
    ]);
  });

  it('streaming text', async () => {
    fake.setHandler((_req, res) => sendSse(res, { events: sseData('stream-text.sse') }));
    const stream = await client.chat.completions.create({
      model: 'flash',
      messages: [{ role: 'user', content: 'Say hello' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const finishes: Array<string | null> = [];
    let usage: unknown;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        if (c.finish_reason) finishes.push(c.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect({ text, finishes, usage }).toEqual({
      text: 'Hello, world!',
      finishes: ['stop'],
      usage: {
        prompt_tokens: 6,
        completion_tokens: 4,
        total_tokens: 10,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
    });
    expect(fake.requests.map((r) => r.url)).toEqual([
      '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse',
    ]);
  });

  it('a streamed tool call', async () => {
    fake.setHandler((_req, res) => sendSse(res, { events: sseData('stream-tool-call.sse') }));
    const stream = await client.chat.completions.create(
      {
        model: 'flash',
        messages: [{ role: 'user', content: 'Weather and time in Paris?' }],
        stream: true,
        tools: [
          {
            type: 'function',
            function: {
              name: 'get_weather',
              parameters: {
                type: 'object',
                properties: { city: { type: 'string' } },
                required: ['city'],
                additionalProperties: false,
              },
            },
          },
          {
            type: 'function',
            function: {
              name: 'get_time',
              parameters: { type: 'object', properties: { tz: { type: 'string' } } },
            },
          },
        ],
        tool_choice: 'required',
      },
      { headers: { 'x-request-id': 'e2e-tools' } },
    );
    const calls: Array<{ id: string; name: string; arguments: string }> = [];
    const finishes: string[] = [];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        for (const tc of c.delta.tool_calls ?? []) {
          calls[tc.index] ??= { id: '', name: '', arguments: '' };
          const slot = calls[tc.index]!;
          slot.id += tc.id ?? '';
          slot.name += tc.function?.name ?? '';
          slot.arguments += tc.function?.arguments ?? '';
        }
        if (c.finish_reason) finishes.push(c.finish_reason);
      }
    }
    expect({ calls, finishes }).toEqual({
      calls: [
        { id: 'call_e2e-tools_0', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { id: 'call_e2e-tools_1', name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
      ],
      finishes: ['tool_calls'],
    });
    expect(fake.requests).toHaveLength(1);
    const sent = fake.requests[0]!;
    expect([sent.method, sent.url, sent.headers['x-goog-api-key'], sent.json]).toEqual([
      'POST',
      '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse',
      'test-key',
      {
        contents: [{ role: 'user', parts: [{ text: 'Weather and time in Paris?' }] }],
        tools: [
          {
            functionDeclarations: [
              {
                name: 'get_weather',
                parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
              },
              { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } },
            ],
          },
        ],
        toolConfig: { functionCallingConfig: { mode: 'ANY' } },
      },
    ]);
    expect(sent.url).not.toContain('key=');
  });

  it('embeddings', async () => {
    fake.setHandler((_req, res) => sendJson(res, 200, fixtureJson('batch-embed.json')));
    // No encoding_format: the SDK asks for base64 and decodes it, which exercises the float32 encoding.
    const res = await client.embeddings.create({ model: 'embed', input: ['first', 'second'], dimensions: 3 });
    expect(res).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.5, -0.25, 0.125] },
        { object: 'embedding', index: 1, embedding: [1, 0, -1] },
      ],
      model: 'text-embedding-004',
      usage: { prompt_tokens: 0, total_tokens: 0 },
    });
    expect(fake.requests.map((r) => [r.url, r.headers['x-goog-api-key'], r.json])).toEqual([
      [
        '/v1beta/models/text-embedding-004:batchEmbedContents',
        'test-key',
        {
          requests: [
            {
              model: 'models/text-embedding-004',
              content: { parts: [{ text: 'first' }] },
              outputDimensionality: 3,
            },
            {
              model: 'models/text-embedding-004',
              content: { parts: [{ text: 'second' }] },
              outputDimensionality: 3,
            },
          ],
        },
      ],
    ]);
  });

  it('a 429 RESOURCE_EXHAUSTED reaches the SDK as a 429', async () => {
    fake.setHandler((_req, res) => sendJson(res, 429, fixtureJson('error-429.json'), { 'retry-after': '3' }));
    const err: unknown = await client.chat.completions
      .create({ model: 'flash', messages: [{ role: 'user', content: 'hi' }] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const apiErr = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect([apiErr.status, apiErr.headers.get('retry-after'), apiErr.error]).toEqual([
      429,
      '3',
      {
        message: "provider 'gemini' returned 429: Resource has been exhausted (e.g. check quota).",
        type: 'rate_limit_error',
        code: 'upstream_rate_limit',
        param: null,
      },
    ]);
    expect(fake.requests).toHaveLength(1);
    expect(gw.rawLog()).not.toContain('test-key');
  });
});
