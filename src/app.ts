import { randomUUID } from 'node:crypto';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { type Logger, pino } from 'pino';
import { closeTokenCounter, useTokenCounter } from './core/token-counter.js';
import { ProviderStats } from './observability/provider-stats.js';
import { createCacheStage } from './pipeline/cache-stage.js';
import { cacheWarmer } from './pipeline/cache-warming.js';
import { limitsAdmit } from './pipeline/limits-stage.js';
import hardening from './plugins/hardening.js';
import { createLimitsObserver } from './plugins/limits-metrics.js';
import metricsPlugin, { createMetrics, type GatewayMetrics } from './plugins/metrics.js';
import openapi from './plugins/openapi.js';
import requestContext, { childLoggerWithTrace } from './plugins/request-context.js';
import requestErrors, { clientErrorHandler, frameworkErrors } from './plugins/request-errors.js';
import sentryPlugin from './plugins/sentry.js';
import cacheAdminRoutes from './routes/admin/cache.js';
import adminRoutes from './routes/admin/index.js';
import adminQueueRoutes from './routes/admin/queues.js';
import healthRoutes from './routes/health.js';
import fileRoutes from './routes/v1/files.js';
import v1Routes from './routes/v1/index.js';
import jobRoutes from './routes/v1/jobs.js';
import { identifyStage } from './services/auth/stage.js';
import { ResponseCache } from './services/cache/response-cache.js';
import { withStoredCredentials } from './services/credentials.js';
import { GatewayState } from './services/gateway-state.js';
import { deferChatToJob } from './services/jobs/defer.js';
import { registerJobMetrics } from './services/jobs/job-metrics.js';
import type { JobService } from './services/jobs/job-service.js';
import { createJobService } from './services/jobs/setup.js';
import { LimitsService, type PriceOf, pricesFrom } from './services/limits/limits-service.js';
import { subscribeRequestLog } from './services/request-log.js';
import { warnBreakerConflicts } from './services/runtime.js';
import { openStorage, type Storage } from './services/storage.js';
import type { GatewayConfig } from './types/config.js';
import { VERSION } from './version.js';

