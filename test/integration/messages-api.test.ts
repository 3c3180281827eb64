import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  anthropicThinkingHandler,
  REDACTED_DATA,
  THINKING_SIGNATURE,
  thinkingStreamText,
} from '../helpers/fake-anthropic-thinking.js';
import { fakeGemini, fakeOpenAIChat } from '../helpers/fake-dialect-upstreams.js';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { chunkJson } from '../helpers/openai-fixtures.js';

/**
 * POST /v1/messages with the official @anthropic-ai/sdk as the client (base URL only). Anthropic
 * targets get the client's body and headers unchanged (native passthrough); an OpenAI target gets a
 * translation, and the answer comes back in Anthropic's shapes and event sequence.
 */

let anthropic: FakeUpstream;
let openai: FakeUpstream;
let gemini: FakeUpstream;
let gw: TestGateway;
let client: Anthropic;

beforeAll(async () => {
  anthropic = await startFakeUpstream(anthropicThinkingHandler);
  openai = await startFakeUpstream((_req, res) => sendJson(res, 500, { error: { message: 'no handler' } }));
  gemini = await startFakeUpstream(fakeGemini);
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
providers:
  claude: { type: anthropic, base_url: ${anthropic.url}, api_key: provider-key }
  oai: { type: openai, base_url: ${openai.url}/v1, api_key: oai-key }
  gem: { type: gemini, base_url: ${gemini.url}, api_key: gem-key }
models:
  flash: { targets: [ { provider: gem, model: gemini-2.0-flash } ] }
  sonnet: { targets: [ { provider: claude, model: claude-sonnet-4-5 } ] }
  gpt: { targets: [ { provider: oai, model: gpt-4o-mini } ] }
`);
  client = new Anthropic({ baseURL: gw.url, apiKey: 'client-key', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await anthropic?.close();
  await openai?.close();
  await gemini?.close();
});

beforeEach(() => {
  anthropic.requests.length = 0;
  openai.requests.length = 0;
});

async function logLine(match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const line = gw.logs.find((l) => l.msg === 'request' && match(l));
    if (line) return line;
    if (Date.now() > deadline) throw new Error('no matching request log line');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const fullRequest = {
  model: 'sonnet',
  max_tokens: 2048,
  thinking: { type: 'enabled', budget_tokens: 1024 },
  system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral', ttl: '1h' } }],
  tools: [
    {
      name: 'get_weather',
      description: 'Weather by city',
      input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      cache_control: { type: 'ephemeral' },
    },
  ],
  messages: [
    {
      role: 'user',
      content: [
        {
          type: 'document',
          source: { type: 'text', media_type: 'text/plain', data: 'Paris is in France.' },
          citations: { enabled: true },
        },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
        { type: 'text', text: 'Weather in Paris?', cache_control: { type: 'ephemeral' } },
      ],
    },
    {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'Earlier reasoning.', signature: 'SIG-EARLIER' },
        { type: 'redacted_thinking', data: 'REDACTED-EARLIER' },
        { type: 'tool_use', id: 'toolu_00', name: 'get_weather', input: { city: 'Paris' } },
      ],
    },
    {
      role: 'user',
      content: [
        {
          type: 'tool_result',
          tool_use_id: 'toolu_00',
          content: '18C, sunny',
          cache_control: { type: 'ephemeral' },
        },
      ],
    },
  ],
} as const;

describe('native passthrough to an Anthropic target', () => {
  it('sends the body unchanged but for the model, with version and beta headers and the provider key', async () => {
    const msg = await client.messages.create(
      fullRequest as unknown as Anthropic.MessageCreateParamsNonStreaming,
      {
        headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'interleaved-thinking-2025-05-14' },
      },
    );
    expect(anthropic.requests).toHaveLength(1);
    const sent = anthropic.requests[0]!;
    expect(sent.url).toBe('/v1/messages');
    expect(sent.json).toEqual({ ...fullRequest, model: 'claude-sonnet-4-5' });
    expect(sent.headers['x-api-key']).toBe('provider-key');
    expect(sent.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent.headers['anthropic-beta']).toBe('interleaved-thinking-2025-05-14');
    expect(sent.headers.authorization).toBeUndefined();

    expect(msg.content).toEqual([
      {
        type: 'thinking',
        thinking: 'The user wants the weather; call the tool.',
        signature: THINKING_SIGNATURE,
      },
      { type: 'redacted_thinking', data: REDACTED_DATA },
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    expect(msg.usage).toEqual({
      input_tokens: 12,
      cache_creation_input_tokens: 40,
      cache_read_input_tokens: 2000,
      output_tokens: 55,
    });
    // Settle reads the usage the passthrough tapped: cache reads and writes count as prompt tokens.
    const line = await logLine((l) => l.url === '/v1/messages' && l.upstream_request_id === 'req_json');
    expect(line).toMatchObject({
      status: 200,
      provider: 'claude',
      prompt_tokens: 2052,
      completion_tokens: 55,
    });
  });

  it('streams the upstream bytes unchanged, and the SDK assembles thinking with its signature', async () => {
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': 'client-key',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify({ ...fullRequest, stream: true }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(await res.text()).toBe(thinkingStreamText());
    expect((anthropic.requests[0]!.json as { stream: boolean }).stream).toBe(true);

    const final = await client.messages
      .stream(fullRequest as unknown as Anthropic.MessageCreateParamsStreaming)
      .finalMessage();
    expect(final.content[0]).toEqual({
      type: 'thinking',
      thinking: 'The user wants the weather; call the tool.',
      signature: THINKING_SIGNATURE,
    });
    expect(final.usage.cache_read_input_tokens).toBe(2000);
  });

  it('forwards count_tokens to Anthropic', async () => {
    const n = await client.messages.countTokens({
      model: 'sonnet',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(n).toEqual({ input_tokens: 4242 });
    expect(anthropic.requests[0]!.url).toBe('/v1/messages/count_tokens');
    expect(anthropic.requests[0]!.json).toEqual({
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'hi' }],
    });
  });

  it('relays an upstream rate limit in Anthropic error shape', async () => {
    anthropic.setHandler((_req, res) =>
      sendJson(
        res,
        429,
        { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } },
        { 'retry-after': '1' },
      ),
    );
    try {
      const res = await fetch(`${gw.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'sonnet', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
      });
      expect(res.status).toBe(429);
      const body = (await res.json()) as { type: string; error: { type: string; message: string } };
      expect(body.type).toBe('error');
      expect(body.error.type).toBe('rate_limit_error');
    } finally {
      anthropic.setHandler(anthropicThinkingHandler);
    }
  });
});

