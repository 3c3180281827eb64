import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbHandle } from '../../src/db/connect.js';
import { DAY_MS, type KeyRecord, type RequestRow, type RequestRowsSink, Store } from '../../src/db/store.js';

/**
 * The one contract every database backend passes: SQLite (embedded) and PostgreSQL (scaled). Called once
 * per backend with a factory for a fresh, migrated database and a cleanup.
 */
export interface StoreFactory {
  name: string;
  /** Skip (the real service is not reachable on this machine; CI fails instead). */
  skip?: boolean;
  open(): Promise<DbHandle>;
  /** Where the store sends request-log batches instead of its own connection (the SQLite worker thread). */
  requestRows?(handle: DbHandle): RequestRowsSink & { close(): Promise<void> };
  cleanup?(): Promise<void>;
}

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);

function key(over: Partial<KeyRecord> & Pick<KeyRecord, 'id' | 'teamId'>): KeyRecord {
  return {
    hash: `hash-${over.id}`,
    prefix: `sk-sy-${over.id.slice(0, 4)}`,
    userId: null,
    name: null,
    tier: 'free',
    role: 'user',
    allowedModels: null,
    limits: null,
    budget: null,
    cacheNamespaces: null,
    requireSignature: false,
    metadata: {},
    expiresAt: null,
    revokedAt: null,
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

function row(over: Partial<RequestRow>): RequestRow {
  return {
    id: randomUUID(),
    requestId: randomUUID(),
    createdAt: T0,
    teamId: 'alpha',
    keyId: 'k1',
    userId: null,
    operation: 'chat',
    model: 'gpt-4o',
    provider: 'openai',
    upstreamModel: 'gpt-4o',
    status: 200,
    errorClass: null,
    stream: false,
    latencyMs: 12,
    ttftMs: null,
    promptTokens: 10,
    completionTokens: 5,
    costMicroUsd: 75,
    usageEstimated: false,
    attempts: 1,
    cacheStatus: null,
    ...over,
  };
}

export function storeContract(factory: StoreFactory): void {
  describe.skipIf(factory.skip === true)(`store contract: ${factory.name}`, () => {
    let handle: DbHandle;
    let store: Store;
    let requestRows: (RequestRowsSink & { close(): Promise<void> }) | undefined;

    beforeAll(async () => {
      handle = await factory.open();
      await handle.migrate();
      requestRows = factory.requestRows?.(handle);
      store = new Store(handle, requestRows ? { requestRows } : {});
      await store.createTeam({ id: 'alpha', name: 'Alpha', metadata: { plan: 'x' } });
      await store.createTeam({ id: 'beta', name: 'Beta' });
    });
    afterAll(async () => {
      await requestRows?.close();
      await handle?.close();
      await factory.cleanup?.();
    });

    it('migrations are idempotent: a second run applies nothing', async () => {
      expect(await handle.migrate()).toEqual([]);
    });

    it('teams: create, get, list, update; duplicate ids are rejected', async () => {
      const t = await store.getTeam('alpha');
      expect(t).toMatchObject({ id: 'alpha', name: 'Alpha', metadata: { plan: 'x' } });
      expect(typeof t?.createdAt).toBe('number');
      await expect(store.createTeam({ id: 'alpha', name: 'again' })).rejects.toThrow();
      const all = await store.listTeams({ limit: 10 });
      expect(all.map((x) => x.id)).toEqual(['alpha', 'beta', 'none']);
      expect((await store.listTeams({ limit: 10, ids: ['beta'] })).map((x) => x.id)).toEqual(['beta']);
      expect(await store.listTeams({ limit: 10, ids: [] })).toEqual([]);
      const u = await store.updateTeam('beta', { name: 'Beta 2' });
      expect(u?.name).toBe('Beta 2');
      expect(await store.getTeam('nope')).toBeUndefined();
    });

    it('keys: insert, look up by hash, JSON fields and timestamps round-trip as numbers', async () => {
      const k = key({
        id: 'k1',
        teamId: 'alpha',
        userId: 'u1',
        name: 'first',
        tier: 'pro',
        allowedModels: ['gpt-4o', 'mock'],
        limits: { rpm: 60, tpm: 1000 },
        budget: { monthlyMicros: 5_000_000 },
        cacheNamespaces: ['shared', 'org:faq'],
        requireSignature: true,
        metadata: { env: 'dev' },
        expiresAt: T0 + 1000,
      });
      await store.insertKey(k);
      expect(await store.getKeyByHash('hash-k1')).toEqual(k);
      expect(await store.getKeyByHash('hash-none')).toBeUndefined();
      // The hash is unique.
      await expect(store.insertKey({ ...k, id: 'k1b' })).rejects.toThrow();
    });

    it('keys: team scoping hides other teams; list pages newest first', async () => {
      for (let i = 2; i <= 5; i++) {
        await store.insertKey(key({ id: `k${i}`, teamId: i % 2 ? 'alpha' : 'beta', createdAt: T0 + i }));
      }
      expect(await store.getKey('k2', 'alpha')).toBeUndefined();
      expect((await store.getKey('k2', 'beta'))?.id).toBe('k2');
      const p1 = await store.listKeys({ teamId: 'alpha', limit: 2 });
      expect(p1.keys.map((k) => k.id)).toEqual(['k5', 'k3']);
      expect(p1.nextCursor).not.toBeNull();
      const p2 = await store.listKeys({ teamId: 'alpha', limit: 2, cursor: p1.nextCursor! });
      expect(p2.keys.map((k) => k.id)).toEqual(['k1']);
      expect(p2.nextCursor).toBeNull();
      const all = await store.listKeys({ limit: 100 });
      expect(all.keys.map((k) => k.id)).toEqual(['k5', 'k4', 'k3', 'k2', 'k1']);
    });

    it('keys: update and revoke respect the team; revoke is idempotent', async () => {
      expect(await store.updateKey('k2', { name: 'x' }, 'alpha')).toBeUndefined();
      const u = await store.updateKey(
        'k2',
        { name: 'renamed', allowedModels: ['a'], limits: null, cacheNamespaces: ['*'] },
        'beta',
      );
      expect(u).toMatchObject({
        id: 'k2',
        name: 'renamed',
        allowedModels: ['a'],
        limits: null,
        cacheNamespaces: ['*'],
      });
      expect((await store.updateKey('k2', { cacheNamespaces: null }, 'beta'))?.cacheNamespaces).toBeNull();
      expect(await store.revokeKey('k2', T0 + 50, 'alpha')).toBeUndefined();
      expect((await store.getKey('k2'))?.revokedAt).toBeNull();
      expect((await store.revokeKey('k2', T0 + 50, 'beta'))?.revokedAt).toBe(T0 + 50);
      expect((await store.revokeKey('k2', T0 + 99))?.revokedAt).toBe(T0 + 50);
      const listed = await store.listKeys({ teamId: 'beta', limit: 10 });
      expect(listed.keys.map((k) => k.id)).toEqual(['k4']);
      const withRevoked = await store.listKeys({ teamId: 'beta', limit: 10, includeRevoked: true });
      expect(withRevoked.keys.map((k) => k.id)).toEqual(['k4', 'k2']);
    });

    it('credentials: insert, list by provider, compare-and-set re-encryption, delete', async () => {
      const base = { name: null, keyId: 'kid1', last4: 'abcd', createdAt: T0, updatedAt: T0 };
      await store.insertCredential({ id: 'c1', provider: 'openai', ciphertext: 'ct1', ...base });
      await store.insertCredential({ id: 'c2', provider: 'anthropic', ciphertext: 'ct2', ...base });
      expect((await store.listCredentials()).map((c) => c.id)).toEqual(['c1', 'c2']);
      expect(await store.listCredentials('openai')).toEqual([
        { id: 'c1', provider: 'openai', ciphertext: 'ct1', ...base },
      ]);
      expect(await store.reencryptCredential('c1', 'stale', 'ct1b', 'kid2')).toBe(false);
      expect(await store.reencryptCredential('c1', 'ct1', 'ct1b', 'kid2')).toBe(true);
      expect((await store.listCredentials('openai'))[0]).toMatchObject({ ciphertext: 'ct1b', keyId: 'kid2' });
      expect(await store.deleteCredential('c2')).toBe(true);
      expect(await store.deleteCredential('c2')).toBe(false);
    });

    it('request log: batch insert, filters, pagination, idempotent retry', async () => {
      const rows = [
        row({ createdAt: T0 + 1, status: 200 }),
        row({
          createdAt: T0 + 2,
          status: 502,
          errorClass: 'server_error',
          promptTokens: 0,
          completionTokens: 0,
          costMicroUsd: 0,
        }),
        row({ createdAt: T0 + 3, stream: true, ttftMs: 40, usageEstimated: true }),
        row({
          createdAt: T0 + 4,
          teamId: 'beta',
          keyId: 'k2',
          model: 'claude',
          costMicroUsd: 1_000_000_000_000,
        }),
        row({
          createdAt: T0 + DAY_MS,
          model: 'mock',
          keyId: null,
          promptTokens: 1,
          completionTokens: 1,
          costMicroUsd: 0,
        }),
      ];
      await store.insertRequests(rows);
      // A retried batch (commit acknowledged but lost) neither fails nor double counts.
      await store.insertRequests(rows.slice(0, 1));
      const alpha = await store.listRequests({ teamId: 'alpha', limit: 10 });
      expect(alpha.rows.map((r) => r.createdAt)).toEqual([T0 + DAY_MS, T0 + 3, T0 + 2, T0 + 1]);
      expect(alpha.rows[1]).toEqual(rows[2]);
      const errors = await store.listRequests({ teamId: 'alpha', outcome: 'error', limit: 10 });
      expect(errors.rows.map((r) => r.status)).toEqual([502]);
      const ranged = await store.listRequests({ from: T0 + 2, to: T0 + 4, limit: 10 });
      expect(ranged.rows.map((r) => r.createdAt)).toEqual([T0 + 3, T0 + 2]);
      const p1 = await store.listRequests({ teamId: 'alpha', limit: 3 });
      const p2 = await store.listRequests({ teamId: 'alpha', limit: 3, cursor: p1.nextCursor! });
      expect(p2.rows.map((r) => r.createdAt)).toEqual([T0 + 1]);
      expect(p2.nextCursor).toBeNull();
      expect(await store.getRequest(rows[3]!.id, 'alpha')).toBeUndefined();
      expect((await store.getRequest(rows[3]!.id, 'beta'))?.costMicroUsd).toBe(1_000_000_000_000);
      expect((await store.listRequests({ keyId: 'k2', limit: 10 })).rows).toHaveLength(1);
      expect((await store.listRequests({ model: 'mock', limit: 10 })).rows[0]?.keyId).toBeNull();
    });

    it('usage: daily rollup matches the rows, grouped by team, key, model and day', async () => {
      const day0 = Math.floor(T0 / DAY_MS);
      const byTeam = await store.usage({ fromDay: day0, toDay: day0 + 1, groupBy: ['team'] });
      expect(byTeam).toEqual([
        { team: 'alpha', requests: 4, errors: 1, promptTokens: 21, completionTokens: 11, costMicroUsd: 150 },
        { team: 'beta', requests: 1, errors: 0, promptTokens: 10, completionTokens: 5, costMicroUsd: 1e12 },
      ]);
      const byDay = await store.usage({
        fromDay: day0,
        toDay: day0 + 1,
        teamId: 'alpha',
        groupBy: ['day', 'key'],
      });
      expect(byDay).toEqual([
        {
          day: '2026-01-10',
          key: 'k1',
          requests: 3,
          errors: 1,
          promptTokens: 20,
          completionTokens: 10,
          costMicroUsd: 150,
        },
        {
          day: '2026-01-11',
          key: null,
          requests: 1,
          errors: 0,
          promptTokens: 1,
          completionTokens: 1,
          costMicroUsd: 0,
        },
      ]);
      const oneDay = await store.usage({ fromDay: day0, toDay: day0, groupBy: ['model'] });
      expect(oneDay.map((u) => [u.model, u.requests])).toEqual([
        ['claude', 1],
        ['gpt-4o', 3],
      ]);
      const total = await store.usage({ fromDay: day0, toDay: day0 + 1, groupBy: [] });
      expect(total).toEqual([
        { requests: 5, errors: 1, promptTokens: 31, completionTokens: 16, costMicroUsd: 1e12 + 150 },
      ]);
      expect(await store.usage({ fromDay: 0, toDay: 1, groupBy: [] })).toEqual([]);
    });

    it('retention deletes old request rows and keeps the usage rollup', async () => {
      expect(await store.deleteRequestsBefore(T0 + DAY_MS)).toBe(4);
      expect((await store.listRequests({ limit: 10 })).rows).toHaveLength(1);
      const day0 = Math.floor(T0 / DAY_MS);
      expect((await store.usage({ fromDay: day0, toDay: day0 + 1, groupBy: [] }))[0]?.requests).toBe(5);
    });

    it('request log batches of any size are written and read back exactly, and counted once', async () => {
      // Far from the rows above, so their listings and totals are untouched.
      const t1 = T0 + 100 * DAY_MS;
      const odd = ['"quoted"', 'back\\slash', 'a,b', '{x}', ' ', 'NULL', '', 'é😀', 'line\nbreak'];
      let n = 0;
      const make = (): RequestRow => {
        const i = n++;
        return row({
          createdAt: t1 + i * 1000 + (i % 3 === 0 ? DAY_MS : 0),
          teamId: 'gamma',
          keyId: i % 4 === 0 ? null : `k${i % 3}`,
          userId: i % 2 === 0 ? null : odd[i % odd.length]!,
          requestId: `${odd[(i + 1) % odd.length]}-${i}`,
          model: i % 5 === 0 ? null : `m${i % 2}`,
          provider: i % 7 === 0 ? null : 'openai',
          upstreamModel: i % 5 === 0 ? null : odd[(i + 2) % odd.length]!,
          status: i % 6 === 0 ? 503 : 200,
          errorClass: i % 6 === 0 ? odd[i % odd.length]! : null,
          stream: i % 2 === 0,
          latencyMs: i * 3,
          ttftMs: i % 2 === 0 ? i : null,
          promptTokens: i,
          completionTokens: 2 * i,
          costMicroUsd: i * 1_000_003,
          usageEstimated: i % 8 === 0,
          attempts: 1 + (i % 3),
          cacheStatus: i % 3 === 0 ? null : 'miss',
        });
      };
      const written: RequestRow[] = [];
      for (const size of [1, 63, 64, 65, 200]) {
        const batch = Array.from({ length: size }, make);
        await store.insertRequests(batch);
        written.push(...batch);
      }
      // A retry of rows already written, mixed with new ones: only the new ones count.
      const fresh = Array.from({ length: 17 }, make);
      await store.insertRequests([...written.slice(100, 150), ...fresh, ...written.slice(0, 1)]);
      written.push(...fresh);

      const read: RequestRow[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listRequests({ teamId: 'gamma', limit: 100, cursor });
        read.push(...page.rows);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      const newestFirst = [...written].sort((a, b) =>
        a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : b.createdAt - a.createdAt,
      );
      expect(read).toEqual(newestFirst);

      const want = new Map<string, { requests: number; errors: number; prompt: number; cost: number }>();
      for (const r of written) {
        const k = `${Math.floor(r.createdAt / DAY_MS)}/${r.keyId ?? ''}/${r.model ?? ''}`;
        const u = want.get(k) ?? { requests: 0, errors: 0, prompt: 0, cost: 0 };
        u.requests += 1;
        if (r.status >= 400) u.errors += 1;
        u.prompt += r.promptTokens;
        u.cost += r.costMicroUsd;
        want.set(k, u);
      }
      const day1 = Math.floor(t1 / DAY_MS);
      const got = await store.usage({
        fromDay: day1,
        toDay: day1 + 2,
        teamId: 'gamma',
        groupBy: ['day', 'key', 'model'],
      });
      const dayNumber = (d: string) => Math.floor(Date.parse(`${d}T00:00:00Z`) / DAY_MS);
      expect(
        new Map(
          got.map((u) => [
            `${dayNumber(u.day!)}/${u.key ?? ''}/${u.model}`,
            { requests: u.requests, errors: u.errors, prompt: u.promptTokens, cost: u.costMicroUsd },
          ]),
        ),
      ).toEqual(want);
    });
  });
}
