import { readFileSync } from 'node:fs';
import { createParser } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import { GatewayError, UpstreamError } from '../../src/errors/gateway-error.js';
import { geminiAdapter } from '../../src/providers/gemini/index.js';
import { toGeminiSchema } from '../../src/providers/gemini/schema.js';
import { ADAPTERS } from '../../src/providers/registry.js';
import type { AdapterContext, SseEvent } from '../../src/providers/types.js';
import type { ProviderSpec } from '../../src/types/config.js';
import type { ChatCompletionChunk, ChatCompletionRequest, ChatMessage } from '../../src/types/openai.js';

/** OpenAI's usage shape with both detail objects, as translated answers carry it (no cache, no thinking). */
function usage(prompt: number, completion: number, total: number) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: total,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

const FIXTURES = new URL('../fixtures/gemini/', import.meta.url);
const fixtureText = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const fixtureJson = (name: string): unknown => JSON.parse(fixtureText(name));

function provider(overrides: Partial<ProviderSpec> = {}): ProviderSpec {
  return {
    id: 'gem',
    type: 'gemini',
    baseUrl: 'https://generativelanguage.googleapis.com',
    apiKey: 'AIza-test-key',
    apiKeys: ['AIza-test-key'],
    keyCooldownMs: 60_000,
    headers: {},
    timeouts: { connectMs: 1000, headersMs: 1000, bodyMs: 1000 },
    anthropicVersion: '2023-06-01',
    defaultMaxTokens: 4096,
    mock: { reply: undefined, latencyMs: 0, chunkDelayMs: 0, faults: undefined },
    ...overrides,
  };
}

function ctx(overrides: Partial<AdapterContext> = {}): AdapterContext {
  return {
    provider: provider(),
    upstreamModel: 'gemini-2.0-flash',
    requestId: 'req1',
    now: 1_700_000_000,
    ...overrides,
  };
}

function chat(messages: ChatMessage[], extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return { model: 'flash', messages, ...extra };
}

function body(req: ChatCompletionRequest, c: AdapterContext = ctx()): unknown {
  const http = geminiAdapter.buildChatRequest(req, c);
  return JSON.parse(http.body ?? 'null');
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

/** Frames a recorded transcript exactly as the HTTP client does (eventsource-parser). */
function sseEvents(transcript: string): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = createParser({ onEvent: (ev) => events.push({ event: ev.event, data: ev.data }) });
  parser.feed(transcript);
  return events;
}

function translate(transcript: string, c: AdapterContext = ctx()): ChatCompletionChunk[] {
  const t = geminiAdapter.createStreamTranslator(chat([], { stream: true }), c);
  const out: ChatCompletionChunk[] = [];
  for (const ev of sseEvents(transcript)) out.push(...t.push(ev));
  out.push(...t.end());
  return out;
}

const chunkBase = (id: string) => ({
  id,
  object: 'chat.completion.chunk' as const,
  created: 1_700_000_000,
  model: 'gemini-2.0-flash',
});

describe('gemini adapter: registry', () => {
  it('is registered under its provider type', () => {
    expect(ADAPTERS.gemini).toBe(geminiAdapter);
    expect(geminiAdapter.type).toBe('gemini');
    expect(geminiAdapter.supportsEmbeddings).toBe(true);
    // Gemini documents no request-id response header.
    expect(geminiAdapter.requestIdHeader).toBe('');
  });
});

