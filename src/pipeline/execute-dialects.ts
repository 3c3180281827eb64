import { createParser } from 'eventsource-parser';
import type { Dispatcher } from 'undici';
import { header, streamInterrupted } from '../core/classify.js';
import { countPromptTokens, countTextTokens, loadTokenizer } from '../core/tokens.js';
import type { SpanHandle } from '../core/trace-context.js';
import { toMessagesResponse } from '../dialects/anthropic-messages/from-canonical.js';
import {
  buildCountTokensPassthrough,
  buildMessagesPassthrough,
  type MessagesClientHeaders,
  MessagesStreamTap,
  usageOfMessage,
} from '../dialects/anthropic-messages/passthrough.js';
import { fromMessagesRequest } from '../dialects/anthropic-messages/to-canonical.js';
import { toResponseObject } from '../dialects/responses/from-canonical.js';
import { abortError, isGatewayError, UpstreamError } from '../errors/gateway-error.js';
import { type AudioResult, transcribeAttempt } from '../services/audio-service.js';
import { prepareResponse, saveResponse } from '../services/responses-service.js';
import type { RouteTarget } from '../services/runtime.js';
import type { MessagesRequest } from '../types/anthropic-messages.js';
import type { ChatCompletionChunk, ChatCompletionRequest, Usage } from '../types/openai.js';
import type { ResponseObject } from '../types/responses.js';
import {
  completeCanonical,
  interrupted,
  openCanonicalStream,
  run,
  usageAttributes,
  withParams,
} from './attempts.js';
import { type ChunkStream, UpstreamChunkStream } from './chunk-stream.js';
import type { RequestContext } from './context.js';
import {
  type CountTokensResult,
  FORWARDED_ERRORS,
  type MessagesResult,
  type MessagesStreamItem,
  type ResponsesStream,
} from './dialect-results.js';

/**
 * Execute for the ingress dialects other than chat completions. Responses and Messages-to-a-non-
 * Anthropic-target translate to the canonical request and run through the same executor as chat;
 * Messages to an Anthropic target is a same-dialect passthrough (the client's body, only the model
 * replaced; the upstream's bytes back), decided per attempt so a route can fail over across dialects.
 */

function isNative(target: RouteTarget): boolean {
  return target.provider.type === 'anthropic' && typeof target.client.forward === 'function';
}

function clientHeaders(ctx: RequestContext): MessagesClientHeaders {
  const version = ctx.ingress.headers['anthropic-version'];
  const beta = ctx.ingress.headers['anthropic-beta'];
  return {
    anthropicVersion: typeof version === 'string' && version !== '' ? version : undefined,
    anthropicBeta: Array.isArray(beta) ? beta.join(',') : beta || undefined,
  };
}

/** Translation happens once per request, and only if a non-Anthropic target is tried. */
function lazyCanonical(body: MessagesRequest): () => ChatCompletionRequest {
  let req: ChatCompletionRequest | undefined;
  return () => {
    req ??= fromMessagesRequest(body);
    return req;
  };
}

function passthrough(
  ctx: RequestContext<'messages' | 'messages.stream'>,
  target: RouteTarget,
  params: Record<string, unknown>,
) {
  return buildMessagesPassthrough(
    ctx.body,
    target.upstreamModel,
    target.provider,
    clientHeaders(ctx),
    target.provider.apiKey,
    params,
  );
}

async function readText(
  res: Dispatcher.ResponseData,
  target: RouteTarget,
  signal: AbortSignal,
): Promise<string> {
  try {
    return await res.body.text();
  } catch (err) {
    if (signal.aborted) throw abortError(signal);
    throw new UpstreamError(`provider '${target.provider.id}' closed the connection mid-body`, {
      provider: target.provider.id,
      errorClass: 'connection',
      retryable: true,
      cause: err,
    });
  }
}

