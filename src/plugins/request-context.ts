import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyRequest,
  FastifyServerOptions,
  RawRequestDefaultExpression,
} from 'fastify';
import fp from 'fastify-plugin';
import {
  type IncomingTrace,
  incomingTrace,
  PassthroughSpan,
  type SpanHandle,
} from '../core/trace-context.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { OtelTracing } from '../observability/otel.js';
import type { GatewayState } from '../services/gateway-state.js';
import type { RequestMeta } from '../services/request-meta.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** What the request did: model, provider, usage, error. Read once when the response closes. */
    meta: RequestMeta;
    /** performance.now() at arrival. */
    startedAt: number;
    /** The request's server span (or a passthrough trace context when tracing is off). */
    span: SpanHandle;
  }
}

const kTrace = Symbol('switchyard.trace');
/** Levels at which the per-request `info` line is written. */
const INFO_ENABLED: ReadonlySet<string> = new Set(['info', 'debug', 'trace']);

/**
 * Fastify's child logger factory: the request's trace is decided here, when its logger is made, so
 * the trace id is bound in the same child as the request id (one pino child per request, not two).
 */
export const childLoggerWithTrace: NonNullable<FastifyServerOptions['childLoggerFactory']> = (
  logger,
  bindings,
  opts,
  rawReq,
) => {
  const trace = incomingTrace(rawReq.headers);
  (rawReq as RawRequestDefaultExpression & { [kTrace]?: IncomingTrace })[kTrace] = trace;
  return logger.child({ ...bindings, trace_id: trace.traceId }, opts) as FastifyBaseLogger;
};

function traceOf(raw: RawRequestDefaultExpression): IncomingTrace {
  return (
    (raw as RawRequestDefaultExpression & { [kTrace]?: IncomingTrace })[kTrace] ?? incomingTrace(raw.headers)
  );
}

const SHUTTING_DOWN = new GatewayError(
  503,
  'shutting_down',
  'The gateway is shutting down; retry the request.',
  {
    type: 'overloaded_error',
  },
);

export interface RequestContextOptions {
  state: GatewayState;
  tracing: OtelTracing | undefined;
  /** Called once per request when the response closes; used by the metrics plugin. */
  observeHttp?: (method: string, route: string, status: number, seconds: number) => void;
}

/**
 * The start and settle of every request: request id echo, trace context and trace id on every log
 * line, and, when the response closes, one log line, the lifecycle event and the HTTP metrics.
 * Headers and bodies are never logged, so a key in any header cannot reach the log.
 */
async function requestContextPlugin(app: FastifyInstance, opts: RequestContextOptions): Promise<void> {
  const { state, tracing, observeHttp } = opts;
  app.decorateRequest('meta', null as unknown as RequestMeta);
  app.decorateRequest('startedAt', 0);
  app.decorateRequest('span', null as unknown as SpanHandle);

  app.addHook('onRequest', async (request, reply) => {
    if (state.shuttingDown) {
      // Requests already on a kept-alive connection when shutdown began: refuse them clearly and close
      // the connection so the client reconnects elsewhere. Health routes still answer (readiness: 503).
      reply.header('connection', 'close');
      if (!request.url.startsWith('/health')) {
        reply.code(503).header('retry-after', '1');
        return reply.send(SHUTTING_DOWN.toBody());
      }
    }
    request.meta = {};
    request.startedAt = performance.now();
    const route = request.routeOptions.url ?? 'unmatched';
    const incoming = traceOf(request.raw);
    request.span = tracing
      ? tracing.startRequestSpan(
          `${request.method} ${route}`,
          request.headers,
          { 'http.request.method': request.method, 'http.route': route, 'switchyard.request_id': request.id },
          incoming.traceId,
        )
      : new PassthroughSpan(incoming);
    reply.header('x-request-id', request.id);

    // 'close' fires once for every response, finished or not; Fastify's onResponse skips aborted ones,
    // and a request the client abandoned still deserves its log line and its event.
    reply.raw.once('close', () => {
      const m = request.meta;
      const aborted = !reply.raw.writableFinished;
      // 499: nginx's "client closed request"; the status we had set never reached the client.
      const status = aborted ? 499 : reply.statusCode;
      const totalMs = performance.now() - request.startedAt;
      // The line is built only when it will be written: at `warn` and above, per-request work stays nil.
      if (INFO_ENABLED.has(request.log.level)) logLine(request, m, status, aborted, totalMs);
      settle(state, request.id, m, totalMs);
      observeHttp?.(request.method, route, status, totalMs / 1000);
      request.span.setAttributes({ 'http.response.status_code': status });
      if (status >= 500) request.span.fail(new Error(`HTTP ${status}`));
      request.span.end();
    });
  });
}

function logLine(
  request: FastifyRequest,
  m: RequestMeta,
  status: number,
  aborted: boolean,
  totalMs: number,
): void {
  request.log.info(
    {
      method: request.method,
      url: request.routeOptions.url ?? request.url.split('?')[0],
      status,
      ms: round(totalMs),
      model: m.model,
      provider: m.provider,
      upstream_model: m.upstreamModel,
      upstream_request_id: m.upstreamRequestId,
      stream: m.stream,
      first_token_ms: m.firstTokenMs === undefined ? undefined : round(m.firstTokenMs),
      upstream_ms: m.upstreamMs === undefined ? undefined : round(m.upstreamMs),
      prompt_tokens: m.usage?.prompt_tokens,
      completion_tokens: m.usage?.completion_tokens,
      error_code: m.error?.code,
      mid_stream_error: m.error?.midStream || undefined,
      client_aborted: aborted || m.clientAborted || undefined,
      attempts: m.attempts,
      fallback: m.fallback,
      degraded: m.degraded,
      // Present only with logging.log_prompts; off by default, so prompts never reach the log.
      prompt: m.prompt,
      completion: m.completion,
    },
    'request',
  );
}

/** Emits the request's final lifecycle event, exactly once: completed, or error. */
function settle(state: GatewayState, requestId: string, m: RequestMeta, totalMs: number): void {
  if (m.provider === undefined) return;
  const base = {
    requestId,
    model: m.model ?? '',
    provider: m.provider,
    upstreamModel: m.upstreamModel ?? '',
    stream: m.stream === true,
    team: 'none',
  };
  if (m.error) {
    if (!state.events.has('ai.response.error')) return;
    state.events.emit('ai.response.error', {
      ...base,
      code: m.error.code,
      errorType: m.error.errorType,
      status: m.error.status,
      midStream: m.error.midStream,
      upstreamMs: m.upstreamMs,
    });
    return;
  }
  if (m.clientAborted || !state.events.has('ai.response.completed')) return;
  const upstreamMs = m.upstreamMs ?? 0;
  state.events.emit('ai.response.completed', {
    ...base,
    upstreamMs,
    totalMs,
    overheadMs: Math.max(0, totalMs - upstreamMs),
    firstTokenMs: m.firstTokenMs,
    usage: m.usage,
  });
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

export default fp(requestContextPlugin, { name: 'gw-request-context', fastify: '5.x' });