describe('gemini adapter: HTTP request', () => {
  it('POSTs generateContent with the key in x-goog-api-key, never in the URL', () => {
    const c = ctx({ provider: provider({ headers: { 'x-extra': 'yes' } }) });
    const http = geminiAdapter.buildChatRequest(chat([{ role: 'user', content: 'hi' }]), c);
    expect(http).toEqual({
      method: 'POST',
      url: 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent',
      headers: { 'content-type': 'application/json', 'x-extra': 'yes', 'x-goog-api-key': 'AIza-test-key' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
    });
    expect(http.url).not.toContain('AIza');
  });

  it('uses streamGenerateContent?alt=sse for streams', () => {
    const http = geminiAdapter.buildChatRequest(
      chat([{ role: 'user', content: 'hi' }], { stream: true }),
      ctx(),
    );
    expect(http.url).toBe(
      'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse',
    );
  });

  it('accepts a models/ prefixed model and omits the key header when no key is configured', () => {
    const c = ctx({ upstreamModel: 'models/gemini-2.5-pro', provider: provider({ apiKey: undefined }) });
    const http = geminiAdapter.buildChatRequest(chat([{ role: 'user', content: 'hi' }]), c);
    expect(http.url).toBe(
      'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent',
    );
    expect(http.headers).toEqual({ 'content-type': 'application/json' });
  });
});

describe('gemini adapter: messages', () => {
  it('maps roles, moves system/developer to systemInstruction and merges same-role neighbours', () => {
    const req = chat([
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'one' },
      { role: 'user', content: [{ type: 'text', text: 'two' }] },
      { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
      { role: 'assistant', content: 'un, deux' },
      { role: 'assistant', content: '' },
      { role: 'user', content: 'three' },
    ]);
    expect(body(req)).toEqual({
      systemInstruction: { parts: [{ text: 'Be terse.' }, { text: 'Answer in French.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'one' }, { text: 'two' }] },
        { role: 'model', parts: [{ text: 'un, deux' }] },
        { role: 'user', parts: [{ text: 'three' }] },
      ],
    });
  });

  it('turns data: URLs into inlineData and http(s) URLs into fileData with a guessed mimeType', () => {
    const req = chat([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'compare' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.webp?size=large#x' } },
          { type: 'image_url', image_url: { url: 'https://example.com/photo.JPG' } },
          { type: 'image_url', image_url: { url: 'https://example.com/render?id=7', detail: 'high' } },
          { type: 'image_url', image_url: { url: 'data:image/svg+xml,%3Csvg%2F%3E' } },
        ],
      },
    ]);
    expect(body(req)).toEqual({
      contents: [
        {
          role: 'user',
          parts: [
            { text: 'compare' },
            { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
            { fileData: { mimeType: 'image/webp', fileUri: 'https://example.com/cat.webp?size=large#x' } },
            { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/photo.JPG' } },
            { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/render?id=7' } },
            { inlineData: { mimeType: 'image/svg+xml', data: Buffer.from('<svg/>').toString('base64') } },
          ],
        },
      ],
    });
  });

  it('rejects image URLs that are neither data: nor http(s)', () => {
    const err = thrown(() =>
      body(chat([{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }])),
    );
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).toBody()).toEqual({
      error: {
        message: 'image URLs must be http(s) or data: URLs',
        type: 'invalid_request_error',
        code: 'invalid_image_url',
        param: 'messages[0].content[0].image_url.url',
      },
    });
  });

  it('rejects a malformed percent-encoded data: URL with a 400, not a crash', () => {
    const err = thrown(() =>
      body(
        chat([
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: 'data:image/svg+xml,%E0%A4%A' } }],
          },
        ]),
      ),
    );
    expect((err as GatewayError).toBody()).toEqual({
      error: {
        message: 'image_url is a malformed data: URL',
        type: 'invalid_request_error',
        code: 'invalid_image_url',
        param: 'messages[0].content[0].image_url.url',
      },
    });
  });

  it('rejects images in a system message', () => {
    const err = thrown(() =>
      body(
        chat([{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x/a.png' } }] }]),
      ),
    );
    expect((err as GatewayError).status).toBe(400);
    expect((err as GatewayError).param).toBe('messages[0].content[0]');
    expect((err as GatewayError).code).toBe('unsupported_content');
  });
});

describe('gemini adapter: generation config', () => {
  it('maps sampling parameters into generationConfig', () => {
    const req = chat([{ role: 'user', content: 'hi' }], {
      temperature: 0.2,
      top_p: 0.9,
      max_tokens: 100,
      stop: 'END',
      n: 2,
      seed: 42,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      user: 'ignored',
    });
    expect(body(req)).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
      generationConfig: {
        temperature: 0.2,
        topP: 0.9,
        maxOutputTokens: 100,
        stopSequences: ['END'],
        candidateCount: 2,
        seed: 42,
        presencePenalty: 0.5,
        frequencyPenalty: -0.5,
      },
    });
  });

  it('prefers max_completion_tokens and passes stop arrays through', () => {
    const req = chat([{ role: 'user', content: 'hi' }], {
      max_tokens: 100,
      max_completion_tokens: 50,
      stop: ['a', 'b'],
      temperature: 0,
    });
    expect((body(req) as { generationConfig: unknown }).generationConfig).toEqual({
      temperature: 0,
      maxOutputTokens: 50,
      stopSequences: ['a', 'b'],
    });
  });

  it('maps json_object to responseMimeType', () => {
    const req = chat([{ role: 'user', content: 'hi' }], { response_format: { type: 'json_object' } });
    expect((body(req) as { generationConfig: unknown }).generationConfig).toEqual({
      responseMimeType: 'application/json',
    });
  });

  it('maps json_schema to responseSchema without the keys Gemini rejects', () => {
    const req = chat([{ role: 'user', content: 'hi' }], {
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'person',
          strict: true,
          schema: {
            $schema: 'http://json-schema.org/draft-07/schema#',
            type: 'object',
            additionalProperties: false,
            properties: {
              name: { type: 'string', description: 'full name', minLength: 1 },
              kind: { const: 'person' },
              nickname: { type: ['string', 'null'] },
              tags: { type: 'array', items: { type: 'string', additionalProperties: false }, maxItems: 3 },
              pet: {
                anyOf: [
                  {
                    type: 'object',
                    properties: { additionalProperties: { type: 'string' } },
                    additionalProperties: false,
                  },
                  { type: 'null' },
                ],
              },
            },
            required: ['name', 'kind', 'nickname', 'tags', 'pet'],
          },
        },
      },
    });
    expect((body(req) as { generationConfig: unknown }).generationConfig).toEqual({
      responseMimeType: 'application/json',
      responseSchema: {
        type: 'object',
        properties: {
          name: { type: 'string', description: 'full name', minLength: 1 },
          kind: { enum: ['person'] },
          nickname: { type: 'string', nullable: true },
          tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
          // A property that happens to be *named* additionalProperties is data, not a keyword.
          pet: {
            anyOf: [
              { type: 'object', properties: { additionalProperties: { type: 'string' } } },
              { type: 'null' },
            ],
          },
        },
        required: ['name', 'kind', 'nickname', 'tags', 'pet'],
      },
    });
  });

  it('toGeminiSchema drops $ref/$defs/oneOf and keeps documented keys', () => {
    expect(
      toGeminiSchema({
        type: 'integer',
        format: 'int32',
        minimum: 0,
        maximum: 9,
        default: 1,
        title: 'digit',
        $ref: '#/$defs/x',
        $defs: { x: {} },
        oneOf: [],
        examples: [1],
      }),
    ).toEqual({ type: 'integer', format: 'int32', minimum: 0, maximum: 9, default: 1, title: 'digit' });
  });
});