export async function executeMessages(
  ctx: RequestContext<'messages'>,
  span: SpanHandle,
): Promise<MessagesResult> {
  const canonical = lazyCanonical(ctx.body);
  const exec = await run(
    ctx,
    span,
    false,
    async (
      target,
      params,
      a,
    ): Promise<{ result: MessagesResult; usage: Usage | undefined; id: string | undefined }> => {
      if (isNative(target)) {
        const res = await target.client.forward!(passthrough(ctx, target, params), target, a);
        const text = await readText(res, target, a.signal);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new UpstreamError(
            `provider '${target.provider.id}' returned a response that is not valid JSON`,
            {
              provider: target.provider.id,
              upstreamStatus: res.statusCode,
              errorClass: 'server_error',
              retryable: true,
            },
          );
        }
        return {
          result: { raw: text },
          usage: usageOfMessage(parsed),
          id: header(res.headers, 'request-id'),
        };
      }
      const r = await target.client.chat(withParams(canonical(), params), target, a);
      return {
        result: { message: toMessagesResponse(r.completion, r.completion.model) },
        usage: r.completion.usage,
        id: r.upstreamRequestId,
      };
    },
  );
  const m = ctx.meta;
  m.upstreamRequestId = exec.result.id;
  if (exec.result.usage) m.usage = exec.result.usage;
  exec.finish({ ok: true, attributes: usageAttributes(m) });
  return exec.result.result;
}

type Opened =
  | {
      kind: 'native';
      it: AsyncIterator<string>;
      first: IteratorResult<string>;
      tap: MessagesStreamTap;
      id: string | undefined;
    }
  | {
      kind: 'canonical';
      it: AsyncIterator<ChatCompletionChunk>;
      first: IteratorResult<ChatCompletionChunk>;
      id: string | undefined;
    };

export async function executeMessagesStream(
  ctx: RequestContext<'messages.stream'>,
  span: SpanHandle,
): Promise<ChunkStream<MessagesStreamItem>> {
  const canonical = lazyCanonical(ctx.body);
  const exec = await run(ctx, span, true, async (target, params, a): Promise<Opened> => {
    if (isNative(target)) {
      const res = await target.client.forward!(passthrough(ctx, target, params), target, a);
      const tap = new MessagesStreamTap();
      const it = nativeSse(res, tap, target.provider.id)[Symbol.asyncIterator]();
      try {
        return { kind: 'native', it, first: await it.next(), tap, id: header(res.headers, 'request-id') };
      } catch (err) {
        await it.return?.(undefined).catch(() => {});
        throw a.signal.aborted ? abortError(a.signal) : err;
      }
    }
    const stream = await target.client.chatStream(
      withParams(canonical(), { ...params, stream: true }),
      target,
      a,
    );
    const it = stream.chunks[Symbol.asyncIterator]();
    try {
      return { kind: 'canonical', it, first: await it.next(), id: stream.upstreamRequestId };
    } catch (err) {
      await it.return?.().catch(() => {});
      throw err;
    }
  });
  const m = ctx.meta;
  m.upstreamRequestId = exec.result.id;
  m.firstTokenMs = performance.now() - ctx.startedAt;
  const opened = exec.result;
  const finish = (ok: boolean, waitMs: number) => {
    m.upstreamMs = (m.upstreamMs ?? 0) + waitMs;
    exec.finish({ ok, attributes: usageAttributes(m) });
  };
  if (opened.kind === 'native') {
    return new UpstreamChunkStream<MessagesStreamItem>(opened.first, opened.it, ctx.signal, {
      mapError: (err) => (isGatewayError(err) ? err : interrupted(m, err)),
      onEnd(end, waitMs) {
        m.usage = opened.tap.usage();
        finish(end.ok, waitMs);
      },
    });
  }
  return new UpstreamChunkStream<MessagesStreamItem>(opened.first, opened.it, ctx.signal, {
    onChunk(chunk) {
      if (typeof chunk !== 'string' && chunk.usage) m.usage = chunk.usage;
    },
    mapError: (err) => (isGatewayError(err) ? err : interrupted(m, err)),
    onEnd: (end, waitMs) => finish(end.ok, waitMs),
  });
}

