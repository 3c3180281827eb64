import { describe, expect, it } from 'vitest';
import { ReplayBroadcast } from '../../src/core/replay-broadcast.js';
import { collect, PushSource, until } from '../helpers/push-source.js';

describe('ReplayBroadcast', () => {
  it('gives a late joiner the items already produced, then the live ones', async () => {
    const src = new PushSource<number>();
    const b = new ReplayBroadcast(src);
    const early = collect(b.subscribe());
    src.push(1);
    src.push(2);
    await until(() => b.size === 2);
    const late = collect(b.subscribe());
    src.push(3);
    src.end();
    expect(await early).toEqual([1, 2, 3]);
    expect(await late).toEqual([1, 2, 3]);
    expect(await b.done).toEqual([1, 2, 3]);
    // After the end, a subscriber still gets the whole sequence.
    expect(await collect(b.subscribe())).toEqual([1, 2, 3]);
  });

  it('fails every subscriber with the same error object, after the items before it', async () => {
    const src = new PushSource<number>();
    const b = new ReplayBroadcast(src);
    const boom = new Error('boom');
    const seen: number[][] = [[], []];
    const runs = [0, 1].map(async (i) => {
      try {
        for await (const x of b.subscribe()) seen[i]!.push(x);
        return undefined;
      } catch (err) {
        return err;
      }
    });
    src.push(7);
    await until(() => b.size === 1);
    src.fail(boom);
    const errs = await Promise.all(runs);
    expect(errs[0]).toBe(boom);
    expect(errs[1]).toBe(boom);
    expect(seen).toEqual([[7], [7]]);
    await expect(b.done).rejects.toBe(boom);
  });

  it('keeps the source open when one subscriber leaves, closes it when the last one does', async () => {
    const src = new PushSource<number>();
    let abandoned = 0;
    const b = new ReplayBroadcast(src, { onAbandoned: () => abandoned++ });
    const ac = new AbortController();
    const leaving = b.subscribe(ac.signal);
    const staying = b.subscribe();
    src.push(1);
    expect(await leaving.next()).toEqual({ done: false, value: 1 });
    const pending = leaving.next();
    ac.abort(new Error('client gone'));
    await expect(pending).rejects.toThrow('client gone');
    expect(b.subscribers).toBe(1);
    src.push(2);
    expect(await staying.next()).toEqual({ done: false, value: 1 });
    expect(await staying.next()).toEqual({ done: false, value: 2 });
    expect(src.closed).toBe(false);
    expect(abandoned).toBe(0);
    await staying.return?.();
    expect(abandoned).toBe(1);
    expect(src.closed).toBe(true);
    await expect(b.done).rejects.toThrow('every subscriber left');
  });
});