describe('gemini adapter: tools', () => {
  const weather = {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Weather for a city',
      strict: true,
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' } },
        required: ['city'],
        additionalProperties: false,
      },
    },
  };
  const now = {
    type: 'function' as const,
    function: { name: 'now', parameters: { type: 'object', properties: {} } },
  };

  it('maps tools to functionDeclarations, dropping empty object parameters', () => {
    const req = chat([{ role: 'user', content: 'hi' }], { tools: [weather, now], tool_choice: 'auto' });
    expect(body(req)).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
      tools: [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'Weather for a city',
              parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            },
            { name: 'now' },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: 'AUTO' } },
    });
  });

  it.each([
    ['none', { mode: 'NONE' }],
    ['required', { mode: 'ANY' }],
    [
      { type: 'function', function: { name: 'get_weather' } },
      { mode: 'ANY', allowedFunctionNames: ['get_weather'] },
    ],
  ] as const)('maps tool_choice %j', (choice, expected) => {
    const req = chat([{ role: 'user', content: 'hi' }], { tools: [weather], tool_choice: choice });
    expect((body(req) as { toolConfig: unknown }).toolConfig).toEqual({ functionCallingConfig: expected });
  });

  it('maps assistant tool_calls to functionCall and tool results to merged functionResponse parts', () => {
    const req = chat([
      { role: 'user', content: 'weather and time in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_a',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          { id: 'call_b', type: 'function', function: { name: 'now', arguments: '' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_a', content: '{"temp":21,"sky":"clear"}' },
      { role: 'tool', tool_call_id: 'call_b', content: [{ type: 'text', text: '14:05' }] },
      { role: 'tool', tool_call_id: 'call_a', content: '[1,2]' },
      { role: 'assistant', content: 'Sunny, 21°C, 14:05.' },
    ]);
    expect(body(req)).toEqual({
      contents: [
        { role: 'user', parts: [{ text: 'weather and time in Paris?' }] },
        {
          role: 'model',
          parts: [
            { functionCall: { name: 'get_weather', args: { city: 'Paris' } } },
            { functionCall: { name: 'now', args: {} } },
          ],
        },
        {
          role: 'user',
          parts: [
            { functionResponse: { name: 'get_weather', response: { temp: 21, sky: 'clear' } } },
            { functionResponse: { name: 'now', response: { content: '14:05' } } },
            { functionResponse: { name: 'get_weather', response: { content: '[1,2]' } } },
          ],
        },
        { role: 'model', parts: [{ text: 'Sunny, 21°C, 14:05.' }] },
      ],
    });
  });

  it('rejects tool call arguments that are not JSON, naming the exact param', () => {
    const err = thrown(() =>
      body(
        chat([
          { role: 'user', content: 'x' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } },
              { id: 'b', type: 'function', function: { name: 'g', arguments: '{"city":' } },
            ],
          },
        ]),
      ),
    );
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).toBody()).toEqual({
      error: {
        message: 'tool call arguments must be valid JSON',
        type: 'invalid_request_error',
        code: 'invalid_tool_call_arguments',
        param: 'messages[1].tool_calls[1].function.arguments',
      },
    });
    expect((err as GatewayError).status).toBe(400);
  });

  it('rejects a tool message whose tool_call_id matches no earlier call', () => {
    const err = thrown(() =>
      body(
        chat([
          { role: 'user', content: 'x' },
          { role: 'tool', tool_call_id: 'nope', content: 'r' },
        ]),
      ),
    );
    expect((err as GatewayError).status).toBe(400);
    expect((err as GatewayError).param).toBe('messages[1].tool_call_id');
  });
});

