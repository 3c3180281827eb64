import type { Redis } from 'ioredis';
import {
  type CacheEntry,
  type CacheStore,
  emptyStats,
  type LayerStats,
  type PurgeFilter,
  withRate,
} from './types.js';

/**
 * set-entry (KEYS: entry, index sets...; ARGV: json, ttl ms, cache key, index expiry (epoch ms); Output: nil).
 * Writes the entry with its TTL and adds its key to its index sets, which expire at a fixed time.
 */
const SET_ENTRY = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[3])
  redis.call('PEXPIREAT', KEYS[i], ARGV[4])
end
`;

const PURGE_BATCH = 500;
/**
 * Index sets are per hour of the entries' end of life: a set holds the keys of entries that die within
 * its hour and expires an hour after that, so no set outlives its entries or grows for ever under a
 * steady stream of distinct requests (one set per value whose TTL kept being stretched would).
 */
const INDEX_BUCKET_MS = 3_600_000;

type IndexKind = 'ns' | 'team' | 'model';

/**
 * L2: entries in Redis as JSON strings with a PX TTL (to the end of the stale grace period), plus index
 * sets per namespace, team and model so a purge finds its entries. Names are `<prefix>cache:e:<key>` and
 * `<prefix>cache:i:<kind>:<hex of the value>:<hour>`; the value is hex-encoded so that a purge's SCAN
 * pattern matches exactly one value whatever characters it has.
 */
export class RedisCacheStore implements CacheStore {
  readonly layer = 'redis' as const;
  private readonly counts = emptyStats();
  private readonly base: string;

  constructor(
    private readonly redis: Redis,
    keyPrefix: string,
    private readonly opts: { ownsClient?: boolean; now?: () => number } = {},
  ) {
    this.base = `${keyPrefix}cache:`;
  }

  entryKey(key: string): string {
    return `${this.base}e:${key}`;
  }

  private indexPattern(kind: IndexKind, value: string): string {
    return `${this.base}i:${kind}:${Buffer.from(value).toString('hex')}:*`;
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    let json: string | null;
    try {
      json = await this.redis.get(this.entryKey(key));
    } catch (err) {
      this.counts.errors++;
      throw err;
    }
    if (json === null) {
      this.counts.misses++;
      return undefined;
    }
    this.counts.hits++;
    return JSON.parse(json) as CacheEntry;
  }

  /** Writes an entry already serialized (the tiered store serializes once for both layers). */
  async putJson(entry: CacheEntry, json: string): Promise<void> {
    const ttl = Math.floor(entry.staleUntil - (this.opts.now ?? Date.now)());
    if (ttl <= 0) return;
    const bucket = Math.floor(entry.staleUntil / INDEX_BUCKET_MS);
    const index = (kind: IndexKind, value: string) =>
      `${this.base}i:${kind}:${Buffer.from(value).toString('hex')}:${bucket}`;
    try {
      await this.redis.eval(
        SET_ENTRY,
        4,
        this.entryKey(entry.key),
        index('ns', entry.namespace),
        index('team', entry.team),
        index('model', entry.model),
        json,
        ttl,
        entry.key,
        (bucket + 2) * INDEX_BUCKET_MS,
      );
      this.counts.writes++;
    } catch (err) {
      this.counts.errors++;
      throw err;
    }
  }

  set(entry: CacheEntry): Promise<void> {
    return this.putJson(entry, JSON.stringify(entry));
  }

  /** Every key matching a SCAN pattern. */
  private async scan(pattern: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
    return out;
  }

  /** The cache keys in every index set of one value, and those sets' names. */
  private async indexed(kind: IndexKind, value: string): Promise<{ keys: Set<string>; sets: string[] }> {
    const sets = await this.scan(this.indexPattern(kind, value));
    const keys = new Set<string>();
    for (const set of sets) for (const k of await this.redis.smembers(set)) keys.add(k);
    return { keys, sets };
  }

  async purge(filter: PurgeFilter): Promise<number> {
    try {
      const wanted: Array<[IndexKind, string]> = [];
      if (filter.namespace !== undefined) wanted.push(['ns', filter.namespace]);
      if (filter.team !== undefined) wanted.push(['team', filter.team]);
      if (filter.model !== undefined) wanted.push(['model', filter.model]);
      let keys: string[];
      let emptied: string[] = [];
      if (wanted.length === 0) {
        if (filter.key !== undefined) keys = [filter.key];
        else {
          // Everything: rare and explicit ({"all": true}), so a SCAN of the cache's names is fine.
          keys = (await this.scan(`${this.base}e:*`)).map((k) => k.slice(this.base.length + 2));
          emptied = await this.scan(`${this.base}i:*`);
        }
      } else {
        const found = await Promise.all(wanted.map(([kind, value]) => this.indexed(kind, value)));
        let inAll = [...(found[0] as { keys: Set<string> }).keys];
        for (const f of found.slice(1)) inAll = inAll.filter((k) => f.keys.has(k));
        if (filter.key !== undefined) inAll = inAll.filter((k) => k === filter.key);
        keys = inAll;
        // A purge by one value alone empties its sets; with several, other entries may remain in them.
        if (wanted.length === 1 && filter.key === undefined) emptied = (found[0] as { sets: string[] }).sets;
      }
      let removed = 0;
      for (let i = 0; i < keys.length; i += PURGE_BATCH) {
        const batch = keys.slice(i, i + PURGE_BATCH);
        removed += await this.redis.del(...batch.map((k) => this.entryKey(k)));
      }
      for (let i = 0; i < emptied.length; i += PURGE_BATCH) {
        await this.redis.del(...emptied.slice(i, i + PURGE_BATCH));
      }
      return removed;
    } catch (err) {
      this.counts.errors++;
      throw err;
    }
  }

  stats(): LayerStats {
    return withRate({ ...this.counts });
  }

  async close(): Promise<void> {
    if (this.opts.ownsClient) this.redis.disconnect();
  }
}
