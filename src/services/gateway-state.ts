import type { Redis } from 'ioredis';
import { createRedisClient } from '../backends/redis/client.js';
import { EventBus } from '../core/event-bus.js';
import { PASS_THROUGH_STAGES, type PipelineDeps, type StageImplementations } from '../pipeline/context.js';
import { type CircuitBreakerRegistry, createCircuitBreakers } from '../resilience/circuit-breakers.js';
import type { GatewayConfig } from '../types/config.js';
import type { GatewayEventName } from '../types/events.js';
import { UpstreamPools } from '../upstream/pools.js';
import type { ResponseCache } from './cache/response-cache.js';
import { MemoryResponseStore, type ResponseStore } from './response-store.js';
import { Runtime } from './runtime.js';
import type { Storage } from './storage.js';
import { TargetStats } from './target-stats.js';

export interface DependencyStatus {
  status: 'ok' | 'down';
  latency_ms: number | null;
  error?: string;
}

/**
 * The process-wide mutable bits: the current runtime snapshot (swapped whole on reload) and readiness.
 * Upstream pools outlive snapshots so a reload keeps warm connections.
 */
export class GatewayState {
  readonly pools = new UpstreamPools();
  readonly events: EventBus;
  readonly startedAt = Date.now();
  /** Per-target in-flight counts and latency averages for the routing strategies. */
  readonly targetStats = new TargetStats();
  /**
   * Stored Responses API responses: the database's (`useResponseStore`, set by app.ts once storage is
   * open). A state without storage (the `switchyard worker` process, pipeline tests) keeps them in
   * memory, bounded by `responses.max_stored`. Sized at startup, so a reload does not resize it.
   */
  private responseStore: ResponseStore;
  private breakerRegistry: CircuitBreakerRegistry | undefined;
  private deps: PipelineDeps | undefined;
  /**
   * The identify, admit and cache implementations every request runs through. Features (keys, limits,
   * the cache) replace these at build time; the stage order itself lives in pipeline/pipeline.ts.
   */
  stages: StageImplementations = PASS_THROUGH_STAGES;
  /** The database-backed services (keys, teams, request log); set once while the app is built. */
  storage: Storage | undefined;
  /** The response cache (docs/cache.md); set at build time. */
  cache: ResponseCache | undefined;
  private healthRedis: Redis | undefined;
  private current: Runtime;
  /** The config as loaded, before `configTransform` (stored credentials) is applied. */
  private loaded: GatewayConfig;
  private configTransform: ((c: GatewayConfig) => GatewayConfig) | undefined;
  ready = false;
  shuttingDown = false;

  constructor(
    config: GatewayConfig,
    opts: { onListenerError?: (event: GatewayEventName, err: unknown) => void } = {},
  ) {
    this.loaded = config;
    this.current = new Runtime(config, this.pools);
    this.responseStore = new MemoryResponseStore({
      maxEntries: config.responses.maxStored,
      retentionMs: config.responses.retentionMs,
      maxBytes: config.responses.maxBytes,
    });
    this.events = new EventBus(opts.onListenerError ? { onListenerError: opts.onListenerError } : {});
  }

  get runtime(): Runtime {
    return this.current;
  }

  get responses(): ResponseStore {
    return this.responseStore;
  }

  /** Replaces the response store (before the server listens); the caller closes the store it gives. */
  useResponseStore(store: ResponseStore): void {
    this.responseStore = store;
    this.deps = undefined;
  }

  /** Circuit breakers, shared through Redis when configured. Created once, before the server listens. */
  async initBreakers(log: {
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  }): Promise<void> {
    const redis = this.current.config.redis;
    this.breakerRegistry = await createCircuitBreakers({
      events: this.events,
      log,
      ...(redis ? { redis } : {}),
    });
  }

  get breakers(): CircuitBreakerRegistry {
    if (!this.breakerRegistry) throw new Error('circuit breakers are not initialised');
    return this.breakerRegistry;
  }

  /** What every pipeline context shares. Built once, after the breakers, and reused by every request. */
  get pipelineDeps(): PipelineDeps {
    if (!this.deps || this.deps.stages !== this.stages) {
      this.deps = {
        events: this.events,
        breakers: this.breakers,
        stats: this.targetStats,
        rng: Math.random,
        stages: this.stages,
        responses: this.responses,
      };
    }
    return this.deps;
  }

  swap(config: GatewayConfig): void {
    this.loaded = config;
    this.current = new Runtime(this.configTransform ? this.configTransform(config) : config, this.pools);
  }

  /**
   * A step applied to every config before it becomes the runtime (now and on each reload): stored
   * provider credentials join the providers' key pools. Setting it rebuilds the runtime at once.
   */
  setConfigTransform(fn: ((c: GatewayConfig) => GatewayConfig) | undefined): void {
    this.configTransform = fn;
    this.swap(this.loaded);
  }

  /**
   * The status and round-trip latency of each configured backend, for /health. Its own connection, so a
   * health probe never queues behind (or disturbs) the connections requests use.
   */
  async checkDependencies(): Promise<Record<string, DependencyStatus>> {
    const out: Record<string, DependencyStatus> = {};
    if (this.storage) {
      const t0 = performance.now();
      try {
        await this.storage.store.ping();
        out.database = {
          status: 'ok',
          latency_ms: Math.round((performance.now() - t0) * 100) / 100,
        };
      } catch (err) {
        out.database = { status: 'down', latency_ms: null, error: (err as Error).message };
      }
    }
    const redis = this.current.config.redis;
    if (redis) {
      if (!this.healthRedis) {
        this.healthRedis = createRedisClient(redis, 'health');
        // Failures surface through the PING below; without a listener ioredis reports them to stderr.
        this.healthRedis.on('error', () => {});
      }
      const t0 = performance.now();
      try {
        if (this.healthRedis.status === 'wait') await this.healthRedis.connect();
        await this.healthRedis.ping();
        out.redis = { status: 'ok', latency_ms: Math.round((performance.now() - t0) * 100) / 100 };
      } catch (err) {
        out.redis = { status: 'down', latency_ms: null, error: (err as Error).message };
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.pools.close();
    await this.breakerRegistry?.close();
    await this.cache?.close();
    this.healthRedis?.disconnect();
  }
}
