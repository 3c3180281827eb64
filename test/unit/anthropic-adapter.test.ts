import { readFileSync } from 'node:fs';
import { createParser } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import { isGatewayError, isUpstreamError } from '../../src/errors/gateway-error.js';
import { anthropicAdapter } from '../../src/providers/anthropic/index.js';
import { adapterFor } from '../../src/providers/registry.js';
import type { AdapterContext, SseEvent, StreamTranslator } from '../../src/providers/types.js';
import type { ProviderSpec } from '../../src/types/config.js';
import type { ChatCompletionChunk, ChatCompletionRequest, ChatMessage } from '../../src/types/openai.js';

const NO_COMPLETION_DETAILS = {
  reasoning_tokens: 0,
  audio_tokens: 0,
  accepted_prediction_tokens: 0,
  rejected_prediction_tokens: 0,
};

// ---- helpers ----

const PROVIDER: ProviderSpec = {
  id: 'claude',
  type: 'anthropic',
  baseUrl: 'https://api.anthropic.com',
  apiKey: 'sk-ant-test',
  apiKeys: ['sk-ant-test'],
  keyCooldownMs: 60_000,
  headers: {},
  timeouts: { connectMs: 1000, headersMs: 1000, bodyMs: 1000 },
  anthropicVersion: '2023-06-01',
  defaultMaxTokens: 4096,
  mock: { reply: undefined, latencyMs: 0, chunkDelayMs: 0, faults: undefined },
};

function ctxWith(provider: Partial<ProviderSpec> = {}): AdapterContext {
  return {
    provider: { ...PROVIDER, ...provider },
    upstreamModel: 'claude-3-5-haiku-latest',
    requestId: 'req_gw_1',
    now: 1_700_000_000,
  };
}

