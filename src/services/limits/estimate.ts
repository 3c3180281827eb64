import { promptTokens, textTokens } from '../../core/token-counter.js';
import type { ChatMessage } from '../../types/openai.js';

/**
 * Prompt tokens to reserve, counted with the bounded token counter (linear in the input; large inputs
 * on a worker thread), never by running js-tiktoken over untrusted text directly. What the counter
 * does not see is added here: images and audio at a fixed 85 each (providers price them per item), and
 * assistant tool calls (name and arguments). If counting fails, a cheap estimate (about three
 * characters per token, which errs high) stands in; either way settle corrects it to actual usage.
 */
export async function chatPromptTokens(messages: readonly ChatMessage[]): Promise<number> {
  const extras: string[] = [];
  let fixed = 0;
  for (const m of messages) {
    if (Array.isArray(m.content)) for (const p of m.content) if (p.type !== 'text') fixed += 85;
    const calls = (m as { tool_calls?: Array<{ function?: { arguments?: string; name?: string } }> })
      .tool_calls;
    if (Array.isArray(calls)) {
      for (const t of calls) {
        fixed += 4;
        extras.push(`${t.function?.name ?? ''} ${t.function?.arguments ?? ''}`);
      }
    }
  }
  try {
    let n = (await promptTokens(messages)) + fixed;
    if (extras.length > 0) for (const c of await textTokens(extras)) n += c;
    return n;
  } catch {
    return estimateChatPromptTokens(messages);
  }
}

/** Embeddings input: strings counted, token arrays counted exactly. */
export async function embeddingTokens(input: unknown): Promise<number> {
  const strings: string[] = [];
  let n = 0;
  if (typeof input === 'string') strings.push(input);
  else if (Array.isArray(input)) {
    for (const item of input) {
      if (typeof item === 'string') strings.push(item);
      else if (typeof item === 'number') n += 1;
      else if (Array.isArray(item)) n += item.length;
    }
  }
  if (strings.length === 0) return n;
  try {
    for (const c of await textTokens(strings)) n += c;
  } catch {
    for (const s of strings) n += Math.ceil(s.length / 3);
  }
  return n;
}

/** The fallback: no tokenizer, about three characters per token, plus OpenAI's per-message overhead. */
export function estimateChatPromptTokens(messages: readonly ChatMessage[]): number {
  let n = 3;
  for (const m of messages) {
    n += 4;
    const c = m.content;
    if (typeof c === 'string') n += Math.ceil(c.length / 3);
    else if (Array.isArray(c)) {
      for (const p of c) n += p.type === 'text' ? Math.ceil(p.text.length / 3) : 85;
    }
  }
  return n;
}
