import { describe, expect, it } from 'vitest';
import { chatPromptTokens, embeddingTokens, textTokenEstimate } from '../../src/services/limits/estimate.js';
import type { ChatMessage } from '../../src/types/openai.js';

/**
 * Limit reservations are estimated from the text's size (docs/limits.md): ASCII at 4 characters per
 * token, other text at 3 UTF-8 bytes per token, plus OpenAI's per-message accounting. Settle reconciles
 * to the provider's usage, so only the reservation depends on these numbers.
 */
describe('limit reservation estimate', () => {
  it('ASCII at 4 characters per token, rounded up; other text at 3 UTF-8 bytes per token', () => {
    expect(textTokenEstimate('')).toBe(0);
    expect(textTokenEstimate('hi')).toBe(1);
    expect(textTokenEstimate('a'.repeat(4000))).toBe(1000);
    expect(textTokenEstimate('a'.repeat(4001))).toBe(1001);
    // 10 CJK characters: 30 UTF-8 bytes, 10 tokens (about one per character, as cl100k counts them).
    expect(textTokenEstimate('你好世界你好世界你好')).toBe(10);
    // "café": 5 bytes.
    expect(textTokenEstimate('café')).toBe(2);
  });

  it('chat: 3 to prime the reply, 3 per message, 1 per name, 85 per image, tool calls 4 plus name and arguments', () => {
    const messages = [
      { role: 'system', content: 'You are terse.' }, // 14 chars: 4
      {
        role: 'user',
        name: 'ann',
        content: [
          { type: 'text', text: 'What is in this picture?' }, // 24 chars: 6
          { type: 'image_url', image_url: { url: 'https://example.com/x.png' } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'look', arguments: '{"at":"x"}' } }], // 1 + 3
      },
    ] as unknown as ChatMessage[];
    expect(chatPromptTokens(messages)).toBe(3 + (3 + 4) + (3 + 1 + 6 + 85) + (3 + 4 + 1 + 3));
  });

  it('embeddings: strings estimated, token arrays counted exactly', () => {
    expect(embeddingTokens('a'.repeat(8))).toBe(2);
    expect(embeddingTokens(['abcd', [1, 2, 3], 7])).toBe(1 + 3 + 1);
    expect(embeddingTokens(undefined)).toBe(0);
  });
});