describe('translation to an OpenAI target', () => {
  it('answers a tool call as an Anthropic message', async () => {
    openai.setHandler((_req, res) =>
      sendJson(res, 200, {
        id: 'chatcmpl-9',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: 'Checking.',
              tool_calls: [
                {
                  id: 'call_1',
                  type: 'function',
                  function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
                },
              ],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: {
          prompt_tokens: 20,
          completion_tokens: 7,
          total_tokens: 27,
          prompt_tokens_details: { cached_tokens: 5 },
        },
      }),
    );
    const msg = await client.messages.create({
      model: 'gpt',
      max_tokens: 100,
      system: 'terse',
      tools: [
        { name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
      ],
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    expect(openai.requests[0]!.json).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'terse' },
        { role: 'user', content: 'Weather in Paris?' },
      ],
      max_tokens: 100,
      stream: false,
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
          },
        },
      ],
    });
    expect(msg).toEqual({
      id: 'msg_9',
      type: 'message',
      role: 'assistant',
      model: 'gpt-4o-mini',
      content: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 15,
        output_tokens: 7,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 5,
      },
    });
  });

  it('streams the exact Anthropic event sequence', async () => {
    openai.setHandler((_req, res) =>
      sendSse(res, {
        events: [
          chunkJson({ role: 'assistant', content: '' }),
          chunkJson({ content: 'Hel' }),
          chunkJson({ content: 'lo' }),
          chunkJson({}, 'stop'),
          JSON.stringify({
            id: 'c',
            object: 'chat.completion.chunk',
            created: 1,
            model: 'm',
            choices: [],
            usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 },
          }),
          '[DONE]',
        ],
      }),
    );
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer client-key' },
      body: JSON.stringify({
        model: 'gpt',
        max_tokens: 10,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    const id = /"id":"(msg_[^"]+)"/.exec(text)?.[1];
    const ev = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    expect(text).toBe(
      ev('message_start', {
        type: 'message_start',
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model: 'gpt-4o-mini',
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: 0,
            output_tokens: 0,
            cache_creation_input_tokens: null,
            cache_read_input_tokens: null,
          },
        },
      }) +
        ev('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: '' },
        }) +
        ev('ping', { type: 'ping' }) +
        ev('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text: 'Hel' },
        }) +
        ev('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text: 'lo' },
        }) +
        ev('content_block_stop', { type: 'content_block_stop', index: 0 }) +
        ev('message_delta', {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn', stop_sequence: null },
          usage: {
            input_tokens: 4,
            output_tokens: 2,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
          },
        }) +
        ev('message_stop', { type: 'message_stop' }),
    );
  });

  it('rejects a document for a non-Anthropic target, naming the field', async () => {
    const err = await client.messages
      .create({
        model: 'gpt',
        max_tokens: 10,
        messages: [
          {
            role: 'user',
            content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } }],
          },
        ],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.BadRequestError>).error).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message:
          'a document block needs an Anthropic target; the model this request routes to cannot take it (messages[0].content[0])',
      },
    });
    expect(openai.requests).toHaveLength(0);
  });

  it('estimates count_tokens locally', async () => {
    const n = await client.messages.countTokens({
      model: 'gpt',
      messages: [{ role: 'user', content: 'hello world' }],
    });
    expect(n.input_tokens).toBeGreaterThan(3);
    expect(openai.requests).toHaveLength(0);
  });
});

