import type { FastifyReply, FastifyRequest } from 'fastify';
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
  const gone = new ClientGone();
  request.clientGone = gone;
  return createContext({
    id: request.id,
    startedAt: request.startedAt,
    signal: gone.signal,
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

/**
 * The request's abort signal, made only when a stage first asks for it (most do; a whole-answer cache
 * hit never does). A client that left before that gets a signal that is already aborted.
 */
class ClientGone {
  private controller: AbortController | undefined;
  private gone = false;
  readonly signal = (): AbortSignal => {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.gone) this.controller.abort();
    }
    return this.controller.signal;
  };

  abort(): void {
    this.gone = true;
    this.controller?.abort();
  }
}
