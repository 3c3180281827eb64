import { parseDuration, parseSize } from '../core/units.js';
import type {
  GatewayConfig,
  LoadSheddingSpec,
  LoggingSpec,
  ModelSpec,
  ProviderSpec,
  ProviderTimeouts,
  ProviderType,
  ServerSpec,
} from '../types/config.js';
import { ConfigError } from './config-error.js';
import type { Env } from './load.js';
import type { RawConfig, RawProvider } from './schema.js';

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_BODY_LIMIT = 10 * 1024 * 1024;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;
export const DEFAULT_TIMEOUTS: ProviderTimeouts = { connectMs: 10_000, headersMs: 120_000, bodyMs: 120_000 };
export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';
export const DEFAULT_MAX_TOKENS = 4096;
export const DEFAULT_LOAD_SHEDDING = {
  maxEventLoopDelayMs: 1000,
  maxHeapUsedBytes: 0,
  maxRssBytes: 0,
  retryAfterSeconds: 10,
};

const DEFAULT_BASE_URLS: Record<Exclude<ProviderType, 'mock'>, string | undefined> = {
  openai: undefined,
  anthropic: 'https://api.anthropic.com',
  gemini: 'https://generativelanguage.googleapis.com',
};

/** Providers registered in zero-config mode when their key is in the environment. */
export const ZERO_CONFIG_PROVIDERS: ReadonlyArray<{
  id: string;
  type: ProviderType;
  env: string;
  baseUrl: string;
}> = [
  { id: 'openai', type: 'openai', env: 'OPENAI_API_KEY', baseUrl: 'https://api.openai.com/v1' },
  { id: 'anthropic', type: 'anthropic', env: 'ANTHROPIC_API_KEY', baseUrl: 'https://api.anthropic.com' },
  {
    id: 'gemini',
    type: 'gemini',
    env: 'GEMINI_API_KEY',
    baseUrl: 'https://generativelanguage.googleapis.com',
  },
  { id: 'xai', type: 'openai', env: 'XAI_API_KEY', baseUrl: 'https://api.x.ai/v1' },
  { id: 'openrouter', type: 'openai', env: 'OPENROUTER_API_KEY', baseUrl: 'https://openrouter.ai/api/v1' },
];

/** Phase two: defaults, durations, env overrides for host/port, and cross-references. */
export function resolveConfig(raw: RawConfig, source: string, env: Env): GatewayConfig {
  const issues: string[] = [];
  const server = resolveServer(raw, env, issues);
  const logging: LoggingSpec = {
    level: raw.logging?.level ?? 'info',
    logPrompts: raw.logging?.log_prompts ?? false,
  };

  const providers = new Map<string, ProviderSpec>();
  for (const [id, p] of Object.entries(raw.providers ?? {})) {
    const spec = resolveProvider(id, p, issues);
    if (spec) providers.set(id, spec);
  }

  const models = new Map<string, ModelSpec>();
  for (const [name, m] of Object.entries(raw.models ?? {})) {
    m.targets.forEach((t, i) => {
      if (!providers.has(t.provider) && raw.providers?.[t.provider] === undefined) {
        issues.push(`models.${name}.targets.${i}.provider: unknown provider '${t.provider}'`);
      }
    });
    models.set(name, { name, targets: m.targets.map((t) => ({ provider: t.provider, model: t.model })) });
  }

  const tracing = raw.tracing ?? {};
  const adminKey = raw.admin?.key || undefined;
  if (issues.length > 0) throw new ConfigError(issues, source);
  return {
    server,
    logging,
    metrics: { enabled: raw.metrics?.enabled ?? true },
    tracing: {
      enabled: tracing.enabled ?? false,
      endpoint: tracing.endpoint,
      headers: tracing.headers ?? {},
      serviceName: tracing.service_name ?? 'switchyard',
      sampleRatio: tracing.sample_ratio ?? 1,
    },
    health: { exposeDetails: raw.health?.expose_details ?? false },
    adminKey,
    sentry: { dsn: raw.sentry?.dsn || undefined, environment: raw.sentry?.environment || undefined },
    providers,
    models,
    source,
  };
}

/** No file: every provider whose key is set, plus the built-in `mock` serving model `mock`. */
export function zeroConfig(env: Env): GatewayConfig {
  const raw: RawConfig = {
    providers: {},
    models: { mock: { targets: [{ provider: 'mock', model: 'mock' }] } },
  };
  for (const z of ZERO_CONFIG_PROVIDERS) {
    const key = env[z.env];
    if (key) raw.providers![z.id] = { type: z.type, base_url: z.baseUrl, api_key: key };
  }
  raw.providers!.mock = { type: 'mock' };
  const level = env.LOG_LEVEL;
  if (level) raw.logging = { level: level as NonNullable<RawConfig['logging']>['level'] };
  if (env.SWITCHYARD_ADMIN_KEY) raw.admin = { key: env.SWITCHYARD_ADMIN_KEY };
  if (env.SENTRY_DSN) raw.sentry = { dsn: env.SENTRY_DSN, environment: env.SENTRY_ENVIRONMENT };
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    raw.tracing = {
      enabled: true,
      endpoint: `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`,
    };
  }
  return resolveConfig(raw, 'zero-config', env);
}

