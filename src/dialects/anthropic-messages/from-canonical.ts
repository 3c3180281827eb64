import { type GatewayError, isUpstreamError } from '../../errors/gateway-error.js';
import type {
  MessagesErrorBody,
  MessagesResponse,
  MessagesResponseBlock,
  MessagesUsage,
} from '../../types/anthropic-messages.js';
import type { ChatCompletion, FinishReason, ThinkingBlock, ToolCall, Usage } from '../../types/openai.js';

/** Canonical chat completion / error -> the Anthropic Messages shapes, for translated targets. */

export function toStopReason(finish: FinishReason | null | undefined): string | null {
  switch (finish) {
    case null:
    case undefined:
      return null;
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/** OpenAI's prompt_tokens includes cached tokens; Anthropic's input_tokens does not. */
export function toMessagesUsage(u: Usage | null | undefined): MessagesUsage {
  const cached = u?.prompt_tokens_details?.cached_tokens ?? 0;
  const written = u?.prompt_tokens_details?.cache_creation_tokens ?? 0;
  return {
    input_tokens: Math.max(0, (u?.prompt_tokens ?? 0) - cached - written),
    output_tokens: u?.completion_tokens ?? 0,
    cache_creation_input_tokens: written,
    cache_read_input_tokens: cached,
  };
}

export function messageId(completionId: string): string {
  return completionId.startsWith('msg_') ? completionId : `msg_${completionId.replace(/^chatcmpl-/, '')}`;
}

export function toolInput(args: string): unknown {
  if (args.trim() === '') return {};
  try {
    return JSON.parse(args);
  } catch {
    // A model that wrote broken JSON: Anthropic clients expect an object, and the raw text keeps the evidence.
    return { _raw_arguments: args };
  }
}

export function thinkingBlocks(
  blocks: ThinkingBlock[] | undefined,
  reasoning: string | null | undefined,
): MessagesResponseBlock[] {
  if (blocks && blocks.length > 0) {
    return blocks.map((b) =>
      b.type === 'thinking'
        ? { type: 'thinking', thinking: b.thinking, signature: b.signature ?? '' }
        : { type: 'redacted_thinking', data: b.data },
    );
  }
  // Reasoning from a provider that does not sign it: shown as thinking, with no signature to return.
  return reasoning ? [{ type: 'thinking', thinking: reasoning, signature: '' }] : [];
}

export function toMessagesResponse(c: ChatCompletion, model: string): MessagesResponse {
  const choice = c.choices[0];
  const msg = choice?.message;
  const content: MessagesResponseBlock[] = thinkingBlocks(msg?.thinking_blocks, msg?.reasoning_content);
  if (msg?.content) content.push({ type: 'text', text: msg.content });
  for (const tc of msg?.tool_calls ?? ([] as ToolCall[])) {
    content.push({
      type: 'tool_use',
      id: tc.id,
      name: tc.function.name,
      input: toolInput(tc.function.arguments),
    });
  }
  return {
    id: messageId(c.id),
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: toStopReason(choice?.finish_reason),
    stop_sequence: null,
    usage: toMessagesUsage(c.usage),
  };
}

/** Anthropic's error type for a status, as its API reference lists them. */
export function messagesErrorType(status: number): string {
  if (status === 400 || status === 422) return 'invalid_request_error';
  if (status === 401) return 'authentication_error';
  if (status === 402) return 'billing_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 504) return 'timeout_error';
  if (status === 503 || status === 529) return 'overloaded_error';
  return 'api_error';
}

/** Errors on the Messages ingress use Anthropic's shape, so its SDK raises the right error class. */
export function toMessagesError(err: GatewayError): MessagesErrorBody {
  const overloaded = isUpstreamError(err) && err.errorClass === 'overloaded';
  const param = err.param ? ` (${err.param})` : '';
  return {
    type: 'error',
    error: {
      type: overloaded ? 'overloaded_error' : messagesErrorType(err.status),
      message: `${err.message}${param}`,
    },
  };
}
