import type { ChatMessage } from '../../types/openai.js';

/**
 * Prompt tokens to reserve at admission: an estimate from the text's size, not a tokenizer count.
 * Reconciliation at settle replaces the reservation with the provider's own usage, so token limits
 * and budgets end up exact either way; what the estimate decides is only how much is held while the
 * call runs (and whether a request too large for a limit is refused before it is sent). Counting with
 * cl100k cost 30-40 µs per request of a two-message prompt and kept its 76 MiB rank table resident;
 * this costs well under a microsecond and loads nothing (bench/README.md, "Changes and their measured
 * effect").
 *
 * The estimate, per text: ASCII at 4 characters per token (English prose with cl100k is about 4.2,
 * so it errs slightly high); anything else at 3 UTF-8 bytes per token, which is about one token per CJK
 * character and errs high for accented Latin. Plus OpenAI's published accounting for chat: 3 tokens
 * per message, 3 to prime the reply, 1 per `name`. Images and audio count a fixed 85 each (providers
 * price them per item), assistant tool calls 4 plus their name and arguments. Linear in the input, with
 * no per-request allocation beyond the numbers.
 */
export function chatPromptTokens(messages: readonly ChatMessage[]): number {
  let n = 3;
  for (const m of messages) {
    n += 3;
    if (m.name) n += 1;
    const c = m.content;
    if (typeof c === 'string') n += textTokenEstimate(c);
    else if (Array.isArray(c)) {
      for (const p of c) n += p.type === 'text' ? textTokenEstimate(p.text) : 85;
    }
    const calls = (m as { tool_calls?: Array<{ function?: { arguments?: string; name?: string } }> })
      .tool_calls;
    if (Array.isArray(calls)) {
      for (const t of calls) {
        n += 4 + textTokenEstimate(t.function?.name ?? '') + textTokenEstimate(t.function?.arguments ?? '');
      }
    }
  }
  return n;
}

/** Embeddings input: strings estimated as above, token arrays counted exactly. */
export function embeddingTokens(input: unknown): number {
  if (typeof input === 'string') return textTokenEstimate(input);
  let n = 0;
  if (Array.isArray(input)) {
    for (const item of input) {
      if (typeof item === 'string') n += textTokenEstimate(item);
      else if (typeof item === 'number') n += 1;
      else if (Array.isArray(item)) n += item.length;
    }
  }
  return n;
}

/** Tokens one text is reserved at: ASCII 4 characters per token, other text 3 UTF-8 bytes per token. */
export function textTokenEstimate(s: string): number {
  if (typeof s !== 'string' || s.length === 0) return 0;
  const bytes = Buffer.byteLength(s, 'utf8');
  return bytes === s.length ? Math.ceil(bytes / 4) : Math.ceil(bytes / 3);
}
