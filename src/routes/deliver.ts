import type { FastifyReply } from 'fastify';
import { rawJsonOf } from '../core/raw-json.js';
import { SSE_DONE, sseData } from '../core/sse.js';
import type { SpanHandle } from '../core/trace-context.js';
import { isGatewayError, UpstreamError } from '../errors/gateway-error.js';
import type { ChunkStream } from '../pipeline/chunk-stream.js';
import type { RequestContext } from '../pipeline/context.js';
import { routeHeaders } from '../pipeline/headers.js';
import type { ChatCompletionChunk } from '../types/openai.js';
import { type BufferedIterator, isBuffered } from '../upstream/types.js';
import { FrameReadable } from './sse-readable.js';

/**
 * The deliver stage for HTTP: the pipeline's result as JSON, or as SSE in the caller's dialect, with
 * the headers the stages chose. Settle does not wait for this: it follows the result (a stream settles
 * when it ends, however the client reads it).
 */

export function deliverJson<T>(ctx: RequestContext, reply: FastifyReply, result: T): T | Buffer | string {
  writeHeaders(ctx, reply);
  if (result !== null && typeof result === 'object') {
    // The upstream's own text, for an answer passed on untouched: no serialization.
    const raw = rawJsonOf(result);
    if (raw !== undefined) {
      reply.header('content-type', JSON_TYPE);
      return raw;
    }
    if (Object.isFrozen(result)) {
      // A frozen answer is a cache entry's, shared by every hit and never changed: its JSON is built
      // once and each later hit writes the same bytes.
      reply.header('content-type', JSON_TYPE);
      return frozenJson(result);
    }
  }
  return result;
}

