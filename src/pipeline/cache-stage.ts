import type { CacheEntry } from '../backends/cache/types.js';
import type { CancelSource } from '../core/cancel.js';
import { assembleCompletion, splitCompletion } from '../core/chat-assembly.js';
import { abortError, isClientAbort, isGatewayError } from '../errors/gateway-error.js';
import { type CacheCaller, type CachePlan, planCache } from '../services/cache/cache-policy.js';
import type { CacheHit, ResponseCache } from '../services/cache/response-cache.js';
import type { FlightOpen, FlightShared } from '../services/cache/single-flight.js';
import { reachedStaleCacheLevel } from '../services/executor.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../types/openai.js';
import { type BufferedIterator, isBuffered } from '../upstream/types.js';
import type { ChunkStream, StreamEnd } from './chunk-stream.js';
import type { OperationName, RequestContext, ResultOf, StageImplementations } from './context.js';

/**
 * The cache stage (docs/cache.md): look the request up; on a hit answer from the entry (a stream
 * replays its chunks, a whole answer is split into chunks for a streaming request, and the reverse);
 * on a miss, join an identical request in flight or lead it, and the answer is stored when the upstream
 * call completes. When every target failed and the degradation chain reaches `stale_cache`, an expired
 * entry within its grace period answers, marked STALE.
 *
 * Accounting: a hit or a merged request causes no upstream call, so it reports no usage (0 tokens,
 * 0 cost). It still passed identify and admit, so it counts toward request limits.
 */

type ChatOp = 'chat' | 'chat.stream';

export function createCacheStage(cache: ResponseCache): StageImplementations['cache'] {
  return function cacheStage<Op extends OperationName>(
    ctx: RequestContext<Op>,
    execute: (cancel?: CancelSource) => Promise<ResultOf<Op>>,
  ): Promise<ResultOf<Op>> {
    if (ctx.operation !== 'chat' && ctx.operation !== 'chat.stream') return execute();
    return chatCache(cache, ctx as unknown as RequestContext<ChatOp>, execute as never) as Promise<
      ResultOf<Op>
    >;
  };
}

/**
 * Not an async function: a hit answered from L1 runs to its answer without a promise or a suspended
 * frame (about 1.5 KB of garbage per hit as an async function). Everything else continues in `miss`.
 */
function chatCache(
  cache: ResponseCache,
  ctx: RequestContext<ChatOp>,
  execute: (cancel?: CancelSource) => Promise<ResultOf<ChatOp>>,
): Promise<ResultOf<ChatOp>> {
  const config = ctx.runtime.config.cache;
  const route = ctx.route;
  if (!config || !route) return execute();
  const policy = { ...config.defaults, ...route.settings.cache };
  if (!policy.enabled && !policy.singleFlight) return execute();
  const body = ctx.body as ChatCompletionRequest;
  // Throws 400/403 for a malformed cache header or a namespace this key may not use.
  const plan = planCache(policy, route.model, body, ctx.ingress.headers, ctx.caller as CacheCaller);
  if (plan.key === undefined) {
    setStatus(ctx, policy.enabled, 'BYPASS');
    return execute();
  }
  if (!plan.lookup) return miss(cache, ctx, execute, plan, policy.enabled, undefined);
  const found = cache.lookupNow(plan);
  if (found instanceof Promise) {
    return found.then((hit) =>
      hit?.fresh ? fromEntry(ctx, policy.enabled, hit) : miss(cache, ctx, execute, plan, policy.enabled, hit),
    );
  }
  if (found?.fresh) return Promise.resolve(fromEntry(ctx, policy.enabled, found));
  return miss(cache, ctx, execute, plan, policy.enabled, found);
}

function setStatus(
  ctx: RequestContext<ChatOp>,
  enabled: boolean,
  s: 'HIT' | 'MISS' | 'STALE' | 'BYPASS',
): void {
  ctx.meta.cache = s;
  if (enabled) ctx.responseHeaders['x-cache'] = s;
}

