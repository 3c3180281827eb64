import { parseDuration, parseSize } from '../core/units.js';
import type {
  GatewayConfig,
  LoadSheddingSpec,
  LoggingSpec,
  MockFaults,
  ModelSpec,
  ProviderSpec,
  ProviderTimeouts,
  ProviderType,
  RetryableClass,
  ServerSpec,
} from '../types/config.js';
import { ConfigError } from './config-error.js';
import type { Env } from './env.js';
import { resolveJobs } from './jobs.js';
import { resolveLimits } from './resolve-limits.js';
import { resolveStorage } from './resolve-storage.js';
import type { RawConfig, RawProvider } from './schema.js';
import { resolveCache, resolveModelCache } from './schema-cache.js';

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
/** Upstream answers are buffered whole (non-streaming); this bounds what one request can cost. */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
export const DEFAULT_BODY_LIMIT = 10 * 1024 * 1024;
/** A client sends its request line and headers within this. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 30_000;
/** A kept-alive connection with no request in flight is closed after this. */
export const DEFAULT_IDLE_TIMEOUT_MS = 5_000;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;
/** Enough for a 10 MB body on a slow link; a stalled client must not hold a connection forever. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_TIMEOUTS: ProviderTimeouts = { connectMs: 10_000, headersMs: 120_000, bodyMs: 120_000 };
export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';
export const DEFAULT_MAX_TOKENS = 4096;
export const DEFAULT_KEY_COOLDOWN_MS = 60_000;
export const DEFAULT_RETRY = {
  attempts: 2,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  on: ['rate_limit', 'server_error', 'overloaded', 'timeout', 'connection', 'invalid_response'] as const,
};
export const DEFAULT_ROUTE_TIMEOUTS = { firstTokenMs: 60_000, totalMs: 600_000 };
export const DEFAULT_CIRCUIT_BREAKER = {
  enabled: true,
  failureRate: 0.5,
  windowMs: 30_000,
  minRequests: 10,
  consecutiveFailures: 5,
  cooldownMs: 30_000,
};
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
    models.set(name, resolveModel(name, m, raw, issues));
  }
  checkModelReferences(models, raw, issues);
  // `provider/model` requests have no model entry; they route with the `routing:` defaults.
  const directRoute = routeSettings('routing', {}, raw.routing ?? {}, issues);

  const tracing = raw.tracing ?? {};
  const cache = resolveCache(raw.cache, issues);
  const adminKey = raw.admin?.key || undefined;
  const limits = resolveLimits(raw, issues);
  const storage = resolveStorage(raw, env, issues, [...limits.tiers.keys()]);
  const jobs = resolveJobs(raw.jobs, raw.redis !== undefined, issues);
  if (issues.length > 0) throw new ConfigError(issues, source);
  return {
    server,
    logging,
    metrics: { enabled: raw.metrics?.enabled ?? true },
    redis: raw.redis ? { url: raw.redis.url, keyPrefix: raw.redis.key_prefix ?? 'switchyard:' } : undefined,
    cache,
    tracing: {
      enabled: tracing.enabled ?? false,
      endpoint: tracing.endpoint,
      headers: tracing.headers ?? {},
      serviceName: tracing.service_name ?? 'switchyard',
      sampleRatio: tracing.sample_ratio ?? 1,
    },
    health: { exposeDetails: raw.health?.expose_details ?? false },
    responses: resolveResponses(raw, issues),
    audio: resolveAudio(raw, issues),
    adminKey,
    sentry: { dsn: raw.sentry?.dsn || undefined, environment: raw.sentry?.environment || undefined },
    providers,
    models,
    directRoute,
    jobs,
    source,
    ...storage,
    limits,
  };
}

const DEFAULT_RESPONSES_RETENTION_MS = 30 * 24 * 3600 * 1000;
const DEFAULT_RESPONSES_MAX_STORED = 10_000;
/** A request's input is at most the body limit's default; its answer is small next to it. */
const DEFAULT_RESPONSES_MAX_BYTES = 16 * 1024 * 1024;
const DEFAULT_AUDIO_MAX_FILE_BYTES = 25 * 1024 * 1024;

