import { describe, expect, it } from 'vitest';
import { FairQueue, QueueTimeoutError } from '../../src/services/limits/fair-queue.js';

describe('FairQueue edges', () => {
  it('an admission that lands after its waiter timed out is handed back through release', async () => {
    const q = new FairQueue();
    let finish!: () => void;
    const slow = new Promise<void>((r) => {
      finish = r;
    });
    const released: string[] = [];
    const wait = q.wait(
      10,
      'k',
      'gold',
      1,
      50,
      async () => {
        await slow;
        return { ok: true, retryAfterMs: 0, value: 'admission' };
      },
      undefined,
      (v) => released.push(v),
    );
    await expect(wait).rejects.toBeInstanceOf(QueueTimeoutError);
    expect(q.queued).toBe(0);
    finish();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(released).toEqual(['admission']);
  });

  it('an attempt that throws rejects its waiter with that error; one that can never fit ends the wait', async () => {
    const q = new FairQueue();
    const boom = new Error('redis gone, failing closed');
    await expect(
      q.wait(10, 'k', 't', 1, 5_000, async () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    const never = q.wait(10, 'k2', 't', 1, 5_000, async () => ({
      ok: false,
      retryAfterMs: -1,
      value: 'last',
    }));
    await expect(never).rejects.toMatchObject({ last: 'last' });
    expect(q.queued).toBe(0);
  });
});