describe('the SDK through translated targets, tool use round trip', () => {
  for (const model of ['gpt', 'flash']) {
    it(`streams a tool call and takes its result back through ${model}`, async () => {
      openai.setHandler(fakeOpenAIChat);
      const tools = [
        {
          name: 'get_weather',
          input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } },
        },
      ];
      const first = await client.messages
        .stream({ model, max_tokens: 100, tools, messages: [{ role: 'user', content: 'Weather?' }] })
        .finalMessage();
      expect(first.stop_reason).toBe('tool_use');
      const use = first.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock;
      expect(use).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } });

      const second = await client.messages.create({
        model,
        max_tokens: 100,
        tools,
        messages: [
          { role: 'user', content: 'Weather?' },
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18C' }] },
        ],
      });
      expect(second.stop_reason).toBe('end_turn');
      expect(second.content).toEqual([{ type: 'text', text: expect.stringMatching(/^Done: .*18C/) }]);
    });
  }
});

describe('errors on the Messages ingress', () => {
  it('bounds nesting depth', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 130; i++) deep = { a: deep };
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'sonnet',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'x' }],
        metadata: deep,
      }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: expect.stringMatching(
          /^Request body nests deeper than 128 levels \(at byte \d+\); flatten it\.$/,
        ),
      },
    });
  });

  it('uses Anthropic error shapes for unknown models and invalid bodies', async () => {
    const notFound = await client.messages
      .create({ model: 'nope', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(Anthropic.NotFoundError);
    expect((notFound as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({
      type: 'error',
      error: { type: 'not_found_error' },
    });

    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sonnet', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: "Invalid request body: 'max_tokens' is required. (max_tokens)",
      },
    });
  });
});