/** A request that became a job (`on_limit: job`): 202, `Location` the job's status URL, the job. */
export function deliverDeferred<T extends { status_url: string }>(
  ctx: RequestContext,
  reply: FastifyReply,
  job: T,
): T {
  writeHeaders(ctx, reply);
  reply.code(202).header('location', job.status_url);
  return job;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Serialized forms of frozen (shared, immutable) objects: cache entries' answers and chunks. Weak, so an
 * entry evicted from the cache takes its bytes with it.
 */
const frozenBodies = new WeakMap<object, Buffer>();
const frozenFrames = new WeakMap<object, [string | undefined, string | undefined]>();

function frozenJson(value: object): Buffer {
  let bytes = frozenBodies.get(value);
  if (bytes === undefined) {
    bytes = Buffer.from(JSON.stringify(value), 'utf8');
    frozenBodies.set(value, bytes);
  }
  return bytes;
}

/** OpenAI chat-completions SSE: `data: {chunk}` events, then `data: [DONE]`; an error ends it without one. */
export function deliverChatSse(
  ctx: RequestContext<'chat.stream'>,
  reply: FastifyReply,
  stream: ChunkStream<ChatCompletionChunk>,
): FastifyReply {
  writeHeaders(ctx, reply);
  reply
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('x-accel-buffering', 'no');
  const includeUsage = ctx.body.stream_options?.include_usage === true;
  return reply.send(new FrameReadable(new ChatFrames(ctx, stream, includeUsage)));
}

export function writeHeaders(ctx: RequestContext, reply: FastifyReply): void {
  routeHeaders(ctx.meta, ctx.responseHeaders);
  reply.headers(ctx.responseHeaders);
}

/**
 * The SSE frames of a chat stream: one per chunk (none for a chunk this client does not see), then
 * `data: [DONE]`; a failure ends it with an error event instead, and an abort with nothing. What an
 * async generator over the stream would give, plus `nextBuffered`: the frames of chunks the stream
 * already holds, without a promise each.
 */
class ChatFrames implements BufferedIterator<string> {
  private readonly it: AsyncIterator<ChatCompletionChunk>;
  private span: SpanHandle | undefined;
  /** The stream is done with (the last frame, [DONE] or an error, handed out or none to give). */
  private last = false;
  private ok = false;
  private closed = false;

  constructor(
    private readonly ctx: RequestContext,
    stream: ChunkStream<ChatCompletionChunk>,
    private readonly includeUsage: boolean,
  ) {
    this.it = stream[Symbol.asyncIterator]();
  }

  nextBuffered(): IteratorResult<string> | undefined {
    if (this.closed) return DONE;
    this.span ??= this.ctx.span.child('deliver', 'internal');
    if (this.last) {
      this.close();
      return DONE;
    }
    const it = this.it;
    if (!isBuffered(it)) return undefined;
    for (;;) {
      let r: IteratorResult<ChatCompletionChunk> | undefined;
      try {
        r = it.nextBuffered();
      } catch (err) {
        return this.failed(err);
      }
      if (r === undefined) return undefined;
      const f = this.frameOf(r);
      if (f !== undefined) return { done: false, value: f };
    }
  }

  async next(): Promise<IteratorResult<string>> {
    for (;;) {
      const b = this.nextBuffered();
      if (b !== undefined) return b;
      let r: IteratorResult<ChatCompletionChunk>;
      try {
        r = await this.it.next();
      } catch (err) {
        return this.failed(err);
      }
      const f = this.frameOf(r);
      if (f !== undefined) return { done: false, value: f };
    }
  }

  /** The client left: the stream is returned (it ends as aborted), as a `for await` loop would. */
  async return(): Promise<IteratorResult<string>> {
    if (this.closed) return DONE;
    if (this.span === undefined) {
      // Never read: like a generator that never started, nothing to end.
      this.closed = true;
      return DONE;
    }
    if (!this.last) await this.it.return?.();
    this.close();
    return DONE;
  }

  private frameOf(r: IteratorResult<ChatCompletionChunk>): string | undefined {
    if (r.done === true) {
      this.ok = true;
      this.last = true;
      return SSE_DONE;
    }
    const chunk = r.value;
    return Object.isFrozen(chunk)
      ? frozenFrame(chunk, this.includeUsage)
      : chatFrame(chunk, this.includeUsage);
  }

  private failed(err: unknown): IteratorResult<string> {
    const ctx = this.ctx;
    if (ctx.signal.aborted) {
      this.close();
      return DONE;
    }
    const gw = isGatewayError(err)
      ? err
      : new UpstreamError('stream failed inside the gateway', {
          provider: ctx.meta.provider ?? 'unknown',
          errorClass: 'stream_interrupted',
          retryable: false,
          cause: err,
        });
    this.last = true;
    // OpenAI's SDKs raise an APIError for a data event carrying `error`; no [DONE] follows.
    return { done: false, value: sseData(gw.toBody()) };
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    const span = this.span;
    if (span === undefined) return;
    if (!this.ok && !this.ctx.signal.aborted) span.fail(new Error('stream interrupted'));
    span.end();
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * One chunk's SSE event for this client, or nothing. Chunks are never changed here: the same objects may
 * belong to other merged requests and to a cache entry, so a different shape is a copy.
 */
function chatFrame(chunk: ChatCompletionChunk, includeUsage: boolean): string | undefined {
  // The upstream's own text for a chunk passed on untouched (OpenAI-compatible upstreams).
  const raw = rawJsonOf(chunk);
  if (includeUsage) {
    // OpenAI sends `"usage": null` on every chunk before the usage chunk when include_usage is on.
    if (chunk.usage === undefined && chunk.choices.length > 0) return sseData({ ...chunk, usage: null });
    return raw === undefined ? sseData(chunk) : `data: ${raw}\n\n`;
  }
  // Usage rides on content chunks from some upstreams; without include_usage the client didn't ask.
  if (chunk.choices.length === 0) return undefined;
  if (chunk.usage === undefined) return raw === undefined ? sseData(chunk) : `data: ${raw}\n\n`;
  // The gateway always asks OpenAI-style upstreams for usage, so their content chunks end with
  // `"usage":null`: cut it from the text when it is the object's last member, as OpenAI writes it.
  if (chunk.usage === null && raw !== undefined && raw.endsWith(USAGE_NULL_TAIL)) {
    return `data: ${raw.slice(0, -USAGE_NULL_TAIL.length)}}\n\n`;
  }
  return sseData({ ...chunk, usage: undefined });
}

const USAGE_NULL_TAIL = ',"usage":null}';

/** chatFrame for a cache entry's chunk: built once per shape, reused by every replay. */
function frozenFrame(chunk: ChatCompletionChunk, includeUsage: boolean): string | undefined {
  let frames = frozenFrames.get(chunk);
  if (frames === undefined) {
    frames = [undefined, undefined];
    frozenFrames.set(chunk, frames);
  }
  const i = includeUsage ? 1 : 0;
  let f = frames[i];
  if (f === undefined) {
    // '' marks "no event for this shape" (a usage-only chunk without include_usage).
    f = chatFrame(chunk, includeUsage) ?? '';
    frames[i] = f;
  }
  return f === '' ? undefined : f;
}
