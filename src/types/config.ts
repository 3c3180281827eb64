/** The resolved, immutable configuration that the config loader produces and everything else reads. */

export type ProviderType = 'openai' | 'anthropic' | 'gemini' | 'mock';

export interface ProviderTimeouts {
  /** TCP + TLS connect. */
  connectMs: number;
  /** Until the upstream's response headers arrive (for streams: until the stream opens). */
  headersMs: number;
  /** Maximum idle gap between two body chunks. */
  bodyMs: number;
}

export interface MockProviderOptions {
  /** Fixed reply text; when unset the reply is derived from the last user message. */
  reply: string | undefined;
  latencyMs: number;
  chunkDelayMs: number;
  faults: MockFaults | undefined;
}

/** Fault injection for the mock provider (chaos testing). Probabilities are per request. */
export interface MockFaults {
  /** When set, the fault sequence is deterministic. */
  seed: number | undefined;
  /** Checked in order; the first that fires answers with that HTTP status. */
  errors: Array<{
    status: number;
    probability: number;
    message: string | undefined;
    retryAfterMs: number | undefined;
  }>;
  latency:
    | {
        distribution: 'fixed' | 'uniform' | 'normal' | 'exponential';
        minMs: number;
        maxMs: number;
        meanMs: number;
        stddevMs: number;
      }
    | undefined;
  /** The connection is reset before any response. */
  resetProbability: number;
  /** No response at all, until the caller's timeout. */
  hangProbability: number;
  /** A response body (or stream event) that is not valid JSON. */
  malformedProbability: number;
  /** Streams break after this many chunks (with streamCutProbability). */
  streamCutAfter: number | undefined;
  streamCutProbability: number;
}

export interface ProviderSpec {
  id: string;
  type: ProviderType;
  /** Base URL without a trailing slash. Empty for `mock`. */
  baseUrl: string;
  /** The first of `apiKeys`, for single-key callers. */
  apiKey: string | undefined;
  /** The key pool: `api_keys`, or `[api_key]`. Empty for keyless local servers. */
  apiKeys: string[];
  /** How long a key rests after a 429 or 401 (a longer Retry-After wins). */
  keyCooldownMs: number;
  /** Extra headers sent with every upstream request (e.g. OpenRouter's HTTP-Referer). */
  headers: Record<string, string>;
  timeouts: ProviderTimeouts;
  /** anthropic: the `anthropic-version` header. */
  anthropicVersion: string;
  /** anthropic: max_tokens when the request gives none (the Messages API requires it). */
  defaultMaxTokens: number;
  mock: MockProviderOptions;
}

export type RoutingStrategy = 'weighted' | 'least-busy' | 'latency' | 'ordered';
export type RetryableClass = 'rate_limit' | 'server_error' | 'overloaded' | 'timeout' | 'connection';
export type DegradationLevel = 'stale_cache' | 'offline' | 'error';

export interface RouteTimeouts {
  /** Until the first chunk of a stream (or the whole response when not streaming). */
  firstTokenMs: number;
  /** The whole request: every attempt, backoff and fallback together. */
  totalMs: number;
}

export interface TargetSpec {
  provider: string;
  model: string;
  weight: number;
  /** Merged over the client's request for this target. */
  params: Record<string, unknown>;
  /** Overrides the model's timeouts for this target. */
  timeouts: Partial<RouteTimeouts>;
}

export interface RetrySpec {
  /** Attempts per target, the first included (1 = no retry). */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  on: RetryableClass[];
}

export interface CircuitBreakerSpec {
  enabled: boolean;
  /** Open when failures / requests in the window reach this. */
  failureRate: number;
  windowMs: number;
  /** No opening below this many requests in the window. */
  minRequests: number;
  /** How long an open circuit stays open before a half-open probe. */
  cooldownMs: number;
}

export interface DegradationSpec {
  chain: DegradationLevel[];
  /** A mock provider id answering at the `offline` level; undefined: the built-in mock. */
  offlineProvider: string | undefined;
}

export interface ModelSpec {
  name: string;
  targets: TargetSpec[];
  strategy: RoutingStrategy;
  /** Other public models, tried after every target of this one failed. */
  fallbacks: string[];
  /** Tried when a target rejects the prompt as too long for its context window. */
  contextFallback: string | undefined;
  retry: RetrySpec;
  timeouts: RouteTimeouts;
  circuitBreaker: CircuitBreakerSpec;
  /** Off unless configured. */
  degradation: DegradationSpec | undefined;
}

export interface RedisSpec {
  url: string;
  keyPrefix: string;
}

export interface ServerSpec {
  host: string;
  port: number;
  bodyLimitBytes: number;
  /** Deadline for in-flight requests on shutdown. */
  shutdownTimeoutMs: number;
  /** Allowed CORS origins; empty disables CORS. `*` allows any origin. */
  corsOrigins: string[];
  loadShedding: LoadSheddingSpec;
}

export interface LoadSheddingSpec {
  enabled: boolean;
  /** 0 disables that check. */
  maxEventLoopDelayMs: number;
  maxHeapUsedBytes: number;
  maxRssBytes: number;
  retryAfterSeconds: number;
}

export interface TracingSpec {
  enabled: boolean;
  /** OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces. Unset with enabled: spans are kept in-process only (tests). */
  endpoint: string | undefined;
  headers: Record<string, string>;
  serviceName: string;
  sampleRatio: number;
}

export interface LoggingSpec {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Opt-in: log prompt and completion bodies. Off by default. */
  logPrompts: boolean;
}

export interface GatewayConfig {
  server: ServerSpec;
  logging: LoggingSpec;
  metrics: { enabled: boolean };
  /** Shared state across instances (circuit breakers now; limits, cache and jobs later). */
  redis: RedisSpec | undefined;
  tracing: TracingSpec;
  /** Whether /health shows dependency and provider details without the admin key. */
  health: { exposeDetails: boolean };
  /** The admin key (SWITCHYARD_ADMIN_KEY); when set, admin-only details require it. */
  adminKey: string | undefined;
  sentry: { dsn: string | undefined; environment: string | undefined };
  providers: ReadonlyMap<string, ProviderSpec>;
  models: ReadonlyMap<string, ModelSpec>;
  /** Routing for `provider-id/upstream-model` requests: the `routing:` defaults. */
  directRoute: Pick<ModelSpec, 'strategy' | 'retry' | 'timeouts' | 'circuitBreaker' | 'degradation'>;
  /** Where the config came from: a file path, or 'zero-config'. */
  source: string;
}