const CTX = ctxWith();

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/anthropic/${name}`, import.meta.url), 'utf8');
}

function jsonFixture(name: string): unknown {
  return JSON.parse(fixture(name));
}

/** Parses a recorded .sse transcript with the same parser the upstream client uses. */
function sseFixture(name: string): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = createParser({ onEvent: (e) => events.push({ event: e.event, data: e.data }) });
  parser.feed(fixture(name));
  return events;
}

function ev(data: unknown): SseEvent {
  const type = (data as { type: string }).type;
  return { event: type, data: JSON.stringify(data) };
}

function translate(t: StreamTranslator, events: SseEvent[]): ChatCompletionChunk[] {
  return [...events.flatMap((e) => t.push(e)), ...t.end()];
}

function chat(messages: ChatMessage[], extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return { model: 'haiku', messages, ...extra };
}

function upstreamBody(req: ChatCompletionRequest, ctx: AdapterContext = CTX): unknown {
  const built = anthropicAdapter.buildChatRequest(req, ctx);
  return JSON.parse(built.body ?? 'null');
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

/** The client-visible fields of a GatewayError, plus the classification of an UpstreamError. */
function errorShape(err: unknown): Record<string, unknown> {
  if (!isGatewayError(err)) throw new Error(`not a GatewayError: ${String(err)}`);
  const shape: Record<string, unknown> = {
    status: err.status,
    code: err.code,
    type: err.type,
    param: err.param,
    message: err.message,
    headers: err.headers,
  };
  if (isUpstreamError(err)) {
    Object.assign(shape, {
      provider: err.provider,
      errorClass: err.errorClass,
      retryable: err.retryable,
      upstreamStatus: err.upstreamStatus,
      retryAfter: err.retryAfter,
      upstreamRequestId: err.upstreamRequestId,
    });
  }
  return shape;
}

const HELLO: ChatMessage = { role: 'user', content: 'Hello' };

// ---- registry and HTTP envelope ----

describe('anthropic adapter: registration and HTTP envelope', () => {
  it('is registered for provider type anthropic', () => {
    expect(adapterFor('anthropic')).toBe(anthropicAdapter);
    expect(anthropicAdapter.type).toBe('anthropic');
    expect(anthropicAdapter.requestIdHeader).toBe('request-id');
  });

  it('POSTs to <baseUrl>/v1/messages with x-api-key, anthropic-version and content-type', () => {
    const built = anthropicAdapter.buildChatRequest(chat([HELLO]), CTX);
    expect({ ...built, body: undefined }).toEqual({
      method: 'POST',
      url: 'https://api.anthropic.com/v1/messages',
      headers: {
        'content-type': 'application/json',
        'x-api-key': 'sk-ant-test',
        'anthropic-version': '2023-06-01',
      },
      body: undefined,
    });
  });

  it.each([
    ['https://api.anthropic.com', 'https://api.anthropic.com/v1/messages'],
    ['https://proxy.example/anthropic/v1', 'https://proxy.example/anthropic/v1/messages'],
    ['https://proxy.example/anthropic/', 'https://proxy.example/anthropic/v1/messages'],
    ['https://proxy.example/v1/', 'https://proxy.example/v1/messages'],
  ])('baseUrl %s -> %s', (baseUrl, url) => {
    expect(anthropicAdapter.buildChatRequest(chat([HELLO]), ctxWith({ baseUrl })).url).toBe(url);
  });

  it('sends configured extra headers and omits x-api-key when no key is configured', () => {
    const built = anthropicAdapter.buildChatRequest(
      chat([HELLO]),
      ctxWith({ apiKey: undefined, headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } }),
    );
    expect(built.headers).toEqual({
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'prompt-caching-2024-07-31',
    });
  });
});

// ---- request translation ----

describe('anthropic adapter: request translation', () => {
  it('translates a minimal request, defaulting max_tokens from the provider', () => {
    expect(upstreamBody(chat([HELLO]))).toEqual({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'Hello' }],
    });
  });

  it('moves system and developer messages to top-level system, concatenated, text parts joined', () => {
    const body = upstreamBody(
      chat([
        { role: 'system', content: 'You are terse.' },
        {
          role: 'developer',
          content: [
            { type: 'text', text: 'Answer in French.' },
            { type: 'text', text: 'No emoji.' },
          ],
        },
        HELLO,
        { role: 'system', content: '' },
      ]),
    );
    expect(body).toEqual({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 4096,
      system: 'You are terse.\n\nAnswer in French.\nNo emoji.',
      messages: [{ role: 'user', content: 'Hello' }],
    });
  });

  it('rejects non-text parts in a system message', () => {
    const err = caught(() =>
      upstreamBody(
        chat([
          { role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x.test/a.png' } }] },
          HELLO,
        ]),
      ),
    );
    expect(errorShape(err)).toEqual({
      status: 400,
      code: 'unsupported_content',
      type: 'invalid_request_error',
      param: 'messages[0].content[0]',
      message: 'system messages may contain text parts only',
      headers: {},
    });
  });

  it('merges consecutive same-role messages so roles alternate', () => {
    const body = upstreamBody(
      chat([
        { role: 'user', content: 'First.' },
        { role: 'user', content: [{ type: 'text', text: 'Second.' }] },
        { role: 'assistant', content: 'Reply one.' },
        { role: 'assistant', content: 'Reply two.' },
        { role: 'user', content: 'Third.' },
      ]),
    ) as { messages: unknown };
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'First.' },
          { type: 'text', text: 'Second.' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Reply one.' },
          { type: 'text', text: 'Reply two.' },
        ],
      },
      { role: 'user', content: 'Third.' },
    ]);
  });

  it('translates image parts: data URLs to base64 sources, http(s) URLs to url sources', () => {
    const body = upstreamBody(
      chat([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare these.' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
          ],
        },
      ]),
    ) as { messages: unknown };
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Compare these.' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
    ]);
  });

  it.each([
    ['data:image/png,%E0%A4%A', 'image_url is a malformed data: URL'],
    ['ftp://example.com/cat.jpg', 'image URLs must be http(s) or data: URLs'],
  ])('rejects image URL %s', (url, message) => {
    const err = caught(() =>
      upstreamBody(chat([{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }])),
    );
    expect(errorShape(err)).toEqual({
      status: 400,
      code: 'invalid_image_url',
      type: 'invalid_request_error',
      param: 'messages[0].content[0].image_url.url',
      message,
      headers: {},
    });
  });

  it('translates tools, defaulting input_schema and omitting a missing description', () => {
    const body = upstreamBody(
      chat([HELLO], {
        tools: [
          {
            type: 'function',
            function: {
              name: 'get_weather',
              description: 'Current weather',
              parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            },
          },
          { type: 'function', function: { name: 'get_time' } },
        ],
      }),
    ) as { tools: unknown; tool_choice?: unknown };
    expect(body.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Current weather',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
      { name: 'get_time', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(body.tool_choice).toBeUndefined();
  });

  const TOOLS: ChatCompletionRequest['tools'] = [{ type: 'function', function: { name: 'lookup' } }];

  it.each<[ChatCompletionRequest['tool_choice'], boolean | undefined, unknown]>([
    ['auto', undefined, { type: 'auto' }],
    ['required', undefined, { type: 'any' }],
    [{ type: 'function', function: { name: 'lookup' } }, undefined, { type: 'tool', name: 'lookup' }],
    ['none', undefined, { type: 'none' }],
    ['auto', false, { type: 'auto', disable_parallel_tool_use: true }],
    ['required', false, { type: 'any', disable_parallel_tool_use: true }],
    [
      { type: 'function', function: { name: 'lookup' } },
      false,
      { type: 'tool', name: 'lookup', disable_parallel_tool_use: true },
    ],
    [undefined, false, { type: 'auto', disable_parallel_tool_use: true }],
    ['none', false, { type: 'none' }],
    ['auto', true, { type: 'auto' }],
    [undefined, undefined, undefined],
  ])('tool_choice %j with parallel_tool_calls %s -> %j', (toolChoice, parallel, expected) => {
    const extra: Partial<ChatCompletionRequest> = { tools: TOOLS };
    if (toolChoice !== undefined) extra.tool_choice = toolChoice;
    if (parallel !== undefined) extra.parallel_tool_calls = parallel;
    const body = upstreamBody(chat([HELLO], extra)) as { tool_choice?: unknown };
    expect(body.tool_choice).toEqual(expected);
  });

  it('drops tool_choice when no tools are given (Anthropic rejects it)', () => {
    const body = upstreamBody(chat([HELLO], { tool_choice: 'required', parallel_tool_calls: false }));
    expect(body).toEqual({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'Hello' }],
    });
  });

  it('translates assistant tool_calls to tool_use and tool messages to one merged user turn', () => {
    const body = upstreamBody(
      chat([
        { role: 'user', content: 'Weather and time in Paris?' },
        {
          role: 'assistant',
          content: '',
          tool_calls: [
            {
              id: 'toolu_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'toolu_2', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18°C, cloudy' },
        { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: '14:05' }] },
        { role: 'tool', tool_call_id: 'toolu_2', content: null },
        { role: 'user', content: 'Thanks. Summarise.' },
      ]),
    ) as { messages: unknown };
    expect(body.messages).toEqual([
      { role: 'user', content: 'Weather and time in Paris?' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C, cloudy' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '14:05' }] },
          { type: 'tool_result', tool_use_id: 'toolu_2' },
          { type: 'text', text: 'Thanks. Summarise.' },
        ],
      },
    ]);
  });

  it('keeps assistant text before its tool_use blocks', () => {
    const body = upstreamBody(
      chat([
        HELLO,
        {
          role: 'assistant',
          content: 'Let me look.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'lookup', arguments: '{"q":1}' } },
          ],
        },
      ]),
    ) as { messages: unknown[] };
    expect(body.messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'text', text: 'Let me look.' },
        { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { q: 1 } },
      ],
    });
  });

  it.each([
    ['{"city": "Par', 'tool call arguments must be valid JSON'],
    ['["Paris"]', 'tool call arguments must be a JSON object'],
  ])('rejects tool call arguments %s with a 400 naming the param', (args, message) => {
    const err = caught(() =>
      upstreamBody(
        chat([
          { role: 'system', content: 'sys' },
          HELLO,
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'toolu_1', type: 'function', function: { name: 'a', arguments: '{}' } },
              { id: 'toolu_2', type: 'function', function: { name: 'b', arguments: args } },
            ],
          },
        ]),
      ),
    );
    expect(errorShape(err)).toEqual({
      status: 400,
      code: 'invalid_tool_call_arguments',
      type: 'invalid_request_error',
      param: 'messages[2].tool_calls[1].function.arguments',
      message,
      headers: {},
    });
  });

  it('rejects a tool message without tool_call_id', () => {
    const err = caught(() => upstreamBody(chat([HELLO, { role: 'tool', content: 'result' }])));
    expect(errorShape(err)).toEqual({
      status: 400,
      code: 'missing_required_parameter',
      type: 'invalid_request_error',
      param: 'messages[1].tool_call_id',
      message: 'tool messages require tool_call_id',
      headers: {},
    });
  });

  it.each<[ChatCompletionRequest['stop'], string[] | undefined]>([
    ['END', ['END']],
    [
      ['END', '###'],
      ['END', '###'],
    ],
    [[], undefined],
    [undefined, undefined],
  ])('stop %j -> stop_sequences %j', (stop, expected) => {
    const body = upstreamBody(chat([HELLO], stop === undefined ? {} : { stop })) as {
      stop_sequences?: unknown;
    };
    expect(body.stop_sequences).toEqual(expected);
  });

  it.each<[Partial<ChatCompletionRequest>, number]>([
    [{ max_tokens: 100 }, 100],
    [{ max_completion_tokens: 200 }, 200],
    [{ max_tokens: 100, max_completion_tokens: 200 }, 200],
    [{}, 4096],
  ])('max tokens %j -> max_tokens %d', (extra, expected) => {
    const body = upstreamBody(chat([HELLO], extra)) as { max_tokens: unknown };
    expect(body.max_tokens).toBe(expected);
  });

  it('uses the provider defaultMaxTokens when the request has none', () => {
    const body = upstreamBody(chat([HELLO]), ctxWith({ defaultMaxTokens: 1234 })) as { max_tokens: unknown };
    expect(body.max_tokens).toBe(1234);
  });

  it('passes temperature, top_p and stream through, maps user to metadata.user_id, drops OpenAI-only fields', () => {
    const body = upstreamBody(
      chat([HELLO], {
        temperature: 0,
        top_p: 0.9,
        stream: true,
        stream_options: { include_usage: true },
        user: 'user-42',
        seed: 7,
        presence_penalty: 0.5,
        logit_bias: { '50256': -100 },
      }),
    );
    expect(body).toEqual({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'Hello' }],
      temperature: 0,
      top_p: 0.9,
      metadata: { user_id: 'user-42' },
      stream: true,
    });
  });
});

// ---- response translation ----

describe('anthropic adapter: response translation', () => {
  it('translates a text response: blocks concatenated, upstream model, ctx.now, usage', () => {
    expect(anthropicAdapter.parseChatResponse(jsonFixture('message-text.json'), CTX)).toEqual({
      id: 'chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'claude-3-5-haiku-20241022',
      system_fingerprint: null,
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
        completion_tokens_details: NO_COMPLETION_DETAILS,
      },
    });
  });

  it('translates tool_use blocks to tool_calls, thinking to reasoning with its signature, counts cache tokens as prompt tokens', () => {
    expect(anthropicAdapter.parseChatResponse(jsonFixture('message-tool-use.json'), CTX)).toEqual({
      id: 'chatcmpl-msg_01Aq9w938a90dw8q',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'claude-3-5-sonnet-20241022',
      system_fingerprint: null,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: "I'll check both cities.",
            refusal: null,
            annotations: [],
            reasoning_content: 'The user wants weather for two cities.',
            thinking_blocks: [
              {
                type: 'thinking',
                thinking: 'The user wants weather for two cities.',
                signature: 'EqQBCgIYAhIM',
              },
            ],
            tool_calls: [
              {
                id: 'toolu_01A09q90qw90lq917835lq9',
                type: 'function',
                function: {
                  name: 'get_weather',
                  arguments: '{"location":"San Francisco, CA","unit":"celsius"}',
                },
              },
              {
                id: 'toolu_01B2c3d4e5f6g7h8i9j0k1l2',
                type: 'function',
                function: { name: 'get_time', arguments: '{}' },
              },
            ],
          },
          finish_reason: 'tool_calls',
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: 472 + 2048 + 100,
        completion_tokens: 91,
        total_tokens: 472 + 2048 + 100 + 91,
        prompt_tokens_details: { cached_tokens: 2048, audio_tokens: 0 },
        completion_tokens_details: NO_COMPLETION_DETAILS,
      },
    });
  });

  it('returns content null when there is no text block', () => {
    const res = anthropicAdapter.parseChatResponse(jsonFixture('message-tool-only.json'), CTX);
    expect(res.choices[0]?.message).toEqual({
      role: 'assistant',
      content: null,
      refusal: null,
      annotations: [],
      tool_calls: [
        {
          id: 'toolu_01Only',
          type: 'function',
          function: { name: 'lookup', arguments: '{"q":"switchyard"}' },
        },
      ],
    });
    expect(res.usage).toEqual({
      prompt_tokens: 30,
      completion_tokens: 12,
      total_tokens: 42,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: NO_COMPLETION_DETAILS,
    });
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['model_context_window_exceeded', 'length'],
    ['pause_turn', 'stop'],
  ])('stop_reason %s -> finish_reason %s', (stopReason, finish) => {
    const body = { ...(jsonFixture('message-text.json') as object), stop_reason: stopReason };
    expect(anthropicAdapter.parseChatResponse(body, CTX).choices[0]?.finish_reason).toBe(finish);
  });

  it('treats a 200 body that is not a message as a retryable invalid response', () => {
    const err = caught(() => anthropicAdapter.parseChatResponse({ hello: 'world' }, CTX));
    expect(errorShape(err)).toEqual({
      status: 502,
      code: 'upstream_invalid_response',
      type: 'api_error',
      param: null,
      message: "provider 'claude' returned an invalid response: the body is not an Anthropic message",
      headers: {},
      provider: 'claude',
      errorClass: 'invalid_response',
      retryable: true,
      upstreamStatus: 200,
      retryAfter: undefined,
      upstreamRequestId: undefined,
    });
  });
});

// ---- streaming ----

describe('anthropic adapter: stream translation', () => {
  const base = {
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
  } as const;

  it('translates a text stream: role chunk, content deltas, finish, then a usage chunk', () => {
    const t = anthropicAdapter.createStreamTranslator(chat([HELLO], { stream: true }), CTX);
    const head = {
      ...base,
      id: 'chatcmpl-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY',
      model: 'claude-3-5-haiku-20241022',
    };
    expect(translate(t, sseFixture('stream-text.sse'))).toEqual([
      { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: 'Hello' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: '!' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
      {
        ...head,
        choices: [],
        usage: {
          prompt_tokens: 25,
          completion_tokens: 15,
          total_tokens: 40,
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
          completion_tokens_details: NO_COMPLETION_DETAILS,
        },
      },
    ]);
  });

  it('translates tool_use blocks to tool_calls deltas indexed by tool-call ordinal, not block index', () => {
    const t = anthropicAdapter.createStreamTranslator(chat([HELLO], { stream: true }), CTX);
    const head = {
      ...base,
      id: 'chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U',
      model: 'claude-3-5-sonnet-20241022',
    };
    const choice = (delta: object, finish: string | null = null) => ({
      ...head,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    expect(translate(t, sseFixture('stream-tool-use.sse'))).toEqual([
      choice({ role: 'assistant', content: '' }),
      choice({ content: 'Checking both.' }),
      choice({
        tool_calls: [
          {
            index: 0,
            id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6',
            type: 'function',
            function: { name: 'get_weather', arguments: '' },
          },
        ],
      }),
      choice({ tool_calls: [{ index: 0, function: { arguments: '{"location":' } }] }),
      choice({ tool_calls: [{ index: 0, function: { arguments: ' "Paris"}' } }] }),
      choice({
        tool_calls: [
          {
            index: 1,
            id: 'toolu_02Xy7bQk3ZpW9sLmNvR4tYu8',
            type: 'function',
            function: { name: 'get_time', arguments: '' },
          },
        ],
      }),
      choice({ tool_calls: [{ index: 1, function: { arguments: '{"tz": "Europe/Paris"}' } }] }),
      choice({}, 'tool_calls'),
      {
        ...head,
        choices: [],
        usage: {
          prompt_tokens: 1472,
          completion_tokens: 89,
          total_tokens: 1561,
          prompt_tokens_details: { cached_tokens: 1000, audio_tokens: 0 },
          completion_tokens_details: NO_COMPLETION_DETAILS,
        },
      },
    ]);
  });

  it('takes cumulative input token counts from message_delta when the API sends them', () => {
    const t = anthropicAdapter.createStreamTranslator(chat([HELLO], { stream: true }), CTX);
    const chunks = translate(t, [
      ev({
        type: 'message_start',
        message: { id: 'msg_1', model: 'm', content: [], usage: { input_tokens: 5, output_tokens: 1 } },
      }),
      ev({
        type: 'message_delta',
        delta: { stop_reason: 'max_tokens', stop_sequence: null },
        usage: {
          input_tokens: 9,
          cache_read_input_tokens: 3,
          cache_creation_input_tokens: null,
          output_tokens: 7,
        },
      }),
      ev({ type: 'message_stop' }),
    ]);
    expect(chunks.slice(1)).toEqual([
      {
        ...base,
        id: 'chatcmpl-msg_1',
        model: 'm',
        choices: [{ index: 0, delta: {}, finish_reason: 'length' }],
      },
      {
        ...base,
        id: 'chatcmpl-msg_1',
        model: 'm',
        choices: [],
        usage: {
          prompt_tokens: 12,
          completion_tokens: 7,
          total_tokens: 19,
          prompt_tokens_details: { cached_tokens: 3, audio_tokens: 0 },
          completion_tokens_details: NO_COMPLETION_DETAILS,
        },
      },
    ]);
  });

  it('emits nothing for ping, content_block_stop and unknown event types; thinking as reasoning_content', () => {
    const t = anthropicAdapter.createStreamTranslator(chat([HELLO], { stream: true }), CTX);
    expect(t.push(ev({ type: 'ping' }))).toEqual([]);
    expect(
      t.push(
        ev({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } }),
      ),
    ).toEqual([]);
    expect(
      t
        .push(
          ev({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } }),
        )
        .map((c) => c.choices[0]?.delta),
    ).toEqual([{ reasoning_content: 'hmm' }]);
    expect(
      t
        .push(
          ev({ type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'SIG' } }),
        )
        .map((c) => c.choices[0]?.delta),
    ).toEqual([{ thinking_blocks: [{ type: 'thinking', thinking: '', signature: 'SIG' }] }]);
    expect(t.push(ev({ type: 'content_block_stop', index: 0 }))).toEqual([]);
    expect(t.push(ev({ type: 'some_future_event' }))).toEqual([]);
  });

  it('ignores events after message_stop and ends cleanly', () => {
    const t = anthropicAdapter.createStreamTranslator(chat([HELLO], { stream: true }), CTX);
    t.push(ev({ type: 'message_stop' }));
    expect(
      t.push(ev({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'late' } })),
    ).toEqual([]);
    expect(t.end()).toEqual([]);
  });

  it('throws an overloaded, retryable UpstreamError for an overloaded_error event mid-stream', () => {
    const t = anthropicAdapter.createStreamTranslator(chat([HELLO], { stream: true }), CTX);
    const events = sseFixture('stream-overloaded.sse');
    const last = events.pop()!;
    expect(events.flatMap((e) => t.push(e))).toHaveLength(2);
    expect(errorShape(caught(() => t.push(last)))).toEqual({
      status: 503,
      code: 'upstream_overloaded',
      type: 'api_error',
      param: null,
      message: "provider 'claude' returned 529: Overloaded",
      headers: {},
      provider: 'claude',
      errorClass: 'overloaded',
      retryable: true,
      upstreamStatus: 529,
      retryAfter: undefined,
      upstreamRequestId: undefined,
    });
  });

  it.each([
    ['rate_limit_error', 'rate_limit', true, 429, 429],
    ['api_error', 'server_error', true, 502, 500],
    ['invalid_request_error', 'bad_request', false, 400, 400],
    ['something_new_error', 'server_error', true, 502, 500],
  ])('classifies an in-stream %s as %s', (type, errorClass, retryable, status, upstreamStatus) => {
    const t = anthropicAdapter.createStreamTranslator(chat([HELLO], { stream: true }), CTX);
    const err = caught(() => t.push(ev({ type: 'error', error: { type, message: 'boom' } })));
    expect(isUpstreamError(err)).toBe(true);
    const shape = errorShape(err);
    expect({
      errorClass: shape.errorClass,
      retryable: shape.retryable,
      status: shape.status,
      upstreamStatus: shape.upstreamStatus,
    }).toEqual({ errorClass, retryable, status, upstreamStatus });
  });

  it('throws stream_interrupted when the stream ends before message_stop', () => {
    const t = anthropicAdapter.createStreamTranslator(chat([HELLO], { stream: true }), CTX);
    expect(sseFixture('stream-truncated.sse').flatMap((e) => t.push(e))).toHaveLength(2);
    expect(errorShape(caught(() => t.end()))).toEqual({
      status: 502,
      code: 'upstream_stream_interrupted',
      type: 'api_error',
      param: null,
      message: "stream from provider 'claude' was interrupted: stream ended before message_stop",
      headers: {},
      provider: 'claude',
      errorClass: 'stream_interrupted',
      retryable: false,
      upstreamStatus: undefined,
      retryAfter: undefined,
      upstreamRequestId: undefined,
    });
  });

  it('throws stream_interrupted for malformed JSON in an event', () => {
    const t = anthropicAdapter.createStreamTranslator(chat([HELLO], { stream: true }), CTX);
    const err = caught(() => t.push({ event: 'content_block_delta', data: '{"type": "content_bl' }));
    expect(errorShape(err)).toEqual({
      status: 502,
      code: 'upstream_stream_interrupted',
      type: 'api_error',
      param: null,
      message: "stream from provider 'claude' was interrupted: malformed JSON in stream event",
      headers: {},
      provider: 'claude',
      errorClass: 'stream_interrupted',
      retryable: false,
      upstreamStatus: undefined,
      retryAfter: undefined,
      upstreamRequestId: undefined,
    });
  });
});

// ---- errors ----

describe('anthropic adapter: error classification', () => {
  it('classifies 529 overloaded_error as overloaded and retryable (client sees 503)', () => {
    const err = anthropicAdapter.parseError(
      {
        status: 529,
        body: fixture('error-overloaded.json'),
        headers: { 'request-id': 'req_011CSHoEeqs5C35K2UUqR7Fy' },
      },
      CTX,
    );
    expect(errorShape(err)).toEqual({
      status: 503,
      code: 'upstream_overloaded',
      type: 'api_error',
      param: null,
      message: "provider 'claude' returned 529: Overloaded",
      headers: {},
      provider: 'claude',
      errorClass: 'overloaded',
      retryable: true,
      upstreamStatus: 529,
      retryAfter: undefined,
      upstreamRequestId: 'req_011CSHoEeqs5C35K2UUqR7Fy',
    });
  });

  it('keeps a 400 invalid_request_error a non-retryable 400 with the upstream message', () => {
    const err = anthropicAdapter.parseError(
      {
        status: 400,
        body: fixture('error-invalid-request.json'),
        headers: { 'request-id': 'req_018EeWyXxfu5pfWkrYcMdjWG' },
      },
      CTX,
    );
    expect(errorShape(err)).toEqual({
      status: 400,
      code: 'upstream_bad_request',
      type: 'invalid_request_error',
      param: null,
      message: "provider 'claude' returned 400: max_tokens: Field required",
      headers: {},
      provider: 'claude',
      errorClass: 'bad_request',
      retryable: false,
      upstreamStatus: 400,
      retryAfter: undefined,
      upstreamRequestId: 'req_018EeWyXxfu5pfWkrYcMdjWG',
    });
  });

  it('classifies "prompt is too long" as context_length', () => {
    const err = anthropicAdapter.parseError(
      { status: 400, body: fixture('error-prompt-too-long.json'), headers: {} },
      CTX,
    );
    expect(errorShape(err)).toEqual({
      status: 400,
      code: 'upstream_context_length',
      type: 'invalid_request_error',
      param: null,
      message: "provider 'claude' returned 400: prompt is too long: 208394 tokens > 200000 maximum",
      headers: {},
      provider: 'claude',
      errorClass: 'context_length',
      retryable: false,
      upstreamStatus: 400,
      retryAfter: undefined,
      upstreamRequestId: undefined,
    });
  });

  it('classifies 429 rate_limit_error as rate_limit and relays retry-after', () => {
    const err = anthropicAdapter.parseError(
      {
        status: 429,
        body: fixture('error-rate-limit.json'),
        headers: { 'retry-after': '30', 'request-id': 'req_rl' },
      },
      CTX,
    );
    expect(errorShape(err)).toEqual({
      status: 429,
      code: 'upstream_rate_limit',
      type: 'rate_limit_error',
      param: null,
      message:
        "provider 'claude' returned 429: This request would exceed the rate limit for your organization of 50 requests per minute.",
      headers: { 'retry-after': '30' },
      provider: 'claude',
      errorClass: 'rate_limit',
      retryable: true,
      upstreamStatus: 429,
      retryAfter: 30,
      upstreamRequestId: 'req_rl',
    });
  });

  it('relays a short non-JSON body from a proxy as the message', () => {
    const err = anthropicAdapter.parseError({ status: 502, body: 'Bad Gateway', headers: {} }, CTX);
    expect(errorShape(err)).toEqual({
      status: 502,
      code: 'upstream_server_error',
      type: 'api_error',
      param: null,
      message: "provider 'claude' returned 502: Bad Gateway",
      headers: {},
      provider: 'claude',
      errorClass: 'server_error',
      retryable: true,
      upstreamStatus: 502,
      retryAfter: undefined,
      upstreamRequestId: undefined,
    });
  });
});

// ---- embeddings ----

describe('anthropic adapter: embeddings', () => {
  it('declares no embeddings support and rejects embeddings requests', () => {
    expect(anthropicAdapter.supportsEmbeddings).toBe(false);
    const err = caught(() => anthropicAdapter.buildEmbeddingsRequest({ model: 'x', input: 'hi' }, CTX));
    expect(errorShape(err)).toEqual({
      status: 400,
      code: 'embeddings_not_supported',
      type: 'invalid_request_error',
      param: 'model',
      message: "provider 'claude' (anthropic) does not support embeddings",
      headers: {},
    });
  });
});
