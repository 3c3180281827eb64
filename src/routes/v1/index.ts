import type { FastifyInstance } from 'fastify';
import { runPipeline } from '../../pipeline/pipeline.js';
import type { GatewayState } from '../../services/gateway-state.js';
import { DeferredToJob } from '../../services/limits/limits-service.js';
import type { ChatCompletionRequest, EmbeddingsRequest } from '../../types/openai.js';
import { deliverChatSse, deliverDeferred, deliverJson } from '../deliver.js';
import { httpContext } from '../http-context.js';
import audioRoutes from './audio.js';
import { callerOf } from './caller.js';
import messagesRoutes from './messages.js';
import responsesRoutes from './responses.js';
import { chatCompletionRoute, embeddingsRoute, modelRoute, modelsRoute } from './schemas.js';

/** The OpenAI-compatible surface. Each handler builds a context, runs the pipeline and delivers. */
export default async function v1Routes(app: FastifyInstance, opts: { state: GatewayState }): Promise<void> {
  const { state } = opts;

  app.post('/chat/completions', { schema: chatCompletionRoute }, async (request, reply) => {
    const body = request.body as ChatCompletionRequest;
    if (body.stream === true) {
      const ctx = httpContext(request, reply, state, 'chat.stream', body);
      return deliverChatSse(ctx, reply, await runPipeline(ctx));
    }
    const ctx = httpContext(request, reply, state, 'chat', body);
    try {
      return deliverJson(ctx, reply, await runPipeline(ctx));
    } catch (err) {
      // `on_limit: job`: over its limit, the request became a job; 202 with where to follow it.
      if (err instanceof DeferredToJob) return deliverDeferred(ctx, reply, err.job);
      throw err;
    }
  });

  app.post('/embeddings', { schema: embeddingsRoute }, async (request, reply) => {
    const ctx = httpContext(request, reply, state, 'embeddings', request.body as EmbeddingsRequest);
    return deliverJson(ctx, reply, await runPipeline(ctx));
  });

  // Listing models is not an AI call, so only identify runs: a gateway with keys answers 401 without one,
  // and a key with a model allowlist sees (and can retrieve) only its own models, as OpenAI lists only the
  // models an organization may use. A model outside the allowlist is "not found" rather than "forbidden".
  app.get('/models', { schema: modelsRoute }, async (request, reply) => {
    const caller = await callerOf(request, reply, state, undefined);
    const all = state.runtime.listModels();
    const allowed = caller.allowedModels;
    return { object: 'list', data: allowed ? all.filter((m) => allowed.includes(m.id)) : all };
  });

  // The openai SDK's models.retrieve(). `*` rather than `:id`: model ids contain slashes (org/name).
  app.get('/models/*', { schema: modelRoute }, async (request, reply) => {
    const caller = await callerOf(request, reply, state, undefined);
    const id = (request.params as { '*': string })['*'];
    return state.runtime.getModel(id, caller.allowedModels);
  });

  // Each in its own encapsulated context: Messages renders errors in Anthropic's shape, Responses adds
  // WebSocket mode, audio registers the multipart parser for its routes only.
  await app.register(messagesRoutes, { state });
  await app.register(responsesRoutes, { state });
  await app.register(audioRoutes, { state });
}
