import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Request merging across instances. The first instance to see a request takes a short-lived lock
 * (`SET NX PX`); the others wait for its announcement on one shared pub/sub channel, then read the L2
 * entry. Every wait has a timeout after which the waiter calls the upstream itself, and a lock expires
 * on its own if its holder dies, so no instance waits forever.
 *
 * Names: `<prefix>cache:lock:<key>`, channel `<prefix>cache:flight`.
 */

/** release-1 (KEYS: lock; ARGV: token, channel, message; Output: 1 if the lock was ours). */
const RELEASE = `
local ours = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  ours = 1
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return ours
`;

/** How a flight ended, as announced to the other instances. */
export type FlightAnnouncement =
  | { status: 'ok'; requestId?: string }
  /** The answer was not stored (no-store, or cut off): waiters call the upstream themselves. */
  | { status: 'not_stored' }
  | {
      status: 'error';
      error: { status: number; code: string; message: string; type: string; headers: Record<string, string> };
    };

export type WaitOutcome = FlightAnnouncement | { status: 'timeout' } | { status: 'aborted' };

export interface FlightLock {
  /** A token when this instance leads the flight; undefined when another instance does. */
  acquire(key: string, ttlMs: number): Promise<string | undefined>;
  /** Ends the flight: frees the lock (if still ours) and tells the waiters how it went. */
  release(key: string, token: string, outcome: FlightAnnouncement): Promise<void>;
  /**
   * Waits for the leader's announcement. `registered` runs once the waiter is listening, so the caller
   * can check L2 for an entry written just before (a leader that finished between acquire and wait);
   * when it resolves true, the wait ends as `ok`.
   */
  wait(
    key: string,
    timeoutMs: number,
    signal: AbortSignal,
    registered?: () => Promise<boolean>,
  ): Promise<WaitOutcome>;
  close(): Promise<void>;
}

export class RedisFlightLock implements FlightLock {
  private readonly waiters = new Map<string, Set<(o: FlightAnnouncement) => void>>();
  private readonly channel: string;
  private readonly lockBase: string;
  private subscribed: Promise<unknown> | undefined;

  constructor(
    private readonly redis: Redis,
    /** A connection of its own: a subscribed connection can run nothing else. */
    private readonly sub: Redis,
    keyPrefix: string,
    private readonly onError: (op: 'acquire' | 'release' | 'subscribe', err: unknown) => void = () => {},
  ) {
    this.channel = `${keyPrefix}cache:flight`;
    this.lockBase = `${keyPrefix}cache:lock:`;
    this.sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      let parsed: { key: string } & FlightAnnouncement;
      try {
        parsed = JSON.parse(message) as { key: string } & FlightAnnouncement;
      } catch {
        return;
      }
      const set = this.waiters.get(parsed.key);
      if (!set) return;
      this.waiters.delete(parsed.key);
      for (const w of set) w(parsed);
    });
  }

  /** Subscribes once; a failure is counted and retried on the next wait. */
  async start(): Promise<void> {
    this.subscribed ??= this.sub.subscribe(this.channel).catch((err: unknown) => {
      this.subscribed = undefined;
      this.onError('subscribe', err);
    });
    await this.subscribed;
  }

  async acquire(key: string, ttlMs: number): Promise<string | undefined> {
    const token = randomUUID();
    try {
      const ok = await this.redis.set(this.lockBase + key, token, 'PX', ttlMs, 'NX');
      return ok === 'OK' ? token : undefined;
    } catch (err) {
      // Redis down: lead alone rather than wait for an announcement that cannot come.
      this.onError('acquire', err);
      return token;
    }
  }

  async release(key: string, token: string, outcome: FlightAnnouncement): Promise<void> {
    try {
      await this.redis.eval(
        RELEASE,
        1,
        this.lockBase + key,
        token,
        this.channel,
        JSON.stringify({ key, ...outcome }),
      );
    } catch (err) {
      this.onError('release', err);
    }
  }

  async wait(
    key: string,
    timeoutMs: number,
    signal: AbortSignal,
    registered?: () => Promise<boolean>,
  ): Promise<WaitOutcome> {
    await this.start();
    return new Promise<WaitOutcome>((resolve) => {
      let set = this.waiters.get(key);
      if (!set) {
        set = new Set();
        this.waiters.set(key, set);
      }
      const s = set;
      let over = false;
      const done = (o: WaitOutcome) => {
        if (over) return;
        over = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        s.delete(waiter);
        if (s.size === 0 && this.waiters.get(key) === s) this.waiters.delete(key);
        resolve(o);
      };
      const waiter = (o: FlightAnnouncement) => done(o);
      const onAbort = () => done({ status: 'aborted' });
      const timer = setTimeout(() => done({ status: 'timeout' }), timeoutMs);
      s.add(waiter);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      registered?.().then(
        (found) => {
          if (found) done({ status: 'ok' });
        },
        () => {},
      );
    });
  }

  async close(): Promise<void> {
    for (const set of this.waiters.values()) for (const w of set) w({ status: 'not_stored' });
    this.waiters.clear();
    this.sub.disconnect();
  }
}
