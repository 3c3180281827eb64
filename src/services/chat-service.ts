import type { EventBus } from '../core/event-bus.js';
import { SSE_DONE, sseData } from '../core/sse.js';
import type { SpanHandle } from '../core/trace-context.js';
import {
  type GatewayError,
  isClientAbort,
  isGatewayError,
  isUpstreamError,
  UpstreamError,
} from '../errors/gateway-error.js';
import type { ResponseIdentity } from '../types/events.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../types/openai.js';
import { type ExecutionRequest, type ExecutorDeps, execute } from './executor.js';
import type { RequestMeta } from './request-meta.js';
import type { Runtime } from './runtime.js';

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
  exec: ExecutorDeps;
  /** `logging.log_prompts`: keep the prompt and the answer's text for the log line. */
  logPrompts: boolean;
}

export async function completeChat(
  runtime: Runtime,
  req: ChatCompletionRequest,
  call: ChatCall,
): Promise<ChatCompletion> {
  const route = resolveStage(runtime, req.model, call);
  begin(call, route.model, false, req);
  const t0 = performance.now();
  const executeSpan = call.span.child('execute', 'internal');
  try {
    const exec = await execute(
      runtime,
      route,
      executionRequest(call, false, executeSpan),
      (target, params, ctx) => target.client.chat(withParams(req, params), target, ctx),
      call.exec,
    );
    call.meta.upstreamRequestId = exec.result.upstreamRequestId;
    if (exec.result.completion.usage) call.meta.usage = exec.result.completion.usage;
    if (call.logPrompts) call.meta.completion = exec.result.completion.choices[0]?.message.content ?? '';
    exec.finish({ ok: true, attributes: usageAttributes(call.meta) });
    return exec.result.completion;
  } catch (err) {
    executeSpan.fail(err);
    throw recordFailure(err, call.meta, false);
  } finally {
    call.meta.upstreamMs = performance.now() - t0;
    executeSpan.end();
  }
}

/** The resolve stage: public model (or provider/model) to its route, as a span of its own. */
function resolveStage(runtime: Runtime, model: string, call: ChatCall): ReturnType<Runtime['resolve']> {
  const span = call.span.child('resolve', 'internal', { 'switchyard.model': model });
  try {
    return runtime.resolve(model);
  } catch (err) {
    span.fail(err);
    throw err;
  } finally {
    span.end();
  }
}

/**
 * Opens the stream (failing over between targets invisibly) and waits for its first chunk before
 * returning, so any failure up to that point is an ordinary HTTP error. After this resolves the
 * response is committed: a failure becomes an SSE error event, never a fake `[DONE]`.
 */
export async function startChatStream(
  runtime: Runtime,
  req: ChatCompletionRequest,
  call: ChatCall,
): Promise<AsyncGenerator<string>> {
  const route = resolveStage(runtime, req.model, call);
  begin(call, route.model, true, req);
  const t0 = performance.now();
  const executeSpan = call.span.child('execute', 'internal');
  let exec: Awaited<ReturnType<typeof openStream>>;
  try {
    exec = await openStream(runtime, route, req, call, executeSpan);
  } catch (err) {
    call.meta.upstreamMs = performance.now() - t0;
    executeSpan.fail(err);
    throw recordFailure(err, call.meta, false);
  } finally {
    executeSpan.end();
  }
  call.meta.upstreamMs = performance.now() - t0;
  call.meta.upstreamRequestId = exec.result.upstreamRequestId;
  call.meta.firstTokenMs = performance.now() - call.startedAt;
  if (call.events.has('ai.response.streaming')) {
    call.events.emit('ai.response.streaming', { ...identity(call), firstTokenMs: call.meta.firstTokenMs });
  }
  return frames(
    exec.result.first,
    exec.result.it,
    req.stream_options?.include_usage === true,
    call,
    exec.finish,
  );
}

function openStream(
  runtime: Runtime,
  route: ReturnType<Runtime['resolve']>,
  req: ChatCompletionRequest,
  call: ChatCall,
  span: SpanHandle,
) {
  return execute(
    runtime,
    route,
    executionRequest(call, true, span),
    async (target, params, ctx) => {
      const stream = await target.client.chatStream(withParams(req, params), target, ctx);
      const it = stream.chunks[Symbol.asyncIterator]();
      try {
        const first = await it.next();
        return { it, first, upstreamRequestId: stream.upstreamRequestId };
      } catch (err) {
        // Release the upstream body of the failed attempt before the next one starts.
        await it.return?.().catch(() => {});
        throw err;
      }
    },
    call.exec,
  );
}

function begin(call: ChatCall, model: string, stream: boolean, req: ChatCompletionRequest): void {
  call.meta.model = model;
  call.meta.stream = stream;
  if (call.logPrompts) call.meta.prompt = req.messages;
}

function executionRequest(call: ChatCall, stream: boolean, span: SpanHandle): ExecutionRequest {
  return {
    requestId: call.requestId,
    signal: call.signal,
    startedAt: call.startedAt,
    span,
    meta: call.meta,
    stream,
    team: call.team,
    operation: 'chat',
  };
}

function usageAttributes(meta: RequestMeta) {
  return {
    'gen_ai.usage.input_tokens': meta.usage?.prompt_tokens,
    'gen_ai.usage.output_tokens': meta.usage?.completion_tokens,
    'switchyard.upstream_request_id': meta.upstreamRequestId,
  };
}

/** A target's configured params win over the client's: they are the operator's decision. */
function withParams(req: ChatCompletionRequest, params: Record<string, unknown>): ChatCompletionRequest {
  for (const _ in params) return { ...req, ...params, model: req.model, messages: req.messages };
  return req;
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

/** Notes the failure on the request for the settle step, and passes the error on. */
function recordFailure(err: unknown, meta: RequestMeta, midStream: boolean): unknown {
  if (isClientAbort(err)) {
    meta.clientAborted = true;
    return err;
  }
  if (isGatewayError(err)) {
    meta.error = {
      code: err.code,
      errorType: isUpstreamError(err) ? err.errorClass : err.code,
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
  finish: (outcome: { ok: boolean; attributes?: ReturnType<typeof usageAttributes> }) => void,
): AsyncGenerator<string> {
  let waiting = 0;
  let ok = false;
  const deliver = call.span.child('deliver', 'internal');
  try {
    let r = first;
    let text = call.logPrompts ? '' : undefined;
    while (!r.done) {
      const chunk = r.value;
      if (chunk.usage) call.meta.usage = chunk.usage;
      if (text !== undefined) text += chunk.choices[0]?.delta.content ?? '';
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
    ok = true;
    if (text !== undefined) call.meta.completion = text;
    yield SSE_DONE;
  } catch (err) {
    if (isClientAbort(err) || call.signal.aborted) {
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
    finish({ ok, attributes: usageAttributes(call.meta) });
    if (!ok && !call.meta.clientAborted) deliver.fail(new Error('stream interrupted'));
    deliver.end();
    await it.return?.();
  }
}
