import type { Redis } from 'ioredis';
import { createRedisClient } from '../backends/redis/client.js';
import { EventBus } from '../core/event-bus.js';
import { type CircuitBreakerRegistry, createCircuitBreakers } from '../resilience/circuit-breakers.js';
import type { GatewayConfig } from '../types/config.js';
import type { GatewayEventName } from '../types/events.js';
import { UpstreamPools } from '../upstream/pools.js';
import { Runtime } from './runtime.js';
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
  private breakerRegistry: CircuitBreakerRegistry | undefined;
  private healthRedis: Redis | undefined;
  private current: Runtime;
  ready = false;
  shuttingDown = false;

  constructor(
    config: GatewayConfig,
    opts: { onListenerError?: (event: GatewayEventName, err: unknown) => void } = {},
  ) {
    this.current = new Runtime(config, this.pools);
    this.events = new EventBus(opts.onListenerError ? { onListenerError: opts.onListenerError } : {});
  }

  get runtime(): Runtime {
    return this.current;
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

  swap(config: GatewayConfig): void {
    this.current = new Runtime(config, this.pools);
  }

  /**
   * The status and round-trip latency of each configured backend, for /health. Its own connection, so a
   * health probe never queues behind (or disturbs) the connections requests use.
   */
  async checkDependencies(): Promise<Record<string, DependencyStatus>> {
    const out: Record<string, DependencyStatus> = {};
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
    this.healthRedis?.disconnect();
  }
}
