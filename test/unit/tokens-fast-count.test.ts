import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countTextTokens, loadTokenizer } from '../../src/core/tokens.js';

/**
 * countTextTokens counts with its own compiled copy of js-tiktoken's encode loop (no regex building,
 * no TextEncoder for ASCII, no token arrays). Its counts must be js-tiktoken's own, piece for piece.
 */
describe('token counting matches js-tiktoken exactly', () => {
  const samples = [
    'In plain words, what does an AI gateway do, and why would a team run one?',
    "It's 3.14159 o'clock; we'll see.   Tabs\tand\nnewlines\r\n\n  indented",
    'Ünïcödé: 中文字符, emoji 👩‍👩‍👧‍👦 and ∑ symbols ≠ ascii',
    '{"json": [1, 2, 3], "nested": {"k": "v"}}  `code` <tag attr="x">',
    'a',
    ' ',
    '\u0000\u0001 control',
  ];

  it('on fixed samples', async () => {
    const enc = await loadTokenizer();
    for (const s of samples) expect([s, countTextTokens(enc, s)]).toEqual([s, enc.encode(s).length]);
  });

  it('on arbitrary strings below the splitter limits', async () => {
    const enc = await loadTokenizer();
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ maxLength: 30 }), (a, b) => {
        const s = `${a} ${b}`;
        expect(countTextTokens(enc, s)).toBe(enc.encode(s).length);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a special token as js-tiktoken does', async () => {
    const enc = await loadTokenizer();
    const s = 'before <|endoftext|> after';
    expect(() => enc.encode(s)).toThrow(
      'The text contains a special token that is not allowed: <|endoftext|>',
    );
    expect(() => countTextTokens(enc, s)).toThrow(
      'The text contains a special token that is not allowed: <|endoftext|>',
    );
  });
});
