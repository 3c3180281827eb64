import type { ChatCompletionChoice, ToolCall, Usage } from '../../types/openai.js';

/**
 * The fields OpenAI always sends on a chat completion, filled in for answers translated from another
 * provider so that clients which read them (the openai SDK's `parse()` reads `refusal`, LangChain reads
 * the usage details) see the same shape whichever provider answered.
 */

export function assistantMessage(
  content: string | null,
  toolCalls: readonly ToolCall[],
): ChatCompletionChoice['message'] {
  const message: ChatCompletionChoice['message'] = {
    role: 'assistant',
    content,
    refusal: null,
    annotations: [],
  };
  if (toolCalls.length > 0) message.tool_calls = [...toolCalls];
  return message;
}

/** OpenAI's usage with both detail objects; the counts a provider does not report are 0. */
export function fullUsage(
  prompt: number,
  completion: number,
  details: { cached?: number; reasoning?: number; total?: number } = {},
): Usage {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: details.total ?? prompt + completion,
    prompt_tokens_details: { cached_tokens: details.cached ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: details.reasoning ?? 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
