import { Writable } from 'node:stream';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { zeroConfig } from '../../src/config/resolve.js';
import { type StartOptions, startGateway as start } from '../../src/server.js';
import type { ReloadResult } from '../../src/services/config-reloader.js';
import type { GatewayState } from '../../src/services/gateway-state.js';
import type { GatewayConfig } from '../../src/types/config.js';

export interface TestGateway {
  url: string;
  /** `${url}/v1`, for the openai SDK's baseURL. */
  baseURL: string;
  state: GatewayState;
  /** Every log line the gateway wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  /** The raw log output, for asserting that secrets never appear. */
  rawLog(): string;
  close(): Promise<void>;
}

const TEST_LISTEN = { PORT: '0', HOST: '127.0.0.1' };
/** A throwaway in-memory SQLite database unless a test gives its own SWITCHYARD_DB_PATH or database.url. */
const TEST_DB = { SWITCHYARD_DB_PATH: ':memory:' };

/** Starts the real gateway on 127.0.0.1:0 from a YAML config, capturing its log. */
export function startGateway(yaml: string, env: Record<string, string> = {}): Promise<TestGateway> {
  return launch(
    withoutSheddingUnlessAsked(yaml, parseConfig(yaml, 'test', { ...TEST_DB, ...env, ...TEST_LISTEN })),
  );
}

/**
 * Load shedding measures event-loop delay, and on a shared two-core machine running several suites
 * (load average 25 was seen) the OS starves the process for over a second at a time: the gateway then
 * sheds correctly, and tests about anything else get 503s. Tests that are about shedding configure
 * `load_shedding` and keep it; for the rest the machine's load is not the gateway's.
 */
export function withoutSheddingUnlessAsked(yaml: string, config: GatewayConfig): GatewayConfig {
  if (yaml.includes('load_shedding')) return config;
  const loadShedding = { ...config.server.loadShedding, enabled: false };
  return { ...config, server: { ...config.server, loadShedding } };
}

/** Zero-config gateway, as `npm start` runs on a fresh machine. */
export function startZeroConfigGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  return launch(zeroConfig({ ...TEST_DB, ...env, ...TEST_LISTEN }));
}

export interface FileTestGateway extends TestGateway {
  /** Reloads the file now, as SIGHUP does. */
  reload(): Promise<ReloadResult | undefined>;
}

/** Starts the gateway from a YAML file with hot reload on, as the CLI does (`watch: false` for SIGHUP-only). */
export async function startGatewayFromFile(
  path: string,
  env: Record<string, string> = {},
  opts: { watch?: boolean } = {},
): Promise<FileTestGateway> {
  const fullEnv = { ...TEST_DB, ...env, ...TEST_LISTEN };
  const config = await loadConfig({ path, env: fullEnv });
  return launch(config, { configPath: path, env: fullEnv, ...opts });
}

/** A pino destination that keeps every line, raw and parsed. */
export function captureLogs() {
  const raw: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      raw.push(text);
      for (const line of text.split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { stream, logs, raw };
}

async function launch(config: GatewayConfig, startOpts?: StartOptions): Promise<FileTestGateway> {
  const { stream: sink, logs, raw } = captureLogs();
  const gw = await start(config, sink, startOpts);
  return {
    url: gw.url,
    baseURL: `${gw.url}/v1`,
    state: gw.state,
    logs,
    rawLog: () => raw.join(''),
    close: () => gw.stop(),
    reload: () => gw.reload('manual'),
  };
}
