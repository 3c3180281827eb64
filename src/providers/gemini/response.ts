import { invalidResponse, upstreamErrorFromHttp } from '../../core/classify.js';
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
import { assistantMessage, fullUsage } from '../common/response.js';
import type { AdapterContext } from '../types.js';
import { isPlainObject } from './schema.js';
import { extraContent, idWithSignature } from './thought-signature.js';

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
  return fullUsage(prompt, completion, {
    cached: u.cachedContentTokenCount ?? 0,
    reasoning: u.thoughtsTokenCount ?? 0,
    total: u.totalTokenCount ?? prompt + completion,
  });
}

/**
 * Deterministic per request, so retries of translation and tests see the same ids. A Gemini 3 thought
 * signature rides along in the id (thought-signature.ts).
 */
export function toolCallId(ctx: AdapterContext, ordinal: number, signature?: string): string {
  return idWithSignature(`call_${ctx.requestId}_${ordinal}`, signature);
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
  return invalidResponse(ctx.provider.id, `malformed ${what} from Gemini`);
}

/** Checked down to the parts, so translation never trips over a null where an object belongs. */
export function asGenerateContentResponse(body: unknown, ctx: AdapterContext): GeminiGenerateContentResponse {
  if (!isPlainObject(body)) throw malformedResponse(ctx, 'generateContent response');
  const { candidates } = body;
  if (candidates !== undefined && !Array.isArray(candidates)) {
    throw malformedResponse(ctx, 'generateContent response');
  }
  for (const c of (candidates ?? []) as unknown[]) {
    if (!isPlainObject(c)) throw malformedResponse(ctx, 'candidate');
    if (c.content === undefined) continue;
    if (!isPlainObject(c.content)) throw malformedResponse(ctx, 'candidate content');
    const parts = c.content.parts;
    if (parts === undefined) continue;
    if (!Array.isArray(parts) || !parts.every(isPlainObject)) throw malformedResponse(ctx, 'candidate parts');
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

/** Thought summaries (parts marked `thought`), which the chat dialect carries as reasoning_content. */
export function thoughtsOf(parts: readonly GeminiPart[]): string | undefined {
  let text: string | undefined;
  for (const p of parts) {
    if (typeof p.text === 'string' && p.thought === true) text = (text ?? '') + p.text;
  }
  return text;
}

export interface FunctionCallOut {
  name: string;
  args: Record<string, unknown>;
  thoughtSignature: string | undefined;
}

export function functionCallsOf(parts: readonly GeminiPart[]): FunctionCallOut[] {
  const calls: FunctionCallOut[] = [];
  for (const p of parts) {
    if (p.functionCall) {
      calls.push({
        name: p.functionCall.name,
        args: p.functionCall.args ?? {},
        thoughtSignature: typeof p.thoughtSignature === 'string' ? p.thoughtSignature : undefined,
      });
    }
  }
  return calls;
}

/** One Gemini function call as an OpenAI tool call, its thought signature carried both ways. */
export function toToolCall(ctx: AdapterContext, ordinal: number, fc: FunctionCallOut): ToolCall {
  const call: ToolCall = {
    id: toolCallId(ctx, ordinal, fc.thoughtSignature),
    type: 'function',
    function: { name: fc.name, arguments: JSON.stringify(fc.args) },
  };
  const extra = extraContent(fc.thoughtSignature);
  if (extra) call.extra_content = extra;
  return call;
}

export function fromGeminiResponse(body: unknown, ctx: AdapterContext): ChatCompletion {
  const res = asGenerateContentResponse(body, ctx);
  const blocked = blockedPromptError(res, ctx);
  if (blocked) throw blocked;
  let ordinal = 0;
  const candidates: GeminiCandidate[] = res.candidates && res.candidates.length > 0 ? res.candidates : [{}];
  const choices = candidates.map((c, position): ChatCompletionChoice => {
    const parts = c.content?.parts ?? [];
    const toolCalls = functionCallsOf(parts).map((fc) => toToolCall(ctx, ordinal++, fc));
    const message = assistantMessage(textOf(parts) ?? null, toolCalls);
    const thoughts = thoughtsOf(parts);
    if (thoughts !== undefined) message.reasoning_content = thoughts;
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
    system_fingerprint: null,
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
  const delay = retryDelaySeconds(err?.details);
  return upstreamErrorFromHttp({
    provider: ctx.provider.id,
    status,
    message: message ?? (rawBody.length > 0 && rawBody.length < 300 ? rawBody : undefined),
    providerType: typeof err?.status === 'string' ? err.status : undefined,
    // Gemini says when to retry in the body (google.rpc.RetryInfo), not in a Retry-After header.
    headers:
      delay !== undefined && headers['retry-after'] === undefined
        ? { ...headers, 'retry-after': String(delay) }
        : headers,
    requestIdHeader: GEMINI_REQUEST_ID_HEADER,
  });
}

/** `RetryInfo.retryDelay` (a protobuf Duration such as "37s" or "1.5s") in seconds. */
export function retryDelaySeconds(details: unknown): number | undefined {
  if (!Array.isArray(details)) return undefined;
  for (const d of details) {
    if (!isPlainObject(d) || !String(d['@type']).endsWith('google.rpc.RetryInfo')) continue;
    const m = typeof d.retryDelay === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(d.retryDelay) : null;
    if (m) return Number(m[1]);
  }
  return undefined;
}
