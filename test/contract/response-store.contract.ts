import { afterAll, describe, expect, it } from 'vitest';
import {
  MAX_STORED_ITEMS,
  type ResponseStore,
  ResponseTooLargeError,
  type StoredResponse,
} from '../../src/services/response-store.js';
import type { ResponseObject, ResponsesInputItem } from '../../src/types/responses.js';
import { until } from '../helpers/poll.js';

/**
 * The one contract every ResponseStore passes: in memory (processes without the database), SQLite
 * (embedded default) and PostgreSQL (scaled). Team scoping, retention and the size bounds are the
 * store's, so every implementation is held to them here.
 */

export interface ResponseStoreLimits {
  retentionMs: number;
  maxBytes: number;
  now: () => number;
}

export interface OpenedResponseStore {
  store: ResponseStore;
  /** Deletes expired responses now (stores with a sweep); returns how many went. */
  sweep?(): Promise<number>;
  /** Rows held, expired or not (stores with a sweep). */
  rows?(): Promise<{ responses: number; items: number }>;
  /**
   * Another store over the same data: another instance, or this one after a restart. Undefined for
   * the memory store, whose data lives and dies with it.
   */
  peer?(limits: ResponseStoreLimits): Promise<ResponseStore>;
  /** Peers read what `put` resolved for at once (the store awaits the commit, as on PostgreSQL). */
  awaitsCommit?: boolean;
  /** Makes the database fail every query until the returned repair runs (stores over a database). */
  breakDatabase?(): Promise<() => Promise<void>>;
}

export interface ResponseStoreFactory {
  name: string;
  /** Skip (the real service is not reachable on this machine; CI fails instead). */
  skip?: boolean;
  /** A fresh, empty store. */
  open(limits: ResponseStoreLimits): Promise<OpenedResponseStore>;
  /** Closes everything opened; called once after the suite. */
  cleanup?(): Promise<void>;
}

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const DAY = 86_400_000;

function record(
  team: string,
  id: string,
  over: { createdAt?: number; text?: string; prev?: string } = {},
): StoredResponse {
  return {
    id,
    team,
    createdAt: over.createdAt ?? T0,
    input: [
      { type: 'message', id: `msg_in_${id}`, role: 'user', content: over.text ?? 'hi' },
      { type: 'item_reference', id: 'msg_referenced' },
    ],
    response: {
      id,
      object: 'response',
      created_at: Math.floor((over.createdAt ?? T0) / 1000),
      status: 'completed',
      previous_response_id: over.prev ?? null,
      output: [
        {
          type: 'message',
          id: `msg_out_${id}`,
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: `Echo: ${over.text ?? 'hi'}`, annotations: [] }],
        },
      ],
      metadata: { k: 'v' },
    } as unknown as ResponseObject,
  };
}

