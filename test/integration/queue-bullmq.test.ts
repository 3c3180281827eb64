import { Redis } from 'ioredis';
import { BullQueue } from '../../src/backends/queue/bullmq-queue.js';
import { randomHex } from '../../src/core/ids.js';
import { queueContract } from '../contract/queue-contract.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

queueContract('BullMQ on Redis', async () => {
  const prefix = `sytest:${randomHex(8)}:`;
  const opts = {
    url: REDIS_URL,
    prefix,
    backoff: { baseMs: 50, maxMs: 1_000 },
    lockMs: 2_000,
    stalledIntervalMs: 500,
  };
  const backend = new BullQueue(opts);
  const others: BullQueue[] = [];
  return {
    backend,
    second: () => {
      const o = new BullQueue(opts);
      others.push(o);
      return o;
    },
    cleanup: async () => {
      await Promise.all([backend, ...others].map((b) => b.close()));
      const r = new Redis(REDIS_URL);
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await r.del(...keys);
      } while (cursor !== '0');
      r.disconnect();
    },
  };
});
