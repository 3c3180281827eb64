import { upstreamErrorFromHttp } from '../../core/classify.js';
import type { UpstreamError } from '../../errors/gateway-error.js';
import type {
  GeminiCandidate,
  GeminiGenerateContentResponse,
  GeminiPart,
  GeminiUsageMetadata,
} from '../../types/gemini.js';
import type {
  ChatCompletion,
  ChatCompletionChoice,
  FinishReason,
  ToolCall,
  Usage,
} from '../../types/openai.js';
import type { AdapterContext } from '../types.js';
import { isPlainObject } from './schema.js';

/**
 * Gemini has no standard response header carrying its own request id (responses carry `responseId` in
 * the body instead), so the adapter names none.
 */
export const GEMINI_REQUEST_ID_HEADER = '';

const CONTENT_FILTER_REASONS: ReadonlySet<string> = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
]);

export function toFinishReason(reason: string, sawToolCall: boolean): FinishReason {
  if (reason === 'MAX_TOKENS') return 'length';
  if (CONTENT_FILTER_REASONS.has(reason)) return 'content_filter';
  // Gemini says STOP after a function call; OpenAI clients look for tool_calls to run the tools.
  return sawToolCall ? 'tool_calls' : 'stop';
}

export function toUsage(u: GeminiUsageMetadata): Usage {
  const prompt = u.promptTokenCount ?? 0;
  // Thinking tokens are billed as output, so they count as completion tokens, as OpenAI counts reasoning.
  const completion = (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0);
  const usage: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: u.totalTokenCount ?? prompt + completion,
  };
  if (u.cachedContentTokenCount !== undefined) {
    usage.prompt_tokens_details = { cached_tokens: u.cachedContentTokenCount };
  }
  return usage;
}

/** Deterministic per request, so retries of translation and tests see the same ids. */
export function toolCallId(ctx: AdapterContext, ordinal: number): string {
  return `call_${ctx.requestId}_${ordinal}`;
}

export function completionId(ctx: AdapterContext, responseId: string | undefined): string {
  return `chatcmpl-${responseId || ctx.requestId}`;
}

/** A prompt Gemini refused outright comes back 200 with no candidates; to the client it is a 400. */
export function blockedPromptError(
  res: GeminiGenerateContentResponse,
  ctx: AdapterContext,
): UpstreamError | undefined {
  const reason = res.promptFeedback?.blockReason;
  if (!reason || (res.candidates && res.candidates.length > 0)) return undefined;
  return upstreamErrorFromHttp({
    provider: ctx.provider.id,
    status: 400,
    message: `the prompt was blocked by Gemini (blockReason ${reason})`,
    // "blocked" is what the classifier recognises as a content-policy failure.
    providerType: `prompt_blocked:${reason}`,
    headers: {},
    requestIdHeader: GEMINI_REQUEST_ID_HEADER,
  });
}

/** A 2xx body that is not a GenerateContentResponse is the upstream's fault, not the client's. */
export function malformedResponse(ctx: AdapterContext, what: string): UpstreamError {
  return upstreamErrorFromHttp({
    provider: ctx.provider.id,
    status: 502,
    message: `malformed ${what} from Gemini`,
    providerType: undefined,
    headers: {},
    requestIdHeader: GEMINI_REQUEST_ID_HEADER,
  });
}

export function asGenerateContentResponse(body: unknown, ctx: AdapterContext): GeminiGenerateContentResponse {
  if (!isPlainObject(body)) throw malformedResponse(ctx, 'generateContent response');
  if (body.candidates !== undefined && !Array.isArray(body.candidates)) {
    throw malformedResponse(ctx, 'generateContent response');
  }
  return body as GeminiGenerateContentResponse;
}

/** Visible text of a candidate's parts; thought summaries are reasoning, not content. */
export function textOf(parts: readonly GeminiPart[]): string | undefined {
  let text: string | undefined;
  for (const p of parts) {
    if (typeof p.text === 'string' && p.thought !== true) text = (text ?? '') + p.text;
  }
  return text;
}

export function functionCallsOf(
  parts: readonly GeminiPart[],
): Array<{ name: string; args: Record<string, unknown> }> {
  const calls: Array<{ name: string; args: Record<string, unknown> }> = [];
  for (const p of parts) {
    if (p.functionCall) calls.push({ name: p.functionCall.name, args: p.functionCall.args ?? {} });
  }
  return calls;
}

export function fromGeminiResponse(body: unknown, ctx: AdapterContext): ChatCompletion {
  const res = asGenerateContentResponse(body, ctx);
  const blocked = blockedPromptError(res, ctx);
  if (blocked) throw blocked;
  let ordinal = 0;
  const candidates: GeminiCandidate[] = res.candidates && res.candidates.length > 0 ? res.candidates : [{}];
  const choices = candidates.map((c, position): ChatCompletionChoice => {
    const parts = c.content?.parts ?? [];
    const toolCalls: ToolCall[] = functionCallsOf(parts).map((fc) => ({
      id: toolCallId(ctx, ordinal++),
      type: 'function',
      function: { name: fc.name, arguments: JSON.stringify(fc.args) },
    }));
    const message: ChatCompletionChoice['message'] = { role: 'assistant', content: textOf(parts) ?? null };
    if (toolCalls.length > 0) message.tool_calls = toolCalls;
    return {
      index: c.index ?? position,
      message,
      finish_reason: toFinishReason(c.finishReason ?? 'STOP', toolCalls.length > 0),
      logprobs: null,
    };
  });
  const completion: ChatCompletion = {
    id: completionId(ctx, res.responseId),
    object: 'chat.completion',
    created: ctx.now,
    model: ctx.upstreamModel,
    choices,
  };
  if (res.usageMetadata) completion.usage = toUsage(res.usageMetadata);
  return completion;
}

/**
 * A google.rpc.Status error body (`{ error: { code, message, status } }`), from a non-2xx response or
 * an SSE event, classified by the shared classifier with the status string as the provider's type.
 */
export function fromGeminiError(
  parsed: unknown,
  status: number,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  ctx: AdapterContext,
  rawBody = '',
): UpstreamError {
  // streamGenerateContent without alt=sse wraps everything, errors included, in a JSON array.
  const root = Array.isArray(parsed) ? (parsed[0] as unknown) : parsed;
  const err = isPlainObject(root) && isPlainObject(root.error) ? root.error : undefined;
  const message = typeof err?.message === 'string' ? err.message : undefined;
  return upstreamErrorFromHttp({
    provider: ctx.provider.id,
    status,
    message: message ?? (rawBody.length > 0 && rawBody.length < 300 ? rawBody : undefined),
    providerType: typeof err?.status === 'string' ? err.status : undefined,
    headers,
    requestIdHeader: GEMINI_REQUEST_ID_HEADER,
  });
}
