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
}

export interface ProviderSpec {
  id: string;
  type: ProviderType;
  /** Base URL without a trailing slash. Empty for `mock`. */
  baseUrl: string;
  apiKey: string | undefined;
  /** Extra headers sent with every upstream request (e.g. OpenRouter's HTTP-Referer). */
  headers: Record<string, string>;
  timeouts: ProviderTimeouts;
  /** anthropic: the `anthropic-version` header. */
  anthropicVersion: string;
  /** anthropic: max_tokens when the request gives none (the Messages API requires it). */
  defaultMaxTokens: number;
  mock: MockProviderOptions;
}

export interface TargetSpec {
  provider: string;
  model: string;
}

export interface ModelSpec {
  name: string;
  targets: TargetSpec[];
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
  tracing: TracingSpec;
  /** Whether /health shows dependency and provider details without the admin key. */
  health: { exposeDetails: boolean };
  /** The admin key (SWITCHYARD_ADMIN_KEY); when set, admin-only details require it. */
  adminKey: string | undefined;
  sentry: { dsn: string | undefined; environment: string | undefined };
  providers: ReadonlyMap<string, ProviderSpec>;
  models: ReadonlyMap<string, ModelSpec>;
  /** Where the config came from: a file path, or 'zero-config'. */
  source: string;
}
