import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { Dispatcher } from 'undici';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../config/resolve.js';
import { header, streamInterrupted } from '../core/classify.js';
import { withRawJson } from '../core/raw-json.js';
import { redactSecrets } from '../core/redact.js';
import { abortError, isUpstreamError, UpstreamError } from '../errors/gateway-error.js';
import type {
  AdapterContext,
  ProviderAdapter,
  SseEvent,
  StreamTranslator,
  UpstreamHttpRequest,
} from '../providers/types.js';
import type { ProviderSpec } from '../types/config.js';
import type { ChatCompletionChunk, ChatCompletionRequest, EmbeddingsRequest } from '../types/openai.js';
import type { UpstreamPools } from './pools.js';
import type {
  BufferedIterator,
  CallContext,
  ChatResult,
  ChatStream,
  ForwardRequest,
  ProviderClient,
  Target,
} from './types.js';

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
    const text = await readText(res, target, ctx.signal);
    const body = parseJson(text, res, target);
    const completion = this.adapter.parseChatResponse(body, actx);
    // The adapter passed the upstream's object on as the answer (OpenAI-compatible): its text is the
    // answer's JSON, written to the client and the cache without serializing it again.
    if (completion === body) withRawJson(completion, text);
    return { completion, upstreamRequestId };
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
      chunks: new SseChunkReader(res.body, translator, target.provider, ctx.signal),
      upstreamRequestId: header(res.headers, this.adapter.requestIdHeader),
    };
  }

  async embeddings(req: EmbeddingsRequest, target: Target, ctx: CallContext) {
    const actx = adapterContext(target, ctx);
    const res = await this.send(this.adapter.buildEmbeddingsRequest(req, actx), target, ctx, actx);
    const body = await readJson(res, target, ctx.signal);
    return this.adapter.parseEmbeddingsResponse(body, req, actx);
  }

  forward(http: ForwardRequest, target: Target, ctx: CallContext): Promise<Dispatcher.ResponseData> {
    return this.send(http, target, ctx, adapterContext(target, ctx));
  }

  /** The provider's request-id header, for passthrough callers. */
  get requestIdHeader(): string {
    return this.adapter.requestIdHeader;
  }

  private async send(
    http: UpstreamHttpRequest | ForwardRequest,
    target: Target,
    ctx: CallContext,
    actx: AdapterContext,
  ): Promise<Dispatcher.ResponseData> {
    const url = splitUrl(http.url);
    const { timeouts } = target.provider;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pools.get(url.origin, timeouts).request({
        method: http.method,
        path: url.path,
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
      // An error body is only read for its message: a small cap, whatever the upstream sends.
      text = (await readCapped(res, MAX_ERROR_BODY_BYTES, false)).toString('utf8');
    } catch (err) {
      throw transportError(err, target.provider.id, ctx.signal);
    }
    const err = this.adapter.parseError({ status: res.statusCode, body: text, headers: res.headers }, actx);
    err.message = redactSecrets(err.message, target.provider.apiKeys);
    throw err;
  }
}

/**
 * Origin and path of an upstream URL, parsed once per distinct URL: adapters build the same few URLs
 * (base URL plus an endpoint) on every request, and WHATWG URL parsing is not free. Bounded: past
 * MAX_PARSED_URLS distinct URLs (Gemini puts the model name in the path) the cache starts over.
 */
const MAX_PARSED_URLS = 512;
const parsedUrls = new Map<string, { origin: string; path: string }>();
function splitUrl(href: string): { origin: string; path: string } {
  let parsed = parsedUrls.get(href);
  if (parsed) return parsed;
  const url = new URL(href);
  parsed = { origin: url.origin, path: url.pathname + url.search };
  if (parsedUrls.size >= MAX_PARSED_URLS) parsedUrls.clear();
  parsedUrls.set(href, parsed);
  return parsed;
}

function adapterContext(target: Target, ctx: CallContext): AdapterContext {
  return {
    provider: target.provider,
    upstreamModel: target.upstreamModel,
    requestId: ctx.requestId,
    now: Math.floor(Date.now() / 1000),
  };
}

/** Bytes of an upstream error body read for its message; the rest is discarded. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

function tooLarge(provider: ProviderSpec, what: string): UpstreamError {
  const limit = provider.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  return new UpstreamError(
    `provider '${provider.id}' sent ${what} larger than max_response_size (${limit} bytes)`,
    { provider: provider.id, upstreamStatus: 200, errorClass: 'response_too_large', retryable: false },
  );
}

/**
 * Reads a body up to `max` bytes and stops reading there (the socket is released). Past the limit,
 * `strict` throws RangeError, and a Content-Length over it fails before anything is read; otherwise the
 * first `max` bytes are kept.
 */
function readCapped(res: Dispatcher.ResponseData, max: number, strict: boolean): Promise<Buffer> {
  const body = res.body;
  const declared = Number(header(res.headers, 'content-length'));
  if (strict && Number.isFinite(declared) && declared > max) {
    body.destroy();
    return Promise.reject(new RangeError('content-length over the limit'));
  }
  if (body.errored) return Promise.reject(body.errored);
  if (body.destroyed) return Promise.reject(prematureClose());
  // Plain listeners rather than `for await`: the stream's async iterator (its end-of-stream watcher,
  // a promise and a tick per read) cost about 10 µs per request under load for a one-read body.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: unknown, value?: Buffer) => {
      if (done) return;
      done = true;
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('close', onClose);
      // The error listener stays: destroying the body past the cap (or later) emits an abort error,
      // which must find a listener (finish() ignores it).
      if (err !== undefined) reject(err);
      else resolve(value as Buffer);
    };
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > max) {
        body.destroy();
        if (strict) {
          finish(new RangeError('body over the limit'));
          return;
        }
        chunks.push(chunk.subarray(0, max - size));
        size = max;
        finish(undefined, Buffer.concat(chunks, size));
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    };
    const onEnd = () => finish(undefined, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    const onError = (err: unknown) => finish(err);
    // Closed without 'end' or 'error' (destroyed quietly): what `for await` reports as a premature close.
    const onClose = () => finish(prematureClose());
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
  });
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

