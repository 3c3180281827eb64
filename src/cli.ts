#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ADMIN_COMMANDS, ADMIN_USAGE } from './admin-cli-usage.js';
import { ConfigError } from './config/config-error.js';
import { loadConfig } from './config/load.js';
import { startGateway } from './server.js';
import { startWorker } from './worker.js';

const USAGE = `Usage: switchyard <command> [options]

Commands:
  start            start the gateway (with embedded job workers unless jobs.embedded_worker is false)
  worker           run job workers only (scaled mode: jobs.backend bullmq)
  migrate | teams | keys | usage | secrets   administration (below)

Options:
  --config PATH    YAML config file (or SWITCHYARD_CONFIG); without one, zero-config mode
  --types a,b      worker: only these job types (default: all)
  -h, --help       show this help

${ADMIN_USAGE}`;

/** After the shutdown deadline, how long closing pools and flushing traces may take before exit 1. */
const HARD_STOP_GRACE_MS = 5000;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      types: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      // Administration commands' options.
      team: { type: 'string' },
      name: { type: 'string' },
      user: { type: 'string' },
      tier: { type: 'string' },
      role: { type: 'string' },
      models: { type: 'string' },
      'cache-namespaces': { type: 'string' },
      expires: { type: 'string' },
      'require-signature': { type: 'boolean' },
      'include-revoked': { type: 'boolean' },
      from: { type: 'string' },
      to: { type: 'string' },
      key: { type: 'string' },
      model: { type: 'string' },
      'group-by': { type: 'string' },
      provider: { type: 'string' },
      value: { type: 'string' },
    },
  });
  const command = positionals[0] ?? 'start';
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command !== 'start' && command !== 'worker' && !ADMIN_COMMANDS.has(command)) {
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

  if (command === 'worker') return runWorker(config, values.types);
  // Loaded on demand: an admin command never pays for more than the storage services.
  if (ADMIN_COMMANDS.has(command)) {
    const { runAdminCommand } = await import('./admin-cli.js');
    return runAdminCommand(config, { positionals, values });
  }

  // The same resolution as loadConfig: an empty SWITCHYARD_CONFIG means zero-config, which has no file.
  const configPath = values.config ?? (process.env.SWITCHYARD_CONFIG || undefined);
  const gw = await startGateway(config, undefined, {
    ...(configPath ? { configPath } : {}),
    env: process.env,
  });
  const providers = [...config.providers.values()].map((p) => `${p.id}(${p.type})`).join(', ');
  gw.app.log.info({ url: gw.url, config: config.source, providers }, 'switchyard listening');

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      // The operator does not want to wait for the drain.
      gw.app.log.warn({ signal }, 'second signal during shutdown; exiting now');
      process.exit(1);
    }
    stopping = true;
    const timeoutMs = gw.state.runtime.config.server.shutdownTimeoutMs;
    gw.app.log.info({ signal, timeout_ms: timeoutMs }, 'shutting down');
    // Past the deadline the connections are cut; this bounds what is left (onClose hooks: pools, tracing).
    const hardStop = setTimeout(() => {
      gw.app.log.error(
        { grace_ms: HARD_STOP_GRACE_MS },
        'shutdown did not finish after the deadline; exiting',
      );
      process.exit(1);
    }, timeoutMs + HARD_STOP_GRACE_MS);
    hardStop.unref();
    gw.shutdown({ timeoutMs }).then(
      (r) => {
        // A drain cut short by the deadline is still an orderly stop (exit 0); the warning says what was cut.
        gw.app.log.info({ timed_out: r.timedOut, cut_responses: r.cutResponses }, 'shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        gw.app.log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // Without a handler SIGHUP would kill the process; with one it reloads the config file.
  process.on('SIGHUP', () => {
    if (!stopping) void gw.reload('SIGHUP');
  });
  return -1;
}

async function runWorker(
  config: Awaited<ReturnType<typeof loadConfig>>,
  types: string | undefined,
): Promise<number> {
  const w = await startWorker(config, {
    ...(types
      ? {
          types: types
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean),
        }
      : {}),
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      w.log.warn({ signal }, 'second signal during shutdown; exiting now');
      process.exit(1);
    }
    stopping = true;
    const timeoutMs = config.server.shutdownTimeoutMs;
    w.log.info({ signal, timeout_ms: timeoutMs }, 'worker shutting down');
    const hardStop = setTimeout(() => process.exit(1), timeoutMs + HARD_STOP_GRACE_MS);
    hardStop.unref();
    w.stop(timeoutMs).then(
      (r) => {
        w.log.info({ returned: r.returned }, 'worker stopped');
        process.exit(0);
      },
      (err: unknown) => {
        w.log.error({ err }, 'error during worker shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
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