describe('gemini adapter: chat response', () => {
  it('translates a text response, thought parts as reasoning_content, with full usage', () => {
    expect(geminiAdapter.parseChatResponse(fixtureJson('generate-text.json'), ctx())).toEqual({
      id: 'chatcmpl-mVxRaKqlFe2Xz7IP5qy4mAQ',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gemini-2.0-flash',
      system_fingerprint: null,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'The sky is blue because of Rayleigh scattering.',
            refusal: null,
            annotations: [],
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
  });

  it('translates function calls into tool_calls with deterministic ids and finish_reason tool_calls', () => {
    expect(geminiAdapter.parseChatResponse(fixtureJson('generate-tool-calls.json'), ctx())).toEqual({
      id: 'chatcmpl-resp-tools-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gemini-2.0-flash',
      system_fingerprint: null,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Checking both cities.',
            refusal: null,
            annotations: [],
            tool_calls: [
              {
                id: 'call_req1_0',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
              },
              {
                id: 'call_req1_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Tokyo"}' },
              },
            ],
          },
          finish_reason: 'tool_calls',
          logprobs: null,
        },
      ],
      usage: usage(40, 22, 62),
    });
  });

  it('maps multiple candidates to choices, with length and content_filter finish reasons', () => {
    expect(geminiAdapter.parseChatResponse(fixtureJson('generate-multi-candidate.json'), ctx())).toEqual({
      id: 'chatcmpl-req1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gemini-2.0-flash',
      system_fingerprint: null,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Roses are red', refusal: null, annotations: [] },
          finish_reason: 'stop',
          logprobs: null,
        },
        {
          index: 1,
          message: { role: 'assistant', content: 'Violets are', refusal: null, annotations: [] },
          finish_reason: 'length',
          logprobs: null,
        },
        {
          index: 2,
          message: { role: 'assistant', content: null, refusal: null, annotations: [] },
          finish_reason: 'content_filter',
          logprobs: null,
        },
      ],
      usage: usage(5, 7, 12),
    });
  });

  it.each([
    ['STOP', 'stop'],
    ['MAX_TOKENS', 'length'],
    ['SAFETY', 'content_filter'],
    ['RECITATION', 'content_filter'],
    ['BLOCKLIST', 'content_filter'],
    ['PROHIBITED_CONTENT', 'content_filter'],
    ['SPII', 'content_filter'],
    ['OTHER', 'stop'],
    ['MALFORMED_FUNCTION_CALL', 'stop'],
  ])('maps finishReason %s to %s', (reason, expected) => {
    const res = {
      candidates: [{ content: { parts: [{ text: 'x' }], role: 'model' }, finishReason: reason }],
    };
    expect(geminiAdapter.parseChatResponse(res, ctx()).choices[0]?.finish_reason).toBe(expected);
  });

  it('turns a blocked prompt into a content_policy UpstreamError (400)', () => {
    const err = thrown(() => geminiAdapter.parseChatResponse(fixtureJson('generate-blocked.json'), ctx()));
    expect(err).toBeInstanceOf(UpstreamError);
    const u = err as UpstreamError;
    expect({ status: u.status, errorClass: u.errorClass, retryable: u.retryable, code: u.code }).toEqual({
      status: 400,
      errorClass: 'content_policy',
      retryable: false,
      code: 'upstream_content_policy',
    });
    expect(u.message).toBe(
      "provider 'gem' returned 400: the prompt was blocked by Gemini (blockReason SAFETY)",
    );
  });

  it('rejects a body that is not a GenerateContentResponse as an upstream failure', () => {
    const err = thrown(() => geminiAdapter.parseChatResponse('nope', ctx()));
    expect((err as UpstreamError).errorClass).toBe('invalid_response');
    expect((err as UpstreamError).status).toBe(502);
  });
});

