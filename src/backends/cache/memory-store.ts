import { LRUCache } from 'lru-cache';
import {
  type CacheEntry,
  type CacheStore,
  ENTRY_OVERHEAD_BYTES,
  type LayerStats,
  matches,
  type PurgeFilter,
  withRate,
} from './types.js';

/** Defaults declared once: 64 MiB of answers per process. */
export const DEFAULT_L1_MAX_BYTES = 64 * 1024 * 1024;

interface Slot {
  /** The entry serialized: one flat string is what the byte bound can account for honestly. */
  json: string;
  /** The entry parsed, kept from its first hit on so later hits skip JSON.parse; counted in `bytes`. */
  parsed: CacheEntry | undefined;
  namespace: string;
  team: string;
  model: string;
  bytes: number;
}

/**
 * What a parsed entry is counted at, per byte of its JSON: V8's object graph for chat JSON (short
 * strings, small objects) measures about 2x; 3x leaves margin, and the heap test checks it.
 */
export const PARSED_BYTES_PER_JSON_BYTE = 3;

/**
 * Bytes a string occupies in V8: one byte per character while every character is Latin-1, two once
 * any is not. Checking utf8 length == length (pure ASCII) is cheap and conservative: other strings
 * are counted at two bytes per character.
 */
export function stringBytes(s: string): number {
  return Buffer.byteLength(s, 'utf8') === s.length ? s.length : s.length * 2;
}

/**
 * L1: an in-process LRU bounded by bytes (lru-cache `maxSize` + `sizeCalculation`), with each entry's TTL
 * running to the end of its stale grace period. Entries are stored serialized, so what is counted is
 * what is held, and a hit hands out a fresh object nobody else can mutate.
 */
export class MemoryCacheStore implements CacheStore {
  readonly layer = 'memory' as const;
  private readonly lru: LRUCache<string, Slot>;
  private readonly counts = { hits: 0, misses: 0, evictions: 0, writes: 0, errors: 0 };

  private readonly maxEntryBytes: number;

  constructor(opts: { maxBytes?: number; now?: () => number } = {}) {
    const maxSize = opts.maxBytes ?? DEFAULT_L1_MAX_BYTES;
    // An answer larger than an eighth of the cache would push out everything else for one entry.
    this.maxEntryBytes = Math.max(1, Math.floor(maxSize / 8));
    this.lru = new LRUCache<string, Slot>({
      maxSize,
      maxEntrySize: this.maxEntryBytes,
      sizeCalculation: (slot) => slot.bytes,
      ttlAutopurge: false,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.counts.evictions++;
      },
      ...(opts.now ? { perf: { now: opts.now } } : {}),
    });
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    const slot = this.lru.get(key);
    if (!slot) {
      this.counts.misses++;
      return undefined;
    }
    this.counts.hits++;
    if (slot.parsed) return slot.parsed;
    const parsed = JSON.parse(slot.json) as CacheEntry;
    // Frozen: the object is shared by every later hit, so nobody may change it.
    deepFreeze(parsed);
    const bytes = slot.bytes + slot.json.length * PARSED_BYTES_PER_JSON_BYTE;
    const ttl = this.lru.getRemainingTTL(key);
    // Re-set to account the parsed copy (it may evict colder entries). An entry that would then be too
    // big for one slot stays serialized only.
    if (bytes <= this.maxEntryBytes && ttl > 0) this.lru.set(key, { ...slot, parsed, bytes }, { ttl });
    return parsed;
  }

  /** Synchronous core of `set`, for the tiered store's hot path. */
  put(entry: CacheEntry, json = JSON.stringify(entry), now = Date.now()): void {
    const ttl = Math.floor(entry.staleUntil - now);
    if (ttl <= 0) return;
    const bytes =
      stringBytes(json) +
      ENTRY_OVERHEAD_BYTES +
      2 * (entry.key.length + entry.namespace.length + entry.team.length + entry.model.length);
    this.lru.set(
      entry.key,
      { json, parsed: undefined, namespace: entry.namespace, team: entry.team, model: entry.model, bytes },
      { ttl },
    );
    this.counts.writes++;
  }

  async set(entry: CacheEntry): Promise<void> {
    this.put(entry);
  }

  async purge(filter: PurgeFilter): Promise<number> {
    if (
      filter.key !== undefined &&
      filter.namespace === undefined &&
      filter.team === undefined &&
      filter.model === undefined
    ) {
      return this.lru.delete(filter.key) ? 1 : 0;
    }
    const doomed: string[] = [];
    for (const [key, slot] of this.lru.entries()) {
      if (matches({ key, namespace: slot.namespace, team: slot.team, model: slot.model }, filter))
        doomed.push(key);
    }
    for (const k of doomed) this.lru.delete(k);
    return doomed.length;
  }

  /** Bytes accounted against the bound. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get maxBytes(): number {
    return this.lru.maxSize;
  }

  stats(): LayerStats {
    return withRate({ ...this.counts, hit_rate: 0, bytes: this.lru.calculatedSize, entries: this.lru.size });
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}

function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const x of Object.values(v)) deepFreeze(x);
}