function resolveResponses(raw: RawConfig, issues: string[]): GatewayConfig['responses'] {
  const r = raw.responses ?? {};
  let retentionMs = DEFAULT_RESPONSES_RETENTION_MS;
  if (r.retention !== undefined) {
    const ms = parseDuration(r.retention);
    if (ms === undefined || ms <= 0)
      issues.push("responses.retention: must be a positive duration such as '30d'");
    else retentionMs = ms;
  }
  let maxBytes = DEFAULT_RESPONSES_MAX_BYTES;
  if (r.max_size !== undefined) {
    const b = parseSize(r.max_size);
    if (b === undefined || b <= 0) issues.push("responses.max_size: must be a size such as '10mb'");
    else maxBytes = b;
  }
  return { retentionMs, maxStored: r.max_stored ?? DEFAULT_RESPONSES_MAX_STORED, maxBytes };
}

function resolveAudio(raw: RawConfig, issues: string[]): GatewayConfig['audio'] {
  const v = raw.audio?.max_file_size;
  if (v === undefined) return { maxFileBytes: DEFAULT_AUDIO_MAX_FILE_BYTES };
  const b = parseSize(v);
  if (b === undefined || b <= 0) {
    issues.push("audio.max_file_size: must be a size such as '25mb'");
    return { maxFileBytes: DEFAULT_AUDIO_MAX_FILE_BYTES };
  }
  return { maxFileBytes: b };
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
  if (env.REDIS_URL) raw.redis = { url: env.REDIS_URL };
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
  const requestTimeout =
    raw.server?.request_timeout === undefined
      ? DEFAULT_REQUEST_TIMEOUT_MS
      : parseDuration(raw.server.request_timeout);
  if (requestTimeout === undefined || requestTimeout <= 0) {
    issues.push(`server.request_timeout: must be a positive duration such as '60s'`);
  }
  const headersTimeout = positiveDuration(
    raw.server?.headers_timeout,
    'server.headers_timeout',
    DEFAULT_HEADERS_TIMEOUT_MS,
    issues,
  );
  const idleTimeout = positiveDuration(
    raw.server?.idle_timeout,
    'server.idle_timeout',
    DEFAULT_IDLE_TIMEOUT_MS,
    issues,
  );
  return {
    host,
    port,
    bodyLimitBytes: bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
    requestTimeoutMs: requestTimeout || DEFAULT_REQUEST_TIMEOUT_MS,
    // Node requires the headers deadline to be within the whole request's.
    headersTimeoutMs: Math.min(headersTimeout, requestTimeout || DEFAULT_REQUEST_TIMEOUT_MS),
    idleTimeoutMs: idleTimeout,
    shutdownTimeoutMs: shutdown ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    corsOrigins: raw.server?.cors?.origins ?? [],
    loadShedding: resolveLoadShedding(raw, issues),
  };
}

function positiveDuration(
  v: string | number | undefined,
  at: string,
  dflt: number,
  issues: string[],
): number {
  if (v === undefined) return dflt;
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) {
    issues.push(`${at}: must be a positive duration such as '30s'`);
    return dflt;
  }
  return ms;
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

