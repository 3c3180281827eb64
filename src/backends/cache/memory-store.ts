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

/*
 * What an entry costs in V8's heap, counted from what it really holds. Node's V8 runs 64-bit without
 * pointer compression, so every slot is 8 bytes. The figures are measured upper bounds (with
 * `--expose-gc` and heapUsed; test/helpers/l1-heap-probe.ts checks the sum): they may count a little
 * more than the heap holds, never less, so `max_bytes` is a real bound on what L1 holds.
 */
/** A string: 16 bytes of header (map, hash, length) plus alignment, then its characters. */
const STRING_HEADER_BYTES = 24;
/** A plain object as JSON.parse builds it: header (map, properties, elements) plus slack. */
const OBJECT_HEADER_BYTES = 40;
/** An array: its JSArray object and its elements store's header. */
const ARRAY_HEADER_BYTES = 48;
const SLOT_BYTES = 8;
/** A double that is not a small integer lives in its own 16-byte box. */
const HEAP_NUMBER_BYTES = 16;
/**
 * The slot object and lru-cache's bookkeeping for one entry: its key map entry and a place in each of
 * its parallel arrays (keys, values, links, sizes, TTL starts and lengths), with their growth slack.
 */
export const SLOT_OVERHEAD_BYTES = ENTRY_OVERHEAD_BYTES;

/** Any UTF-16 code unit above 0xFF (surrogate halves included) makes V8 store a string two-byte. */
const NOT_LATIN1 = /[\u0100-\uffff]/;

/**
 * Bytes a string occupies in V8: one byte per character when every character is Latin-1 (V8 then
 * stores it one-byte; JSON.parse and JSON.stringify produce one-byte strings whenever they can), two
 * once any is not, plus its header.
 */
export function stringBytes(s: string): number {
  return STRING_HEADER_BYTES + (NOT_LATIN1.test(s) ? 2 * s.length : s.length);
}

/**
 * Bytes of an object graph as JSON.parse built it: every object, array, string and boxed number,
 * counted once per occurrence (V8 may share equal short strings; counting them again only overstates).
 * Freezes as it goes: the parsed entry is shared by every later hit, so nobody may change it.
 */
export function freezeAndMeasure(v: unknown): number {
  if (typeof v === 'string') return stringBytes(v);
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) < 2 ** 31 ? 0 : HEAP_NUMBER_BYTES;
  if (v === null || typeof v !== 'object') return 0;
  Object.freeze(v);
  if (Array.isArray(v)) {
    let n = ARRAY_HEADER_BYTES + SLOT_BYTES * v.length;
    for (const x of v) n += freezeAndMeasure(x);
    return n;
  }
  let n = OBJECT_HEADER_BYTES;
  for (const k in v) n += SLOT_BYTES + freezeAndMeasure((v as Record<string, unknown>)[k]);
  return n;
}

/** What a serialized entry costs: its JSON text, its key and labels, and its slot. */
export function serializedBytes(entry: CacheEntry, json: string): number {
  return (
    SLOT_OVERHEAD_BYTES +
    stringBytes(json) +
    stringBytes(entry.key) +
    stringBytes(entry.namespace) +
    stringBytes(entry.team) +
    stringBytes(entry.model)
  );
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
    return this.getNow(key);
  }

  /** Synchronous core of `get`, for a cache hit's path (no promise per layer). */
  getNow(key: string): CacheEntry | undefined {
    const slot = this.lru.get(key);
    if (!slot) {
      this.counts.misses++;
      return undefined;
    }
    this.counts.hits++;
    if (slot.parsed) return slot.parsed;
    const parsed = JSON.parse(slot.json) as CacheEntry;
    // Frozen (the object is shared by every later hit) and measured: chunk objects, arrays and strings.
    const bytes = slot.bytes + freezeAndMeasure(parsed);
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
    const bytes = serializedBytes(entry, json);
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
