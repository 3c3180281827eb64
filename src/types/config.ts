import type { LimitsSpec } from './limits.js';

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
  /**
   * The largest upstream answer read (`max_response_size`, default 32 MB): a whole JSON body, or one
   * stream event. Past it the request fails with 502 `upstream_response_too_large`.
   */
  maxResponseBytes?: number;
  mock: MockProviderOptions;
}

export type RoutingStrategy = 'weighted' | 'least-busy' | 'latency' | 'ordered';
export type RetryableClass =
  | 'rate_limit'
  | 'server_error'
  | 'overloaded'
  | 'timeout'
  | 'connection'
  | 'invalid_response';
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
  /** No opening on the rate below this many attempts in the window. */
  minRequests: number;
  /**
   * Open after this many counted failures in a row, whatever the rate (Envoy's consecutive_5xx): a
   * target that dies after heavy successful traffic is ejected at once. 0 turns this trigger off.
   */
  consecutiveFailures: number;
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
  /** `models.<name>.cache`: overrides of `cache:` for this model. */
  cache?: Partial<CachePolicy> | undefined;
}

/** The response cache's policy for a model (docs/cache.md). */
export interface CachePolicy {
  enabled: boolean;
  ttlMs: number;
  /** After expiry, how long an entry may still answer when every target failed (stale-if-error). */
  staleMs: number;
  /** Also cache requests with an explicit `temperature > 0`. */
  cacheNonzeroTemperature: boolean;
  /**
   * Merge identical in-flight requests. Unset: wherever caching is on. `true` with caching off merges
   * without storing; `false` never merges.
   */
  singleFlight: boolean | undefined;
}

export interface CacheSpec {
  /** The policy of every model without its own `cache:` keys. */
  defaults: CachePolicy;
  /** L1 bound. */
  maxBytes: number;
  /** Cross-instance merging lock, and the longest another instance waits on it. */
  lockTtlMs: number;
  warm:
    | {
        intervalMs: number | undefined;
        requests: Array<{ model: string; namespace: string; body: Record<string, unknown> }>;
      }
    | undefined;
}

export interface RedisSpec {
  url: string;
  keyPrefix: string;
}

