import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freezeAndMeasure,
  MemoryCacheStore,
  SLOT_OVERHEAD_BYTES,
  stringBytes,
} from '../../src/backends/cache/memory-store.js';
import { RedisCacheStore } from '../../src/backends/cache/redis-store.js';
import { TieredCacheStore } from '../../src/backends/cache/tiered-store.js';
import { createRedisClient } from '../../src/backends/redis/client.js';
import { cacheStoreContract } from '../contract/cache-store.contract.js';
import { entry } from '../helpers/cache-fixtures.js';
import { services } from '../helpers/services.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
let admin: Redis;

beforeAll(() => {
  if (services.redis) admin = new Redis(REDIS_URL);
});
afterAll(() => {
  admin?.disconnect();
});

async function dropPrefix(prefix: string): Promise<void> {
  const found = await admin.keys(`${prefix}*`);
  if (found.length > 0) await admin.del(...found);
}

cacheStoreContract('memory', async () => ({ store: new MemoryCacheStore(), cleanup: async () => {} }));

describe.skipIf(!services.redis)('redis layer', () => {
  cacheStoreContract('redis', async () => {
    const prefix = `test-${randomUUID()}:`;
    const client = createRedisClient({ url: REDIS_URL, keyPrefix: prefix }, 'cache');
    await client.connect();
    return {
      store: new RedisCacheStore(client, prefix, { ownsClient: true }),
      cleanup: () => dropPrefix(prefix),
    };
  });
});

describe.skipIf(!services.redis)('redis layer housekeeping', () => {
  it('index sets expire by themselves, and purging everything leaves no key behind', async () => {
    const prefix = `test-${randomUUID()}:`;
    const client = createRedisClient({ url: REDIS_URL, keyPrefix: prefix }, 'cache');
    await client.connect();
    const store = new RedisCacheStore(client, prefix, { ownsClient: true });
    try {
      await store.set(entry('a', { namespace: 'ns:with*glob', team: 't', model: 'm' }));
      await store.set(entry('b', { namespace: 'ns', team: 't', model: 'm' }));
      const sets = await admin.keys(`${prefix}cache:i:*`);
      expect(sets.length).toBeGreaterThanOrEqual(4);
      for (const set of sets) {
        const ttl = await admin.pttl(set);
        // Never without expiry; at most the entries' life (2 min here) plus two hours.
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(120_000 + 2 * 3_600_000);
      }
      // A namespace with glob characters and colons matches itself only.
      expect(await store.purge({ namespace: 'ns' })).toBe(1);
      expect(await store.get('a')).toBeDefined();
      expect(await store.purge({})).toBe(1);
      expect(await admin.keys(`${prefix}*`)).toEqual([]);
    } finally {
      await store.close();
      await dropPrefix(prefix);
    }
  });
});

describe.skipIf(!services.redis)('tiered store (L1 + real Redis L2)', () => {
  it('an L2 hit fills L1, so the next lookup never leaves the process', async () => {
    const prefix = `test-${randomUUID()}:`;
    const a = tiered(prefix);
    const b = tiered(prefix);
    await a.client.connect();
    await b.client.connect();
    try {
      expect(await a.store.set(entry('k'))).toBe(true);
      const first = await b.store.get('k');
      expect(first?.layer).toBe('redis');
      expect(first?.entry.key).toBe('k');
      const second = await b.store.get('k');
      expect(second?.layer).toBe('memory');
      expect(second?.entry).toEqual(first?.entry);
      expect(b.store.stats().redis).toMatchObject({ hits: 1, misses: 0 });
      expect(b.store.stats().memory).toMatchObject({ hits: 1, misses: 1 });
      expect(b.ops).toEqual(['get/memory/miss', 'get/redis/hit', 'get/memory/hit']);
    } finally {
      await a.store.close();
      await b.store.close();
      await dropPrefix(prefix);
    }
  });

  it('with Redis down, serves from L1 only: no errors reach the caller, failures are counted', async () => {
    // Nothing listens on port 1: every L2 command fails at once (no offline queue).
    const client = createRedisClient({ url: 'redis://127.0.0.1:1', keyPrefix: 'x:' }, 'cache');
    client.on('error', () => {});
    await client.connect().catch(() => {});
    const failures: string[] = [];
    const store = new TieredCacheStore(
      new MemoryCacheStore(),
      new RedisCacheStore(client, 'x:', { ownsClient: true }),
      {
        onL2Error: (op) => failures.push(op),
      },
    );
    try {
      const t0 = performance.now();
      expect(await store.set(entry('k'))).toBe(false);
      expect((await store.get('k'))?.layer).toBe('memory');
      expect(await store.get('missing')).toBeUndefined();
      expect(await store.purge({ key: 'k' })).toEqual({ memory: 1, redis: null });
      // Failing fast, not waiting out timeouts.
      expect(performance.now() - t0).toBeLessThan(1_000);
      expect(failures).toEqual(['set', 'get', 'purge']);
      expect(store.stats().redis).toMatchObject({ errors: 3 });
    } finally {
      await store.close();
    }
  });
});

