import { LRUCache } from 'lru-cache';

/** The options of `boundedLru`: lru-cache's, except that the bound is a count of entries. */
export type BoundedLruOptions<K extends {}, V extends {}> = Omit<
  LRUCache.Options<K, V, unknown>,
  'max' | 'maxSize' | 'maxEntrySize' | 'sizeCalculation' | 'fetchMethod' | 'memoMethod'
> & {
  /** At most this many entries; the least recently used go first. */
  maxEntries: number;
};

const ONE = (): number => 1;

/**
 * An LRU of at most `maxEntries` entries whose memory grows with what it holds. lru-cache given `max`
 * allocates its arrays (keys, values, links, TTLs: about 44 bytes a slot) for `max` entries up front, so
 * a 200,000-entry bound held ~9 MiB from start-up in a gateway that never tracked a single key. Counted
 * with `maxSize` and a size of 1 per entry, the same bound holds (a set beyond it evicts the least
 * recently used) but its arrays start empty and grow to the entries actually held.
 */
export function boundedLru<K extends {}, V extends {}>(opts: BoundedLruOptions<K, V>): LRUCache<K, V> {
  const { maxEntries, ...rest } = opts;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  }
  return new LRUCache<K, V>({ ...rest, maxSize: maxEntries, sizeCalculation: ONE });
}