export interface ServerSpec {
  host: string;
  port: number;
  bodyLimitBytes: number;
  /** Time a client has to deliver its whole request (headers and body) before a 408. */
  requestTimeoutMs: number;
  /** The request line and headers must arrive within this (at most requestTimeoutMs). */
  headersTimeoutMs: number;
  /** A kept-alive connection idle this long between requests is closed. */
  idleTimeoutMs: number;
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

export interface GatewayConfig extends StorageConfig {
  server: ServerSpec;
  logging: LoggingSpec;
  metrics: { enabled: boolean };
  /** Shared state across instances (circuit breakers now; limits, cache and jobs later). */
  redis: RedisSpec | undefined;
  tracing: TracingSpec;
  /** The response cache (docs/cache.md). Optional so configs built in code need not spell it out. */
  cache?: CacheSpec;
  /** Whether /health shows dependency and provider details without the admin key. */
  health: { exposeDetails: boolean };
  /**
   * Stored Responses API responses (`store: true`): how long they live, how many the in-memory store
   * keeps (processes without the database), and the largest one stored (JSON).
   */
  responses: { retentionMs: number; maxStored: number; maxBytes: number };
  /** Audio uploads (transcriptions, translations). */
  audio: { maxFileBytes: number };
  /** The admin key (SWITCHYARD_ADMIN_KEY); when set, admin-only details require it. */
  adminKey: string | undefined;
  sentry: { dsn: string | undefined; environment: string | undefined };
  providers: ReadonlyMap<string, ProviderSpec>;
  models: ReadonlyMap<string, ModelSpec>;
  /** Routing for `provider-id/upstream-model` requests: the `routing:` defaults. */
  directRoute: Pick<ModelSpec, 'strategy' | 'retry' | 'timeouts' | 'circuitBreaker' | 'degradation'>;
  jobs: JobsSpec;
  /** Where the config came from: a file path, or 'zero-config'. */
  source: string;
  /** Rate limits, tiers and budgets. */
  limits: LimitsSpec;
}

export interface JobTypeSpec {
  concurrency: number;
  maxAttempts: number;
  rateLimit: { max: number; durationMs: number } | undefined;
}

export interface JobScheduleSpec {
  name: string;
  cron: string;
  type: string;
  input: unknown;
  tz: string | undefined;
}

/** Background jobs (docs/jobs.md). */
export interface JobsSpec {
  enabled: boolean;
  /** `sqlite`: the embedded durable queue; `bullmq`: Redis (needs `redis`). */
  backend: 'sqlite' | 'bullmq';
  /** The embedded database file the SQLite queue lives in. */
  databasePath: string;
  /** Whether the gateway process also runs workers (`switchyard worker` runs only workers). */
  embeddedWorker: boolean;
  leaseMs: number;
  lockMs: number;
  stalledIntervalMs: number;
  retentionMs: number;
  backoff: { baseMs: number; maxMs: number };
  /** The largest `input` a client may submit, as JSON bytes. */
  maxInputBytes: number;
  /** File content lives here on the local disk (embedded database); with PostgreSQL, in the database. */
  filesDir: string;
  maxFileBytes: number;
  /** How long a batch's `completion_window: 24h` really is; unfinished batches expire after it. */
  batchWindowMs: number;
  /** A batch still finalizing after this (its finalizer's process died) is finalized again by the sweep. */
  batchFinalizeTimeoutMs: number;
  /** Per-type overrides of concurrency, attempts and rate limit. */
  types: ReadonlyMap<string, Partial<JobTypeSpec>>;
  schedules: readonly JobScheduleSpec[];
  webhooks: { secret: string | undefined; timeoutMs: number; maxAttempts: number };
}

export interface DatabaseSpec {
  kind: 'sqlite' | 'postgres';
  /** SQLite file, or ':memory:'. */
  path: string;
  /** PostgreSQL URL (kind postgres). */
  url: string | undefined;
  /** A read replica for analytics reads; undefined: reads go to `url`. */
  readUrl: string | undefined;
  /** PostgreSQL schema (search_path). */
  schema: string;
  poolSize: number;
  /** PostgreSQL statement_timeout; SQLite busy timeout. */
  statementTimeoutMs: number;
  /** Run migrations at start. */
  migrate: boolean;
  /** Re-read stored provider credentials this often, so one instance's change reaches the others; 0: never. */
  credentialsRefreshMs: number;
}

export interface RequestLogSpec {
  enabled: boolean;
  bufferSize: number;
  batchSize: number;
  flushIntervalMs: number;
  /** 0: keep forever. */
  retentionMs: number;
}

export interface JwtSpec {
  secret: string | undefined;
  publicKey: string | undefined;
  jwksFile: string | undefined;
  algorithms: string[];
  issuer: string | undefined;
  audience: string | undefined;
  claims: { team: string; user: string; tier: string };
  defaultTeam: string | undefined;
  clockToleranceS: number;
}

export type AuthMode = 'none' | 'keys' | 'jwt' | 'keys+jwt';

export interface AuthSpec {
  mode: AuthMode;
  /** The revocation bound across instances without Redis; at most 5000. */
  keyCacheTtlMs: number;
  tiers: string[];
  defaultTier: string;
  jwt: JwtSpec | undefined;
  signatureWindowMs: number;
}

/** USD per million tokens. */
export interface PriceSpec {
  input: number;
  output: number;
}

/** The storage-related part of GatewayConfig (issue 9), resolved by config/resolve-storage.ts. */
export interface StorageConfig {
  database: DatabaseSpec;
  requestLog: RequestLogSpec;
  auth: AuthSpec;
  /** Config overrides over the built-in table, by upstream model name. */
  pricing: ReadonlyMap<string, PriceSpec>;
  /** SWITCHYARD_SECRET_KEY first, then SWITCHYARD_SECRET_KEY_PREVIOUS (comma-separated) for rotation. */
  secretKeys: string[];
  /** CIDRs or addresses allowed to call /admin/*; empty: any. */
  adminAllowIps: string[];
}
