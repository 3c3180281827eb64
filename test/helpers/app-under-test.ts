import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { GatewayState } from '../../src/services/gateway-state.js';
import type { PriceOf } from '../../src/services/limits/limits-service.js';
import { captureLogs, withoutSheddingUnlessAsked } from './gateway.js';

/** The gateway built directly (for options the CLI does not expose, such as a span exporter), on port 0. */
export async function startApp(
  yaml: string,
  opts: { spanExporter?: SpanExporter; env?: Record<string, string>; priceOf?: PriceOf } = {},
) {
  const config = withoutSheddingUnlessAsked(
    yaml,
    parseConfig(yaml, 'test', {
      SWITCHYARD_DB_PATH: ':memory:',
      ...opts.env,
      PORT: '0',
      HOST: '127.0.0.1',
    }),
  );
  const { stream: logStream, logs, raw } = captureLogs();
  const { app, state } = await buildApp({
    config,
    logStream,
    ...(opts.spanExporter ? { spanExporter: opts.spanExporter } : {}),
    ...(opts.priceOf ? { priceOf: opts.priceOf } : {}),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  (state as GatewayState).ready = true;
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    app,
    state,
    url,
    baseURL: `${url}/v1`,
    logs,
    rawLog: () => raw.join(''),
    close: () => app.close(),
  };
}
