import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { SSE_DONE, sseData } from '../core/sse.js';
import { isGatewayError, UpstreamError } from '../errors/gateway-error.js';
import type { ChunkStream } from '../pipeline/chunk-stream.js';
import type { RequestContext } from '../pipeline/context.js';
import { routeHeaders } from '../pipeline/headers.js';
import type { ChatCompletionChunk } from '../types/openai.js';

/**
 * The deliver stage for HTTP: the pipeline's result as JSON, or as SSE in the caller's dialect, with
 * the headers the stages chose. Settle does not wait for this: it follows the result (a stream settles
 * when it ends, however the client reads it).
 */

export function deliverJson<T>(ctx: RequestContext, reply: FastifyReply, result: T): T {
  writeHeaders(ctx, reply);
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
  return reply.send(Readable.from(chatFrames(ctx, stream, includeUsage), { objectMode: false }));
}

export function writeHeaders(ctx: RequestContext, reply: FastifyReply): void {
  routeHeaders(ctx.meta, ctx.responseHeaders);
  reply.headers(ctx.responseHeaders);
}

async function* chatFrames(
  ctx: RequestContext,
  stream: ChunkStream<ChatCompletionChunk>,
  includeUsage: boolean,
): AsyncGenerator<string> {
  const span = ctx.span.child('deliver', 'internal');
  let ok = false;
  try {
    for await (const chunk of stream) {
      if (includeUsage) {
        // OpenAI sends `"usage": null` on every chunk before the usage chunk when include_usage is on.
        if (chunk.usage === undefined && chunk.choices.length > 0) chunk.usage = null;
        yield sseData(chunk);
      } else if (chunk.choices.length > 0) {
        // Usage rides on content chunks from some upstreams; without include_usage the client didn't ask.
        if (chunk.usage !== undefined) chunk.usage = undefined;
        yield sseData(chunk);
      }
    }
    ok = true;
    yield SSE_DONE;
  } catch (err) {
    if (ctx.signal.aborted) return;
    const gw = isGatewayError(err)
      ? err
      : new UpstreamError('stream failed inside the gateway', {
          provider: ctx.meta.provider ?? 'unknown',
          errorClass: 'stream_interrupted',
          retryable: false,
          cause: err,
        });
    // OpenAI's SDKs raise an APIError for a data event carrying `error`; no [DONE] follows.
    yield sseData(gw.toBody());
  } finally {
    if (!ok && !ctx.signal.aborted) span.fail(new Error('stream interrupted'));
    span.end();
  }
}
