import type { FastifyReply, FastifyRequest } from 'fastify';
import { Cancel } from '../core/cancel.js';
import { type BodyOf, createContext, type OperationName, type RequestContext } from '../pipeline/context.js';
import type { GatewayState } from '../services/gateway-state.js';

/**
 * A pipeline context from an HTTP request. The response's `close` before it finished means the client
 * went away: that aborts the context's signal (from the request-context plugin's one 'close' listener),
 * which cancels the upstream call and ends a stream.
 */
export function httpContext<Op extends OperationName>(
  request: FastifyRequest,
  _reply: FastifyReply,
  state: GatewayState,
  operation: Op,
  body: BodyOf<Op>,
): RequestContext<Op> {
  const gone = new Cancel();
  request.clientGone = gone;
  return createContext({
    id: request.id,
    startedAt: request.startedAt,
    signal: gone,
    span: request.span,
    log: request.log,
    runtime: state.runtime,
    operation,
    body,
    ingress: {
      headers: request.headers,
      ip: request.ip,
      path: request.routeOptions.url ?? request.url,
      ...(request.rawBody ? { rawBody: request.rawBody } : {}),
    },
    deps: state.pipelineDeps,
    meta: request.meta,
    responseHeaders: request.responseHeaders,
  });
}
