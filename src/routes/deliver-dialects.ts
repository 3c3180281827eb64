import type { FastifyReply } from 'fastify';
import { MessagesStreamEncoder } from '../dialects/anthropic-messages/stream.js';
import { type ResponsesEvent, ResponsesStreamEncoder, sseFrame } from '../dialects/responses/stream.js';
import { type GatewayError, isGatewayError, UpstreamError } from '../errors/gateway-error.js';
import type { ChunkStream } from '../pipeline/chunk-stream.js';
import type { RequestContext } from '../pipeline/context.js';
import {
  FORWARDED_ERRORS,
  type MessagesStreamItem,
  type ResponsesStream,
} from '../pipeline/dialect-results.js';
import { writeHeaders } from './deliver.js';
import { FrameReadable } from './sse-readable.js';

/**
 * The deliver stage for the Anthropic Messages and Responses dialects: each canonical stream is
 * encoded into the caller's event sequence; Messages passthrough text goes out as it came.
 */

function sseHeaders(ctx: RequestContext, reply: FastifyReply): void {
  writeHeaders(ctx, reply);
  reply
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('x-accel-buffering', 'no');
}

function asGatewayError(ctx: RequestContext, err: unknown): GatewayError {
  return isGatewayError(err)
    ? err
    : new UpstreamError('stream failed inside the gateway', {
        provider: ctx.meta.provider ?? 'unknown',
        errorClass: 'stream_interrupted',
        retryable: false,
        cause: err,
      });
}

export function deliverMessagesSse(
  ctx: RequestContext<'messages.stream'>,
  reply: FastifyReply,
  stream: ChunkStream<MessagesStreamItem>,
): FastifyReply {
  sseHeaders(ctx, reply);
  return reply.send(new FrameReadable(messagesFrames(ctx, stream)));
}

async function* messagesFrames(
  ctx: RequestContext<'messages.stream'>,
  stream: ChunkStream<MessagesStreamItem>,
): AsyncGenerator<string> {
  const span = ctx.span.child('deliver', 'internal');
  // The model that answered, as the JSON answer and Anthropic itself report it.
  const enc = new MessagesStreamEncoder(`msg_${ctx.id}`, ctx.meta.upstreamModel ?? ctx.body.model);
  let translated = false;
  let ok = false;
  try {
    for await (const item of stream) {
      if (typeof item === 'string') {
        yield item;
      } else {
        translated = true;
        const out = enc.push(item);
        if (out !== '') yield out;
      }
    }
    if (translated) yield enc.end();
    ok = true;
  } catch (err) {
    if (ctx.signal.aborted) return;
    // Anthropic's own error event already went out in its stream.
    if (FORWARDED_ERRORS.has(err as object)) return;
    yield enc.error(asGatewayError(ctx, err));
  } finally {
    if (!ok && !ctx.signal.aborted) span.fail(new Error('stream interrupted'));
    span.end();
  }
}

export function deliverResponsesSse(
  ctx: RequestContext<'responses.stream'>,
  reply: FastifyReply,
  stream: ResponsesStream,
): FastifyReply {
  sseHeaders(ctx, reply);
  return reply.send(new FrameReadable(responsesFrames(ctx, stream, sseFrame)));
}

/**
 * The Responses event sequence for one stream, each event framed by `frame`: an SSE event for HTTP,
 * a JSON text message for WebSocket mode. The finished response is stored when the stream completes.
 */
export async function* responsesFrames(
  ctx: RequestContext<'responses.stream'>,
  stream: ResponsesStream,
  frame: (ev: ResponsesEvent) => string,
): AsyncGenerator<string> {
  const span = ctx.span.child('deliver', 'internal');
  const enc = new ResponsesStreamEncoder(stream.prepared.ctx);
  let ok = false;
  try {
    for (const ev of enc.start()) yield frame(ev);
    for await (const chunk of stream) {
      for (const ev of enc.push(chunk)) yield frame(ev);
    }
    const tail = enc.end();
    const response = enc.result();
    // Stored before the last event goes out: a client that continues once it sees the response
    // completed finds it, on any instance.
    if (response) await stream.save(response);
    for (const ev of tail) yield frame(ev);
    ok = true;
  } catch (err) {
    if (ctx.signal.aborted) return;
    yield frame(enc.error(asGatewayError(ctx, err)));
  } finally {
    if (!ok && !ctx.signal.aborted) span.fail(new Error('stream interrupted'));
    span.end();
  }
}