describe('gemini adapter: stream translation', () => {
  it('translates a text stream: role first, deltas, finish chunk, then a usage chunk', () => {
    const base = chunkBase('chatcmpl-strm-text-1');
    expect(translate(fixtureText('stream-text.sse'))).toEqual([
      {
        ...base,
        choices: [{ index: 0, delta: { role: 'assistant', content: 'Hello' }, finish_reason: null }],
      },
      { ...base, choices: [{ index: 0, delta: { content: ', world' }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { content: '!' }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
      { ...base, choices: [], usage: usage(6, 4, 10) },
    ]);
  });

  it('emits function calls as complete tool_calls deltas and finishes with tool_calls', () => {
    const base = chunkBase('chatcmpl-strm-tools-1');
    expect(translate(fixtureText('stream-tool-call.sse'))).toEqual([
      {
        ...base,
        choices: [
          {
            index: 0,
            delta: {
              role: 'assistant',
              tool_calls: [
                {
                  index: 0,
                  id: 'call_req1_0',
                  type: 'function',
                  function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
                },
                {
                  index: 1,
                  id: 'call_req1_1',
                  type: 'function',
                  function: { name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
                },
              ],
            },
            finish_reason: null,
          },
        ],
      },
      { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
      { ...base, choices: [], usage: usage(30, 12, 42) },
    ]);
  });

  it('continues tool_calls indexes across events', () => {
    const t = geminiAdapter.createStreamTranslator(chat([]), ctx());
    const ev = (name: string, finish?: string): SseEvent => ({
      event: undefined,
      data: JSON.stringify({
        candidates: [
          { content: { role: 'model', parts: [{ functionCall: { name, args: {} } }] }, finishReason: finish },
        ],
        responseId: 'r',
      }),
    });
    const deltas = [...t.push(ev('a')), ...t.push(ev('b', 'STOP')), ...t.end()].map(
      (c) => c.choices[0]?.delta.tool_calls,
    );
    expect(deltas).toEqual([
      [{ index: 0, id: 'call_req1_0', type: 'function', function: { name: 'a', arguments: '{}' } }],
      [{ index: 1, id: 'call_req1_1', type: 'function', function: { name: 'b', arguments: '{}' } }],
      undefined,
    ]);
  });

  it('gives a candidate that is filtered before any output a role on its finish chunk', () => {
    const t = geminiAdapter.createStreamTranslator(chat([]), ctx());
    const out = t.push({
      event: undefined,
      data: JSON.stringify({ candidates: [{ finishReason: 'SAFETY', index: 0 }] }),
    });
    expect([...out, ...t.end()]).toEqual([
      {
        ...chunkBase('chatcmpl-req1'),
        choices: [{ index: 0, delta: { role: 'assistant' }, finish_reason: 'content_filter' }],
      },
    ]);
  });

  it('throws an UpstreamError for an error event, classified from its status', () => {
    const t = geminiAdapter.createStreamTranslator(chat([]), ctx());
    const events = sseEvents(fixtureText('stream-error.sse'));
    expect(t.push(events[0]!)).toEqual([
      {
        ...chunkBase('chatcmpl-strm-err'),
        choices: [{ index: 0, delta: { role: 'assistant', content: 'Once upon' }, finish_reason: null }],
      },
    ]);
    const err = thrown(() => t.push(events[1]!));
    expect(err).toBeInstanceOf(UpstreamError);
    const u = err as UpstreamError;
    expect({ status: u.status, errorClass: u.errorClass, message: u.message }).toEqual({
      status: 503,
      errorClass: 'overloaded',
      message: "provider 'gem' returned 503: The model is overloaded. Please try again later.",
    });
  });

  it('throws stream_interrupted when the stream ends without a finishReason', () => {
    const err = thrown(() => translate(fixtureText('stream-cut.sse')));
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).errorClass).toBe('stream_interrupted');
    expect((err as UpstreamError).message).toBe(
      "stream from provider 'gem' was interrupted: stream ended without a finishReason",
    );
  });

  it('throws stream_interrupted for malformed JSON and content_policy for a blocked prompt', () => {
    const t = geminiAdapter.createStreamTranslator(chat([]), ctx());
    expect((thrown(() => t.push({ event: undefined, data: '{"cand' })) as UpstreamError).errorClass).toBe(
      'stream_interrupted',
    );
    const blocked = thrown(() => t.push({ event: undefined, data: fixtureText('generate-blocked.json') }));
    expect((blocked as UpstreamError).errorClass).toBe('content_policy');
  });
});

describe('gemini adapter: embeddings', () => {
  it('builds batchEmbedContents with one request per input', () => {
    const c = ctx({ upstreamModel: 'text-embedding-004' });
    expect(
      geminiAdapter.buildEmbeddingsRequest({ model: 'emb', input: ['a', 'b'], dimensions: 256 }, c),
    ).toEqual({
      method: 'POST',
      url: 'https://generativelanguage.googleapis.com/v1beta/models/text-embedding-004:batchEmbedContents',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': 'AIza-test-key' },
      body: JSON.stringify({
        requests: [
          {
            model: 'models/text-embedding-004',
            content: { parts: [{ text: 'a' }] },
            outputDimensionality: 256,
          },
          {
            model: 'models/text-embedding-004',
            content: { parts: [{ text: 'b' }] },
            outputDimensionality: 256,
          },
        ],
      }),
    });
    const single = geminiAdapter.buildEmbeddingsRequest({ model: 'emb', input: 'solo' }, c);
    expect(JSON.parse(single.body ?? '')).toEqual({
      requests: [{ model: 'models/text-embedding-004', content: { parts: [{ text: 'solo' }] } }],
    });
  });

  it.each([[[1, 2, 3]], [[[1, 2]]]])('rejects token-array input %j', (input) => {
    const err = thrown(() => geminiAdapter.buildEmbeddingsRequest({ model: 'emb', input }, ctx()));
    expect((err as GatewayError).toBody()).toEqual({
      error: {
        message: 'Gemini embeddings need text input, not token arrays',
        type: 'invalid_request_error',
        code: 'unsupported_parameter',
        param: 'input',
      },
    });
  });

  it('translates the response to an OpenAI embeddings list', () => {
    const c = ctx({ upstreamModel: 'text-embedding-004' });
    const req = { model: 'emb', input: ['a', 'b'] };
    expect(geminiAdapter.parseEmbeddingsResponse(fixtureJson('batch-embed.json'), req, c)).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.5, -0.25, 0.125] },
        { object: 'embedding', index: 1, embedding: [1, 0, -1] },
      ],
      model: 'text-embedding-004',
      usage: { prompt_tokens: 0, total_tokens: 0 },
    });
  });

  it('returns floats even when base64 was asked for: the service encodes, once', () => {
    const req = { model: 'emb', input: 'a', encoding_format: 'base64' as const };
    const res = geminiAdapter.parseEmbeddingsResponse(
      { embeddings: [{ values: [0.5, -0.25, 0.125] }] },
      req,
      ctx(),
    );
    expect(res.data).toEqual([{ object: 'embedding', index: 0, embedding: [0.5, -0.25, 0.125] }]);
  });

  it('reports usage when Gemini does', () => {
    const res = geminiAdapter.parseEmbeddingsResponse(
      { embeddings: [{ values: [1] }], usageMetadata: { promptTokenCount: 3, totalTokenCount: 3 } },
      { model: 'emb', input: 'a' },
      ctx(),
    );
    expect(res.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
  });
});

