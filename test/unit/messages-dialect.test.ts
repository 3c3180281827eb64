import { describe, expect, it } from 'vitest';
import { toMessagesError, toMessagesResponse } from '../../src/dialects/anthropic-messages/from-canonical.js';
import {
  buildMessagesPassthrough,
  MessagesStreamTap,
} from '../../src/dialects/anthropic-messages/passthrough.js';
import { MessagesStreamEncoder } from '../../src/dialects/anthropic-messages/stream.js';
import { fromMessagesRequest } from '../../src/dialects/anthropic-messages/to-canonical.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { MessagesRequest } from '../../src/types/anthropic-messages.js';
import type { ProviderSpec } from '../../src/types/config.js';
import type { ChatCompletionChunk } from '../../src/types/openai.js';

function chunk(
  delta: ChatCompletionChunk['choices'][number]['delta'],
  finish: string | null = null,
): ChatCompletionChunk {
  return {
    id: 'chatcmpl-abc',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'up',
    choices: [{ index: 0, delta, finish_reason: finish as never }],
  };
}

describe('Messages request -> canonical', () => {
  it('translates system, tool results, tool use, thinking and images', () => {
    const req: MessagesRequest = {
      model: 'm',
      max_tokens: 100,
      system: [{ type: 'text', text: 'be brief', cache_control: { type: 'ephemeral' } }],
      thinking: { type: 'enabled', budget_tokens: 5000 },
      tools: [
        {
          name: 'get',
          description: 'd',
          input_schema: { type: 'object', properties: { q: { type: 'string' } } },
        },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      stop_sequences: ['END'],
      metadata: { user_id: 'u1' },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'hi' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAA' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hmm', signature: 'sig1' },
            { type: 'redacted_thinking', data: 'xyz' },
            { type: 'text', text: 'calling' },
            { type: 'tool_use', id: 'tu1', name: 'get', input: { q: 'x' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'tu1', content: [{ type: 'text', text: 'result' }] },
            { type: 'text', text: 'thanks' },
          ],
        },
      ],
    };
    expect(fromMessagesRequest(req)).toEqual({
      model: 'm',
      max_tokens: 100,
      messages: [
        { role: 'system', content: 'be brief' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'hi' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAA' } },
          ],
        },
        {
          role: 'assistant',
          content: 'calling',
          tool_calls: [{ id: 'tu1', type: 'function', function: { name: 'get', arguments: '{"q":"x"}' } }],
          reasoning_content: 'hmm',
          thinking_blocks: [
            { type: 'thinking', thinking: 'hmm', signature: 'sig1' },
            { type: 'redacted_thinking', data: 'xyz' },
          ],
        },
        { role: 'tool', tool_call_id: 'tu1', content: 'result' },
        { role: 'user', content: 'thanks' },
      ],
      stop: ['END'],
      user: 'u1',
      tools: [
        {
          type: 'function',
          function: {
            name: 'get',
            description: 'd',
            parameters: { type: 'object', properties: { q: { type: 'string' } } },
          },
        },
      ],
      tool_choice: 'required',
      parallel_tool_calls: false,
      reasoning_effort: 'medium',
    });
  });

  it('rejects documents and server tools for translated targets, naming the field', () => {
    const doc = () =>
      fromMessagesRequest({
        model: 'm',
        max_tokens: 1,
        messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', data: 'x' } }] }],
      });
    expect(doc).toThrow(GatewayError);
    try {
      doc();
    } catch (err) {
      expect((err as GatewayError).status).toBe(400);
      expect((err as GatewayError).param).toBe('messages[0].content[0]');
    }
    expect(() =>
      fromMessagesRequest({
        model: 'm',
        max_tokens: 1,
        messages: [{ role: 'user', content: 'x' }],
        tools: [{ type: 'web_search_20250305', name: 'web_search' }],
      }),
    ).toThrow(/server tool 'web_search_20250305'/);
  });
});

describe('canonical -> Messages response', () => {
  it('maps content, thinking, tool calls, stop reason and cache usage', () => {
    const res = toMessagesResponse(
      {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: 'up',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: 'hello',
              thinking_blocks: [{ type: 'thinking', thinking: 't', signature: 's' }],
              tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: {
          prompt_tokens: 30,
          completion_tokens: 5,
          total_tokens: 35,
          prompt_tokens_details: { cached_tokens: 10 },
        },
      },
      'public',
    );
    expect(res).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'public',
      content: [
        { type: 'thinking', thinking: 't', signature: 's' },
        { type: 'text', text: 'hello' },
        { type: 'tool_use', id: 'c1', name: 'f', input: { a: 1 } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 20,
        output_tokens: 5,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 10,
      },
    });
  });

  it('renders errors in Anthropic shape', () => {
    expect(
      toMessagesError(new GatewayError('model_not_found', "model 'x' not found", { param: 'model' })),
    ).toEqual({
      type: 'error',
      error: { type: 'not_found_error', message: "model 'x' not found (model)" },
    });
  });
});

