import { invalidResponse, parseJsonLenient, upstreamErrorFromHttp } from '../../core/classify.js';
import type { UpstreamError } from '../../errors/gateway-error.js';
import type {
  AnthropicMessage,
  AnthropicResponseBlock,
  AnthropicTextBlock,
  AnthropicToolUseBlock,
  AnthropicUsage,
} from '../../types/anthropic.js';
import type { ChatCompletion, FinishReason, ThinkingBlock, ToolCall, Usage } from '../../types/openai.js';
import { assistantMessage, fullUsage, isPlainObject } from '../common/response.js';
import type { AdapterContext, UpstreamErrorInput } from '../types.js';

/** Anthropic Messages response / error -> canonical (OpenAI) shapes. */

export const ANTHROPIC_REQUEST_ID_HEADER = 'request-id';

export function toFinishReason(stop: string | null | undefined): FinishReason | null {
  switch (stop) {
    case null:
    case undefined:
      return null;
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // pause_turn and reasons added later: the turn did end, and OpenAI has no closer equivalent.
      return 'stop';
  }
}

/**
 * Anthropic's input_tokens excludes cached tokens, while OpenAI's prompt_tokens includes them, so the
 * cache reads and writes are added back in.
 */
export function toUsage(u: AnthropicUsage | undefined): Usage {
  const cacheRead = u?.cache_read_input_tokens ?? 0;
  const prompt = (u?.input_tokens ?? 0) + cacheRead + (u?.cache_creation_input_tokens ?? 0);
  const completion = u?.output_tokens ?? 0;
  return fullUsage(prompt, completion, {
    cached: cacheRead,
    reasoning: u?.output_tokens_details?.thinking_tokens ?? 0,
  });
}

/** A Messages API message: an id and a content array of blocks (objects). Anything else is invalid. */
function isMessage(body: unknown): body is AnthropicMessage {
  if (!isPlainObject(body) || typeof body.id !== 'string' || !Array.isArray(body.content)) return false;
  for (const b of body.content) if (!isPlainObject(b)) return false;
  return true;
}

function isTextBlock(b: AnthropicResponseBlock): b is AnthropicTextBlock {
  return b.type === 'text' && typeof (b as { text?: unknown }).text === 'string';
}

function isToolUseBlock(b: AnthropicResponseBlock): b is AnthropicToolUseBlock {
  const { id, name } = b as { id?: unknown; name?: unknown };
  return b.type === 'tool_use' && typeof id === 'string' && typeof name === 'string';
}

export function fromAnthropicResponse(body: unknown, ctx: AdapterContext): ChatCompletion {
  if (!isMessage(body)) throw invalidResponse(ctx.provider.id, 'the body is not an Anthropic message');
  let text: string | null = null;
  let reasoning: string | undefined;
  const thinking: ThinkingBlock[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of body.content) {
    const b = block as { type: string; thinking?: unknown; signature?: unknown; data?: unknown };
    if (b.type === 'thinking' && typeof b.thinking === 'string') {
      reasoning = (reasoning ?? '') + b.thinking;
      const signature = typeof b.signature === 'string' ? b.signature : '';
      thinking.push({ type: 'thinking', thinking: b.thinking, signature });
    } else if (b.type === 'redacted_thinking' && typeof b.data === 'string') {
      thinking.push({ type: 'redacted_thinking', data: b.data });
    } else if (isTextBlock(block)) {
      text = (text ?? '') + block.text;
    } else if (isToolUseBlock(block)) {
      toolCalls.push({
        id: block.id,
        type: 'function',
        function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
      });
    }
    // Server-tool blocks have no OpenAI chat equivalent.
  }
  const message = assistantMessage(text, toolCalls);
  if (reasoning !== undefined) message.reasoning_content = reasoning;
  if (thinking.length > 0) message.thinking_blocks = thinking;
  return {
    id: `chatcmpl-${body.id}`,
    object: 'chat.completion',
    created: ctx.now,
    model: typeof body.model === 'string' ? body.model : ctx.upstreamModel,
    choices: [
      {
        index: 0,
        message,
        finish_reason: toFinishReason(body.stop_reason),
        logprobs: null,
      },
    ],
    usage: toUsage(body.usage),
    system_fingerprint: null,
  };
}

/** `{ type: 'error', error: { type, message } }`, the shape of every Anthropic error body and event. */
export function errorFields(parsed: unknown): { type: string | undefined; message: string | undefined } {
  if (typeof parsed !== 'object' || parsed === null) return { type: undefined, message: undefined };
  const err = (parsed as { error?: unknown }).error;
  if (typeof err !== 'object' || err === null) return { type: undefined, message: undefined };
  const { type, message } = err as { type?: unknown; message?: unknown };
  return {
    type: typeof type === 'string' ? type : undefined,
    message: typeof message === 'string' ? message : undefined,
  };
}

export function fromAnthropicError(res: UpstreamErrorInput, ctx: AdapterContext): UpstreamError {
  const { type, message } = errorFields(parseJsonLenient(res.body));
  return upstreamErrorFromHttp({
    provider: ctx.provider.id,
    status: res.status,
    // Proxies in front of the API answer in HTML or plain text; a short body is still worth relaying.
    message: message ?? (res.body.length > 0 && res.body.length < 300 ? res.body : undefined),
    providerType: type,
    headers: res.headers,
    requestIdHeader: ANTHROPIC_REQUEST_ID_HEADER,
  });
}
