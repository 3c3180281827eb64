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
export async function runPipeline<Op extends OperationName>(ctx: RequestContext<Op>): Promise<ResultOf<Op>> {
  const stages = ctx.deps.stages;
  let result: ResultOf<Op>;
  try {
    await stages.identify(ctx);
    resolveStage(ctx);
    await stages.admit(ctx);
    result = await stages.cache(ctx, (cancel) =>
      // Same meta and response headers (shared references), another cancel source: a merged call's.
      executeStage(cancel === undefined ? ctx : withCancel(ctx, cancel)),
    );
  } catch (err) {
    settle(ctx, { ok: false, error: err });
    throw err;
  }
  if (isStreamOperation(ctx.operation)) {
    void (result as ChunkStream<unknown>).end.then((end) => settle(ctx, { ...end, midStream: !end.ok }));
  } else {
    settle(ctx, { ok: true });
  }
  return result;
}
