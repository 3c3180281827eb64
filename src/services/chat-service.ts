import { SSE_DONE, sseData } from '../core/sse.js';
import { isGatewayError, UpstreamError } from '../errors/gateway-error.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../types/openai.js';
import { ClientAbortError } from '../upstream/http-client.js';
import type { RequestMeta } from './request-meta.js';
import type { ResolvedRoute, Runtime } from './runtime.js';

export interface ChatCall {
  requestId: string;
  signal: AbortSignal;
  meta: RequestMeta;
  startedAt: number;
}

export async function completeChat(
  runtime: Runtime,
  req: ChatCompletionRequest,
  call: ChatCall,
): Promise<ChatCompletion> {
  const target = pickTarget(runtime.resolve(req.model), call.meta);
  const result = await target.client.chat(req, target, call);
  call.meta.upstreamRequestId = result.upstreamRequestId;
  if (result.completion.usage) call.meta.usage = result.completion.usage;
  return result.completion;
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
  const target = pickTarget(runtime.resolve(req.model), call.meta);
  const stream = await target.client.chatStream(req, target, call);
  call.meta.upstreamRequestId = stream.upstreamRequestId;
  const it = stream.chunks[Symbol.asyncIterator]();
  const first = await it.next();
  call.meta.firstTokenMs = performance.now() - call.startedAt;
  return frames(first, it, req.stream_options?.include_usage === true, call);
}

function pickTarget(route: ResolvedRoute, meta: RequestMeta) {
  // Routing strategies and failover across targets arrive with the resilience stage; until then a
  // model is served by its first target.
  const target = route.targets[0]!;
  meta.model = route.model;
  meta.provider = target.provider.id;
  meta.upstreamModel = target.upstreamModel;
  return target;
}

async function* frames(
  first: IteratorResult<ChatCompletionChunk>,
  it: AsyncIterator<ChatCompletionChunk>,
  includeUsage: boolean,
  call: ChatCall,
): AsyncGenerator<string> {
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
      r = await it.next();
    }
    yield SSE_DONE;
  } catch (err) {
    if (err instanceof ClientAbortError || call.signal.aborted) {
      call.meta.clientAborted = true;
      return;
    }
    const gw = isGatewayError(err)
      ? err
      : new UpstreamError('stream failed inside the gateway', {
          provider: call.meta.provider ?? 'unknown',
          errorClass: 'stream_interrupted',
          retryable: false,
          cause: err,
        });
    call.meta.streamError = gw.code;
    // OpenAI's SDKs raise an APIError for a data event carrying `error`; no [DONE] follows.
    yield sseData(gw.toBody());
  } finally {
    await it.return?.();
  }
}
