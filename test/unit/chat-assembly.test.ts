import { describe, expect, it } from 'vitest';
import { assembleCompletion, splitCompletion } from '../../src/core/chat-assembly.js';
import type { ChatCompletion, ChatCompletionChunk } from '../../src/types/openai.js';

const base = {
  id: 'chatcmpl-9',
  object: 'chat.completion.chunk' as const,
  created: 1700000000,
  model: 'gpt-4o',
};

const toolStream: ChatCompletionChunk[] = [
  { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: null }, finish_reason: null }] },
  {
    ...base,
    choices: [
      {
        index: 0,
        delta: {
          tool_calls: [
            { index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } },
          ],
        },
        finish_reason: null,
      },
    ],
  },
  {
    ...base,
    choices: [
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
        finish_reason: null,
      },
    ],
  },
  {
    ...base,
    choices: [
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
        finish_reason: null,
      },
    ],
  },
  {
    ...base,
    choices: [
      {
        index: 0,
        delta: {
          tool_calls: [
            { index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        finish_reason: null,
      },
    ],
  },
  { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
  { ...base, choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } },
];

describe('chunks <-> completion', () => {
  it('assembles tool-call deltas, finish reason and usage into a completion', () => {
    expect(assembleCompletion(toolStream)).toEqual({
      id: 'chatcmpl-9',
      object: 'chat.completion',
      created: 1700000000,
      model: 'gpt-4o',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_a',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
              { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    });
  });

  it('concatenates content across chunks', () => {
    const chunks: ChatCompletionChunk[] = [
      { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { content: 'Hel' }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { content: 'lo  world' }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
    ];
    const c = assembleCompletion(chunks);
    expect(c.choices[0]).toEqual({
      index: 0,
      message: { role: 'assistant', content: 'Hello  world' },
      finish_reason: 'stop',
    });
    expect(c.usage).toBeUndefined();
  });

  it('splits a completion into chunks that assemble back to it', () => {
    const completion: ChatCompletion = assembleCompletion(toolStream);
    const chunks = splitCompletion(completion);
    expect(chunks.at(-1)).toEqual({ ...base, choices: [], usage: completion.usage });
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === 'chatcmpl-9')).toBe(true);
    expect(assembleCompletion(chunks)).toEqual(completion);
    const text: ChatCompletion = {
      id: 'x',
      object: 'chat.completion',
      created: 2,
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi there' }, finish_reason: 'stop' }],
    };
    expect(splitCompletion(text).map((c) => c.choices[0]?.delta)).toEqual([
      { role: 'assistant', content: '' },
      { content: 'hi there' },
      {},
    ]);
    expect(assembleCompletion(splitCompletion(text))).toEqual(text);
  });
});
