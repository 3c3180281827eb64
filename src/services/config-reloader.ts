import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config/config-error.js';
import { type Env, parseConfig } from '../config/load.js';
import type { GatewayConfig } from '../types/config.js';
import type { GatewayState } from './gateway-state.js';

/** What asked for the reload; logged, so an operator can tell a file save from a SIGHUP. */
export type ReloadTrigger = 'watch' | 'SIGHUP' | 'manual';

/** The slice of a pino logger the reloader needs; `level` is assigned to apply `logging.level`. */
export interface ReloadLog {
  level: string;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export type ReloadResult =
  | { status: 'applied'; restartRequired: string[] }
  /** A watch event for a file whose content is what was last read. */
  | { status: 'unchanged' }
  | { status: 'failed'; errors: string[] };

export interface ConfigReloaderOptions {
  state: GatewayState;
  path: string;
  /** The environment the running config was loaded with, so `${VAR}` resolves the same way. */
  env: Env;
  log: ReloadLog;
}

/**
 * Settings consumed once while the server and its plugins are built. A reload cannot apply them, so the
 * running values are kept (and the snapshot says so) and each changed key is named in a warning.
 */
const RESTART_ONLY: ReadonlyArray<{ key: string; get: (c: GatewayConfig) => unknown }> = [
  { key: 'server.host', get: (c) => c.server.host },
  { key: 'server.port', get: (c) => c.server.port },
  { key: 'server.body_limit', get: (c) => c.server.bodyLimitBytes },
  { key: 'server.cors.origins', get: (c) => c.server.corsOrigins },
  { key: 'server.load_shedding', get: (c) => c.server.loadShedding },
  { key: 'metrics.enabled', get: (c) => c.metrics.enabled },
  { key: 'tracing.enabled', get: (c) => c.tracing.enabled },
  { key: 'tracing.endpoint', get: (c) => c.tracing.endpoint },
  { key: 'tracing.headers', get: (c) => c.tracing.headers },
  { key: 'tracing.service_name', get: (c) => c.tracing.serviceName },
  { key: 'tracing.sample_ratio', get: (c) => c.tracing.sampleRatio },
  { key: 'sentry.dsn', get: (c) => c.sentry.dsn },
  { key: 'sentry.environment', get: (c) => c.sentry.environment },
];

function keepRestartOnly(
  running: GatewayConfig,
  next: GatewayConfig,
): { config: GatewayConfig; changed: string[] } {
  const changed = RESTART_ONLY.filter(
    (s) => JSON.stringify(s.get(running)) !== JSON.stringify(s.get(next)),
  ).map((s) => s.key);
  return {
    changed,
    config: {
      ...next,
      server: {
        ...next.server,
        host: running.server.host,
        port: running.server.port,
        bodyLimitBytes: running.server.bodyLimitBytes,
        corsOrigins: running.server.corsOrigins,
        loadShedding: running.server.loadShedding,
      },
      metrics: running.metrics,
      tracing: running.tracing,
      sentry: running.sentry,
    },
  };
}

/**
 * Re-reads the config file and swaps in a new runtime snapshot. A request holds the snapshot it started
 * with, so in-flight requests and streams finish on the old config. An invalid file changes nothing.
 * Reloads run one at a time, in the order asked, so two quick saves cannot apply out of order.
 */
export class ConfigReloader {
  private readonly opts: ConfigReloaderOptions;
  private lastText: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ConfigReloaderOptions) {
    this.opts = opts;
  }

  get path(): string {
    return this.opts.path;
  }

  reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    const run = this.queue.then(() => this.run(trigger));
    this.queue = run.catch(() => {});
    return run;
  }

  private async run(trigger: ReloadTrigger): Promise<ReloadResult> {
    const { state, path, env, log } = this.opts;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      // Same wording as loadConfig at startup. Not remembered: the next save must be read again.
      this.lastText = undefined;
      return this.fail(trigger, [`cannot read config file: ${(err as Error).message}`]);
    }
    // Watch events also come from saves that changed nothing (touch, chmod, an editor's backup write).
    // A SIGHUP always reloads: the operator asked for it.
    if (trigger === 'watch' && text === this.lastText) {
      log.debug({ source: path }, 'config file saved without changes; not reloaded');
      return { status: 'unchanged' };
    }
    this.lastText = text;

    let next: GatewayConfig;
    try {
      // loadConfig is readFile + parseConfig; the text is read here to compare it with the last one.
      next = parseConfig(text, path, env);
    } catch (err) {
      return this.fail(
        trigger,
        err instanceof ConfigError ? err.issues : [`unexpected error: ${(err as Error).message}`],
      );
    }

    const { config, changed } = keepRestartOnly(state.runtime.config, next);
    try {
      state.swap(config);
    } catch (err) {
      return this.fail(trigger, [`cannot build runtime: ${(err as Error).message}`]);
    }
    log.level = config.logging.level;
    if (changed.length > 0) {
      log.warn(
        { source: path, keys: changed },
        `config reload: changing ${changed.join(', ')} needs a restart; keeping the running values`,
      );
    }
    log.info(
      {
        source: path,
        trigger,
        providers: [...config.providers.keys()],
        models: [...config.models.keys()],
      },
      'config reloaded',
    );
    state.events.emit('ai.config.reloaded', { source: path, ok: true, errors: [] });
    return { status: 'applied', restartRequired: changed };
  }

  private fail(trigger: ReloadTrigger, errors: string[]): ReloadResult {
    const { state, path, log } = this.opts;
    log.error({ source: path, trigger, errors }, 'config reload failed; keeping the running config');
    state.events.emit('ai.config.reloaded', { source: path, ok: false, errors });
    return { status: 'failed', errors };
  }
}