function fromEntry(ctx: RequestContext<ChatOp>, enabled: boolean, hit: CacheHit): ResultOf<ChatOp> {
  setStatus(ctx, enabled, 'HIT');
  ctx.responseHeaders.age = String(hit.ageSeconds);
  return answer(ctx, hit.entry);
}

async function miss(
  cache: ResponseCache,
  ctx: RequestContext<ChatOp>,
  execute: (cancel?: CancelSource) => Promise<ResultOf<ChatOp>>,
  plan: CachePlan,
  enabled: boolean,
  stale: CacheHit | undefined,
): Promise<ResultOf<ChatOp>> {
  const m = ctx.meta;
  const route = ctx.route;
  setStatus(ctx, enabled, plan.lookup ? 'MISS' : 'BYPASS');
  if (stale && route?.settings.degradation?.chain.includes('stale_cache')) ctx.staleAvailable = true;

  if (!plan.merge && !plan.store) return withStale(ctx, stale, execute);
  try {
    const run = await cache.execute(plan, ctx.id, ctx.cancel, (cancel) => start(ctx, execute, cancel));
    // This request's place in the flight ends when the request does.
    ctx.settleHooks.push(function releaseFlight() {
      run.release();
    });
    if (run.merged !== 'none') {
      m.mergedWith = run.mergedWith;
      ctx.responseHeaders['x-switchyard-merged-with'] = headerSafe(run.mergedWith ?? '');
    }
    return await deliverShared(ctx, run.shared);
  } catch (err) {
    // A flight torn down because this client (and every other) left ends as the client's abort.
    if (ctx.cancel.aborted && !isGatewayError(err)) throw abortError(ctx.cancel);
    const fallback = staleAnswer(ctx, stale, err);
    if (fallback) return fallback;
    throw err;
  }
}

/** The upstream call a flight makes: the pipeline's execute stage on the flight's cancel source. */
async function start(
  ctx: RequestContext<ChatOp>,
  execute: (cancel?: CancelSource) => Promise<ResultOf<ChatOp>>,
  cancel: CancelSource,
): Promise<FlightOpen> {
  const result = await execute(cancel);
  if (ctx.operation === 'chat') return { kind: 'completion', completion: result as ChatCompletion };
  return { kind: 'stream', chunks: result as ChunkStream<ChatCompletionChunk> };
}

async function withStale(
  ctx: RequestContext<ChatOp>,
  stale: CacheHit | undefined,
  execute: () => Promise<ResultOf<ChatOp>>,
): Promise<ResultOf<ChatOp>> {
  try {
    return await execute();
  } catch (err) {
    const fallback = staleAnswer(ctx, stale, err);
    if (fallback) return fallback;
    throw err;
  }
}

function staleAnswer(
  ctx: RequestContext<ChatOp>,
  stale: CacheHit | undefined,
  err: unknown,
): ResultOf<ChatOp> | undefined {
  if (!stale || isClientAbort(err) || !reachedStaleCacheLevel(err)) return undefined;
  ctx.meta.cache = 'STALE';
  ctx.meta.degraded = 'stale_cache';
  ctx.responseHeaders['x-cache'] = 'STALE';
  ctx.responseHeaders.age = String(stale.ageSeconds);
  // The error is what made the stale answer necessary; it no longer ends the request.
  ctx.meta.error = undefined;
  return answer(ctx, stale.entry);
}

/** A stored answer in the shape the operation wants. No usage is reported: nothing was spent. */
function answer(ctx: RequestContext<ChatOp>, entry: CacheEntry): ResultOf<ChatOp> {
  const b = entry.body;
  if (ctx.operation === 'chat') {
    return b.kind === 'completion' ? b.completion : assembleCompletion(b.chunks);
  }
  ctx.meta.firstTokenMs = performance.now() - ctx.startedAt;
  const chunks = b.kind === 'stream' ? b.chunks : splitCompletion(b.completion);
  return new ReplayChunkStream(arrayIterator(chunks), ctx.signal);
}