describe('canonical chunks -> Messages SSE bytes', () => {
  it('emits the exact event sequence for thinking, text and a tool call', () => {
    const enc = new MessagesStreamEncoder('chatcmpl-abc', 'pub');
    let out = '';
    out += enc.push(chunk({ role: 'assistant', content: '' }));
    out += enc.push(chunk({ reasoning_content: 'think' }));
    out += enc.push(chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: 'SIG' }] }));
    out += enc.push(chunk({ content: 'Hi' }));
    out += enc.push(
      chunk({
        tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }],
      }),
    );
    out += enc.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] }));
    out += enc.push(chunk({}, 'tool_calls'));
    out += enc.push({
      ...chunk({}),
      choices: [],
      usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
    });
    out += enc.end();
    const ev = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    expect(out).toBe(
      ev('message_start', {
        type: 'message_start',
        message: {
          id: 'msg_abc',
          type: 'message',
          role: 'assistant',
          model: 'pub',
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
          content_block: { type: 'thinking', thinking: '', signature: '' },
        }) +
        ev('ping', { type: 'ping' }) +
        ev('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'thinking_delta', thinking: 'think' },
        }) +
        ev('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'signature_delta', signature: 'SIG' },
        }) +
        ev('content_block_stop', { type: 'content_block_stop', index: 0 }) +
        ev('content_block_start', {
          type: 'content_block_start',
          index: 1,
          content_block: { type: 'text', text: '' },
        }) +
        ev('content_block_delta', {
          type: 'content_block_delta',
          index: 1,
          delta: { type: 'text_delta', text: 'Hi' },
        }) +
        ev('content_block_stop', { type: 'content_block_stop', index: 1 }) +
        ev('content_block_start', {
          type: 'content_block_start',
          index: 2,
          content_block: { type: 'tool_use', id: 'call_1', name: 'f', input: {} },
        }) +
        ev('content_block_delta', {
          type: 'content_block_delta',
          index: 2,
          delta: { type: 'input_json_delta', partial_json: '{"a":1}' },
        }) +
        ev('content_block_stop', { type: 'content_block_stop', index: 2 }) +
        ev('message_delta', {
          type: 'message_delta',
          delta: { stop_reason: 'tool_use', stop_sequence: null },
          usage: {
            input_tokens: 7,
            output_tokens: 3,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
          },
        }) +
        ev('message_stop', { type: 'message_stop' }),
    );
  });
});

describe('passthrough', () => {
  const provider = {
    id: 'anth',
    type: 'anthropic',
    baseUrl: 'https://api.example.com',
    anthropicVersion: '2023-06-01',
    headers: {},
  } as unknown as ProviderSpec; // only the fields passthrough reads

  it('replaces only the model and forwards version and beta headers', () => {
    const body = {
      model: 'public',
      max_tokens: 10,
      system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'x' }],
      future_field: { a: 1 },
    } as MessagesRequest;
    const http = buildMessagesPassthrough(
      body,
      'claude-x',
      provider,
      { anthropicVersion: '2023-06-01', anthropicBeta: 'interleaved-thinking-2025-05-14' },
      'key',
    );
    expect(http.url).toBe('https://api.example.com/v1/messages');
    expect(http.headers).toEqual({
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'interleaved-thinking-2025-05-14',
      'x-api-key': 'key',
    });
    expect(JSON.parse(http.body!)).toEqual({ ...body, model: 'claude-x' });
  });

  it('taps usage, stop and errors from the stream without changing it', () => {
    const tap = new MessagesStreamTap();
    tap.push({
      event: 'message_start',
      data: JSON.stringify({
        type: 'message_start',
        message: {
          usage: {
            input_tokens: 5,
            cache_read_input_tokens: 100,
            cache_creation_input_tokens: 20,
            output_tokens: 1,
          },
        },
      }),
    });
    tap.push({
      event: 'message_delta',
      data: JSON.stringify({ type: 'message_delta', delta: {}, usage: { output_tokens: 9 } }),
    });
    expect(tap.stopped).toBe(false);
    tap.push({ event: 'message_stop', data: '{"type":"message_stop"}' });
    expect(tap.stopped).toBe(true);
    expect(tap.usage()).toEqual({
      prompt_tokens: 125,
      completion_tokens: 9,
      total_tokens: 134,
      prompt_tokens_details: { cached_tokens: 100, cache_creation_tokens: 20 },
    });
    tap.push({
      event: 'error',
      data: '{"type":"error","error":{"type":"overloaded_error","message":"busy"}}',
    });
    expect(tap.error).toEqual({ type: 'overloaded_error', message: 'busy' });
  });
});