export function responseStoreContract(factory: ResponseStoreFactory): void {
  describe.skipIf(factory.skip === true)(`response store contract: ${factory.name}`, () => {
    let clock = T0;
    const limits = (over: Partial<ResponseStoreLimits> = {}): ResponseStoreLimits => ({
      retentionMs: 30 * DAY,
      maxBytes: 64 * 1024,
      now: () => clock,
      ...over,
    });
    const opened: ResponseStore[] = [];
    const open = async (over: Partial<ResponseStoreLimits> = {}) => {
      clock = T0;
      const o = await factory.open(limits(over));
      opened.push(o.store);
      return o;
    };

    afterAll(async () => {
      for (const s of opened) await s.close();
      await factory.cleanup?.();
    });

    it('put then get: the response and its input come back as stored, at once', async () => {
      const { store } = await open();
      const rec = record('alpha', 'resp_1');
      await store.put(rec);
      const got = await store.get('alpha', 'resp_1');
      expect(got).toMatchObject({ id: 'resp_1', team: 'alpha', createdAt: T0 });
      expect(got?.response).toEqual(rec.response);
      expect(got?.input).toEqual(rec.input);
      expect(got?.bytes).toBe(JSON.stringify({ response: rec.response, input: rec.input }).length);
      expect(await store.get('alpha', 'resp_none')).toBeUndefined();
    });

    it('item lookup: input and output items by id; item references are not items', async () => {
      const { store } = await open();
      await store.put(record('alpha', 'resp_1', { text: 'one' }));
      expect(await store.item('alpha', 'msg_out_resp_1')).toEqual(
        record('alpha', 'resp_1', { text: 'one' }).response.output[0],
      );
      expect(await store.item('alpha', 'msg_in_resp_1')).toEqual({
        type: 'message',
        id: 'msg_in_resp_1',
        role: 'user',
        content: 'one',
      });
      expect(await store.item('alpha', 'msg_referenced')).toBeUndefined();
      expect(await store.item('alpha', 'msg_unknown')).toBeUndefined();
    });

    it('delete: true once, then the response and its items are gone', async () => {
      const { store } = await open();
      await store.put(record('alpha', 'resp_1'));
      expect(await store.delete('alpha', 'resp_1')).toBe(true);
      expect(await store.get('alpha', 'resp_1')).toBeUndefined();
      expect(await store.item('alpha', 'msg_out_resp_1')).toBeUndefined();
      expect(await store.delete('alpha', 'resp_1')).toBe(false);
    });

    it('an item held by two responses is still found after the newer one is deleted', async () => {
      const { store } = await open();
      const first = record('alpha', 'resp_1');
      await store.put(first);
      const second = record('alpha', 'resp_2', { createdAt: T0 + 1 });
      // The client sent back the first response's output item as input.
      second.input = [first.response.output[0] as ResponsesInputItem];
      await store.put(second);
      expect(await store.delete('alpha', 'resp_2')).toBe(true);
      expect(await store.item('alpha', 'msg_out_resp_1')).toEqual(first.response.output[0]);
    });

    it("team isolation: another team's response, items and delete find nothing", async () => {
      const { store } = await open();
      await store.put(record('alpha', 'resp_1'));
      expect(await store.get('beta', 'resp_1')).toBeUndefined();
      expect(await store.item('beta', 'msg_out_resp_1')).toBeUndefined();
      expect(await store.item('beta', 'msg_in_resp_1')).toBeUndefined();
      expect(await store.delete('beta', 'resp_1')).toBe(false);
      expect((await store.get('alpha', 'resp_1'))?.id).toBe('resp_1');
      expect(await store.item('alpha', 'msg_out_resp_1')).toMatchObject({ id: 'msg_out_resp_1' });
    });

    it('retention: a response lives exactly its retention, then is not found (get, item, delete)', async () => {
      const o = await open({ retentionMs: DAY });
      await o.store.put(record('alpha', 'resp_old'));
      await o.store.put(record('alpha', 'resp_new', { createdAt: T0 + DAY / 2 }));
      clock = T0 + DAY - 1;
      expect((await o.store.get('alpha', 'resp_old'))?.id).toBe('resp_old');
      clock = T0 + DAY;
      expect(await o.store.get('alpha', 'resp_old')).toBeUndefined();
      expect(await o.store.item('alpha', 'msg_out_resp_old')).toBeUndefined();
      expect(await o.store.delete('alpha', 'resp_old')).toBe(false);
      expect((await o.store.get('alpha', 'resp_new'))?.id).toBe('resp_new');
      if (o.sweep && o.rows) {
        await until(async () => (await o.rows!()).responses === 2 || undefined, 'both rows written');
        expect(await o.sweep()).toBe(1);
        expect(await o.rows()).toEqual({ responses: 1, items: 2 });
        expect((await o.store.get('alpha', 'resp_new'))?.id).toBe('resp_new');
      }
    });

    it('chain: previous_response_id links newest first, bounded by depth and bytes, scoped by team', async () => {
      const o = await open();
      const ids = ['c1', 'c2', 'c3', 'c4', 'c5'];
      const recs = ids.map((id, i) =>
        record('alpha', id, { createdAt: T0 + i, ...(i > 0 ? { prev: ids[i - 1]! } : {}) }),
      );
      // The older turns written, the newer ones (possibly) still queued: one chain across both.
      for (const r of recs.slice(0, 3)) await o.store.put(r);
      if (o.rows) await until(async () => (await o.rows!()).responses === 3 || undefined, 'three rows');
      for (const r of recs.slice(3)) await o.store.put(r);
      const wide = { maxDepth: 1000, maxBytes: 1 << 30 };
      const chainIds = async (team: string, id: string, bounds = wide) =>
        (await o.store.chain(team, id, bounds)).map((r) => r.id);
      expect(await chainIds('alpha', 'c5')).toEqual(['c5', 'c4', 'c3', 'c2', 'c1']);
      const full = await o.store.chain('alpha', 'c5', wide);
      expect(full[2]).toMatchObject({
        id: 'c3',
        team: 'alpha',
        input: recs[2]!.input,
        response: recs[2]!.response,
      });
      expect(await chainIds('alpha', 'c3')).toEqual(['c3', 'c2', 'c1']);
      expect(await chainIds('beta', 'c5')).toEqual([]);
      expect(await chainIds('alpha', 'c5', { maxDepth: 2, maxBytes: 1 << 30 })).toEqual(['c5', 'c4']);
      const b = full[0]!.bytes!;
      expect(await chainIds('alpha', 'c5', { maxDepth: 1000, maxBytes: b })).toEqual(['c5', 'c4']);
      expect(await chainIds('alpha', 'c5', { maxDepth: 1000, maxBytes: b - 1 })).toEqual(['c5']);
      // A missing link ends the chain there: the last record names the id that was not found.
      expect(await o.store.delete('alpha', 'c2')).toBe(true);
      const cut = await o.store.chain('alpha', 'c5', wide);
      expect(cut.map((r) => r.id)).toEqual(['c5', 'c4', 'c3']);
      expect(cut.at(-1)!.response.previous_response_id).toBe('c2');
      expect(await chainIds('alpha', 'c2')).toEqual([]);
    });

    it('sweep: expired responses go in several small transactions, live ones stay', async (ctx) => {
      const o = await open({ retentionMs: DAY });
      if (!o.sweep || !o.rows) return ctx.skip();
      await Promise.all(Array.from({ length: 1_200 }, (_, i) => o.store.put(record('alpha', `resp_${i}`))));
      await o.store.put(record('alpha', 'resp_live', { createdAt: T0 + DAY }));
      await until(async () => (await o.rows!()).responses === 1_201 || undefined, 'every row written');
      clock = T0 + DAY;
      expect(await o.sweep()).toBe(1_200);
      expect(await o.rows()).toEqual({ responses: 1, items: 2 });
      expect(await o.sweep()).toBe(0);
      expect((await o.store.get('alpha', 'resp_live'))?.id).toBe('resp_live');
    });

    it('a failing database: reads are 503 response_store_unavailable; queued responses still served', async (ctx) => {
      const o = await open();
      if (!o.breakDatabase) return ctx.skip();
      await o.store.put(record('alpha', 'resp_written'));
      if (o.rows) await until(async () => (await o.rows!()).responses === 1 || undefined, 'the row written');
      const repair = await o.breakDatabase();
      const queued = o.store.put(record('alpha', 'resp_queued'));
      expect((await o.store.get('alpha', 'resp_queued'))?.id).toBe('resp_queued');
      for (const read of [
        () => o.store.get('alpha', 'resp_written'),
        () => o.store.item('alpha', 'msg_out_resp_written'),
        () => o.store.delete('alpha', 'resp_written'),
      ]) {
        await expect(read()).rejects.toMatchObject({
          code: 'response_store_unavailable',
          status: 503,
          headers: { 'retry-after': '1' },
        });
      }
      // Once the database is back, the queued response is written (retried) and read from it.
      await repair();
      await queued;
      const peer = o.peer ? await o.peer(limits()) : o.store;
      if (peer !== o.store) opened.push(peer);
      expect((await until(() => peer.get('alpha', 'resp_queued'), 'the queued write'))?.id).toBe(
        'resp_queued',
      );
    });

    it('bounds: a response over the size or item bound is refused and not stored', async () => {
      const { store } = await open({ maxBytes: 2_000 });
      await expect(store.put(record('alpha', 'resp_big', { text: 'x'.repeat(2_000) }))).rejects.toThrow(
        ResponseTooLargeError,
      );
      expect(await store.get('alpha', 'resp_big')).toBeUndefined();
      const many = record('alpha', 'resp_many');
      many.input = Array.from({ length: MAX_STORED_ITEMS }, (_, i) => ({
        type: 'message' as const,
        id: `m${i}`,
        role: 'user' as const,
        content: '',
      }));
      await expect(store.put(many)).rejects.toThrow(/more than the 20000 a stored response may hold/);
      expect(await store.get('alpha', 'resp_many')).toBeUndefined();
      await store.put(record('alpha', 'resp_small'));
      expect((await store.get('alpha', 'resp_small'))?.id).toBe('resp_small');
    });

    it('durable and shared: another store over the same data finds it, and sees deletes', async (ctx) => {
      const o = await open();
      if (!o.peer) return ctx.skip();
      const peer = await o.peer(limits());
      opened.push(peer);
      await o.store.put(record('alpha', 'resp_1'));
      if (o.awaitsCommit) expect((await peer.get('alpha', 'resp_1'))?.id).toBe('resp_1');
      const got = await until(() => peer.get('alpha', 'resp_1'), 'the peer to see the response');
      expect(got.response).toEqual(record('alpha', 'resp_1').response);
      expect(await peer.item('alpha', 'msg_in_resp_1')).toMatchObject({ id: 'msg_in_resp_1' });
      expect(await peer.get('beta', 'resp_1')).toBeUndefined();
      expect(await peer.delete('alpha', 'resp_1')).toBe(true);
      expect(await o.store.get('alpha', 'resp_1')).toBeUndefined();
    });

    it('a deleted response is not written afterwards, even if deleted while queued', async () => {
      const o = await open();
      // Not awaited: the deletes arrive while the puts are queued or being written.
      const puts = Array.from({ length: 50 }, (_, i) => o.store.put(record('alpha', `resp_${i}`)));
      const deletes = [o.store.delete('alpha', 'resp_49'), o.store.delete('alpha', 'resp_0')];
      expect(await Promise.all(deletes)).toEqual([true, true]);
      await Promise.all(puts);
      if (o.rows) await until(async () => (await o.rows!()).responses === 48 || undefined, '48 rows');
      expect(await o.store.get('alpha', 'resp_49')).toBeUndefined();
      expect(await o.store.get('alpha', 'resp_0')).toBeUndefined();
      expect((await o.store.get('alpha', 'resp_25'))?.id).toBe('resp_25');
    });
  });
}
