import { rawJsonOf } from '../../core/raw-json.js';
import type { MemoryCacheStore } from './memory-store.js';
import type { RedisCacheStore } from './redis-store.js';
import type { CacheEntry, LayerStats, PurgeFilter } from './types.js';

export type CacheOperation = 'get' | 'set' | 'purge';
export type CacheLayer = 'memory' | 'redis';
export type CacheOpResult = 'hit' | 'miss' | 'ok' | 'error';

export interface TieredCacheOptions {
  /** Every operation per layer, for `ai_cache_operations_total`. */
  onOperation?: (op: CacheOperation, layer: CacheLayer, result: CacheOpResult) => void;
  /** An L2 failure; the request carries on from L1. */
  onL2Error?: (op: CacheOperation, err: unknown) => void;
}

export interface CacheLookup {
  entry: CacheEntry;
  layer: CacheLayer;
}

/**
 * L1 in memory in front of an optional L2 in Redis. An L2 hit fills L1. Writes go to L1 at once and to
 * L2 in the background: the returned promise settles when L2 has it, and nobody on a response's path
 * awaits it. An L2 failure never reaches a caller: it is counted and the request is served from L1 (or
 * treated as a miss).
 */
export class TieredCacheStore {
  constructor(
    readonly l1: MemoryCacheStore,
    readonly l2: RedisCacheStore | undefined,
    private readonly opts: TieredCacheOptions = {},
  ) {}

  async get(key: string): Promise<CacheLookup | undefined> {
    return this.getNow(key);
  }

  /** `get`, without a promise when L1 answers (a hit, or a miss with no L2). */
  getNow(key: string): CacheLookup | undefined | Promise<CacheLookup | undefined> {
    const local = this.l1.getNow(key);
    this.opts.onOperation?.('get', 'memory', local ? 'hit' : 'miss');
    if (local) return { entry: local, layer: 'memory' };
    if (!this.l2) return undefined;
    return this.getL2(key, this.l2);
  }

  private async getL2(key: string, l2: RedisCacheStore): Promise<CacheLookup | undefined> {
    try {
      const remote = await l2.get(key);
      this.opts.onOperation?.('get', 'redis', remote ? 'hit' : 'miss');
      if (!remote) return undefined;
      this.l1.put(remote);
      return { entry: remote, layer: 'redis' };
    } catch (err) {
      this.failed('get', err);
      return undefined;
    }
  }

  /** Stores in L1 now; resolves once L2 has it too (true) or failed (false). Never rejects. */
  set(entry: CacheEntry): Promise<boolean> {
    const json = entryJson(entry);
    this.l1.put(entry, json);
    this.opts.onOperation?.('set', 'memory', 'ok');
    if (!this.l2) return Promise.resolve(true);
    return this.l2.putJson(entry, json).then(
      () => {
        this.opts.onOperation?.('set', 'redis', 'ok');
        return true;
      },
      (err: unknown) => {
        this.failed('set', err);
        return false;
      },
    );
  }

  /** Purges both layers; L2's count wins when it answered (it sees every instance's entries). */
  async purge(filter: PurgeFilter): Promise<{ memory: number; redis: number | null }> {
    const memory = await this.l1.purge(filter);
    this.opts.onOperation?.('purge', 'memory', 'ok');
    let redis: number | null = null;
    if (this.l2) {
      try {
        redis = await this.l2.purge(filter);
        this.opts.onOperation?.('purge', 'redis', 'ok');
      } catch (err) {
        this.failed('purge', err);
      }
    }
    return { memory, redis };
  }

  stats(): { memory: LayerStats; redis?: LayerStats } {
    return this.l2 ? { memory: this.l1.stats(), redis: this.l2.stats() } : { memory: this.l1.stats() };
  }

  private failed(op: CacheOperation, err: unknown): void {
    this.opts.onOperation?.(op, 'redis', 'error');
    this.opts.onL2Error?.(op, err);
  }

  async close(): Promise<void> {
    await this.l1.close();
    await this.l2?.close();
  }
}

/**
 * The entry's JSON. A whole answer that is still the upstream's text (core/raw-json.ts) goes in as that
 * text rather than being serialized again; the rest of the entry is a few short fields.
 */
export function entryJson(entry: CacheEntry): string {
  const b = entry.body;
  const raw = b.kind === 'completion' ? rawJsonOf(b.completion) : undefined;
  if (raw === undefined) return JSON.stringify(entry);
  // The same members in the same order as JSON.stringify(entry) would write them.
  return (
    `{"key":${JSON.stringify(entry.key)},"namespace":${JSON.stringify(entry.namespace)},` +
    `"team":${JSON.stringify(entry.team)},"model":${JSON.stringify(entry.model)},` +
    `"createdAt":${entry.createdAt},"expiresAt":${entry.expiresAt},"staleUntil":${entry.staleUntil},` +
    `"body":{"kind":"completion","completion":${raw}}}`
  );
}
