import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { GatewayState } from '../../src/services/gateway-state.js';
import { captureLogs } from './gateway.js';

/** The gateway built directly (for options the CLI does not expose, such as a span exporter), on port 0. */
export async function startApp(
  yaml: string,
  opts: { spanExporter?: SpanExporter; env?: Record<string, string> } = {},
) {
  const config = parseConfig(yaml, 'test', { ...opts.env, PORT: '0', HOST: '127.0.0.1' });
  const { stream: logStream, logs, raw } = captureLogs();
  const { app, state } = await buildApp({
    config,
    logStream,
    ...(opts.spanExporter ? { spanExporter: opts.spanExporter } : {}),
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
