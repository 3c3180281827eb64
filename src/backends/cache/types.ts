import type { ChatCompletion, ChatCompletionChunk } from '../../types/openai.js';

/**
 * One cached answer. A streamed answer keeps its chunks (so a replay has the same boundaries, tool-call
 * deltas and usage); a whole one keeps the completion. Either serves either kind of request.
 */
export interface CacheEntry {
  key: string;
  namespace: string;
  /** The caller's team that wrote it (purge by team). */
  team: string;
  /** The public model. */
  model: string;
  /** Epoch ms when it was written. */
  createdAt: number;
  /** Epoch ms until which it is fresh. */
  expiresAt: number;
  /** Epoch ms until which it may still be served stale (stale-if-error); >= expiresAt. */
  staleUntil: number;
  body:
    | { kind: 'stream'; chunks: ChatCompletionChunk[] }
    | { kind: 'completion'; completion: ChatCompletion };
}

/** Which entries a purge removes; fields combine with AND. An empty filter removes everything. */
export interface PurgeFilter {
  key?: string;
  namespace?: string;
  team?: string;
  model?: string;
}

export interface LayerStats {
  hits: number;
  misses: number;
  hit_rate: number;
  /** Bytes currently held (L1: as accounted against max_bytes); null when the layer cannot tell. */
  bytes: number | null;
  entries: number | null;
  evictions: number;
  writes: number;
  errors: number;
}

/**
 * A cache layer. Every implementation passes test/contract/cache-store.contract.ts. Methods never throw
 * for a backend outage in the tiered store; a single layer may, and the tier counts it.
 */
export interface CacheStore {
  readonly layer: 'memory' | 'redis';
  get(key: string): Promise<CacheEntry | undefined>;
  /** Keeps the entry until `staleUntil`. */
  set(entry: CacheEntry): Promise<void>;
  /** Removes matching entries; resolves with how many. */
  purge(filter: PurgeFilter): Promise<number>;
  stats(): LayerStats;
  close(): Promise<void>;
}

/** Per-entry bookkeeping overhead counted against L1's byte bound (key, metadata, LRU node). */
export const ENTRY_OVERHEAD_BYTES = 256;

export function emptyStats(): LayerStats {
  return { hits: 0, misses: 0, hit_rate: 0, bytes: null, entries: null, evictions: 0, writes: 0, errors: 0 };
}

export function withRate(s: LayerStats): LayerStats {
  const total = s.hits + s.misses;
  return { ...s, hit_rate: total === 0 ? 0 : Math.round((s.hits / total) * 10_000) / 10_000 };
}

export function matches(
  e: Pick<CacheEntry, 'key' | 'namespace' | 'team' | 'model'>,
  f: PurgeFilter,
): boolean {
  return (
    (f.key === undefined || e.key === f.key) &&
    (f.namespace === undefined || e.namespace === f.namespace) &&
    (f.team === undefined || e.team === f.team) &&
    (f.model === undefined || e.model === f.model)
  );
}
