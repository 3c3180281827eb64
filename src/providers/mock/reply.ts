import { messageText } from '../../core/tokens.js';
import type { ChatMessage } from '../../types/openai.js';

/**
 * What the built-in mock says. Pure and deterministic so demos, tests and load runs are reproducible:
 * the same last user message always yields the same reply and the same chunks.
 */

const QUOTE_LIMIT = 200;

export function mockReplyText(messages: readonly ChatMessage[], fixed: string | undefined): string {
  if (fixed !== undefined) return fixed;
  let last = '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user') {
      last = messageText(m).trim();
      break;
    }
  }
  if (last === '') return 'Hello from the Switchyard mock provider. Send a user message and I will echo it.';
  const quoted = last.length > QUOTE_LIMIT ? `${last.slice(0, QUOTE_LIMIT)}…` : last;
  return `Mock reply to "${quoted}". This answer comes from Switchyard's built-in mock provider.`;
}

/** Splits a reply into word-sized pieces, keeping the whitespace so the pieces join back exactly. */
export function mockChunks(text: string): string[] {
  const parts = text.match(/\S+\s*/g);
  if (!parts) return [text];
  const lead = /^\s*/.exec(text)![0];
  if (lead) parts[0] = lead + parts[0];
  return parts;
}

/** Deterministic unit vector derived from the input text (FNV-1a seeded xorshift). */
export function mockEmbedding(text: string, dimensions: number): number[] {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const v: number[] = new Array(dimensions);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    h ^= h << 13;
    h >>>= 0;
    h ^= h >>> 17;
    h ^= h << 5;
    h >>>= 0;
    const x = h / 0xffffffff - 0.5;
    v[i] = x;
    norm += x * x;
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dimensions; i++) v[i] = Number((v[i]! / norm).toFixed(6));
  return v;
}
