import type { SpanHandle } from '../core/trace-context.js';
import type { ChatCompletion, ChatCompletionChunk, EmbeddingsResponse } from '../types/openai.js';
import { completeCanonical, openCanonicalStream, run } from './attempts.js';
import type { UpstreamChunkStream } from './chunk-stream.js';
import type { OperationName, RequestContext, ResultOf } from './context.js';
import {
  executeCountTokens,
  executeMessages,
  executeMessagesStream,
  executeResponses,
  executeResponsesStream,
  executeTranscription,
} from './execute-dialects.js';

/**
 * The execute stage: one attempt runner per operation, handed to the executor (which owns target
 * order, retries, failover and degradation). What each operation learns from its result (usage, the
 * upstream's request id, the answer's text for prompt logging) goes into `ctx.meta` for settle.
 */

type Executor<Op extends OperationName> = (
  ctx: RequestContext<Op>,
  span: SpanHandle,
) => Promise<ResultOf<Op>>;

const EXECUTORS: { [Op in OperationName]: Executor<Op> } = {
  chat: executeChat,
  'chat.stream': executeChatStream,
  embeddings: executeEmbeddings,
  messages: executeMessages,
  'messages.stream': executeMessagesStream,
  'messages.count_tokens': executeCountTokens,
  responses: executeResponses,
  'responses.stream': executeResponsesStream,
  'audio.transcription': executeTranscription,
};

export async function executeStage<Op extends OperationName>(ctx: RequestContext<Op>): Promise<ResultOf<Op>> {
  const span = ctx.span.child('execute', 'internal');
  const t0 = performance.now();
  try {
    return await (EXECUTORS[ctx.operation] as Executor<Op>)(ctx, span);
  } catch (err) {
    span.fail(err);
    throw err;
  } finally {
    ctx.meta.upstreamMs = (ctx.meta.upstreamMs ?? 0) + (performance.now() - t0);
    span.end();
  }
}

function executeChat(ctx: RequestContext<'chat'>, span: SpanHandle): Promise<ChatCompletion> {
  return completeCanonical(ctx, span, ctx.body);
}

/**
 * Opens the stream (failing over between targets invisibly) and reads its first chunk before
 * returning, so any failure up to that point is an ordinary attempt failure. After this resolves the
 * response is committed: a later failure ends the stream with an error, never a fake finish.
 */
function executeChatStream(
  ctx: RequestContext<'chat.stream'>,
  span: SpanHandle,
): Promise<UpstreamChunkStream<ChatCompletionChunk>> {
  return openCanonicalStream(ctx, span, ctx.body);
}

async function executeEmbeddings(
  ctx: RequestContext<'embeddings'>,
  span: SpanHandle,
): Promise<EmbeddingsResponse> {
  const req = ctx.body;
  const exec = await run(ctx, span, false, (target, _params, a) => target.client.embeddings(req, target, a));
  exec.finish({ ok: true });
  const res = exec.result;
  ctx.meta.usage = {
    prompt_tokens: res.usage.prompt_tokens,
    completion_tokens: 0,
    total_tokens: res.usage.total_tokens,
  };
  if (req.encoding_format === 'base64') {
    // The openai SDKs ask for base64 by default. Upstreams that speak it already return strings; float
    // arrays from the others are encoded here, once, as OpenAI does: little-endian float32.
    for (const e of res.data) if (Array.isArray(e.embedding)) e.embedding = toBase64Float32(e.embedding);
  }
  return res;
}

export function toBase64Float32(values: readonly number[]): string {
  const buf = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) buf.writeFloatLE(values[i]!, i * 4);
  return buf.toString('base64');
}
