import type { Redis } from 'ioredis';
import { MemoryCacheStore } from '../../backends/cache/memory-store.js';
import {
  type FlightAnnouncement,
  type FlightLock,
  RedisFlightLock,
  type WaitOutcome,
} from '../../backends/cache/redis-flight-lock.js';
import { RedisCacheStore } from '../../backends/cache/redis-store.js';
import {
  type CacheLayer,
  type CacheLookup,
  type CacheOperation,
  type CacheOpResult,
  TieredCacheStore,
} from '../../backends/cache/tiered-store.js';
import type { CacheEntry, LayerStats, PurgeFilter } from '../../backends/cache/types.js';
import { createRedisClient } from '../../backends/redis/client.js';
import type { CancelSource } from '../../core/cancel.js';
import type { EventBus } from '../../core/event-bus.js';
import { isErrorCode } from '../../errors/codes.js';
import { abortError, GatewayError, isClientAbort, isGatewayError } from '../../errors/gateway-error.js';
import type { CachePolicy, CacheSpec, RedisSpec } from '../../types/config.js';
import type { ChatCompletionChunk } from '../../types/openai.js';
import type { CachePlan } from './cache-policy.js';
import {
  type FlightBody,
  type FlightHandlers,
  type FlightOpen,
  type FlightShared,
  SingleFlight,
} from './single-flight.js';

/**
 * The response cache as one service: L1 + optional L2 lookups, request merging on this instance and
 * across instances, writes when a flight completes, purge, stats. Knows nothing of HTTP: the pipeline's
 * cache stage and settle call it.
 */

export interface CacheHit {
  entry: CacheEntry;
  layer: CacheLayer;
  /** Whole seconds since the entry was written (the `age` header). */
  ageSeconds: number;
  /** False: expired, kept only for stale-if-error. */
  fresh: boolean;
}

export interface CacheExecution {
  shared: FlightShared;
  /** How this request got its answer: it led the upstream call, joined one here, or waited on another instance. */
  merged: 'none' | 'local' | 'remote';
  /** The request id of the request that made the upstream call, when merged. */
  mergedWith: string | undefined;
  /** Call when this request is done with the answer (or gone). */
  release(): void;
}

export interface ResponseCacheOptions {
  spec: CacheSpec;
  redis: RedisSpec | undefined;
  events: EventBus;
  log: { warn(obj: object, msg: string): void };
  now?: () => number;
}

/** Counts per `operation/layer/result`, read at scrape time for `ai_cache_operations_total`. */
export type OperationCounts = Map<string, number>;

const L2_WARN_INTERVAL_MS = 30_000;

