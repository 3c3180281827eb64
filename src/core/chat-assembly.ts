import type {
  ChatCompletion,
  ChatCompletionChoice,
  ChatCompletionChunk,
  ChunkChoice,
  ToolCall,
} from '../types/openai.js';

/**
 * Conversions between a streamed answer (canonical chunks) and a whole one, so the response cache can
 * serve a non-streaming request from a cached stream and the reverse.
 */

interface ChoiceAcc {
  content: string | null;
  refusal: string | null;
  toolCalls: Map<number, ToolCall>;
  finish: ChatCompletionChoice['finish_reason'];
}

/** The ChatCompletion a stream of chunks amounts to: content and tool-call arguments concatenated. */
export function assembleCompletion(chunks: readonly ChatCompletionChunk[]): ChatCompletion {
  const first = chunks[0];
  const choices = new Map<number, ChoiceAcc>();
  let usage: ChatCompletion['usage'];
  let fingerprint: string | null | undefined;
  for (const chunk of chunks) {
    if (chunk.usage) usage = chunk.usage;
    if (chunk.system_fingerprint !== undefined) fingerprint = chunk.system_fingerprint;
    for (const c of chunk.choices) {
      let acc = choices.get(c.index);
      if (!acc) {
        acc = { content: null, refusal: null, toolCalls: new Map(), finish: null };
        choices.set(c.index, acc);
      }
      const d = c.delta;
      if (typeof d.content === 'string') acc.content = (acc.content ?? '') + d.content;
      if (typeof d.refusal === 'string') acc.refusal = (acc.refusal ?? '') + d.refusal;
      for (const t of d.tool_calls ?? []) {
        let call = acc.toolCalls.get(t.index);
        if (!call) {
          call = { id: '', type: 'function', function: { name: '', arguments: '' } };
          acc.toolCalls.set(t.index, call);
        }
        if (t.id) call.id = t.id;
        if (t.function?.name) call.function.name += t.function.name;
        if (t.function?.arguments) call.function.arguments += t.function.arguments;
      }
      if (c.finish_reason) acc.finish = c.finish_reason;
    }
  }
  const out: ChatCompletion = {
    id: first?.id ?? '',
    object: 'chat.completion',
    created: first?.created ?? 0,
    model: first?.model ?? '',
    choices: [...choices.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([index, acc]) => {
        const message: ChatCompletionChoice['message'] = { role: 'assistant', content: acc.content };
        if (acc.toolCalls.size > 0) {
          message.tool_calls = [...acc.toolCalls.entries()].sort((a, b) => a[0] - b[0]).map(([, t]) => t);
        }
        if (acc.refusal !== null) message.refusal = acc.refusal;
        return { index, message, finish_reason: acc.finish };
      }),
  };
  if (usage) out.usage = usage;
  if (fingerprint !== undefined) out.system_fingerprint = fingerprint;
  return out;
}

/**
 * The chunks OpenAI would stream for a whole completion: per choice a role chunk, the content, one chunk
 * per tool call (id, name and arguments whole), the finish reason; then a usage chunk with no choices.
 */
export function splitCompletion(c: ChatCompletion): ChatCompletionChunk[] {
  const base = { id: c.id, object: 'chat.completion.chunk' as const, created: c.created, model: c.model };
  const fp = c.system_fingerprint === undefined ? {} : { system_fingerprint: c.system_fingerprint };
  const chunks: ChatCompletionChunk[] = [];
  const push = (choice: ChunkChoice) => chunks.push({ ...base, ...fp, choices: [choice] });
  for (const choice of c.choices) {
    const m = choice.message;
    push({
      index: choice.index,
      delta: { role: 'assistant', content: m.content === null ? null : '' },
      finish_reason: null,
    });
    if (m.content) push({ index: choice.index, delta: { content: m.content }, finish_reason: null });
    if (m.refusal) push({ index: choice.index, delta: { refusal: m.refusal }, finish_reason: null });
    (m.tool_calls ?? []).forEach((t, i) => {
      push({
        index: choice.index,
        delta: {
          tool_calls: [
            {
              index: i,
              id: t.id,
              type: 'function',
              function: { name: t.function.name, arguments: t.function.arguments },
            },
          ],
        },
        finish_reason: null,
      });
    });
    push({ index: choice.index, delta: {}, finish_reason: choice.finish_reason });
  }
  if (c.usage) chunks.push({ ...base, ...fp, choices: [], usage: c.usage });
  return chunks;
}
