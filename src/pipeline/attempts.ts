import { OFFLOAD_CHARS } from '../core/token-counter.js';
import type { SpanHandle } from '../core/trace-context.js';
import { isGatewayError, UpstreamError } from '../errors/gateway-error.js';
import { type AttemptRunner, type ExecutionRequest, execute } from '../services/executor.js';
import type { RequestMeta } from '../services/request-meta.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../types/openai.js';
import { UpstreamChunkStream } from './chunk-stream.js';
import type { OperationName, RequestContext } from './context.js';

/**
 * What every operation's execute shares: handing one attempt runner to the executor, and running a
 * canonical chat request or stream (chat completions directly; the Responses and Messages ingresses
 * after translation).
 */

export function run<Op extends OperationName, R>(
  ctx: RequestContext<Op>,
  span: SpanHandle,
  stream: boolean,
  attempt: AttemptRunner<R>,
) {
  const request: ExecutionRequest = {
    requestId: ctx.id,
    cancel: ctx.cancel,
    startedAt: ctx.startedAt,
    span,
    meta: ctx.meta,
    stream,
    team: ctx.caller.team,
    operation: ctx.operation === 'embeddings' ? 'embeddings' : 'chat',
    staleAvailable: ctx.staleAvailable === true,
  };
  const deps = ctx.deps;
  const route = ctx.route;
  if (!route) throw new Error('execute ran before resolve');
  return execute(ctx.runtime, route, request, attempt, {
    breakers: deps.breakers,
    stats: deps.stats,
    events: deps.events,
    rng: deps.rng,
    log: ctx.log,
  });
}

/** A canonical chat request through the executor; ingress dialects translate to and from it. */
export async function completeCanonical(
  ctx: RequestContext,
  span: SpanHandle,
  req: ChatCompletionRequest,
): Promise<ChatCompletion> {
  const exec = await run(ctx, span, false, (target, params, a) =>
    target.client.chat(withParams(req, params), target, a),
  );
  const m = ctx.meta;
  const completion = exec.result.completion;
  m.upstreamRequestId = exec.result.upstreamRequestId;
  if (completion.usage) m.usage = completion.usage;
  if (ctx.runtime.config.logging.logPrompts) m.completion = completion.choices[0]?.message.content ?? '';
  exec.finish({ ok: true, attributes: usageAttributes(m) });
  return completion;
}

/** A canonical chat stream through the executor; ingress dialects encode its chunks in delivery. */
export async function openCanonicalStream(
  ctx: RequestContext,
  span: SpanHandle,
  req: ChatCompletionRequest,
): Promise<UpstreamChunkStream<ChatCompletionChunk>> {
  const exec = await run(ctx, span, true, async (target, params, a) => {
    const stream = await target.client.chatStream(withParams(req, params), target, a);
    const it = stream.chunks[Symbol.asyncIterator]();
    try {
      const first = await it.next();
      return { it, first, upstreamRequestId: stream.upstreamRequestId };
    } catch (err) {
      // Release the upstream body of the failed attempt before the next one starts.
      await it.return?.().catch(() => {});
      throw err;
    }
  });
  const m = ctx.meta;
  m.upstreamRequestId = exec.result.upstreamRequestId;
  m.firstTokenMs = performance.now() - ctx.startedAt;
  const events = ctx.deps.events;
  if (events.has('ai.response.streaming')) {
    events.emit('ai.response.streaming', {
      requestId: ctx.id,
      model: m.model ?? '',
      provider: m.provider ?? '',
      upstreamModel: m.upstreamModel ?? '',
      stream: true,
      team: ctx.caller.team,
      firstTokenMs: m.firstTokenMs,
    });
  }
  let text = ctx.runtime.config.logging.logPrompts ? '' : undefined;
  return new UpstreamChunkStream(exec.result.first, exec.result.it, ctx.signal, {
    onChunk(chunk) {
      const piece = chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) {
        m.usage = chunk.usage;
        m.streamedText = undefined;
      } else if (m.usage === undefined && piece !== '') {
        // Kept only while no usage has arrived, so a stream cut before its usage chunk is still costed;
        // bounded: past OFFLOAD_CHARS only the length is kept, and the estimate is by characters.
        m.streamedChars = (m.streamedChars ?? 0) + piece.length;
        if (m.streamedChars <= OFFLOAD_CHARS) m.streamedText = (m.streamedText ?? '') + piece;
      }
      if (text !== undefined) text += piece;
    },
    mapError: (err) => (isGatewayError(err) ? err : interrupted(m, err)),
    onEnd(end, waitMs) {
      m.upstreamMs = (m.upstreamMs ?? 0) + waitMs;
      if (end.ok && text !== undefined) m.completion = text;
      exec.finish({ ok: end.ok, attributes: usageAttributes(m) });
    },
  });
}

export function interrupted(m: RequestMeta, cause: unknown): UpstreamError {
  return new UpstreamError('stream failed inside the gateway', {
    provider: m.provider ?? 'unknown',
    errorClass: 'stream_interrupted',
    retryable: false,
    cause,
  });
}

export function usageAttributes(meta: RequestMeta) {
  return {
    'gen_ai.usage.input_tokens': meta.usage?.prompt_tokens,
    'gen_ai.usage.output_tokens': meta.usage?.completion_tokens,
    'switchyard.upstream_request_id': meta.upstreamRequestId,
  };
}

/** A target's configured params win over the client's: they are the operator's decision. */
export function withParams(
  req: ChatCompletionRequest,
  params: Record<string, unknown>,
): ChatCompletionRequest {
  for (const _ in params) return { ...req, ...params, model: req.model, messages: req.messages };
  return req;
}
