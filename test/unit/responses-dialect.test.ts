import { describe, expect, it } from 'vitest';
import { toResponseObject } from '../../src/dialects/responses/from-canonical.js';
import { ResponsesStreamEncoder, sseFrame } from '../../src/dialects/responses/stream.js';
import { fromResponsesRequest } from '../../src/dialects/responses/to-canonical.js';
import type { ChatCompletionChunk } from '../../src/types/openai.js';
import type { ResponsesInputItem, ResponsesRequest } from '../../src/types/responses.js';

function chunk(
  delta: ChatCompletionChunk['choices'][number]['delta'],
  finish: string | null = null,
): ChatCompletionChunk {
  return {
    id: 'c',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'up',
    choices: [{ index: 0, delta, finish_reason: finish as never }],
  };
}

describe('Responses request -> canonical', () => {
  it('translates instructions, items, tools, format, reasoning and limits', () => {
    const req: ResponsesRequest = {
      model: 'm',
      instructions: 'sys',
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'weather?' }] },
        {
          type: 'reasoning',
          id: 'rs_1',
          summary: [{ type: 'summary_text', text: 'plan' }],
          encrypted_content: 'anthropic:SIG',
        },
        { type: 'function_call', call_id: 'call_1', name: 'w', arguments: '{"c":"P"}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
        { type: 'item_reference', id: 'msg_old' },
      ],
      tools: [{ type: 'function', name: 'w', parameters: { type: 'object' }, strict: true }],
      tool_choice: { type: 'function', name: 'w' },
      text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true } },
      reasoning: { effort: 'high' },
      max_output_tokens: 50,
      stream: true,
    };
    const stored: Record<string, ResponsesInputItem> = {
      msg_old: {
        type: 'message',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'It is sunny.' }],
      },
    };
    const history: ResponsesInputItem[] = [{ role: 'user', content: 'earlier' }];
    expect(fromResponsesRequest(req, history, (id) => stored[id])).toEqual({
      model: 'm',
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'earlier' },
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: null,
          thinking_blocks: [{ type: 'thinking', thinking: 'plan', signature: 'SIG' }],
          reasoning_content: 'plan',
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'w', arguments: '{"c":"P"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
        { role: 'assistant', content: 'It is sunny.' },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_completion_tokens: 50,
      tools: [{ type: 'function', function: { name: 'w', parameters: { type: 'object' }, strict: true } }],
      tool_choice: { type: 'function', function: { name: 'w' } },
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'out', schema: { type: 'object' }, strict: true },
      },
      reasoning_effort: 'high',
    });
  });

  it('answers 404 naming the item for an unknown item_reference', () => {
    expect(() =>
      fromResponsesRequest(
        { model: 'm', input: [{ type: 'item_reference', id: 'nope' }] },
        [],
        () => undefined,
      ),
    ).toThrow(/item 'nope' was not found/);
  });
});

describe('canonical -> Responses', () => {
  const ctx = {
    id: 'resp_abc',
    createdAt: 100,
    model: 'pub',
    req: { model: 'pub' } as ResponsesRequest,
    store: true,
  };

  it('builds the response object with message, function call and usage', () => {
    const res = toResponseObject(
      {
        id: 'x',
        object: 'chat.completion',
        created: 1,
        model: 'up',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: 'hi',
              tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'f', arguments: '{}' } }],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 },
      },
      ctx,
    );
    expect(res.status).toBe('completed');
    expect(res.output).toEqual([
      {
        type: 'message',
        id: 'msg_abc',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'hi', annotations: [], logprobs: [] }],
      },
      {
        type: 'function_call',
        id: 'fc_abc_0',
        call_id: 'call_9',
        name: 'f',
        arguments: '{}',
        status: 'completed',
      },
    ]);
    expect(res.usage).toEqual({
      input_tokens: 4,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 2,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 6,
    });
  });

  it('streams the exact event sequence with sequence numbers', () => {
    const enc = new ResponsesStreamEncoder(ctx);
    const events = [
      ...enc.start(),
      ...enc.push(chunk({ role: 'assistant', content: '' })),
      ...enc.push(chunk({ content: 'He' })),
      ...enc.push(chunk({ content: 'llo' })),
      ...enc.push(
        chunk({
          tool_calls: [
            { index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a"' } },
          ],
        }),
      ),
      ...enc.push(chunk({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] })),
      ...enc.push(chunk({}, 'tool_calls')),
      ...enc.push({
        ...chunk({}),
        choices: [],
        usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
      }),
      ...enc.end(),
    ];
    expect(events.map((e) => `${e.sequence_number}:${e.type}`)).toEqual([
      '0:response.created',
      '1:response.in_progress',
      '2:response.output_item.added',
      '3:response.content_part.added',
      '4:response.output_text.delta',
      '5:response.output_text.delta',
      '6:response.output_text.done',
      '7:response.content_part.done',
      '8:response.output_item.done',
      '9:response.output_item.added',
      '10:response.function_call_arguments.delta',
      '11:response.function_call_arguments.delta',
      '12:response.function_call_arguments.done',
      '13:response.output_item.done',
      '14:response.completed',
    ]);
    expect(sseFrame(events[4]!)).toBe(
      'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_abc","output_index":0,"content_index":0,"delta":"He","logprobs":[]}\n\n',
    );
    expect(events[12]).toEqual({
      type: 'response.function_call_arguments.done',
      sequence_number: 12,
      item_id: 'fc_abc_0',
      output_index: 1,
      name: 'f',
      arguments: '{"a":1}',
    });
    const done = events[14] as unknown as {
      response: { status: string; output: unknown[]; usage: { total_tokens: number } };
    };
    expect(done.response.status).toBe('completed');
    expect(done.response.output).toHaveLength(2);
    expect(done.response.usage.total_tokens).toBe(5);
    expect(enc.result()?.output).toEqual(done.response.output);
  });

  it('streams reasoning as a summary with the signature in encrypted_content', () => {
    const enc = new ResponsesStreamEncoder(ctx);
    const events = [
      ...enc.push(chunk({ reasoning_content: 'think' })),
      ...enc.push(chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: 'SIG' }] })),
      ...enc.push(chunk({ content: 'ok' }, 'stop')),
      ...enc.end(),
    ];
    expect(events.map((e) => e.type).slice(0, 6)).toEqual([
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
    ]);
    expect(events[5]).toMatchObject({
      item: {
        id: 'rs_abc_0',
        type: 'reasoning',
        summary: [{ type: 'summary_text', text: 'think' }],
        encrypted_content: 'anthropic:SIG',
      },
    });
  });
});
