/**
 * One gateway process for multi-instance tests: `node --import tsx test/helpers/limits-instance.ts <config.yaml>`.
 * Builds the real app from the file (plus a fixed price for model `gpt-priced`, standing in for the
 * pricing table), listens on 127.0.0.1:0 and prints `LISTENING <url>` once ready.
 */
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';

const path = process.argv[2];
if (!path) throw new Error('usage: limits-instance.ts <config.yaml>');
const config = await loadConfig({ path, env: { PORT: '0', HOST: '127.0.0.1' } });
const { app, state } = await buildApp({
  config,
  priceOf: (model) =>
    model === 'gpt-priced' ? { inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 2_000_000 } : undefined,
});
await app.listen({ port: 0, host: '127.0.0.1' });
state.ready = true;
const addr = app.server.address();
process.stdout.write(`LISTENING http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}\n`);
const stop = () => {
  void app.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