export class ResponseCache {
  readonly store: TieredCacheStore;
  readonly operations: OperationCounts = new Map();
  readonly merges = { local: 0, remote: 0 };
  private readonly flights = new SingleFlight();
  private readonly lock: FlightLock | undefined;
  private readonly clients: Redis[] = [];
  private readonly now: () => number;
  private lastL2Warn = 0;
  private warmTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ResponseCacheOptions) {
    this.now = opts.now ?? Date.now;
    const onOperation = (op: CacheOperation, layer: CacheLayer, result: CacheOpResult) => {
      const k = `${op}/${layer}/${result}`;
      this.operations.set(k, (this.operations.get(k) ?? 0) + 1);
    };
    let l2: RedisCacheStore | undefined;
    if (opts.redis) {
      const data = createRedisClient(opts.redis, 'cache');
      const sub = createRedisClient(opts.redis, 'cache-sub');
      for (const c of [data, sub]) {
        // Failures surface per command and are counted; without a listener ioredis writes to stderr.
        c.on('error', () => {});
        this.clients.push(c);
      }
      l2 = new RedisCacheStore(data, opts.redis.keyPrefix, { now: this.now });
      this.lock = new RedisFlightLock(data, sub, opts.redis.keyPrefix, (op, err) => this.l2Failed(op, err));
    }
    this.store = new TieredCacheStore(new MemoryCacheStore({ maxBytes: opts.spec.maxBytes }), l2, {
      onOperation,
      onL2Error: (op, err) => this.l2Failed(op, err),
    });
  }

  /** Connects to Redis when configured. A Redis that is down is not fatal: the cache runs on L1. */
  async start(): Promise<void> {
    await Promise.all(
      this.clients.map((c) => c.connect().catch((err: unknown) => this.l2Failed('connect', err))),
    );
    if (this.lock instanceof RedisFlightLock) await this.lock.start();
  }

  /** A model's policy: its own `cache:` keys over the section's. */
  policy(overrides: Partial<CachePolicy> | undefined): CachePolicy {
    return overrides ? { ...this.opts.spec.defaults, ...overrides } : this.opts.spec.defaults;
  }

  /** A stored answer for the plan, fresh or (for stale-if-error) expired within its grace period. */
  async lookup(plan: CachePlan): Promise<CacheHit | undefined> {
    return this.lookupNow(plan);
  }

  /** `lookup`, without a promise when L1 answers: a hit's whole path stays synchronous. */
  lookupNow(plan: CachePlan): CacheHit | undefined | Promise<CacheHit | undefined> {
    if (plan.key === undefined) return undefined;
    const found = this.store.getNow(plan.key);
    if (found instanceof Promise) return found.then((f) => this.hitOf(f));
    return this.hitOf(found);
  }

  private hitOf(found: CacheLookup | undefined): CacheHit | undefined {
    if (!found) return undefined;
    const now = this.now();
    const e = found.entry;
    if (now >= e.staleUntil) return undefined;
    return {
      entry: e,
      layer: found.layer,
      ageSeconds: Math.max(0, Math.floor((now - e.createdAt) / 1000)),
      fresh: now < e.expiresAt,
    };
  }

  /**
   * Runs the upstream call for a plan through request merging (when `plan.merge`) and stores the answer
   * when it completes (when `plan.store`). `start` performs the call on the cancel source it is given,
   * which is the flight's: aborted only when every merged request has gone.
   */
  async execute(
    plan: CachePlan,
    requestId: string,
    cancel: CancelSource,
    start: (cancel: CancelSource) => Promise<FlightOpen>,
  ): Promise<CacheExecution> {
    if (plan.key === undefined) throw new Error('execute needs a cache key');
    // Without merging the flight is private to this request, but still collects the answer to store.
    const flightKey = plan.merge ? plan.key : `${plan.key}:${requestId}`;
    const via: { remote?: string } = {};
    const ticket = this.flights.join(
      flightKey,
      requestId,
      cancel,
      this.handlers(plan, requestId, via, start),
    );
    let shared: FlightShared;
    try {
      shared = await ticket.shared;
    } catch (err) {
      ticket.release();
      throw err;
    }
    if (!ticket.leader) this.merges.local++;
    const merged = !ticket.leader ? 'local' : via.remote !== undefined ? 'remote' : 'none';
    return {
      shared,
      merged,
      mergedWith: merged === 'local' ? ticket.leaderId : merged === 'remote' ? via.remote : undefined,
      release: ticket.release,
    };
  }

  private handlers(
    plan: CachePlan,
    requestId: string,
    via: { remote?: string },
    start: (cancel: CancelSource) => Promise<FlightOpen>,
  ): FlightHandlers {
    const key = plan.key as string;
    let token: string | undefined;
    let fromPeer = false;
    return {
      start: async (cancel) => {
        if (this.lock && plan.merge) {
          token = await this.lock.acquire(key, this.opts.spec.lockTtlMs);
          if (token === undefined) {
            const peer = await this.waitForPeer(plan, cancel.signal);
            if (peer.status === 'ok' && peer.entry) {
              fromPeer = true;
              this.merges.remote++;
              via.remote = peer.requestId ?? 'another instance';
              return openEntry(peer.entry);
            }
            if (peer.status === 'error') throw peerError(peer.error);
            if (peer.status === 'aborted') throw abortError(cancel);
            // Timed out, or the peer's answer was not stored: call the upstream ourselves.
          }
        }
        return start(cancel);
      },
      onComplete: (body) => {
        if (fromPeer) return;
        const stored = plan.store ? this.store.set(this.entryOf(plan, body)) : Promise.resolve(false);
        const t = token;
        if (t !== undefined && this.lock) {
          void stored.then((ok) =>
            this.lock?.release(key, t, ok ? { status: 'ok', requestId } : { status: 'not_stored' }),
          );
        }
      },
      onFail: (err, opened) => {
        const t = token;
        if (t === undefined || !this.lock) return;
        // An error before the answer opened is the same for everyone; a cut stream is not.
        void this.lock.release(
          key,
          t,
          !opened && isGatewayError(err) && !isClientAbort(err)
            ? { status: 'error', error: toPeerError(err) }
            : { status: 'not_stored' },
        );
      },
    };
  }

  private async waitForPeer(
    plan: CachePlan,
    signal: AbortSignal,
  ): Promise<
    (WaitOutcome & { entry?: CacheEntry }) | { status: 'ok'; requestId?: string; entry?: CacheEntry }
  > {
    const key = plan.key as string;
    let early: CacheEntry | undefined;
    const outcome = await (this.lock as FlightLock).wait(key, this.opts.spec.lockTtlMs, signal, async () => {
      // The peer may have finished between our failed SET NX and the subscription.
      const hit = await this.lookup(plan);
      if (hit?.fresh) early = hit.entry;
      return early !== undefined;
    });
    if (outcome.status !== 'ok') return outcome;
    if (early) return { ...outcome, entry: early };
    const hit = await this.lookup(plan);
    return hit?.fresh ? { ...outcome, entry: hit.entry } : { status: 'not_stored' };
  }

  entryOf(plan: CachePlan, body: FlightBody): CacheEntry {
    const now = this.now();
    const expiresAt = now + plan.ttlMs;
    return {
      key: plan.key as string,
      namespace: plan.namespace,
      team: plan.team,
      model: plan.model,
      createdAt: now,
      expiresAt,
      staleUntil: expiresAt + plan.staleMs,
      body: body.kind === 'stream' ? { kind: 'stream', chunks: body.chunks } : body,
    };
  }

  /** Removes entries from both layers and emits `ai.cache.invalidated`. */
  async purge(filter: PurgeFilter, reason: string): Promise<{ memory: number; redis: number | null }> {
    const removed = await this.store.purge(filter);
    this.opts.events.emit('ai.cache.invalidated', { reason, keys: removed.redis ?? removed.memory });
    return removed;
  }

  stats(): {
    layers: { memory: LayerStats; redis?: LayerStats };
    merges: { local: number; remote: number };
    in_flight: number;
    waiting: number;
  } {
    return {
      layers: this.store.stats(),
      merges: { ...this.merges },
      in_flight: this.flights.size,
      waiting: this.flights.waiting,
    };
  }

  /**
   * Warming: runs each configured request through `run` (the normal request path, so it is stored like
   * any answer) now and, with `cache.warm.interval`, on that interval. Failures are logged, never thrown.
   */
  startWarming(
    run: (request: { model: string; namespace: string; body: Record<string, unknown> }) => Promise<void>,
  ): void {
    const warm = this.opts.spec.warm;
    if (!warm || warm.requests.length === 0) return;
    const once = async () => {
      for (const r of warm.requests) {
        try {
          await run(r);
        } catch (err) {
          this.opts.log.warn({ model: r.model, err: (err as Error).message }, 'cache warming request failed');
        }
      }
    };
    void once();
    if (warm.intervalMs !== undefined && warm.intervalMs > 0) {
      this.warmTimer = setInterval(() => void once(), warm.intervalMs);
      this.warmTimer.unref();
    }
  }

  private l2Failed(op: string, err: unknown): void {
    const now = Date.now();
    if (now - this.lastL2Warn < L2_WARN_INTERVAL_MS) return;
    this.lastL2Warn = now;
    this.opts.log.warn(
      { op, err: (err as Error)?.message },
      'response cache: Redis unavailable, serving from memory only',
    );
  }

  async close(): Promise<void> {
    if (this.warmTimer) clearInterval(this.warmTimer);
    await this.lock?.close();
    await this.store.close();
    for (const c of this.clients) c.disconnect();
  }
}

/** A stored entry as a flight's result, so merged requests get it exactly as a leader's answer. */
export function openEntry(entry: CacheEntry): FlightOpen {
  if (entry.body.kind === 'completion') return { kind: 'completion', completion: entry.body.completion };
  return { kind: 'stream', chunks: fromArray(entry.body.chunks) };
}

async function* fromArray(chunks: ChatCompletionChunk[]): AsyncGenerator<ChatCompletionChunk> {
  yield* chunks;
}

function peerError(e: PeerError): GatewayError {
  const code = isErrorCode(e.code) ? e.code : 'upstream_server_error';
  return new GatewayError(code, e.message, { status: e.status, headers: e.headers });
}

type PeerError = Extract<FlightAnnouncement, { status: 'error' }>['error'];

function toPeerError(err: GatewayError): PeerError {
  return { status: err.status, code: err.code, message: err.message, type: err.type, headers: err.headers };
}
