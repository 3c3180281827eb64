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
    /** Headers the pipeline's stages chose (rate limits, cache status); written on errors too. */
    responseHeaders: Record<string, string>;
    /**
     * Aborted when the response closes before it finished (the client went away). Set by a route that
     * runs the pipeline; the one 'close' listener below aborts it, so a request has one listener, not two.
     */
    clientGone: { abort(): void } | null;
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
  const childBindings = { ...bindings, trace_id: trace.traceId };
  // A route with its own log level needs pino's child at once (the level is the child's own).
  if (opts.level !== undefined) return logger.child(childBindings, opts) as FastifyBaseLogger;
  return new LazyChildLogger(logger, childBindings, opts) as unknown as FastifyBaseLogger;
};

type LogMethod = (...args: unknown[]) => void;
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * The request's logger, made only when something is logged. A pino child (bindings serialized, the
 * object graph) cost about 10 µs per request in the profile, and at the default `warn` level most
 * requests never write a line. A call below the parent's level is dropped without making the child; the
 * first real line makes it, with the same bindings (request id, trace id) pino's child would have had.
 */
class LazyChildLogger {
  private real: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Record<string, unknown>,
    private readonly opts: object,
  ) {}

  private get log(): FastifyBaseLogger {
    this.real ??= this.parent.child(this.bindings, this.opts) as FastifyBaseLogger;
    return this.real;
  }

  get level(): string {
    return this.real ? this.real.level : this.parent.level;
  }

  set level(level: string) {
    this.log.level = level;
  }

  private write(level: Level, args: unknown[]): void {
    const real = this.real;
    if (real) {
      (real[level] as LogMethod)(...args);
      return;
    }
    const parent = this.parent as FastifyBaseLogger & { isLevelEnabled?: (l: string) => boolean };
    if (parent.isLevelEnabled !== undefined && !parent.isLevelEnabled(level)) return;
    (this.log[level] as LogMethod)(...args);
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}

  child(bindings: Record<string, unknown>, opts?: object): FastifyBaseLogger {
    return this.log.child(bindings, opts) as FastifyBaseLogger;
  }
}

function traceOf(raw: RawRequestDefaultExpression): IncomingTrace {
  return (
    (raw as RawRequestDefaultExpression & { [kTrace]?: IncomingTrace })[kTrace] ?? incomingTrace(raw.headers)
  );
}

const SHUTTING_DOWN = new GatewayError('shutting_down', 'The gateway is shutting down; retry the request.');

export interface RequestContextOptions {
  state: GatewayState;
  tracing: OtelTracing | undefined;
  /** Called once per request when the response closes; used by the metrics plugin. */
  observeHttp?: (method: string, route: string, status: number, seconds: number) => void;
}

/**
 * The HTTP side of every request: request id echo, trace context and trace id on every log line, and,
 * when the response closes, one log line and the HTTP metrics. Lifecycle events, usage and the request
 * record are the pipeline's settle stage, which needs no HTTP response.
 * Headers and bodies are never logged, so a key in any header cannot reach the log.
 */
async function requestContextPlugin(app: FastifyInstance, opts: RequestContextOptions): Promise<void> {
  const { state, tracing, observeHttp } = opts;
  app.decorateRequest('meta', null as unknown as RequestMeta);
  app.decorateRequest('startedAt', 0);
  app.decorateRequest('span', null as unknown as SpanHandle);
  app.decorateRequest('responseHeaders', null as unknown as Record<string, string>);
  app.decorateRequest('clientGone', null);

  // Callback style, not async: no promise and no extra microtask per request. A hook that replies does
  // not call done (Fastify's documented form for an early response).
  app.addHook('onRequest', (request, reply, done) => {
    if (state.shuttingDown) {
      // Requests already on a kept-alive connection when shutdown began: refuse them clearly and close
      // the connection so the client reconnects elsewhere. Health routes still answer (readiness: 503).
      reply.header('connection', 'close');
      if (!request.url.startsWith('/health')) {
        reply.code(503).header('retry-after', '1');
        reply.send(SHUTTING_DOWN.toBody());
        return;
      }
    }
    request.meta = {};
    request.responseHeaders = {};
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
      if (aborted) request.clientGone?.abort();
      // 499: nginx's "client closed request"; the status we had set never reached the client.
      const status = aborted ? 499 : reply.statusCode;
      const totalMs = performance.now() - request.startedAt;
      // The line is built only when it will be written: at `warn` and above, per-request work stays nil.
      if (INFO_ENABLED.has(request.log.level)) logLine(request, m, status, aborted, totalMs);
      observeHttp?.(request.method, route, status, totalMs / 1000);
      request.span.setAttributes({ 'http.response.status_code': status });
      if (status >= 500) request.span.fail(new Error(`HTTP ${status}`));
      request.span.end();
    });
    done();
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
      cache: m.cache,
      merged_with: m.mergedWith,
      // Present only with logging.log_prompts; off by default, so prompts never reach the log.
      prompt: m.prompt,
      completion: m.completion,
    },
    'request',
  );
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

export default fp(requestContextPlugin, { name: 'gw-request-context', fastify: '5.x' });