describe('gemini adapter: errors', () => {
  it('classifies RESOURCE_EXHAUSTED 429 as rate_limit with Retry-After', () => {
    const err = geminiAdapter.parseError(
      { status: 429, body: fixtureText('error-429.json'), headers: { 'retry-after': '7' } },
      ctx(),
    );
    expect({
      status: err.status,
      errorClass: err.errorClass,
      retryable: err.retryable,
      retryAfter: err.retryAfter,
      headers: err.headers,
      message: err.message,
      upstreamRequestId: err.upstreamRequestId,
    }).toEqual({
      status: 429,
      errorClass: 'rate_limit',
      retryable: true,
      retryAfter: 7,
      headers: { 'retry-after': '7' },
      message: "provider 'gem' returned 429: Resource has been exhausted (e.g. check quota).",
      upstreamRequestId: undefined,
    });
  });

  it('keeps INVALID_ARGUMENT as the client-visible 400', () => {
    const err = geminiAdapter.parseError(
      { status: 400, body: fixtureText('error-400.json'), headers: {} },
      ctx(),
    );
    expect({ status: err.status, errorClass: err.errorClass, message: err.message }).toEqual({
      status: 400,
      errorClass: 'bad_request',
      message: "provider 'gem' returned 400: API key not valid. Please pass a valid API key.",
    });
  });

  it('classifies UNAVAILABLE 503 as overloaded and accepts the array-wrapped form', () => {
    const body = JSON.stringify([{ error: { code: 503, message: 'overloaded', status: 'UNAVAILABLE' } }]);
    const err = geminiAdapter.parseError({ status: 503, body, headers: {} }, ctx());
    expect({ status: err.status, errorClass: err.errorClass, message: err.message }).toEqual({
      status: 503,
      errorClass: 'overloaded',
      message: "provider 'gem' returned 503: overloaded",
    });
  });

  it('falls back to a short plain-text body', () => {
    const err = geminiAdapter.parseError({ status: 502, body: 'Bad Gateway', headers: {} }, ctx());
    expect({ status: err.status, errorClass: err.errorClass, message: err.message }).toEqual({
      status: 502,
      errorClass: 'server_error',
      message: "provider 'gem' returned 502: Bad Gateway",
    });
  });
});
