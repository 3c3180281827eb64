import type { Tiktoken } from 'js-tiktoken/lite';
import type { ChatMessage } from '../types/openai.js';

/**
 * Token counting with cl100k_base. The rank table is ~1 MB of JS, so it is loaded on first use rather
 * than at startup; after that counting is synchronous.
 */
let encoder: Tiktoken | undefined;
let loading: Promise<Tiktoken> | undefined;

export function loadTokenizer(): Promise<Tiktoken> {
  if (encoder) return Promise.resolve(encoder);
  loading ??= Promise.all([import('js-tiktoken/lite'), import('js-tiktoken/ranks/cl100k_base')]).then(
    ([lite, ranks]) => {
      encoder = new lite.Tiktoken(ranks.default);
      return encoder;
    },
  );
  return loading;
}

export function countTextTokens(enc: Tiktoken, text: string): number {
  return text.length === 0 ? 0 : enc.encode(text).length;
}

/** OpenAI's published accounting for chat prompts: 3 tokens per message, 3 to prime the reply. */
export function countPromptTokens(enc: Tiktoken, messages: readonly ChatMessage[]): number {
  let n = 3;
  for (const m of messages) {
    n += 3 + countTextTokens(enc, messageText(m));
    if (m.name) n += 1;
  }
  return n;
}

export function messageText(m: ChatMessage): string {
  if (typeof m.content === 'string') return m.content;
  if (!m.content) return '';
  let s = '';
  for (const p of m.content) if (p.type === 'text') s += p.text;
  return s;
}