async function readText(res: Dispatcher.ResponseData, target: Target, signal: AbortSignal): Promise<string> {
  try {
    const max = target.provider.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    return (await readCapped(res, max, true)).toString('utf8');
  } catch (err) {
    if (err instanceof RangeError) throw tooLarge(target.provider, 'a response');
    throw transportError(err, target.provider.id, signal);
  }
}

function parseJson(text: string, res: Dispatcher.ResponseData, target: Target): unknown {
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

async function readJson(res: Dispatcher.ResponseData, target: Target, signal: AbortSignal): Promise<unknown> {
  return parseJson(await readText(res, target, signal), res, target);
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
 * Upstream body -> SSE events -> canonical chunks. Chunks produced by one network read are handed out
 * before any error from the same read, so the client sees everything that arrived before the failure.
 * A read's events are translated one at a time as they are asked for, not all before the first is
 * handed on: a read often holds many events, and the first must not wait for the others' parsing.
 *
 * An explicit iterator rather than an async generator: `nextBuffered` hands out what the last read
 * already holds without a promise, so delivery can take a whole read's chunks in one go.
 */
export class SseChunkReader implements BufferedIterator<ChatCompletionChunk> {
  private readonly reader: AsyncIterator<unknown>;
  private readonly decoder = new TextDecoder();
  private readonly parser: EventSourceParser;
  /** Events parsed from the bytes read so far and not yet translated, from index `nextEvent` on. */
  private readonly events: SseEvent[] = [];
  private nextEvent = 0;
  /** The last translated event's chunks not yet handed out, from index `nextOut` on. */
  private out: ChatCompletionChunk[] = [];
  private nextOut = 0;
  /** Bytes since the last complete event: the parser buffers an unfinished event whole. */
  private sinceEvent = 0;
  private readonly maxEvent: number;
  private tooBig = false;
  private bodyEnded = false;
  private translatorEnded = false;
  private done = false;

  constructor(
    private readonly body: Dispatcher.ResponseData['body'],
    private readonly translator: StreamTranslator,
    private readonly spec: ProviderSpec,
    private readonly signal: AbortSignal,
  ) {
    this.reader = body[Symbol.asyncIterator]();
    this.maxEvent = spec.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const events = this.events;
    this.parser = createParser({
      onEvent: (ev) => {
        this.sinceEvent = 0;
        events.push({ event: ev.event, data: ev.data });
      },
    });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  nextBuffered(): IteratorResult<ChatCompletionChunk> | undefined {
    if (this.done) return DONE;
    try {
      for (;;) {
        if (this.nextOut < this.out.length) return { done: false, value: this.out[this.nextOut++]! };
        if (this.nextEvent < this.events.length) {
          this.out = this.translator.push(this.events[this.nextEvent++]!);
          this.nextOut = 0;
          continue;
        }
        this.events.length = 0;
        this.nextEvent = 0;
        if (this.tooBig) throw tooLarge(this.spec, 'a stream event');
        if (!this.bodyEnded) return undefined;
        if (this.translatorEnded) {
          this.close();
          return DONE;
        }
        this.translatorEnded = true;
        this.out = this.translator.end();
        this.nextOut = 0;
      }
    } catch (err) {
      throw this.fail(err);
    }
  }

  async next(): Promise<IteratorResult<ChatCompletionChunk>> {
    for (;;) {
      const r = this.nextBuffered();
      if (r !== undefined) return r;
      let read: IteratorResult<unknown>;
      try {
        read = await this.reader.next();
      } catch (err) {
        throw this.fail(err);
      }
      if (this.done) return DONE;
      if (read.done === true) {
        this.parser.feed(this.decoder.decode());
        this.parser.reset({ consume: true });
        this.bodyEnded = true;
      } else {
        const buf = read.value as Buffer;
        this.sinceEvent += buf.length;
        this.parser.feed(this.decoder.decode(buf, { stream: true }));
        if (this.sinceEvent > this.maxEvent) this.tooBig = true;
      }
    }
  }

  /** The consumer left early (client disconnected): stop reading and free the socket. */
  async return(): Promise<IteratorResult<ChatCompletionChunk>> {
    this.close();
    return DONE;
  }

  private close(): void {
    this.done = true;
    this.out = [];
    if (!this.body.destroyed) this.body.destroy();
  }

  private fail(err: unknown): unknown {
    this.close();
    if (isUpstreamError(err)) {
      // Credentials never leave in an error's message, also one thrown mid-stream.
      err.message = redactSecrets(err.message, this.spec.apiKeys);
      return err;
    }
    if (this.signal.aborted) return abortError(this.signal);
    const code = (err as { code?: string }).code;
    return streamInterrupted(
      this.spec.id,
      code === 'UND_ERR_BODY_TIMEOUT' ? 'body timeout' : 'connection lost',
    );
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });
