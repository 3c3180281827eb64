import { createParser } from 'eventsource-parser';
import type { Dispatcher } from 'undici';
import { header, streamInterrupted } from '../core/classify.js';
import { abortError, isUpstreamError, UpstreamError } from '../errors/gateway-error.js';
import type {
  AdapterContext,
  ProviderAdapter,
  StreamTranslator,
  UpstreamHttpRequest,
} from '../providers/types.js';
import type { ChatCompletionChunk, ChatCompletionRequest, EmbeddingsRequest } from '../types/openai.js';
import type { UpstreamPools } from './pools.js';
import type { CallContext, ChatResult, ChatStream, ProviderClient, Target } from './types.js';

/** Composes a pure adapter with an undici pool: the only place that talks HTTP to providers. */
export class HttpProviderClient implements ProviderClient {
  constructor(
    private readonly adapter: ProviderAdapter,
    private readonly pools: UpstreamPools,
  ) {}

  async chat(req: ChatCompletionRequest, target: Target, ctx: CallContext): Promise<ChatResult> {
    const actx = adapterContext(target, ctx);
    const res = await this.send(
      this.adapter.buildChatRequest({ ...req, stream: false }, actx),
      target,
      ctx,
      actx,
    );
    const upstreamRequestId = header(res.headers, this.adapter.requestIdHeader);
    const body = await readJson(res, target);
    return { completion: this.adapter.parseChatResponse(body, actx), upstreamRequestId };
  }

  async chatStream(req: ChatCompletionRequest, target: Target, ctx: CallContext): Promise<ChatStream> {
    const actx = adapterContext(target, ctx);
    const res = await this.send(
      this.adapter.buildChatRequest({ ...req, stream: true }, actx),
      target,
      ctx,
      actx,
    );
    const translator = this.adapter.createStreamTranslator(req, actx);
    return {
      chunks: translateSse(res.body, translator, target.provider.id, ctx.signal),
      upstreamRequestId: header(res.headers, this.adapter.requestIdHeader),
    };
  }

  async embeddings(req: EmbeddingsRequest, target: Target, ctx: CallContext) {
    const actx = adapterContext(target, ctx);
    const res = await this.send(this.adapter.buildEmbeddingsRequest(req, actx), target, ctx, actx);
    const body = await readJson(res, target);
    return this.adapter.parseEmbeddingsResponse(body, req, actx);
  }

  private async send(
    http: UpstreamHttpRequest,
    target: Target,
    ctx: CallContext,
    actx: AdapterContext,
  ): Promise<Dispatcher.ResponseData> {
    const url = new URL(http.url);
    const { timeouts } = target.provider;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pools.get(url.origin, timeouts).request({
        method: http.method,
        path: url.pathname + url.search,
        headers: ctx.headers ? { ...http.headers, ...ctx.headers } : http.headers,
        body: http.body,
        signal: ctx.signal,
        headersTimeout: timeouts.headersMs,
        bodyTimeout: timeouts.bodyMs,
      });
    } catch (err) {
      throw transportError(err, target.provider.id, ctx.signal);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    let text = '';
    try {
      text = await res.body.text();
    } catch (err) {
      throw transportError(err, target.provider.id, ctx.signal);
    }
    throw this.adapter.parseError({ status: res.statusCode, body: text, headers: res.headers }, actx);
  }
}

function adapterContext(target: Target, ctx: CallContext): AdapterContext {
  return {
    provider: target.provider,
    upstreamModel: target.upstreamModel,
    requestId: ctx.requestId,
    now: Math.floor(Date.now() / 1000),
  };
}

async function readJson(res: Dispatcher.ResponseData, target: Target): Promise<unknown> {
  let text: string;
  try {
    text = await res.body.text();
  } catch (err) {
    throw transportError(err, target.provider.id, undefined);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamError(`provider '${target.provider.id}' returned a response that is not valid JSON`, {
      provider: target.provider.id,
      upstreamStatus: res.statusCode,
      errorClass: 'server_error',
      retryable: true,
    });
  }
}

function transportError(err: unknown, provider: string, signal: AbortSignal | undefined): Error {
  if (isUpstreamError(err)) return err;
  if (signal?.aborted) return abortError(signal);
  const code = (err as { code?: string }).code ?? '';
  const message = (err as Error).message ?? String(err);
  if (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    const phase =
      code === 'UND_ERR_CONNECT_TIMEOUT'
        ? 'connect'
        : code === 'UND_ERR_HEADERS_TIMEOUT'
          ? 'headers'
          : 'body';
    return new UpstreamError(`provider '${provider}' timed out (${phase} timeout)`, {
      provider,
      errorClass: 'timeout',
      retryable: true,
      cause: err,
    });
  }
  return new UpstreamError(`cannot reach provider '${provider}': ${code || message}`, {
    provider,
    errorClass: 'connection',
    retryable: true,
    cause: err,
  });
}

/**
 * Upstream body -> SSE events -> canonical chunks. Chunks produced by one network read are yielded
 * before any error from the same read, so the client sees everything that arrived before the failure.
 */
async function* translateSse(
  body: Dispatcher.ResponseData['body'],
  translator: StreamTranslator,
  provider: string,
  signal: AbortSignal,
): AsyncGenerator<ChatCompletionChunk> {
  const decoder = new TextDecoder();
  const pending: ChatCompletionChunk[] = [];
  let failure: unknown;
  const parser = createParser({
    onEvent(ev) {
      if (failure !== undefined) return;
      try {
        const out = translator.push({ event: ev.event, data: ev.data });
        for (let i = 0; i < out.length; i++) pending.push(out[i]!);
      } catch (err) {
        failure = err;
      }
    },
  });
  try {
    for await (const buf of body) {
      parser.feed(decoder.decode(buf as Buffer, { stream: true }));
      if (pending.length > 0) {
        for (let i = 0; i < pending.length; i++) yield pending[i]!;
        pending.length = 0;
      }
      if (failure !== undefined) throw failure;
    }
    parser.feed(decoder.decode());
    parser.reset({ consume: true });
    for (const c of pending) yield c;
    pending.length = 0;
    if (failure !== undefined) throw failure;
    for (const c of translator.end()) yield c;
  } catch (err) {
    if (isUpstreamError(err)) throw err;
    if (signal.aborted) throw abortError(signal);
    const code = (err as { code?: string }).code;
    throw streamInterrupted(provider, code === 'UND_ERR_BODY_TIMEOUT' ? 'body timeout' : 'connection lost');
  } finally {
    // Stops reading and frees the socket when the consumer leaves early (client disconnected).
    if (!body.destroyed) body.destroy();
  }
}
