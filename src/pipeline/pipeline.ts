import type { ChunkStream } from './chunk-stream.js';
import {
  isStreamOperation,
  type OperationName,
  type RequestContext,
  type ResultOf,
  withCancel,
} from './context.js';
import { executeStage } from './execute.js';
import { resolveStage } from './resolve.js';
import { settle } from './settle.js';

/**
 * The one request pipeline. Every operation, over HTTP or from a job, runs these stages in this order:
 *
 *   identify -> resolve -> admit -> cache -> execute -> (deliver, by the transport) -> settle
 *
 * identify, admit and cache are implementations in `ctx.deps.stages` (pass-through until keys, limits
 * and the cache fill them); resolve and execute are the gateway's own. A cache hit skips execute but
 * still passes admit and settle; a rejection happens before any upstream byte. The transport delivers
 * the result (JSON, SSE in the caller's dialect, a stored job result). Settle runs exactly once: when
 * a non-streamed result is ready, when a stream ends (finished, failed or abandoned), or on error.
 */
export function runPipeline<Op extends OperationName>(ctx: RequestContext<Op>): Promise<ResultOf<Op>> {
  // Stage by stage without an async frame: identify and admit are synchronous for most requests (a
  // cached key, limits decided in memory), and awaiting them anyway cost a microtask each and kept this
  // frame on the heap, about 1.5 KB per request. A stage that returns a promise is waited for.
  return step(ctx, ctx.deps.stages.identify, resolveAndAdmit);
}

function resolveAndAdmit<Op extends OperationName>(ctx: RequestContext<Op>): Promise<ResultOf<Op>> {
  return step(ctx, resolveThenAdmit, cacheAndExecute);
}

function resolveThenAdmit(ctx: RequestContext): Promise<void> | void {
  resolveStage(ctx);
  return ctx.deps.stages.admit(ctx);
}

/** Runs `stage`, then `next` at once, or once the stage's promise resolves; a failure settles the request. */
function step<Op extends OperationName>(
  ctx: RequestContext<Op>,
  stage: (ctx: RequestContext) => Promise<void> | void,
  next: (ctx: RequestContext<Op>) => Promise<ResultOf<Op>>,
): Promise<ResultOf<Op>> {
  try {
    const done = stage(ctx);
    if (done instanceof Promise) {
      return done.then(
        () => next(ctx),
        (err: unknown) => failed(ctx, err),
      );
    }
    return next(ctx);
  } catch (err) {
    return failed(ctx, err);
  }
}

function cacheAndExecute<Op extends OperationName>(ctx: RequestContext<Op>): Promise<ResultOf<Op>> {
  let pending: Promise<ResultOf<Op>>;
  try {
    pending = ctx.deps.stages.cache(ctx, (cancel) =>
      // Same meta and response headers (shared references), another cancel source: a merged call's.
      executeStage(cancel === undefined ? ctx : withCancel(ctx, cancel)),
    );
  } catch (err) {
    return failed(ctx, err);
  }
  return pending.then(
    (result) => {
      if (isStreamOperation(ctx.operation)) {
        void (result as ChunkStream<unknown>).end.then((end) => settle(ctx, { ...end, midStream: !end.ok }));
      } else {
        settle(ctx, { ok: true });
      }
      return result;
    },
    (err: unknown) => failed(ctx, err),
  );
}

/** A stage failed: settle once, as failed, and hand the error on. */
function failed<T>(ctx: RequestContext, err: unknown): Promise<T> {
  settle(ctx, { ok: false, error: err });
  return Promise.reject(err);
}
