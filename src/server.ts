import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { loadTokenizer } from './core/tokens.js';
import type { GatewayState } from './services/gateway-state.js';
import type { GatewayConfig } from './types/config.js';

export interface RunningGateway {
  app: FastifyInstance;
  state: GatewayState;
  url: string;
  stop(): Promise<void>;
}

/** Builds and listens. Signal handling lives in the CLI so tests can start many gateways in one process. */
export async function startGateway(
  config: GatewayConfig,
  logStream?: NodeJS.WritableStream,
): Promise<RunningGateway> {
  const { app, state } = await buildApp({ config, ...(logStream ? { logStream } : {}) });
  await app.listen({ port: config.server.port, host: config.server.host });
  state.ready = true;
  // Warm the tokenizer off the request path so the first request does not pay for loading it.
  void loadTokenizer();
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.server.port;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  return {
    app,
    state,
    url: `http://${host}:${port}`,
    async stop() {
      state.shuttingDown = true;
      await app.close();
    },
  };
}