async function deliverShared(ctx: RequestContext<ChatOp>, shared: FlightShared): Promise<ResultOf<ChatOp>> {
  if (ctx.operation === 'chat') {
    if (shared.kind === 'completion') return shared.completion;
    return assembleCompletion(await shared.broadcast.done);
  }
  if (shared.kind === 'completion') {
    return new ReplayChunkStream(arrayIterator(splitCompletion(shared.completion)), ctx.signal);
  }
  ctx.meta.firstTokenMs ??= performance.now() - ctx.startedAt;
  return new ReplayChunkStream(shared.broadcast.subscribe(ctx.signal), ctx.signal);
}

function arrayIterator<T>(items: readonly T[]): BufferedIterator<T> {
  let i = 0;
  const nextBuffered = (): IteratorResult<T> =>
    i < items.length ? { done: false, value: items[i++] as T } : { done: true, value: undefined };
  return {
    nextBuffered,
    next: async () => nextBuffered(),
    return: async () => {
      i = items.length;
      return { done: true, value: undefined };
    },
  };
}

/**
 * One consumer's stream over shared chunks (a broadcast subscription, or a stored entry). The chunks are
 * handed out as they are, not copied: the same objects belong to other consumers and to the cache
 * entry, so no consumer may change them (delivery builds a copy where a client needs another shape).
 * Ends on abort even if never read, like the upstream's stream, so settle always runs.
 */
export class ReplayChunkStream
  implements ChunkStream<ChatCompletionChunk>, AsyncIterator<ChatCompletionChunk>
{
  readonly end: Promise<StreamEnd>;
  private resolveEnd!: (end: StreamEnd) => void;
  private finished = false;
  private readonly onAbort: () => void;

  constructor(
    private readonly source: AsyncIterator<ChatCompletionChunk>,
    private readonly signal: AbortSignal,
  ) {
    this.end = new Promise((resolve) => {
      this.resolveEnd = resolve;
    });
    this.onAbort = () => {
      this.finish({ ok: false, aborted: true });
      void this.source.return?.()?.catch(() => {});
    };
    if (signal.aborted) this.onAbort();
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<ChatCompletionChunk> {
    return this;
  }

  async next(): Promise<IteratorResult<ChatCompletionChunk>> {
    if (this.finished) return { done: true, value: undefined };
    let r: IteratorResult<ChatCompletionChunk>;
    try {
      r = await this.source.next();
    } catch (err) {
      this.finish(this.signal.aborted ? { ok: false, aborted: true } : { ok: false, error: err });
      throw err;
    }
    if (r.done) {
      this.finish({ ok: true });
      return r;
    }
    if (this.finished) return { done: true, value: undefined };
    return r;
  }

  /** The next chunk when the source already holds it (a stored entry, a flight's pumped chunks). */
  nextBuffered(): IteratorResult<ChatCompletionChunk> | undefined {
    if (this.finished) return { done: true, value: undefined };
    const source = this.source;
    if (!isBuffered(source)) return undefined;
    let r: IteratorResult<ChatCompletionChunk> | undefined;
    try {
      r = source.nextBuffered();
    } catch (err) {
      this.finish(this.signal.aborted ? { ok: false, aborted: true } : { ok: false, error: err });
      throw err;
    }
    if (r === undefined) return undefined;
    if (r.done) {
      this.finish({ ok: true });
      return r;
    }
    if (this.finished) return { done: true, value: undefined };
    return r;
  }

  async return(): Promise<IteratorResult<ChatCompletionChunk>> {
    if (!this.finished) {
      this.finish({ ok: false, aborted: true });
      await this.source.return?.()?.catch(() => {});
    }
    return { done: true, value: undefined };
  }

  private finish(end: StreamEnd): void {
    if (this.finished) return;
    this.finished = true;
    this.signal.removeEventListener('abort', this.onAbort);
    this.resolveEnd(end);
  }
}

const HEADER_VALUE = /^[\x20-\x7e]{1,256}$/;

function headerSafe(v: string): string {
  return HEADER_VALUE.test(v) ? v : encodeURIComponent(v).slice(0, 256);
}

export type { CachePlan };
