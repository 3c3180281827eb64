import { randomUUID } from 'node:crypto';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { pino } from 'pino';
import { createOtelTracing } from './observability/otel.js';
import { ProviderStats } from './observability/provider-stats.js';
import hardening from './plugins/hardening.js';
import metricsPlugin, { createMetrics, type GatewayMetrics } from './plugins/metrics.js';
import openapi from './plugins/openapi.js';
import requestContext, { childLoggerWithTrace } from './plugins/request-context.js';
import requestErrors from './plugins/request-errors.js';
import sentryPlugin from './plugins/sentry.js';
import healthRoutes from './routes/health.js';
import v1Routes from './routes/v1/index.js';
import { GatewayState } from './services/gateway-state.js';
import type { GatewayConfig } from './types/config.js';
import { VERSION } from './version.js';

export interface BuildOptions {
  config: GatewayConfig;
  /** A pino destination for tests that read the log; defaults to stdout. */
  logStream?: NodeJS.WritableStream;
  /** An extra span exporter (tests use the in-memory one); only used when tracing is enabled. */
  spanExporter?: SpanExporter;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Paths redacted even if some code path ever logs them: keys must never reach a log line. Exact paths only:
 * a wildcard path makes pino walk every line it writes, and no line carries config objects.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-goog-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["x-goog-api-key"]',
];

/** Builds the gateway; never listens, so tests can run it on port 0 or with inject(). */
export async function buildApp(opts: BuildOptions): Promise<{ app: FastifyInstance; state: GatewayState }> {
  const { config } = opts;
  const app = Fastify({
    logger: {
      level: config.logging.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Asynchronous stdout: a synchronous write per log line would put blocking I/O on every request.
      // pino flushes this destination on exit.
      stream: opts.logStream ?? pino.destination({ dest: 1, sync: false }),
    },
    // One line per request comes from the request-context plugin instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: childLoggerWithTrace,
    bodyLimit: config.server.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : randomUUID();
    },
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
    },
    // Shutdown refusals come from the request-context plugin, in our error shape, with readiness exempt.
    return503OnClosing: false,
  });

  let metrics: GatewayMetrics | undefined;
  const state = new GatewayState(config, {
    onListenerError: (event, err) => {
      app.log.error({ err, event }, 'event subscriber failed');
      metrics?.countListenerError(event);
    },
  });
  if (config.metrics.enabled) metrics = createMetrics(state);
  await state.initBreakers(app.log);
  // Tracing off means no OpenTelemetry SDK at all on the request path, not a sampled-out one.
  const tracing = config.tracing.enabled
    ? createOtelTracing(config.tracing, VERSION, opts.spanExporter)
    : undefined;

  await app.register(requestErrors);
  // Before every route: its hooks and onRoute handlers must reach all of them.
  await app.register(hardening, { server: config.server });
  await app.register(openapi);
  await app.register(sentryPlugin, {
    ...(config.sentry.dsn ? { dsn: config.sentry.dsn, release: `switchyard@${VERSION}` } : {}),
    ...(config.sentry.environment ? { environment: config.sentry.environment } : {}),
  });
  await app.register(requestContext, {
    state,
    tracing,
    ...(metrics ? { observeHttp: metrics.observeHttp } : {}),
  });
  if (metrics) await app.register(metricsPlugin, { metrics });
  await app.register(healthRoutes, { state, stats: new ProviderStats(state.events) });
  await app.register(v1Routes, { prefix: '/v1', state });
  app.addHook('onClose', async () => {
    await state.close();
    await tracing?.shutdown();
  });
  return { app, state };
}
