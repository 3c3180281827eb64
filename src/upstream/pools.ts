import { Pool } from 'undici';
import type { ProviderTimeouts } from '../types/config.js';

/**
 * One keep-alive undici Pool per upstream origin (and connect timeout, which is a pool-level setting).
 * Header and body timeouts are per request, so providers sharing an origin share sockets.
 */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  get(origin: string, timeouts: ProviderTimeouts): Pool {
    const key = `${origin}#${timeouts.connectMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connect: { timeout: timeouts.connectMs },
        keepAliveTimeout: 30_000,
        // Streams can be long-lived; the per-request timeouts bound them instead.
        connections: 256,
        pipelining: 1,
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.close().catch(() => p.destroy())));
  }
}
