import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { RequestMeta } from '../services/request-meta.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** What the request did: model, provider, usage. Read once by the log line. */
    meta: RequestMeta;
    /** performance.now() at arrival. */
    startedAt: number;
  }
}

/**
 * Request id echo and one structured log line per request. Headers and bodies are never logged, so a
 * key in any header cannot reach the log.
 */
async function requestContextPlugin(app: FastifyInstance): Promise<void> {
  app.decorateRequest('meta', null as unknown as RequestMeta);
  app.decorateRequest('startedAt', 0);

  app.addHook('onRequest', async (request, reply) => {
    request.meta = {};
    request.startedAt = performance.now();
    reply.header('x-request-id', request.id);
    // 'close' fires once for every response, finished or not; Fastify's onResponse skips aborted ones,
    // and a request the client abandoned still deserves its log line.
    reply.raw.once('close', () => {
      const m = request.meta;
      const aborted = !reply.raw.writableFinished;
      request.log.info(
        {
          method: request.method,
          url: request.routeOptions.url ?? request.url.split('?')[0],
          // 499: nginx's "client closed request"; the status we had set never reached the client.
          status: aborted ? 499 : reply.statusCode,
          ms: Math.round((performance.now() - request.startedAt) * 100) / 100,
          model: m.model,
          provider: m.provider,
          upstream_model: m.upstreamModel,
          upstream_request_id: m.upstreamRequestId,
          stream: m.stream,
          first_token_ms: m.firstTokenMs === undefined ? undefined : Math.round(m.firstTokenMs * 100) / 100,
          prompt_tokens: m.usage?.prompt_tokens,
          completion_tokens: m.usage?.completion_tokens,
          stream_error: m.streamError,
          client_aborted: aborted || m.clientAborted || undefined,
        },
        'request',
      );
    });
  });
}

export default fp(requestContextPlugin, { name: 'gw-request-context', fastify: '5.x' });
