#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError } from './config/config-error.js';
import { loadConfig } from './config/load.js';
import { startGateway } from './server.js';

const USAGE = `Usage: switchyard <command> [options]

Commands:
  start            start the gateway

Options:
  --config PATH    YAML config file (or SWITCHYARD_CONFIG); without one, zero-config mode
  -h, --help       show this help
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
  });
  const command = positionals[0] ?? 'start';
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command !== 'start') {
    process.stderr.write(`unknown command: ${command}\n\n${USAGE}`);
    return 2;
  }

  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig({ path: values.config, env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }

  const gw = await startGateway(config);
  const providers = [...config.providers.values()].map((p) => `${p.id}(${p.type})`).join(', ');
  gw.app.log.info({ url: gw.url, config: config.source, providers }, 'switchyard listening');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    gw.app.log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      gw.app.log.warn('shutdown deadline passed; closing remaining connections');
      gw.app.server.closeAllConnections();
    }, config.server.shutdownTimeoutMs);
    deadline.unref();
    gw.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        gw.app.log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`switchyard: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
