import type { FastifyInstance } from 'fastify';
import { countTokensBody, messagesBody } from '../../dialects/anthropic-messages/schema.js';
import { runPipeline } from '../../pipeline/pipeline.js';
import type { GatewayState } from '../../services/gateway-state.js';
import type { MessagesRequest } from '../../types/anthropic-messages.js';
import { deliverJson, writeHeaders } from '../deliver.js';
import { deliverMessagesSse } from '../deliver-dialects.js';
import { httpContext } from '../http-context.js';

/**
 * Anthropic's Messages API: POST /v1/messages (JSON or SSE) and /v1/messages/count_tokens, as pipeline
 * operations. Errors on these routes use Anthropic's `{type:'error', error:{type, message}}`, so
 * `@anthropic-ai/sdk` raises its own error classes. Callers may authenticate with `x-api-key` as well
 * as `Authorization`: the identify stage reads both.
 */
export default async function messagesRoutes(
  app: FastifyInstance,
  opts: { state: GatewayState },
): Promise<void> {
  const { state } = opts;

  // The one error handler renders errors on these routes in Anthropic's shape.
  const config = { errorDialect: 'anthropic' as const };

  app.post('/messages', { schema: { body: messagesBody }, config }, async (request, reply) => {
    const body = request.body as MessagesRequest;
    if (body.stream === true) {
      const ctx = httpContext(request, reply, state, 'messages.stream', body);
      return deliverMessagesSse(ctx, reply, await runPipeline(ctx));
    }
    const ctx = httpContext(request, reply, state, 'messages', body);
    const result = await runPipeline(ctx);
    if ('message' in result) return deliverJson(ctx, reply, result.message);
    writeHeaders(ctx, reply);
    // The upstream's own JSON, byte for byte.
    return reply.header('content-type', 'application/json').send(result.raw);
  });

  app.post(
    '/messages/count_tokens',
    { schema: { body: countTokensBody }, config },
    async (request, reply) => {
      const ctx = httpContext(
        request,
        reply,
        state,
        'messages.count_tokens',
        request.body as MessagesRequest,
      );
      const result = await runPipeline(ctx);
      if ('input_tokens' in result) return deliverJson(ctx, reply, result);
      writeHeaders(ctx, reply);
      return reply.header('content-type', 'application/json').send(result.raw);
    },
  );
}
