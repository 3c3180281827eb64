import { describe, expect, it } from 'vitest';
import { mockChunks, mockEmbedding, mockReplyText } from '../../src/providers/mock/reply.js';

describe('mock reply', () => {
  it('is derived from the last user message, deterministically', () => {
    const msgs = [
      { role: 'user' as const, content: 'first' },
      { role: 'assistant' as const, content: 'ok' },
      {
        role: 'user' as const,
        content: [
          { type: 'text' as const, text: 'play a ' },
          { type: 'text' as const, text: 'beat' },
        ],
      },
    ];
    expect(mockReplyText(msgs, undefined)).toBe(
      `Mock reply to "play a beat". This answer comes from Switchyard's built-in mock provider.`,
    );
    expect(mockReplyText(msgs, undefined)).toBe(mockReplyText(msgs, undefined));
  });

  it('uses the configured reply, and a greeting when there is no user message', () => {
    expect(mockReplyText([{ role: 'user', content: 'x' }], 's("bd sd")')).toBe('s("bd sd")');
    expect(mockReplyText([{ role: 'system', content: 'be nice' }], undefined)).toBe(
      'Hello from the Switchyard mock provider. Send a user message and I will echo it.',
    );
  });

  it('quotes at most 200 characters', () => {
    const reply = mockReplyText([{ role: 'user', content: 'a'.repeat(500) }], undefined);
    expect(reply).toBe(
      `Mock reply to "${'a'.repeat(200)}…". This answer comes from Switchyard's built-in mock provider.`,
    );
  });

  it('chunks join back to the exact text', () => {
    for (const t of ['  lead and trail  ', 'one', 'a  b\nc', '']) expect(mockChunks(t).join('')).toBe(t);
    expect(mockChunks('a b c')).toEqual(['a ', 'b ', 'c']);
  });

  it('embeddings are deterministic unit vectors of the asked size', () => {
    const v = mockEmbedding('hello', 32);
    expect(v).toHaveLength(32);
    expect(mockEmbedding('hello', 32)).toEqual(v);
    expect(mockEmbedding('hellp', 32)).not.toEqual(v);
    expect(Math.abs(Math.hypot(...v) - 1)).toBeLessThan(1e-4);
  });
});
