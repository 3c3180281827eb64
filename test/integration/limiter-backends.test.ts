import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, describe } from 'vitest';
import { MemoryLimiter } from '../../src/backends/limiter/memory.js';
import { RedisLimiter } from '../../src/backends/limiter/redis.js';
import { createRedisClient } from '../../src/backends/redis/client.js';
import { limiterContract } from '../contract/limiter-contract.js';
import { services } from '../helpers/services.js';

const prefix = `sytest:limits:${randomUUID()}:`;
const clients: Redis[] = [];
let n = 0;

limiterContract('memory', async () => new MemoryLimiter());

describe.skipIf(!services.redis)('with Redis', () => {
  limiterContract('redis', async () => {
    const redis = createRedisClient({ url: 'redis://127.0.0.1:6379', keyPrefix: prefix }, 'limits-test');
    await redis.connect();
    clients.push(redis);
    return new RedisLimiter(redis, `${prefix}${n++}:`);
  });
});

afterAll(async () => {
  const c = clients[0];
  if (c) {
    const keys = await c.keys(`${prefix}*`);
    if (keys.length > 0) await c.del(...keys);
  }
  for (const c of clients) c.disconnect();
});