/**
 * The upstream's SSE body as text, unchanged, with usage and errors read on the side. A stream that
 * ends without message_stop is an interruption; one that carried Anthropic's own `error` event ends
 * with that error, marked as already forwarded.
 */
async function* nativeSse(
  res: Dispatcher.ResponseData,
  tap: MessagesStreamTap,
  provider: string,
): AsyncGenerator<string> {
  const parser = createParser({ onEvent: (ev) => tap.push({ event: ev.event, data: ev.data }) });
  const decoder = new TextDecoder();
  try {
    for await (const buf of res.body) {
      const text = decoder.decode(buf as Buffer, { stream: true });
      if (text === '') continue;
      parser.feed(text);
      yield text;
    }
    const rest = decoder.decode();
    if (rest !== '') {
      parser.feed(rest);
      yield rest;
    }
  } catch (err) {
    if (isGatewayError(err)) throw err;
    throw streamInterrupted(provider, 'connection lost');
  } finally {
    if (!res.body.destroyed) res.body.destroy();
  }
  if (tap.error) {
    const err = new UpstreamError(tap.error.message, {
      provider,
      errorClass: tap.error.type === 'overloaded_error' ? 'overloaded' : 'server_error',
      retryable: false,
    });
    FORWARDED_ERRORS.add(err);
    throw err;
  }
  if (!tap.stopped) throw streamInterrupted(provider, 'stream ended before message_stop');
}

/**
 * count_tokens: Anthropic's own count for Anthropic targets (forwarded unchanged), otherwise the
 * gateway's cl100k estimate of the translated prompt and tool definitions.
 */
export async function executeCountTokens(
  ctx: RequestContext<'messages.count_tokens'>,
  span: SpanHandle,
): Promise<CountTokensResult> {
  const body = ctx.body;
  const exec = await run(ctx, span, false, async (target, _params, a): Promise<CountTokensResult> => {
    if (isNative(target)) {
      const http = buildCountTokensPassthrough(
        body,
        target.upstreamModel,
        target.provider,
        clientHeaders(ctx),
        target.provider.apiKey,
      );
      const res = await target.client.forward!(http, target, a);
      return { raw: await readText(res, target, a.signal) };
    }
    const enc = await loadTokenizer();
    const req = fromMessagesRequest({ ...body, max_tokens: 1 });
    let n = countPromptTokens(enc, req.messages);
    if (req.tools) n += countTextTokens(enc, JSON.stringify(req.tools));
    return { input_tokens: n };
  });
  exec.finish({ ok: true });
  return exec.result;
}

function storeErrorLogger(ctx: RequestContext) {
  return (err: unknown) => ctx.log.error({ err }, 'storing a response failed');
}

export async function executeResponses(
  ctx: RequestContext<'responses'>,
  span: SpanHandle,
): Promise<ResponseObject> {
  const store = ctx.deps.responses;
  const p = await prepareResponse(ctx.body, store, ctx.caller.team);
  const completion = await completeCanonical(ctx, span, p.canonical);
  const response = toResponseObject(completion, p.ctx);
  await saveResponse(store, ctx.caller.team, p, response, storeErrorLogger(ctx));
  return response;
}

export async function executeResponsesStream(
  ctx: RequestContext<'responses.stream'>,
  span: SpanHandle,
): Promise<ResponsesStream> {
  const store = ctx.deps.responses;
  const team = ctx.caller.team;
  const p = await prepareResponse(ctx.body, store, team);
  const stream = await openCanonicalStream(ctx, span, { ...p.canonical, stream: true });
  const onError = storeErrorLogger(ctx);
  return Object.assign(stream, {
    prepared: p,
    save: (response: ResponseObject) => saveResponse(store, team, p, response, onError),
  });
}

export async function executeTranscription(
  ctx: RequestContext<'audio.transcription'>,
  span: SpanHandle,
): Promise<AudioResult> {
  const exec = await run(ctx, span, false, (target, _params, a) => transcribeAttempt(ctx.body, target, a));
  exec.finish({ ok: true });
  return exec.result;
}