function resolveServer(raw: RawConfig, env: Env, issues: string[]): ServerSpec {
  let port = raw.server?.port ?? DEFAULT_PORT;
  if (env.PORT !== undefined && env.PORT !== '') {
    const p = Number(env.PORT);
    if (!Number.isInteger(p) || p < 0 || p > 65535) issues.push(`PORT: must be an integer from 0 to 65535`);
    else port = p;
  }
  const host = env.HOST || raw.server?.host || DEFAULT_HOST;
  const bodyLimitBytes =
    raw.server?.body_limit === undefined ? DEFAULT_BODY_LIMIT : parseSize(raw.server.body_limit);
  if (bodyLimitBytes === undefined) issues.push(`server.body_limit: must be a size such as '10mb'`);
  const shutdown =
    raw.server?.shutdown_timeout === undefined
      ? DEFAULT_SHUTDOWN_TIMEOUT_MS
      : parseDuration(raw.server.shutdown_timeout);
  if (shutdown === undefined) issues.push(`server.shutdown_timeout: must be a duration such as '30s'`);
  return {
    host,
    port,
    bodyLimitBytes: bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
    shutdownTimeoutMs: shutdown ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    corsOrigins: raw.server?.cors?.origins ?? [],
    loadShedding: resolveLoadShedding(raw, issues),
  };
}

function resolveLoadShedding(raw: RawConfig, issues: string[]): LoadSheddingSpec {
  const ls = raw.server?.load_shedding ?? {};
  const at = 'server.load_shedding';
  const dur = (v: string | number | undefined, key: string, dflt: number) => {
    if (v === undefined) return dflt;
    const ms = parseDuration(v);
    if (ms === undefined) issues.push(`${at}.${key}: must be a duration such as '1s'`);
    return ms ?? dflt;
  };
  const size = (v: string | number | undefined, key: string, dflt: number) => {
    if (v === undefined) return dflt;
    const b = parseSize(v);
    if (b === undefined) issues.push(`${at}.${key}: must be a size such as '1gb'`);
    return b ?? dflt;
  };
  return {
    enabled: ls.enabled ?? true,
    maxEventLoopDelayMs: dur(
      ls.max_event_loop_delay,
      'max_event_loop_delay',
      DEFAULT_LOAD_SHEDDING.maxEventLoopDelayMs,
    ),
    maxHeapUsedBytes: size(ls.max_heap_used, 'max_heap_used', DEFAULT_LOAD_SHEDDING.maxHeapUsedBytes),
    maxRssBytes: size(ls.max_rss, 'max_rss', DEFAULT_LOAD_SHEDDING.maxRssBytes),
    retryAfterSeconds: Math.ceil(
      dur(ls.retry_after, 'retry_after', DEFAULT_LOAD_SHEDDING.retryAfterSeconds * 1000) / 1000,
    ),
  };
}

const MOCK_ONLY = ['reply', 'latency_ms', 'chunk_delay_ms'] as const;
const ANTHROPIC_ONLY = ['anthropic_version', 'default_max_tokens'] as const;

function resolveProvider(id: string, p: RawProvider, issues: string[]): ProviderSpec | undefined {
  const at = `providers.${id}`;
  const before = issues.length;
  if (p.type !== 'mock') {
    for (const k of MOCK_ONLY) if (p[k] !== undefined) issues.push(`${at}.${k}: only valid for type mock`);
  }
  if (p.type !== 'anthropic') {
    for (const k of ANTHROPIC_ONLY)
      if (p[k] !== undefined) issues.push(`${at}.${k}: only valid for type anthropic`);
  }
  const baseUrl = p.type === 'mock' ? '' : (p.base_url ?? DEFAULT_BASE_URLS[p.type]);
  if (p.type !== 'mock' && !baseUrl) issues.push(`${at}.base_url: is required for type ${p.type}`);

  const timeouts: ProviderTimeouts = { ...DEFAULT_TIMEOUTS };
  for (const [key, field] of [
    ['connect', 'connectMs'],
    ['headers', 'headersMs'],
    ['body', 'bodyMs'],
  ] as const) {
    const v = p.timeouts?.[key];
    if (v === undefined) continue;
    const ms = parseDuration(v);
    if (ms === undefined) issues.push(`${at}.timeouts.${key}: must be a duration such as '30s'`);
    else timeouts[field] = ms;
  }
  if (issues.length > before) return undefined;
  return {
    id,
    type: p.type,
    baseUrl: (baseUrl ?? '').replace(/\/+$/, ''),
    apiKey: p.api_key === '' ? undefined : p.api_key,
    headers: p.headers ?? {},
    timeouts,
    anthropicVersion: p.anthropic_version ?? DEFAULT_ANTHROPIC_VERSION,
    defaultMaxTokens: p.default_max_tokens ?? DEFAULT_MAX_TOKENS,
    mock: { reply: p.reply, latencyMs: p.latency_ms ?? 0, chunkDelayMs: p.chunk_delay_ms ?? 0 },
  };
}
