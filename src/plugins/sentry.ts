import type * as SentryNode from '@sentry/node';
import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { isUpstreamError } from '../errors/gateway-error.js';
import { toGatewayError } from './request-errors.js';

/**
 * Optional error reporting to Sentry. Without a DSN this plugin does nothing and @sentry/node is never
 * loaded (the import below is type-only and erased), so the default install pays nothing for it.
 *
 * What is reported:
 * - errors that reach the error handler and leave as a 5xx, except provider failures and deliberate 503s
 *   (see `isReportable`); the event carries method, route and request id, never headers or bodies;
 * - uncaught exceptions and unhandled rejections, via Sentry's own process integrations. Both then end
 *   the process with exit code 1 after a flush of at most 2s, as Node itself would have.
 *
 * Sentry's OpenTelemetry setup is skipped: our tracing owns OTel, and Sentry registering a global tracer
 * provider, propagator and context manager would take it over. Without a context manager Sentry's scopes
 * do not follow async work, so request data is passed with each capture instead of via `withScope`.
 * Sentry is process-global: with several gateways in one process (tests) the last one built owns it.
 */

export interface SentryPluginOptions {
  dsn?: string;
  environment?: string;
  release?: string;
}

const CLOSE_TIMEOUT_MS = 2000;

/**
 * Sentry is for gateway bugs. Client mistakes (4xx) are the client's; a provider's failure is an
 * upstream incident that ai_errors_total and the alerts already show, and reporting each one would flood
 * Sentry during an outage and bury real bugs; a 503 is a deliberate "try later" (overload, shutdown).
 */
export function isReportable(err: FastifyError): boolean {
  const status = toGatewayError(err).status;
  if (status < 500 || status === 503) return false;
  return !isUpstreamError(err);
}

async function sentryPlugin(app: FastifyInstance, opts: SentryPluginOptions): Promise<void> {
  if (!opts.dsn) return;
  const Sentry: typeof SentryNode = await import('@sentry/node');
  const client = Sentry.init({
    dsn: opts.dsn,
    ...(opts.environment ? { environment: opts.environment } : {}),
    ...(opts.release ? { release: opts.release } : {}),
    // Errors only: traces go to our own OTLP pipeline, so Sentry never samples or emits spans.
    tracesSampleRate: 0,
    skipOpenTelemetrySetup: true,
    // The import-in-the-middle loader hook exists for auto-instrumentation we do not use; it would wrap
    // every module loaded afterwards.
    registerEsmLoaderHooks: false,
    // The defaults patch http, fetch and console and read request data (headers may carry keys).
    defaultIntegrations: false,
    integrations: [
      Sentry.linkedErrorsIntegration(),
      Sentry.nodeContextIntegration(),
      Sentry.contextLinesIntegration(),
      Sentry.onUncaughtExceptionIntegration(),
      // 'strict' keeps Node's default of crashing on an unhandled rejection; 'warn' would swallow it.
      Sentry.onUnhandledRejectionIntegration({ mode: 'strict' }),
    ],
  });
  if (!client?.getDsn()) {
    await client?.close(CLOSE_TIMEOUT_MS);
    app.log.warn('sentry.dsn is not a valid Sentry DSN; error reporting is off');
    return;
  }
  app.log.info({ environment: opts.environment, release: opts.release }, 'sentry error reporting enabled');

  app.addHook('onError', async (request, _reply, error) => {
    if (!isReportable(error)) return;
    Sentry.captureException(error, {
      tags: { method: request.method, route: request.routeOptions.url ?? 'unmatched' },
      extra: { request_id: request.id },
    });
  });
  app.addHook('onClose', async () => {
    await client.close(CLOSE_TIMEOUT_MS);
  });
}

export default fp(sentryPlugin, { name: 'gw-sentry', fastify: '5.x' });
