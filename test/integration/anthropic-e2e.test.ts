import { readFileSync } from 'node:fs';
import { createParser } from 'eventsource-parser';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The anthropic provider end to end: the official OpenAI SDK talks to the real gateway, which talks to a
 * fake Anthropic server answering with recorded Messages API bodies and streams.
 */

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/anthropic/${name}`, import.meta.url), 'utf8');
}

function sseEvents(name: string): Array<{ event?: string; data: string }> {
  const events: Array<{ event?: string; data: string }> = [];
  const parser = createParser({
    onEvent: (e) => events.push(e.event === undefined ? { data: e.data } : { event: e.event, data: e.data }),
  });
  parser.feed(fixture(name));
  return events;
}

let upstream: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeUpstream((_req, res) => sendJson(res, 500, { error: 'no handler set' }));
  gw = await startGateway(`
providers:
  claude: { type: anthropic, base_url: ${upstream.url}, api_key: test-key }
models:
  haiku: { targets: [ { provider: claude, model: claude-3-5-haiku-latest } ] }
`);
  // Retries would hide what the gateway itself answered.
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

beforeEach(() => {
  upstream.requests.length = 0;
});

function expectAnthropicHeaders(): void {
  const h = upstream.requests[0]?.headers;
  expect({
    method: upstream.requests[0]?.method,
    url: upstream.requests[0]?.url,
    'x-api-key': h?.['x-api-key'],
    'anthropic-version': h?.['anthropic-version'],
    'content-type': h?.['content-type'],
    authorization: h?.authorization,
  }).toEqual({
    method: 'POST',
    url: '/v1/messages',
    'x-api-key': 'test-key',
    'anthropic-version': '2023-06-01',
    'content-type': 'application/json',
    authorization: undefined,
  });
}

describe('anthropic provider end to end', () => {
  it('non-streaming chat', async () => {
    upstream.setHandler((_req, res) =>
      sendJson(res, 200, JSON.parse(fixture('message-text.json')), { 'request-id': 'req_011CText' }),
    );
    const { data, response } = await client.chat.completions
      .create({
        model: 'haiku',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi' },
        ],
        max_tokens: 50,
        temperature: 0.2,
      })
      .withResponse();

    expect(data).toEqual({
      id: 'chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion',
      system_fingerprint: null,
      created: data.created,
      model: 'claude-3-5-haiku-20241022',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Hello! How can I help you today?',
            refusal: null,
            annotations: [],
          },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: 12,
        completion_tokens: 10,
        total_tokens: 22,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
    });
    expect(Math.abs(data.created - Date.now() / 1000)).toBeLessThan(60);
    expect(response.headers.get('x-upstream-request-id')).toBe('req_011CText');
    expect(response.headers.get('x-switchyard-provider')).toBe('claude');
    expect(response.headers.get('x-switchyard-model')).toBe('claude-3-5-haiku-latest');

    expect(upstream.requests).toHaveLength(1);
    expectAnthropicHeaders();
    expect(upstream.requests[0]?.json).toEqual({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 50,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 0.2,
    });
  });

  it('streaming text, with usage when the client asks for it', async () => {
    upstream.setHandler((_req, res) => sendSse(res, { events: sseEvents('stream-text.sse') }));
    const stream = await client.chat.completions.create({
      model: 'haiku',
      messages: [{ role: 'user', content: 'Say hello' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);

    const head = {
      id: 'chatcmpl-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY',
      object: 'chat.completion.chunk',
      created: chunks[0]?.created,
      model: 'claude-3-5-haiku-20241022',
    };
    expect(chunks).toEqual([
      // With include_usage, OpenAI puts `"usage": null` on every chunk before the usage chunk.
      {
        ...head,
        usage: null,
        choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
      },
      { ...head, usage: null, choices: [{ index: 0, delta: { content: 'Hello' }, finish_reason: null }] },
      { ...head, usage: null, choices: [{ index: 0, delta: { content: '!' }, finish_reason: null }] },
      { ...head, usage: null, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
      {
        ...head,
        choices: [],
        usage: {
          prompt_tokens: 25,
          completion_tokens: 15,
          total_tokens: 40,
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
          completion_tokens_details: {
            reasoning_tokens: 0,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0,
          },
        },
      },
    ]);

    expectAnthropicHeaders();
    expect(upstream.requests[0]?.json).toEqual({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'Say hello' }],
      stream: true,
    });
  });

  it('a streamed tool call, after a translated tool exchange', async () => {
    upstream.setHandler((_req, res) => sendSse(res, { events: sseEvents('stream-tool-use.sse') }));
    const stream = await client.chat.completions.create({
      model: 'haiku',
      messages: [
        { role: 'developer', content: 'Use tools.' },
        { role: 'user', content: 'What time is it in London?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'toolu_prev',
              type: 'function',
              function: { name: 'get_time', arguments: '{"tz":"Europe/London"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_prev', content: '09:30' },
        { role: 'user', content: 'Now weather and time in Paris.' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather for a city',
            parameters: {
              type: 'object',
              properties: { location: { type: 'string' } },
              required: ['location'],
            },
          },
        },
        { type: 'function', function: { name: 'get_time' } },
      ],
      tool_choice: 'required',
      parallel_tool_calls: false,
      stop: 'END',
      user: 'user-7',
      max_completion_tokens: 300,
      stream: true,
    });

    const calls: Array<{ id: string; name: string; arguments: string }> = [];
    let content = '';
    const finishReasons: Array<string | null> = [];
    let usageChunks = 0;
    for await (const c of stream) {
      if (c.usage) usageChunks++;
      for (const choice of c.choices) {
        content += choice.delta.content ?? '';
        finishReasons.push(choice.finish_reason);
        for (const tc of choice.delta.tool_calls ?? []) {
          const call = calls[tc.index] ?? { id: '', name: '', arguments: '' };
          calls[tc.index] = call;
          call.id += tc.id ?? '';
          call.name += tc.function?.name ?? '';
          call.arguments += tc.function?.arguments ?? '';
        }
      }
    }

    expect(content).toBe('Checking both.');
    expect(calls).toEqual([
      { id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', arguments: '{"location": "Paris"}' },
      { id: 'toolu_02Xy7bQk3ZpW9sLmNvR4tYu8', name: 'get_time', arguments: '{"tz": "Europe/Paris"}' },
    ]);
    expect(finishReasons.filter((f) => f !== null)).toEqual(['tool_calls']);
    // The client did not ask for usage, so the gateway strips the usage chunk.
    expect(usageChunks).toBe(0);

    expectAnthropicHeaders();
    expect(upstream.requests[0]?.json).toEqual({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 300,
      system: 'Use tools.',
      messages: [
        { role: 'user', content: 'What time is it in London?' },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'toolu_prev', name: 'get_time', input: { tz: 'Europe/London' } }],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_prev', content: '09:30' },
            { type: 'text', text: 'Now weather and time in Paris.' },
          ],
        },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather for a city',
          input_schema: {
            type: 'object',
            properties: { location: { type: 'string' } },
            required: ['location'],
          },
        },
        { name: 'get_time', input_schema: { type: 'object', properties: {} } },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      stop_sequences: ['END'],
      metadata: { user_id: 'user-7' },
      stream: true,
    });
  });

  it('a 529 overloaded_error from upstream reaches the client as 503', async () => {
    upstream.setHandler((_req, res) =>
      sendJson(res, 529, JSON.parse(fixture('error-overloaded.json')), {
        'request-id': 'req_011CSHoEeqs5C35K2UUqR7Fy',
      }),
    );
    const err: unknown = await client.chat.completions
      .create({ model: 'haiku', messages: [{ role: 'user', content: 'Hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const apiErr = err as InstanceType<typeof OpenAI.APIError>;
    expect({ status: apiErr.status, error: apiErr.error }).toEqual({
      status: 503,
      error: {
        message: "provider 'claude' returned 529: Overloaded",
        type: 'api_error',
        code: 'upstream_overloaded',
        param: null,
      },
    });
  });

  it('a 400 invalid_request_error from upstream reaches the client as 400 with the upstream message', async () => {
    upstream.setHandler((_req, res) => sendJson(res, 400, JSON.parse(fixture('error-invalid-request.json'))));
    const err: unknown = await client.chat.completions
      .create({ model: 'haiku', messages: [{ role: 'user', content: 'Hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const apiErr = err as InstanceType<typeof OpenAI.APIError>;
    expect({ status: apiErr.status, error: apiErr.error }).toEqual({
      status: 400,
      error: {
        message: "provider 'claude' returned 400: max_tokens: Field required",
        type: 'invalid_request_error',
        code: 'upstream_bad_request',
        param: null,
      },
    });
    expect(upstream.requests).toHaveLength(1);
  });
});
