import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ChatCall, completeChat, startChatStream } from '../../services/chat-service.js';
import { createEmbeddings } from '../../services/embeddings-service.js';
import type { GatewayState } from '../../services/gateway-state.js';
import type { RequestMeta } from '../../services/request-meta.js';
import type { ChatCompletionRequest, EmbeddingsRequest } from '../../types/openai.js';
import { chatCompletionRoute, embeddingsRoute, modelsRoute } from './schemas.js';

/** The OpenAI-compatible surface. Handlers only translate HTTP to service calls and back. */
export default async function v1Routes(app: FastifyInstance, opts: { state: GatewayState }): Promise<void> {
  const { state } = opts;

  app.post('/chat/completions', { schema: chatCompletionRoute }, async (request, reply) => {
    const body = request.body as ChatCompletionRequest;
    const runtime = state.runtime;
    const call = callFor(request, reply, state);
    if (body.stream === true) {
      const frames = await startChatStream(runtime, body, call);
      setRouteHeaders(request, reply);
      reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('x-accel-buffering', 'no');
      return reply.send(Readable.from(frames, { objectMode: false }));
    }
    const completion = await completeChat(runtime, body, call);
    setRouteHeaders(request, reply);
    return completion;
  });

  app.post('/embeddings', { schema: embeddingsRoute }, async (request, reply) => {
    const result = await createEmbeddings(
      state.runtime,
      request.body as EmbeddingsRequest,
      callFor(request, reply, state),
    );
    setRouteHeaders(request, reply);
    return result;
  });

  app.get('/models', { schema: modelsRoute }, async () => ({
    object: 'list',
    data: state.runtime.listModels(),
  }));
}

function callFor(request: FastifyRequest, reply: FastifyReply, state: GatewayState): ChatCall {
  // The response's 'close' before it finished means the client went away: cancel the upstream call.
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return {
    requestId: request.id,
    signal: controller.signal,
    meta: request.meta,
    startedAt: request.startedAt,
    span: request.span,
    events: state.events,
    team: 'none',
    logPrompts: state.runtime.config.logging.logPrompts,
    exec: {
      breakers: state.breakers,
      stats: state.targetStats,
      events: state.events,
      rng: Math.random,
      log: request.log,
    },
  };
}

/** Also used by the error handler, so failed requests say how hard the gateway tried. */
export function setResilienceHeaders(m: RequestMeta, reply: FastifyReply): void {
  if (m.attempts !== undefined) reply.header('x-switchyard-attempts', String(m.attempts));
  if (m.fallback) reply.header('x-switchyard-fallback', m.fallback);
  if (m.degraded) reply.header('x-switchyard-degraded', m.degraded);
}

function setRouteHeaders(request: FastifyRequest, reply: FastifyReply): void {
  const m = request.meta;
  if (m.provider) reply.header('x-switchyard-provider', m.provider);
  if (m.upstreamModel) reply.header('x-switchyard-model', m.upstreamModel);
  if (m.upstreamRequestId) reply.header('x-upstream-request-id', m.upstreamRequestId);
  setResilienceHeaders(m, reply);
}