const MOCK_ONLY = ['reply', 'latency_ms', 'chunk_delay_ms', 'faults'] as const;
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
  if (p.type === 'mock') {
    for (const k of ['api_key', 'api_keys', 'key_cooldown', 'base_url'] as const) {
      if (p[k] !== undefined) issues.push(`${at}.${k}: not valid for type mock`);
    }
  }
  if (p.api_key !== undefined && p.api_keys !== undefined) {
    issues.push(`${at}.api_keys: give api_key or api_keys, not both`);
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
  const keyCooldownMs = duration(p.key_cooldown, `${at}.key_cooldown`, DEFAULT_KEY_COOLDOWN_MS, issues);
  const maxResponseBytes =
    p.max_response_size === undefined ? DEFAULT_MAX_RESPONSE_BYTES : parseSize(p.max_response_size);
  if (maxResponseBytes === undefined || maxResponseBytes < 1024) {
    issues.push(`${at}.max_response_size: must be a size of at least 1kb, such as '32mb'`);
  }
  const faults = p.faults ? resolveFaults(p.faults, `${at}.faults`, issues) : undefined;
  if (issues.length > before) return undefined;
  // An empty key (an unset `${KEY:-}`) means no key, so one config works with and without it.
  const apiKeys = (p.api_keys ?? (p.api_key === undefined ? [] : [p.api_key])).filter((k) => k !== '');
  return {
    id,
    type: p.type,
    baseUrl: (baseUrl ?? '').replace(/\/+$/, ''),
    apiKey: apiKeys[0],
    apiKeys,
    keyCooldownMs,
    headers: p.headers ?? {},
    timeouts,
    anthropicVersion: p.anthropic_version ?? DEFAULT_ANTHROPIC_VERSION,
    defaultMaxTokens: p.default_max_tokens ?? DEFAULT_MAX_TOKENS,
    maxResponseBytes: maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    mock: { reply: p.reply, latencyMs: p.latency_ms ?? 0, chunkDelayMs: p.chunk_delay_ms ?? 0, faults },
  };
}

function duration(v: string | number | undefined, at: string, dflt: number, issues: string[]): number {
  if (v === undefined) return dflt;
  const ms = parseDuration(v);
  if (ms === undefined) issues.push(`${at}: must be a duration such as '30s'`);
  return ms ?? dflt;
}

function resolveFaults(f: NonNullable<RawProvider['faults']>, at: string, issues: string[]): MockFaults {
  const l = f.latency;
  return {
    seed: f.seed,
    errors: (f.errors ?? []).map((e, i) => ({
      status: e.status,
      probability: e.probability,
      message: e.message,
      retryAfterMs:
        e.retry_after === undefined
          ? undefined
          : duration(e.retry_after, `${at}.errors.${i}.retry_after`, 0, issues),
    })),
    latency: l
      ? {
          distribution: l.distribution,
          minMs: duration(l.min, `${at}.latency.min`, 0, issues),
          maxMs: duration(l.max, `${at}.latency.max`, 0, issues),
          meanMs: duration(l.mean, `${at}.latency.mean`, 0, issues),
          stddevMs: duration(l.stddev, `${at}.latency.stddev`, 0, issues),
        }
      : undefined,
    resetProbability: f.reset_probability ?? 0,
    hangProbability: f.hang_probability ?? 0,
    malformedProbability: f.malformed_probability ?? 0,
    streamCutAfter: f.stream_cut_after,
    streamCutProbability: f.stream_cut_probability ?? (f.stream_cut_after === undefined ? 0 : 1),
  };
}

type RawModel = NonNullable<RawConfig['models']>[string];
type RawRouting = NonNullable<RawConfig['routing']>;

function resolveModel(name: string, m: RawModel, raw: RawConfig, issues: string[]): ModelSpec {
  const at = `models.${name}`;
  m.targets.forEach((t, i) => {
    if (raw.providers?.[t.provider] === undefined) {
      issues.push(`${at}.targets.${i}.provider: unknown provider '${t.provider}'`);
    }
  });
  return {
    name,
    targets: m.targets.map((t, i) => ({
      provider: t.provider,
      model: t.model,
      weight: t.weight ?? 1,
      params: t.params ?? {},
      timeouts: {
        ...(t.timeouts?.first_token === undefined
          ? {}
          : {
              firstTokenMs: duration(
                t.timeouts.first_token,
                `${at}.targets.${i}.timeouts.first_token`,
                0,
                issues,
              ),
            }),
        ...(t.timeouts?.total === undefined
          ? {}
          : { totalMs: duration(t.timeouts.total, `${at}.targets.${i}.timeouts.total`, 0, issues) }),
      },
    })),
    fallbacks: m.fallbacks ?? [],
    contextFallback: m.context_fallback,
    ...routeSettings(at, m, raw.routing ?? {}, issues),
    cache: resolveModelCache(m.cache, `${at}.cache`, issues),
  };
}

