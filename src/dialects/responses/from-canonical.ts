import type { ChatCompletion, FinishReason, ThinkingBlock, Usage } from '../../types/openai.js';
import type {
  ResponseObject,
  ResponsesOutputItem,
  ResponsesReasoningItem,
  ResponsesRequest,
  ResponsesTextFormat,
  ResponsesUsage,
} from '../../types/responses.js';
import { encodeThinking } from './to-canonical.js';

/** Canonical chat completion -> a Responses API `response` object. */

export interface ResponseContext {
  id: string;
  /** Unix seconds. */
  createdAt: number;
  /** The model name the client asked for. */
  model: string;
  req: ResponsesRequest;
  store: boolean;
}

/** resp_<hex> -> the <hex> that item ids share, so a response's items are recognisably its own. */
export function idBase(responseId: string): string {
  return responseId.startsWith('resp_') ? responseId.slice(5) : responseId;
}

export function toResponsesUsage(u: Usage | null | undefined): ResponsesUsage | null {
  if (!u) return null;
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: u.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: u.total_tokens,
  };
}

export function incompleteReason(finish: FinishReason | null | undefined): string | undefined {
  if (finish === 'length') return 'max_output_tokens';
  if (finish === 'content_filter') return 'content_filter';
  return undefined;
}

/** The response object with everything but its output and outcome, as OpenAI echoes the request. */
export function responseShell(ctx: ResponseContext): ResponseObject {
  const r = ctx.req;
  const format: ResponsesTextFormat = r.text?.format ?? { type: 'text' };
  return {
    id: ctx.id,
    object: 'response',
    created_at: ctx.createdAt,
    status: 'in_progress',
    background: false,
    error: null,
    incomplete_details: null,
    instructions: typeof r.instructions === 'string' ? r.instructions : null,
    max_output_tokens: r.max_output_tokens ?? null,
    model: ctx.model,
    output: [],
    parallel_tool_calls: r.parallel_tool_calls ?? true,
    previous_response_id: r.previous_response_id ?? null,
    reasoning: { effort: r.reasoning?.effort ?? null, summary: r.reasoning?.summary ?? null },
    store: ctx.store,
    temperature: r.temperature ?? null,
    text: { format },
    tool_choice: r.tool_choice ?? 'auto',
    tools: r.tools ?? [],
    top_p: r.top_p ?? null,
    truncation: r.truncation ?? 'disabled',
    usage: null,
    user: r.user ?? null,
    metadata: r.metadata ?? {},
  };
}

export function reasoningItems(
  base: string,
  blocks: ThinkingBlock[] | undefined,
  text: string | null | undefined,
): ResponsesReasoningItem[] {
  if (blocks && blocks.length > 0) {
    return blocks.map((b, k) => {
      const summary =
        b.type === 'thinking' && b.thinking !== ''
          ? [{ type: 'summary_text' as const, text: b.thinking }]
          : [];
      return { id: `rs_${base}_${k}`, type: 'reasoning', summary, encrypted_content: encodeThinking(b) };
    });
  }
  return text ? [{ id: `rs_${base}_0`, type: 'reasoning', summary: [{ type: 'summary_text', text }] }] : [];
}

export function toResponseObject(c: ChatCompletion, ctx: ResponseContext): ResponseObject {
  const base = idBase(ctx.id);
  const choice = c.choices[0];
  const msg = choice?.message;
  const output: ResponsesOutputItem[] = reasoningItems(base, msg?.thinking_blocks, msg?.reasoning_content);
  if (msg?.content) {
    output.push({
      type: 'message',
      id: `msg_${base}`,
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: msg.content, annotations: [], logprobs: [] }],
    });
  }
  (msg?.tool_calls ?? []).forEach((tc, k) => {
    output.push({
      type: 'function_call',
      id: `fc_${base}_${k}`,
      call_id: tc.id,
      name: tc.function.name,
      arguments: tc.function.arguments,
      status: 'completed',
    });
  });
  const res = responseShell(ctx);
  const reason = incompleteReason(choice?.finish_reason);
  res.status = reason ? 'incomplete' : 'completed';
  if (reason) res.incomplete_details = { reason };
  res.output = output;
  res.usage = toResponsesUsage(c.usage);
  return res;
}