describe('L1 byte bound', () => {
  it('accounts every entry and stays under max_bytes when filled ten times over', async () => {
    const store = new MemoryCacheStore({ maxBytes: 1_000_000 });
    for (let i = 0; i < 1_000; i++) {
      await store.set(entry(`k${i}`, { content: 'x'.repeat(9_000 + (i % 7) * 100) }));
      expect(store.bytes).toBeLessThanOrEqual(1_000_000);
    }
    const s = store.stats();
    expect(s.bytes).toBe(store.bytes);
    expect(s.evictions).toBeGreaterThan(800);
    expect(s.entries).toBeLessThan(110);
    // Non-Latin-1 text counts at two bytes per character, as V8 holds it; Latin-1 at one.
    const wide = new MemoryCacheStore({ maxBytes: 1_000_000 });
    await wide.set(entry('w', { content: '世'.repeat(10_000) }));
    expect(wide.bytes).toBeGreaterThan(20_000);
    expect(stringBytes('café')).toBe(24 + 4);
    expect(stringBytes('世界')).toBe(24 + 4);
  });

  it('counts what an entry holds: its JSON, key and labels, and once hit, every chunk object of its parsed form', async () => {
    const e = entry('k'.repeat(64), { content: 'hello' });
    const json = JSON.stringify(e);
    const store = new MemoryCacheStore({ maxBytes: 1_000_000 });
    await store.set(e);
    expect(store.bytes).toBe(
      SLOT_OVERHEAD_BYTES +
        stringBytes(json) +
        stringBytes(e.key) +
        stringBytes(e.namespace) +
        stringBytes(e.team) +
        stringBytes(e.model),
    );
    const serialized = store.bytes;
    const hit = await store.get(e.key);
    expect(Object.isFrozen(hit?.body)).toBe(true);
    expect(store.bytes - serialized).toBe(freezeAndMeasure(JSON.parse(json)));
    // A streamed answer of many tiny chunks is counted per chunk object, not per JSON byte: parsed, such
    // chunks hold about 4 bytes of objects per byte of JSON, more than a per-JSON-byte factor of 3 allowed.
    const tiny = {
      kind: 'stream',
      chunks: Array.from({ length: 100 }, () => ({ choices: [{ delta: { content: 'a' } }] })),
    };
    expect(freezeAndMeasure(tiny)).toBeGreaterThan(4 * JSON.stringify(tiny).length);
  });

  async function probe(mode: 'hit' | 'nohit') {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', 'test/helpers/l1-heap-probe.ts', mode],
      { cwd: process.cwd(), timeout: 60_000 },
    );
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      maxBytes: number;
      written: number;
      accounted: number;
      maxAccounted: number;
      heapGrowth: number;
    };
  }

  // Realistic streamed answers (hundreds of small chunks with OpenAI's envelope, tool-call fragments,
  // accented and CJK text), ten times the bound, in a child process with a forced GC.
  it.each(['hit', 'nohit'] as const)(
    'streamed entries ten times past the bound (%s): the heap stays within 1.25x of it, and the count is honest',
    async (mode) => {
      const r = await probe(mode);
      expect(r.written).toBeGreaterThanOrEqual(10 * r.maxBytes);
      expect(r.maxAccounted).toBeLessThanOrEqual(r.maxBytes);
      expect(r.heapGrowth).toBeLessThan(1.25 * r.maxBytes);
      // Honest, not just conservative: what is counted is what the heap holds, within 20%, so max_bytes
      // is both a real bound and the capacity the operator gets (the earlier 3x-per-JSON-byte estimate
      // of the parsed form counted half again what it held).
      expect(r.heapGrowth).toBeGreaterThan(0.8 * r.accounted);
    },
    60_000,
  );
});

function tiered(prefix: string) {
  const client = createRedisClient({ url: REDIS_URL, keyPrefix: prefix }, 'cache');
  const ops: string[] = [];
  const store = new TieredCacheStore(
    new MemoryCacheStore(),
    new RedisCacheStore(client, prefix, { ownsClient: true }),
    {
      onOperation: (op, layer, result) => ops.push(`${op}/${layer}/${result}`),
    },
  );
  return { client, store, ops };
}
