import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

/** A free TCP port on 127.0.0.1 (free when checked; the caller binds it right away). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A throwaway redis-server of our own, on its own port, that a test can stop and start again to see
 * what the gateway does while Redis is down. Nothing is persisted.
 */
export class OwnRedis {
  private constructor(readonly port: number) {}

  static async start(port?: number): Promise<OwnRedis> {
    const r = new OwnRedis(port ?? (await freePort()));
    await r.up();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    await run('redis-server', [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'yes',
    ]);
    const deadline = Date.now() + 5_000;
    for (;;) {
      const c = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
      c.on('error', () => {});
      try {
        await c.connect();
        await c.ping();
        c.disconnect();
        return;
      } catch {
        c.disconnect();
        if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not start`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  async down(): Promise<void> {
    await run('redis-cli', ['-p', String(this.port), 'shutdown', 'nosave']).catch(() => {});
    const deadline = Date.now() + 5_000;
    for (;;) {
      const ok = await run('redis-cli', ['-p', String(this.port), 'ping']).then(
        () => true,
        () => false,
      );
      if (!ok) return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not stop`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
