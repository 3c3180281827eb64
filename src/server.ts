import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Env } from './config/load.js';
import { type ConfigWatcher, watchConfigFile } from './config/watch.js';
import { loadTokenizer } from './core/tokens.js';
import { ConfigReloader, type ReloadResult, type ReloadTrigger } from './services/config-reloader.js';
import type { GatewayState } from './services/gateway-state.js';
import type { JobService } from './services/jobs/job-service.js';
import type { GatewayConfig } from './types/config.js';

export interface StartOptions {
  /** The file `config` came from. With it the gateway can reload; without it (zero-config) it cannot. */
  configPath?: string;
  /** The environment `config` was loaded with; reloads resolve `${VAR}` against the same one. */
  env?: Env;
  /** Reload when the file changes (default true when `configPath` is set). */
  watch?: boolean;
}

export interface StopOptions {
  /** How long in-flight requests and streams may run; defaults to the running `server.shutdown_timeout`. */
  timeoutMs?: number;
}

export interface StopResult {
  /** The deadline passed and the remaining connections were closed. */
  timedOut: boolean;
  /** Responses still in flight when the deadline passed. */
  cutResponses: number;
}

export interface RunningGateway {
  app: FastifyInstance;
  state: GatewayState;
  /** Background jobs (undefined with `jobs.enabled: false`). */
  jobs: JobService | undefined;
  url: string;
  /** Present when started with a config path. */
  reloader: ConfigReloader | undefined;
  /** Reloads the config file; a no-op (logged) in zero-config mode. */
  reload(trigger: ReloadTrigger): Promise<ReloadResult | undefined>;
  /**
   * Graceful stop: readiness fails at once, no new connections are accepted, requests arriving on kept-alive
   * connections get 503, in-flight requests and streams run until the deadline, then Fastify's onClose
   * hooks close upstream pools and the rest. Calling it again returns the same promise.
   */
  shutdown(opts?: StopOptions): Promise<StopResult>;
  /** `shutdown()` with the configured deadline. */
  stop(): Promise<void>;
}

/** Builds and listens. Signal handling lives in the CLI so tests can start many gateways in one process. */
export async function startGateway(
  config: GatewayConfig,
  logStream?: NodeJS.WritableStream,
  opts: StartOptions = {},
): Promise<RunningGateway> {
  const { app, state, jobs } = await buildApp({ config, ...(logStream ? { logStream } : {}) });

  // Every response from the node server, including Fastify's own 503s while closing, so that shutdown
  // can wait on them and reap each connection the moment its last response is done.
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  app.server.on('request', (_req, res: ServerResponse) => {
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      // Node's server.close() closes only the connections idle at that instant; one that finishes a
      // stream afterwards would sit in keep-alive (72s) and hold close() open. Reap it once idle.
      if (draining) setImmediate(() => app.server.closeIdleConnections());
    });
  });

  await app.listen({ port: config.server.port, host: config.server.host });
  state.ready = true;
  // Embedded mode: this process also works the queue. An embedded queue nobody has used yet is created by
  // its first job, so a gateway that never runs jobs never creates the database file or polls it.
  if (jobs && config.jobs.embeddedWorker) jobs.startWorkers({ lazy: true });
  // Only the mock counts tokens itself. Warm its tokenizer (~50 MiB) off the request path when a mock
  // provider is configured; otherwise it loads on first use (the built-in offline responder).
  if ([...config.providers.values()].some((p) => p.type === 'mock')) void loadTokenizer();

  const reloader = opts.configPath
    ? new ConfigReloader({ state, path: opts.configPath, env: opts.env ?? {}, log: app.log })
    : undefined;
  let watcher: ConfigWatcher | undefined;
  if (reloader && opts.watch !== false) {
    watcher = watchConfigFile(reloader.path, () => void reloader.reload('watch'), {
      onError: (err) =>
        app.log.error({ err, source: reloader.path }, 'config watch failed; reload with SIGHUP instead'),
    });
  }

  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.server.port;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;

  let stopping: Promise<StopResult> | undefined;
  const shutdown = async (stopOpts: StopOptions): Promise<StopResult> => {
    state.shuttingDown = true;
    draining = true;
    watcher?.close();
    const timeoutMs = stopOpts.timeoutMs ?? state.runtime.config.server.shutdownTimeoutMs;
    const result: StopResult = { timedOut: false, cutResponses: 0 };
    const deadline = setTimeout(() => {
      result.timedOut = true;
      result.cutResponses = inFlight.size;
      app.log.warn(
        { timeout_ms: timeoutMs, cut_responses: inFlight.size },
        'shutdown deadline passed; closing remaining connections',
      );
      app.server.closeAllConnections();
    }, timeoutMs);
    deadline.unref();
    // Workers stop taking jobs at once and get the same deadline as the HTTP drain, in parallel with it.
    const jobsStopped = jobs?.stop(timeoutMs).then((r) => {
      if (r.returned > 0)
        app.log.warn({ returned: r.returned }, 'jobs still running at the deadline went back to the queue');
    });
    try {
      await Promise.all([app.close(), jobsStopped]);
    } finally {
      clearTimeout(deadline);
    }
    return result;
  };

  return {
    app,
    state,
    jobs,
    url: `http://${host}:${port}`,
    reloader,
    async reload(trigger) {
      if (!reloader) {
        app.log.info({ trigger }, 'config reload skipped: no config file (zero-config mode)');
        return undefined;
      }
      return reloader.reload(trigger);
    },
    shutdown(stopOpts = {}) {
      stopping ??= shutdown(stopOpts);
      return stopping;
    },
    async stop() {
      stopping ??= shutdown({});
      await stopping;
    },
  };
}
