import type { EventBus } from '../core/event-bus.js';
import { SSE_DONE, sseData } from '../core/sse.js';
import type { SpanHandle } from '../core/trace-context.js';
import {
  ClientAbortError,
  type GatewayError,
  isGatewayError,
  isUpstreamError,
  UpstreamError,
} from '../errors/gateway-error.js';
import type { ResponseIdentity } from '../types/events.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../types/openai.js';
import type { CallContext, ProviderClient, Target } from '../upstream/types.js';
import type { RequestMeta } from './request-meta.js';
import type { ResolvedRoute, Runtime } from './runtime.js';

export interface ChatCall {
  requestId: string;
  signal: AbortSignal;
  meta: RequestMeta;
  /** performance.now() when the request arrived. */
  startedAt: number;
  span: SpanHandle;
  events: EventBus;
  /** The caller's team, once keys exist. */
  team: string;
}

type RoutedTarget = Target & { client: ProviderClient };

export async function completeChat(
  runtime: Runtime,
  req: ChatCompletionRequest,
  call: ChatCall,
): Promise<ChatCompletion> {
  const target = pickTarget(runtime.resolve(req.model), req, call);
  const attempt = call.span.child(`chat ${target.upstreamModel}`, 'client', attemptAttributes(target));
  const t0 = performance.now();
  try {
    const result = await target.client.chat(req, target, upstreamContext(call, attempt));
    call.meta.upstreamRequestId = result.upstreamRequestId;
    if (result.completion.usage) call.meta.usage = result.completion.usage;
    attempt.setAttributes(usageAttributes(call.meta));
    return result.completion;
  } catch (err) {
    attempt.fail(err);
    throw recordFailure(err, call.meta, false);
  } finally {
    call.meta.upstreamMs = performance.now() - t0;
    attempt.end();
  }
}

/**
 * Opens the upstream stream and waits for its first chunk before returning, so that any failure up to
 * that point is an ordinary HTTP error (and, later, a failover). After this resolves the response is
 * committed: failures become an SSE error event, never a fake `[DONE]`.
 */
export async function startChatStream(
  runtime: Runtime,
  req: ChatCompletionRequest,
  call: ChatCall,
): Promise<AsyncGenerator<string>> {
  const target = pickTarget(runtime.resolve(req.model), req, call);
  const attempt = call.span.child(`chat ${target.upstreamModel}`, 'client', attemptAttributes(target));
  const t0 = performance.now();
  let it: AsyncIterator<ChatCompletionChunk>;
  let first: IteratorResult<ChatCompletionChunk>;
  try {
    const stream = await target.client.chatStream(req, target, upstreamContext(call, attempt));
    call.meta.upstreamRequestId = stream.upstreamRequestId;
    it = stream.chunks[Symbol.asyncIterator]();
    first = await it.next();
  } catch (err) {
    call.meta.upstreamMs = performance.now() - t0;
    attempt.fail(err);
    attempt.end();
    throw recordFailure(err, call.meta, false);
  }
  call.meta.upstreamMs = performance.now() - t0;
  call.meta.firstTokenMs = performance.now() - call.startedAt;
  if (call.events.has('ai.response.streaming')) {
    call.events.emit('ai.response.streaming', { ...identity(call), firstTokenMs: call.meta.firstTokenMs });
  }
  return frames(first, it, req.stream_options?.include_usage === true, call, attempt);
}

function pickTarget(route: ResolvedRoute, req: ChatCompletionRequest, call: ChatCall): RoutedTarget {
  // Routing strategies and failover across targets arrive with the resilience stage; until then a
  // model is served by its first target.
  const target = route.targets[0]!;
  const meta = call.meta;
  meta.model = route.model;
  meta.provider = target.provider.id;
  meta.upstreamModel = target.upstreamModel;
  meta.stream = req.stream === true;
  if (call.events.has('ai.response.started')) call.events.emit('ai.response.started', identity(call));
  return target;
}

export function identity(call: ChatCall): ResponseIdentity {
  const m = call.meta;
  return {
    requestId: call.requestId,
    model: m.model ?? '',
    provider: m.provider ?? '',
    upstreamModel: m.upstreamModel ?? '',
    stream: m.stream === true,
    team: call.team,
  };
}

function upstreamContext(call: ChatCall, attempt: SpanHandle): CallContext {
  return { requestId: call.requestId, signal: call.signal, headers: attempt.propagationHeaders() };
}

function attemptAttributes(target: RoutedTarget) {
  return {
    'gen_ai.system': target.provider.type,
    'gen_ai.request.model': target.upstreamModel,
    'switchyard.provider': target.provider.id,
  };
}

function usageAttributes(meta: RequestMeta) {
  return {
    'gen_ai.usage.input_tokens': meta.usage?.prompt_tokens,
    'gen_ai.usage.output_tokens': meta.usage?.completion_tokens,
    'switchyard.upstream_request_id': meta.upstreamRequestId,
  };
}

/** Notes the failure on the request for the settle step, and passes the error on. */
function recordFailure(err: unknown, meta: RequestMeta, midStream: boolean): unknown {
  if (err instanceof ClientAbortError) {
    meta.clientAborted = true;
    return err;
  }
  if (isGatewayError(err)) {
    meta.error = {
      code: err.code,
      errorType: isUpstreamError(err) ? err.errorClass : 'gateway',
      status: err.status,
      midStream,
    };
  }
  return err;
}

async function* frames(
  first: IteratorResult<ChatCompletionChunk>,
  it: AsyncIterator<ChatCompletionChunk>,
  includeUsage: boolean,
  call: ChatCall,
  attempt: SpanHandle,
): AsyncGenerator<string> {
  let waiting = 0;
  try {
    let r = first;
    while (!r.done) {
      const chunk = r.value;
      if (chunk.usage) call.meta.usage = chunk.usage;
      if (includeUsage) {
        yield sseData(chunk);
      } else if (chunk.choices.length > 0) {
        if (chunk.usage !== undefined) chunk.usage = undefined;
        yield sseData(chunk);
      }
      const t = performance.now();
      r = await it.next();
      waiting += performance.now() - t;
    }
    attempt.setAttributes(usageAttributes(call.meta));
    yield SSE_DONE;
  } catch (err) {
    attempt.fail(err);
    if (err instanceof ClientAbortError || call.signal.aborted) {
      call.meta.clientAborted = true;
      return;
    }
    const gw: GatewayError = isGatewayError(err)
      ? err
      : new UpstreamError('stream failed inside the gateway', {
          provider: call.meta.provider ?? 'unknown',
          errorClass: 'stream_interrupted',
          retryable: false,
          cause: err,
        });
    recordFailure(gw, call.meta, true);
    // OpenAI's SDKs raise an APIError for a data event carrying `error`; no [DONE] follows.
    yield sseData(gw.toBody());
  } finally {
    call.meta.upstreamMs = (call.meta.upstreamMs ?? 0) + waiting;
    attempt.end();
    await it.return?.();
  }
}
