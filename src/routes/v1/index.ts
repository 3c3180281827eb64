import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { setRouteHeaders } from '../../plugins/response-headers.js';
import { type ChatCall, completeChat, startChatStream } from '../../services/chat-service.js';
import { createEmbeddings } from '../../services/embeddings-service.js';
import type { GatewayState } from '../../services/gateway-state.js';
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
      setRouteHeaders(request.meta, reply);
      reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('x-accel-buffering', 'no');
      return reply.send(Readable.from(frames, { objectMode: false }));
    }
    const completion = await completeChat(runtime, body, call);
    setRouteHeaders(request.meta, reply);
    return completion;
  });

  app.post('/embeddings', { schema: embeddingsRoute }, async (request, reply) => {
    const result = await createEmbeddings(
      state.runtime,
      request.body as EmbeddingsRequest,
      callFor(request, reply, state),
    );
    setRouteHeaders(request.meta, reply);
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