export type RouteSettings = Pick<
  ModelSpec,
  'strategy' | 'retry' | 'timeouts' | 'circuitBreaker' | 'degradation'
>;

/** Strategy, retry, timeouts, breaker and degradation: the model's own keys over `routing:` defaults. */
function routeSettings(at: string, m: RawRouting, d: RawRouting, issues: string[]): RouteSettings {
  const retry = { ...d.retry, ...m.retry };
  const timeouts = { ...d.timeouts, ...m.timeouts };
  const cb = { ...d.circuit_breaker, ...m.circuit_breaker };
  const degradation = m.degradation ?? d.degradation;
  return {
    strategy: m.strategy ?? d.strategy ?? 'ordered',
    retry: {
      attempts: retry.attempts ?? DEFAULT_RETRY.attempts,
      baseDelayMs: duration(retry.base_delay, `${at}.retry.base_delay`, DEFAULT_RETRY.baseDelayMs, issues),
      maxDelayMs: duration(retry.max_delay, `${at}.retry.max_delay`, DEFAULT_RETRY.maxDelayMs, issues),
      on: (retry.on as RetryableClass[] | undefined) ?? [...DEFAULT_RETRY.on],
    },
    timeouts: {
      firstTokenMs: duration(
        timeouts.first_token,
        `${at}.timeouts.first_token`,
        DEFAULT_ROUTE_TIMEOUTS.firstTokenMs,
        issues,
      ),
      totalMs: duration(timeouts.total, `${at}.timeouts.total`, DEFAULT_ROUTE_TIMEOUTS.totalMs, issues),
    },
    circuitBreaker: {
      enabled: cb.enabled ?? DEFAULT_CIRCUIT_BREAKER.enabled,
      failureRate: cb.failure_rate ?? DEFAULT_CIRCUIT_BREAKER.failureRate,
      windowMs: duration(cb.window, `${at}.circuit_breaker.window`, DEFAULT_CIRCUIT_BREAKER.windowMs, issues),
      minRequests: cb.min_requests ?? DEFAULT_CIRCUIT_BREAKER.minRequests,
      consecutiveFailures: cb.consecutive_failures ?? DEFAULT_CIRCUIT_BREAKER.consecutiveFailures,
      cooldownMs: duration(
        cb.cooldown,
        `${at}.circuit_breaker.cooldown`,
        DEFAULT_CIRCUIT_BREAKER.cooldownMs,
        issues,
      ),
    },
    degradation: degradation
      ? { chain: degradation.chain, offlineProvider: degradation.offline_provider }
      : undefined,
  };
}

function checkModelReferences(models: Map<string, ModelSpec>, raw: RawConfig, issues: string[]): void {
  for (const m of models.values()) {
    const at = `models.${m.name}`;
    m.fallbacks.forEach((f, i) => {
      if (f === m.name) issues.push(`${at}.fallbacks.${i}: a model cannot fall back to itself`);
      else if (!models.has(f)) issues.push(`${at}.fallbacks.${i}: unknown model '${f}'`);
    });
    if (m.contextFallback !== undefined && !models.has(m.contextFallback)) {
      issues.push(`${at}.context_fallback: unknown model '${m.contextFallback}'`);
    }
    const off = m.degradation?.offlineProvider;
    if (off !== undefined && raw.providers?.[off]?.type !== 'mock') {
      issues.push(`${at}.degradation.offline_provider: '${off}' is not a mock provider`);
    }
  }
}
