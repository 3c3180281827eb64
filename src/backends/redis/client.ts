import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { RedisSpec } from '../../types/config.js';

// ioredis (several MB of resident code) loads on the first client, so a gateway without `redis` never
// holds it. It is CommonJS, so a synchronous require keeps createRedisClient synchronous.
const require = createRequire(import.meta.url);
let RedisCtor: typeof Redis | undefined;

/** Reconnect delay cap: Redis coming back should be noticed within a couple of seconds. */
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * One ioredis connection for one role, named `<keyPrefix><role>` (`circuit`, `circuit-sub`, later limits, cache, ...).
 *
 * The options make Redis an optional accelerator, never a dependency of a request:
 * - `lazyConnect`: construction never throws or connects; the caller connects and decides what a failure means.
 * - `enableOfflineQueue: false`: while disconnected, commands fail at once instead of queueing in memory and
 *   landing minutes later with stale state (e.g. an "open" broadcast for a circuit that has long recovered).
 * - `maxRetriesPerRequest: 1` and `commandTimeout`: a hung or flapping Redis costs one bounded failure per
 *   command, not an unbounded wait.
 * - `connectTimeout`: a black-holed address fails startup's first connect quickly; ioredis keeps retrying
 *   in the background (retryStrategy never gives up), so recovery is automatic.
 * - No ioredis `keyPrefix`: it is not applied to pub/sub channels or SCAN patterns, so callers prefix
 *   explicitly with `spec.keyPrefix` and every name is visibly prefixed the same way.
 */
export function createRedisClient(spec: RedisSpec, role: string): Redis {
  RedisCtor ??= (require('ioredis') as typeof import('ioredis')).Redis;
  return new RedisCtor(spec.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2_000,
    connectTimeout: 2_000,
    // Named by prefix and role so CLIENT LIST tells deployments sharing one Redis apart.
    connectionName: `${spec.keyPrefix}${role}`.replace(/\s/g, '_'),
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), MAX_RECONNECT_DELAY_MS),
  });
}