export interface BuildOptions {
  config: GatewayConfig;
  /** A pino destination for tests that read the log; defaults to stdout. */
  logStream?: NodeJS.WritableStream;
  /** An extra span exporter (tests use the in-memory one); only used when tracing is enabled. */
  spanExporter?: SpanExporter;
  /** Prices for budgets (integer micro-dollars per million tokens); unpriced models cost 0. */
  priceOf?: PriceOf;
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
export async function buildApp(
  opts: BuildOptions,
): Promise<{ app: FastifyInstance; state: GatewayState; jobs: JobService | undefined }> {
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
    // A client must deliver its whole request within request_timeout (408 otherwise); Node checks the
    // clock every connectionsCheckingInterval, so that interval bounds how late the 408 can come.
    requestTimeout: config.server.requestTimeoutMs,
    keepAliveTimeout: config.server.idleTimeoutMs,
    http: {
      requestTimeout: config.server.requestTimeoutMs,
      headersTimeout: config.server.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, Math.max(50, config.server.requestTimeoutMs / 4)),
    },
    // Errors before routing (malformed HTTP, 408, 431, an undecodable URL) in our shape, with x-request-id.
    clientErrorHandler,
    frameworkErrors,
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
  warnBreakerConflicts(state.runtime, app.log);
  await state.initBreakers(app.log);
  // The database (SQLite in ./data unless configured): keys, teams, the request log. Migrated here, so a
  // fresh machine needs nothing but `npm start`.
  const storage = await openStorage(config, {
    log: app.log,
    role: 'gateway',
    adminKey: () => state.runtime.config.adminKey,
  });
  state.storage = storage;
  if (storage.responses) state.useResponseStore(storage.responses);
  let credentialsSeen = await applyStoredCredentials(state, storage, app.log, '');
  // Another instance may add or delete a stored credential: a cheap re-read (a few rows) picks it up.
  const credentialsTimer =
    config.database.credentialsRefreshMs > 0
      ? setInterval(() => {
          applyStoredCredentials(state, storage, app.log, credentialsSeen).then(
            (seen) => {
              credentialsSeen = seen;
            },
            (err: Error) => app.log.warn({ reason: err.message }, 'stored credentials could not be re-read'),
          );
        }, config.database.credentialsRefreshMs).unref()
      : undefined;
  state.stages = { ...state.stages, identify: identifyStage(storage.identifier) };
  if (storage.requestLog) subscribeRequestLog(state.events, storage.requestLog, storage.pricing);
  if (config.auth.mode === 'none' && !isLoopback(config.server.host)) {
    app.log.warn(
      { host: config.server.host },
      'auth.mode is none on a non-loopback address: anyone who can reach this port can spend your provider keys',
    );
  }
  const limits = new LimitsService({
    redis: config.redis,
    log: app.log,
    priceOf: opts.priceOf ?? pricesFrom(storage.pricing),
  });
  if (metrics) limits.observer = createLimitsObserver(metrics.registry);
  if (config.limits.enabled) await limits.start();
  state.stages = { ...state.stages, admit: limitsAdmit(limits) };
  if (config.cache) {
    state.cache = new ResponseCache({
      spec: config.cache,
      redis: config.redis,
      events: state.events,
      log: app.log,
    });
    await state.cache.start();
    state.stages = { ...state.stages, cache: createCacheStage(state.cache) };
  }
  // Tracing off means no OpenTelemetry SDK at all on the request path, not a sampled-out one.
  // The SDK modules load only then, so a gateway with tracing off never holds them in memory.
  const tracing = config.tracing.enabled
    ? (await import('./observability/otel.js')).createOtelTracing(config.tracing, VERSION, opts.spanExporter)
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
  await app.register(adminRoutes, {
    prefix: '/admin',
    storage,
    // A credential added or deleted through the API reaches this instance's key pools at once.
    onCredentialsChanged: async () => {
      credentialsSeen = await applyStoredCredentials(state, storage, app.log, '');
    },
    limits: {
      service: limits,
      spec: () => state.runtime.config.limits,
      anonymous: () => state.runtime.config.auth.mode === 'none',
    },
  });
  // pino's Logger and Fastify's logger are the same object; Fastify only types the narrower interface.
  const jobSetup = config.jobs.enabled
    ? createJobService(state, app.log as unknown as Logger, storage.handle)
    : undefined;
  const jobs = jobSetup?.jobs;
  await jobs?.load();
  if (jobs) {
    limits.deferToJob = deferChatToJob(jobs);
    if (metrics) registerJobMetrics(metrics.registry, jobs);
    await app.register(jobRoutes, { prefix: '/v1', jobs, state });
    await app.register(fileRoutes, {
      prefix: '/v1',
      state,
      files: jobSetup.files,
      batches: jobSetup.batches,
      maxFileBytes: config.jobs.maxFileBytes,
    });
    await app.register(adminQueueRoutes, { jobs, adminKey: () => state.runtime.config.adminKey });
  }
  useTokenCounter();
  if (state.cache) {
    const cache = state.cache;
    await app.register(cacheAdminRoutes, { prefix: '/admin', state, cache });
    cache.startWarming(cacheWarmer(() => ({ runtime: state.runtime, deps: state.pipelineDeps }), app.log));
  }
  app.addHook('onClose', async () => {
    clearInterval(credentialsTimer);
    await limits.close();
    // Normally already stopped by the server's drain; this covers apps closed without it (tests, inject).
    await jobs?.stop(0);
    await jobSetup?.close();
    await state.close();
    // After in-flight requests settled: their rows are flushed before the database closes.
    await storage.close();
    await tracing?.shutdown();
    await closeTokenCounter();
  });
  return { app, state, jobs };
}

/**
 * Stored provider credentials (decrypted once here) join the providers' key pools, now and on reloads.
 * `seen` is the fingerprint of the rows last applied: unchanged rows neither decrypt nor rebuild the runtime.
 * Returns the fingerprint now applied.
 */
async function applyStoredCredentials(
  state: GatewayState,
  storage: Storage,
  log: { error(obj: object, msg: string): void },
  seen: string,
): Promise<string> {
  const rows = await storage.credentials.list();
  const fingerprint = rows.map((c) => `${c.id}:${c.updatedAt}`).join(',');
  if (seen !== '' && fingerprint === seen) return seen;
  const stored = await storage.credentials.decryptAll((id, err) =>
    // The id only: never the value, and the error says which key is missing, not what it protects.
    log.error({ credential: id, reason: err.message }, 'stored credential cannot be decrypted; skipped'),
  );
  state.setConfigTransform(stored.size > 0 ? (c) => withStoredCredentials(c, stored) : undefined);
  // Never '' (which means "apply unconditionally"), also when there are no rows.
  return `#${fingerprint}`;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
