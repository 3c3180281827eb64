import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import requestContext from './plugins/request-context.js';
import requestErrors from './plugins/request-errors.js';
import healthRoutes from './routes/health.js';
import v1Routes from './routes/v1/index.js';
import { GatewayState } from './services/gateway-state.js';
import type { GatewayConfig } from './types/config.js';

export interface BuildOptions {
  config: GatewayConfig;
  /** A pino destination for tests that read the log; defaults to stdout. */
  logStream?: NodeJS.WritableStream;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Paths redacted even if some code path ever logs them: keys must never reach a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-goog-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["x-goog-api-key"]',
  '*.apiKey',
  '*.api_key',
];

/** Builds the gateway; never listens, so tests can run it on port 0 or with inject(). */
export async function buildApp(opts: BuildOptions): Promise<{ app: FastifyInstance; state: GatewayState }> {
  const { config } = opts;
  const app = Fastify({
    logger: {
      level: config.logging.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      ...(opts.logStream ? { stream: opts.logStream } : {}),
    },
    // One line per request comes from the request-context plugin instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : randomUUID();
    },
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
    },
    return503OnClosing: true,
  });

  const state = new GatewayState(config, {
    onListenerError: (event, err) => app.log.error({ err, event }, 'event subscriber failed'),
  });

  await app.register(requestErrors);
  // @hardening-plugin
  // @openapi-plugin
  // @sentry-plugin
  await app.register(requestContext);
  await app.register(healthRoutes, { state });
  await app.register(v1Routes, { prefix: '/v1', state });
  app.addHook('onClose', async () => {
    await state.close();
  });
  return { app, state };
}
