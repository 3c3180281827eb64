import { describe, expect, it } from 'vitest';
import { MemoryResponseStore, type StoredResponse } from '../../src/services/response-store.js';
import type { ResponseObject } from '../../src/types/responses.js';

function record(team: string, id: string): StoredResponse {
  return {
    id,
    team,
    createdAt: 0,
    input: [{ type: 'message', id: `msg_in_${id}`, role: 'user', content: 'hi' }],
    response: {
      id,
      output: [{ type: 'message', id: `msg_out_${id}`, status: 'completed', role: 'assistant', content: [] }],
    } as unknown as ResponseObject,
  };
}

describe('MemoryResponseStore', () => {
  it('scopes responses and items by team: another team sees nothing', async () => {
    const store = new MemoryResponseStore({ maxEntries: 10, retentionMs: 60_000 });
    await store.put(record('team-a', 'resp_1'));
    expect((await store.get('team-a', 'resp_1'))?.id).toBe('resp_1');
    expect(await store.get('team-b', 'resp_1')).toBeUndefined();
    expect(await store.item('team-a', 'msg_out_resp_1')).toMatchObject({ id: 'msg_out_resp_1' });
    expect(await store.item('team-a', 'msg_in_resp_1')).toMatchObject({ id: 'msg_in_resp_1' });
    expect(await store.item('team-b', 'msg_out_resp_1')).toBeUndefined();
    expect(await store.delete('team-b', 'resp_1')).toBe(false);
    expect(await store.delete('team-a', 'resp_1')).toBe(true);
    expect(await store.item('team-a', 'msg_out_resp_1')).toBeUndefined();
  });

  it('is bounded: the least recently used response goes first', async () => {
    const store = new MemoryResponseStore({ maxEntries: 2, retentionMs: 60_000 });
    await store.put(record('t', 'a'));
    await store.put(record('t', 'b'));
    await store.get('t', 'a');
    await store.put(record('t', 'c'));
    expect(await store.get('t', 'b')).toBeUndefined();
    expect((await store.get('t', 'a'))?.id).toBe('a');
    expect((await store.get('t', 'c'))?.id).toBe('c');
  });

  it('forgets responses after the retention period', async () => {
    const store = new MemoryResponseStore({ maxEntries: 10, retentionMs: 30 });
    await store.put(record('t', 'a'));
    const deadline = Date.now() + 5000;
    while ((await store.get('t', 'a')) !== undefined) {
      if (Date.now() > deadline) throw new Error('still stored after the retention period');
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await store.get('t', 'a')).toBeUndefined();
  });
});
