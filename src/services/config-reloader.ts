import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../config/config-error.js';
import { type Env, parseConfig } from '../config/load.js';
import type { GatewayConfig } from '../types/config.js';
import type { GatewayState } from './gateway-state.js';
import { warnBreakerConflicts } from './runtime.js';

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
  /**
   * After a watch event, the file is read again this long later and must be unchanged before it is
   * used, so a save still being written is never applied half-way (default 200 ms).
   */
  settleMs?: number;
}

export const DEFAULT_SETTLE_MS = 200;
/** A file still changing after this long is read as it is then (it is checked like any other). */
const MAX_SETTLE_MS = 5_000;

/** Nothing but whitespace and comments: an editor's truncate-then-write caught between the two. */
export function isEmptyDocument(text: string): boolean {
  return text.replace(/^\s*#.*$/gm, '').trim() === '';
}

/**
 * Settings consumed once while the server and its plugins are built. A reload cannot apply them, so the
 * running values are kept (and the snapshot says so) and each changed key is named in a warning.
 */
const RESTART_ONLY: ReadonlyArray<{ key: string; get: (c: GatewayConfig) => unknown }> = [
  { key: 'server.host', get: (c) => c.server.host },
  { key: 'server.port', get: (c) => c.server.port },
  { key: 'server.body_limit', get: (c) => c.server.bodyLimitBytes },
  { key: 'server.request_timeout', get: (c) => c.server.requestTimeoutMs },
  { key: 'server.headers_timeout', get: (c) => c.server.headersTimeoutMs },
  { key: 'server.idle_timeout', get: (c) => c.server.idleTimeoutMs },
  { key: 'server.cors.origins', get: (c) => c.server.corsOrigins },
  { key: 'server.load_shedding', get: (c) => c.server.loadShedding },
  { key: 'metrics.enabled', get: (c) => c.metrics.enabled },
  // The breakers' shared state and the health check connect to Redis once, at start.
  { key: 'redis', get: (c) => c.redis },
  { key: 'tracing.enabled', get: (c) => c.tracing.enabled },
  { key: 'tracing.endpoint', get: (c) => c.tracing.endpoint },
  { key: 'tracing.headers', get: (c) => c.tracing.headers },
  { key: 'tracing.service_name', get: (c) => c.tracing.serviceName },
  { key: 'tracing.sample_ratio', get: (c) => c.tracing.sampleRatio },
  { key: 'sentry.dsn', get: (c) => c.sentry.dsn },
  { key: 'sentry.environment', get: (c) => c.sentry.environment },
  // The database and what is built on it (identify, the admin guard, the request log, pricing).
  { key: 'database', get: (c) => c.database },
  { key: 'request_log', get: (c) => c.requestLog },
  { key: 'auth', get: (c) => c.auth },
  { key: 'pricing', get: (c) => [...c.pricing] },
  { key: 'admin.allow_ips', get: (c) => c.adminAllowIps },
  // The queue, its workers and their schedules are built once, at start (a Map does not stringify).
  { key: 'jobs', get: (c) => ({ ...c.jobs, types: [...c.jobs.types] }) },
  // The response store is sized once, and the audio routes' multipart limit is set when they register.
  { key: 'responses.retention', get: (c) => c.responses.retentionMs },
  { key: 'responses.max_stored', get: (c) => c.responses.maxStored },
  { key: 'responses.max_size', get: (c) => c.responses.maxBytes },
  { key: 'audio.max_file_size', get: (c) => c.audio.maxFileBytes },
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
        requestTimeoutMs: running.server.requestTimeoutMs,
        headersTimeoutMs: running.server.headersTimeoutMs,
        idleTimeoutMs: running.server.idleTimeoutMs,
        corsOrigins: running.server.corsOrigins,
        loadShedding: running.server.loadShedding,
      },
      metrics: running.metrics,
      redis: running.redis,
      tracing: running.tracing,
      sentry: running.sentry,
      database: running.database,
      requestLog: running.requestLog,
      auth: running.auth,
      pricing: running.pricing,
      adminAllowIps: running.adminAllowIps,
      secretKeys: running.secretKeys,
      jobs: running.jobs,
      responses: running.responses,
      audio: running.audio,
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
      text = trigger === 'watch' ? await this.settled() : await readFile(path, 'utf8');
    } catch (err) {
      // Same wording as loadConfig at startup. Not remembered: the next save must be read again.
      this.lastText = undefined;
      return this.fail(trigger, [`cannot read config file: ${(err as Error).message}`]);
    }
    // An empty file would empty the model table and 404 every request until the next save.
    if (isEmptyDocument(text)) {
      this.lastText = undefined;
      return this.fail(trigger, [
        'config file is empty (or only comments); keeping the running config. Replace the file atomically (write a temporary file, then rename it over the config)',
      ]);
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
    warnBreakerConflicts(state.runtime, log);
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

  /** The file's content once two reads settleMs apart agree: a writer still at work is waited for. */
  private async settled(): Promise<string> {
    const settleMs = this.opts.settleMs ?? DEFAULT_SETTLE_MS;
    const deadline = performance.now() + MAX_SETTLE_MS;
    let text = await readFile(this.opts.path, 'utf8');
    while (settleMs > 0 && performance.now() < deadline) {
      await sleep(settleMs);
      const again = await readFile(this.opts.path, 'utf8');
      if (again === text) break;
      text = again;
    }
    return text;
  }

  private fail(trigger: ReloadTrigger, errors: string[]): ReloadResult {
    const { state, path, log } = this.opts;
    log.error({ source: path, trigger, errors }, 'config reload failed; keeping the running config');
    state.events.emit('ai.config.reloaded', { source: path, ok: false, errors });
    return { status: 'failed', errors };
  }
}
