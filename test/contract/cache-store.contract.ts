import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CacheEntry, CacheStore } from '../../src/backends/cache/types.js';
import { entry } from '../helpers/cache-fixtures.js';

/**
 * The one contract every response-cache layer passes. `factory` returns a fresh, empty store
 * (a unique Redis prefix per call for the Redis store) and a cleanup.
 */
export function cacheStoreContract(
  name: string,
  factory: () => Promise<{ store: CacheStore; cleanup: () => Promise<void> }>,
): void {
  describe(`cache store contract: ${name}`, () => {
    let store: CacheStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await factory());
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('misses an unknown key and counts it', async () => {
      expect(await store.get('nope')).toBeUndefined();
      expect(store.stats()).toMatchObject({ hits: 0, misses: 1, hit_rate: 0 });
    });

    it('returns what was stored, unicode and tool calls intact, and counts hits', async () => {
      const e = entry('k1', { content: 'héllo 世界 🚀  spaced' });
      await store.set(e);
      expect(await store.get('k1')).toEqual(e);
      expect(await store.get('k1')).toEqual(e);
      await store.get('other');
      expect(store.stats()).toMatchObject({ hits: 2, misses: 1, hit_rate: 0.6667, writes: 1 });
    });

    it('a hit cannot change the stored entry (a copy, or frozen)', async () => {
      const e = entry('k1');
      await store.set(e);
      for (let i = 0; i < 2; i++) {
        const got = (await store.get('k1'))!;
        try {
          got.model = 'changed';
          (got.body as { kind: string }).kind = 'changed';
        } catch {
          // Frozen: the store shares one parsed object between hits.
        }
      }
      expect(await store.get('k1')).toEqual(e);
    });

    it('overwrites an entry under the same key', async () => {
      await store.set(entry('k1', { content: 'one' }));
      await store.set(entry('k1', { content: 'two' }));
      expect(contentOf(await store.get('k1'))).toBe('two');
    });

    it('drops an entry once its stale grace period is over, not before', async () => {
      const now = Date.now();
      await store.set({ ...entry('short'), expiresAt: now + 50, staleUntil: now + 300 });
      await store.set({ ...entry('long'), expiresAt: now + 50, staleUntil: now + 60_000 });
      // Still there after its fresh period ended: stale entries are kept for stale-if-error.
      expect(await store.get('short')).toBeDefined();
      await until(async () => (await store.get('short')) === undefined);
      expect(await store.get('long')).toBeDefined();
    });

    it('does not store an entry that is already past its grace period', async () => {
      const now = Date.now();
      await store.set({ ...entry('old'), expiresAt: now - 2000, staleUntil: now - 1000 });
      expect(await store.get('old')).toBeUndefined();
    });

    it('purges by exact key, namespace, team, model, a combination, and everything', async () => {
      await store.set(entry('a', { namespace: 'ns1', team: 't1', model: 'm1' }));
      await store.set(entry('b', { namespace: 'ns1', team: 't2', model: 'm2' }));
      await store.set(entry('c', { namespace: 'ns2', team: 't1', model: 'm1' }));
      await store.set(entry('d', { namespace: 'ns2', team: 't2', model: 'm2' }));
      await store.set(entry('e', { namespace: 'ns3', team: 't3', model: 'm3' }));
      await store.set(entry('f', { namespace: 'ns3', team: 't3', model: 'm3' }));

      expect(await store.purge({ key: 'a' })).toBe(1);
      expect(await store.purge({ key: 'a' })).toBe(0);
      expect(await keys(store)).toEqual(['b', 'c', 'd', 'e', 'f']);

      expect(await store.purge({ namespace: 'ns1' })).toBe(1);
      expect(await keys(store)).toEqual(['c', 'd', 'e', 'f']);

      expect(await store.purge({ team: 't1' })).toBe(1);
      expect(await keys(store)).toEqual(['d', 'e', 'f']);

      expect(await store.purge({ model: 'm2' })).toBe(1);
      expect(await keys(store)).toEqual(['e', 'f']);

      expect(await store.purge({ key: 'e', namespace: 'other' })).toBe(0);
      expect(await store.purge({ namespace: 'ns3', model: 'm3', key: 'e' })).toBe(1);
      expect(await keys(store)).toEqual(['f']);

      expect(await store.purge({})).toBe(1);
      expect(await keys(store)).toEqual([]);
    });
  });
}

const ALL_KEYS = ['a', 'b', 'c', 'd', 'e', 'f'];

async function keys(store: CacheStore): Promise<string[]> {
  const out: string[] = [];
  for (const k of ALL_KEYS) if (await store.get(k)) out.push(k);
  return out;
}

function contentOf(e: CacheEntry | undefined): string | null | undefined {
  return e?.body.kind === 'completion' ? e.body.completion.choices[0]?.message.content : undefined;
}

export async function until(check: () => Promise<boolean> | boolean, limitMs = 5_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 20));
  }
}
