import { isBuffered } from '../upstream/types.js';

/**
 * A streamed result: an async iterable of canonical chunks plus a promise of its end. Later stages
 * (the cache, request merging) wrap or fan it out without touching the executor, and settle waits on
 * `end` instead of on an HTTP response.
 */

export interface StreamEnd {
  ok: boolean;
  /** What broke the stream, when it broke (already a GatewayError for upstream failures). */
  error?: unknown;
  /** The consumer went away (client disconnect, job cancelled) before the last chunk. */
  aborted?: boolean;
}

export interface ChunkStream<C> extends AsyncIterable<C> {
  /** Settles exactly once, when the stream finished, failed or was abandoned. Never rejects. */
  readonly end: Promise<StreamEnd>;
  /**
   * For a consumer that iterates the stream itself: the next result when it is already at hand (no
   * I/O needed), undefined otherwise; throws what the iterator's next() would reject with. Lets
   * delivery take all the chunks of one upstream read at once, without a promise each.
   */
  nextBuffered?(): IteratorResult<C> | undefined;
}

export interface UpstreamStreamHooks<C> {
  /** Each chunk, before the consumer sees it. */
  onChunk?(chunk: C): void;
  /** Turns whatever the upstream iterator threw into the error the consumer should see. */
  mapError?(err: unknown): unknown;
  /** Once, with the end; before `end` resolves. */
  onEnd?(end: StreamEnd, upstreamWaitMs: number): void;
}

/**
 * The stream the execute stage hands on: the first chunk (already read, so failures before it were
 * ordinary attempt failures), then the upstream iterator. A single consumer. Written as an explicit
 * iterator rather than a generator because a generator that was never started skips its `finally` on
 * `return()`, and a stream abandoned before its first read must still end (and so settle).
 */
export class UpstreamChunkStream<C> implements ChunkStream<C>, AsyncIterator<C> {
  readonly end: Promise<StreamEnd>;
  private resolveEnd!: (end: StreamEnd) => void;
  private pending: IteratorResult<C> | undefined;
  private finished = false;
  private waitMs = 0;
  private readonly onAbort: () => void;

  constructor(
    first: IteratorResult<C>,
    private readonly upstream: AsyncIterator<C>,
    private readonly signal: AbortSignal,
    private readonly hooks: UpstreamStreamHooks<C> = {},
  ) {
    this.end = new Promise((resolve) => {
      this.resolveEnd = resolve;
    });
    this.pending = first;
    // The consumer may never call next() again after a disconnect (a Readable destroyed early, a job
    // cancelled between chunks): the abort alone must release the upstream and end the stream.
    this.onAbort = () => {
      this.finish({ ok: false, aborted: true });
      void this.upstream.return?.()?.catch(() => {});
    };
    if (signal.aborted) this.onAbort();
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<C> {
    return this;
  }

  async next(): Promise<IteratorResult<C>> {
    if (this.finished) return DONE;
    let r: IteratorResult<C>;
    if (this.pending !== undefined) {
      r = this.pending;
      this.pending = undefined;
    } else {
      const t = performance.now();
      try {
        r = await this.upstream.next();
      } catch (raw) {
        this.waitMs += performance.now() - t;
        throw this.failed(raw);
      }
      this.waitMs += performance.now() - t;
    }
    return this.handOut(r);
  }

  nextBuffered(): IteratorResult<C> | undefined {
    if (this.finished) return DONE;
    let r: IteratorResult<C> | undefined;
    if (this.pending !== undefined) {
      r = this.pending;
      this.pending = undefined;
    } else {
      if (!isBuffered(this.upstream)) return undefined;
      try {
        r = this.upstream.nextBuffered();
      } catch (raw) {
        throw this.failed(raw);
      }
      if (r === undefined) return undefined;
    }
    return this.handOut(r);
  }

  private handOut(r: IteratorResult<C>): IteratorResult<C> {
    if (r.done) {
      this.finish({ ok: true });
      return r;
    }
    if (this.finished) return DONE;
    this.hooks.onChunk?.(r.value);
    return r;
  }

  /** Ends the stream with what the upstream iterator threw; returns what to throw on. */
  private failed(raw: unknown): unknown {
    if (this.signal.aborted) {
      this.finish({ ok: false, aborted: true });
      return raw;
    }
    const err = this.hooks.mapError ? this.hooks.mapError(raw) : raw;
    this.finish({ ok: false, error: err });
    return err;
  }

  async return(): Promise<IteratorResult<C>> {
    if (!this.finished) {
      this.finish({ ok: false, aborted: true });
      await this.upstream.return?.()?.catch(() => {});
    }
    return DONE;
  }

  private finish(end: StreamEnd): void {
    if (this.finished) return;
    this.finished = true;
    this.pending = undefined;
    this.signal.removeEventListener('abort', this.onAbort);
    try {
      this.hooks.onEnd?.(end, this.waitMs);
    } finally {
      this.resolveEnd(end);
    }
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });
