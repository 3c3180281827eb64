import { OFFLOAD_CHARS } from '../../core/token-counter.js';
import { countPromptTokens, countTextTokens, getLoadedTokenizer } from '../../core/tokens.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { Caller } from '../../types/caller.js';
import type { ChatCompletionRequest } from '../../types/openai.js';
import { checkModelAllowed, type Identifier } from './identify.js';

/**
 * The pipeline's identify stage over an Identifier: the caller onto the context, the key's model
 * allowlist checked against the requested public model, and, for streams, a settle hook that counts
 * tokens when the provider never reported usage (a cut stream, a provider without stream usage).
 */
export function identifyStage(identifier: Identifier) {
  // Not async: a cached key is identified synchronously, and an async stage would allocate its frame
  // and a promise for nothing.
  return function identify(ctx: RequestContext): Promise<void> | void {
    const caller = identifier.identify({
      headers: ctx.ingress.headers,
      ...(ctx.ingress.rawBody ? { rawBody: ctx.ingress.rawBody } : {}),
      ip: ctx.ingress.ip ?? '',
    });
    if (caller instanceof Promise) return caller.then((c) => identified(ctx, c));
    identified(ctx, caller);
  };
}

function identified(ctx: RequestContext, caller: Caller): void {
  ctx.caller = caller;
  const model = (ctx.body as { model?: unknown }).model;
  if (typeof model === 'string') checkModelAllowed(caller, model);
  if (ctx.operation === 'chat.stream') ctx.settleHooks.push(estimateStreamUsage);
}

/** Streams that ended without usage: count the prompt and what was streamed, and say it is an estimate. */
function estimateStreamUsage(ctx: RequestContext): void {
  const m = ctx.meta;
  if (m.usage || m.provider === undefined) return;
  // Only if already loaded (the mock and token counting load it): building the encoder blocks the event
  // loop for a noticeable time, which must not land on other requests. Otherwise about 4 characters a token.
  // Settle hooks run on the event loop: only small texts are counted exactly, larger ones by characters.
  const req = ctx.body as ChatCompletionRequest;
  const text = m.streamedText ?? '';
  const chars = m.streamedChars ?? text.length;
  const promptJson = JSON.stringify(req.messages);
  const enc = chars <= OFFLOAD_CHARS && promptJson.length <= OFFLOAD_CHARS ? getLoadedTokenizer() : undefined;
  const prompt = enc ? countPromptTokens(enc, req.messages) : Math.ceil(promptJson.length / 4);
  const completion = enc ? countTextTokens(enc, text) : Math.ceil(chars / 4);
  // Kept apart from `usage`: limits reconcile only to what a provider reported (a cut stream keeps its reservation).
  m.estimatedUsage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
}
