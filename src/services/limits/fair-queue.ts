/**
 * A fair priority queue for requests over their limit (tiers with `on_limit: queue`).
 *
 * Waiters are grouped by the limit that blocked them (its backend key): only requests contending for the
 * same capacity wait for each other, so a request whose own limits have room is never held behind
 * another tier's queue. Inside a group, weighted fair queuing picks who tries next: each waiter gets a
 * virtual finish tag `max(group clock, last tag of its tier) + 1 / priority`, and the smallest tag goes
 * first. A higher priority is served first and gets a larger share of freed capacity; a lower one still
 * gets its share, so it is never starved.
 *
 * One pump per group retries the decision for the chosen waiter, sleeping for the backend's retry-after
 * (capped, and cut short by `nudge()` when this instance returns capacity). Everything here is
 * per-instance; the capacity itself is shared through the limiter backend.
 */

export interface Attempt<T> {
  ok: boolean;
  /** ms until it could fit; -1: never. */
  retryAfterMs: number;
  value: T;
}

export class QueueTimeoutError extends Error {
  constructor(
    readonly waitedMs: number,
    /** The last attempt's result, when one was made. */
    readonly last: unknown,
  ) {
    super('queue wait exceeded');
  }
}
export class QueueFullError extends Error {}
export class QueueAbortedError extends Error {}

interface Waiter {
  tier: string;
  tag: number;
  seq: number;
  enqueuedAt: number;
  attempt: () => Promise<Attempt<unknown>>;
  resolve: (v: { value: unknown; waitedMs: number }) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  signal: AbortSignal | undefined;
  last: unknown;
  release: ((value: unknown) => void) | undefined;
}

interface Group {
  waiters: Waiter[];
  clock: number;
  lastTag: Map<string, number>;
  running: boolean;
  wake: (() => void) | undefined;
}

/** The pump re-checks at least this often, so capacity freed on another instance is noticed. */
const MAX_SLEEP_MS = 250;

export class FairQueue {
  private readonly groups = new Map<string, Group>();
  private size = 0;
  private seq = 0;

  get queued(): number {
    return this.size;
  }

  /**
   * Waits in `group` until `attempt` succeeds (resolves with its value), or rejects with
   * QueueTimeoutError at `maxWaitMs`, QueueFullError when the instance already holds `maxQueued`
   * waiters, or QueueAbortedError when `signal` aborts.
   */
  wait<T>(
    maxQueued: number,
    groupKey: string,
    tier: string,
    priority: number,
    maxWaitMs: number,
    attempt: () => Promise<Attempt<T>>,
    signal?: AbortSignal,
    /** Gets an admission that succeeded after its waiter had already left, to give it back. */
    release?: (value: T) => void,
  ): Promise<{ value: T; waitedMs: number }> {
    if (this.size >= maxQueued) return Promise.reject(new QueueFullError('queue full'));
    if (signal?.aborted) return Promise.reject(new QueueAbortedError('aborted'));
    let g = this.groups.get(groupKey);
    if (!g) {
      g = { waiters: [], clock: 0, lastTag: new Map(), running: false, wake: undefined };
      this.groups.set(groupKey, g);
    }
    const group = g;
    return new Promise((resolve, reject) => {
      const tag = Math.max(group.clock, group.lastTag.get(tier) ?? 0) + 1 / priority;
      group.lastTag.set(tier, tag);
      const w: Waiter = {
        tier,
        tag,
        seq: this.seq++,
        enqueuedAt: performance.now(),
        attempt: attempt as () => Promise<Attempt<unknown>>,
        resolve: resolve as Waiter['resolve'],
        reject,
        timer: undefined,
        onAbort: undefined,
        signal,
        last: undefined,
        release: release as Waiter['release'],
      };
      w.timer = setTimeout(() => {
        if (this.remove(group, groupKey, w)) {
          w.reject(new QueueTimeoutError(Math.round(performance.now() - w.enqueuedAt), w.last));
        }
      }, maxWaitMs);
      if (signal) {
        w.onAbort = () => {
          if (this.remove(group, groupKey, w)) w.reject(new QueueAbortedError('aborted'));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      group.waiters.push(w);
      this.size++;
      void this.pump(groupKey, group);
    });
  }

  /** Capacity was returned on this instance: let every sleeping pump try again now. */
  nudge(): void {
    for (const g of this.groups.values()) g.wake?.();
  }

  private remove(group: Group, key: string, w: Waiter): boolean {
    const i = group.waiters.indexOf(w);
    if (i < 0) return false;
    group.waiters.splice(i, 1);
    this.size--;
    if (w.timer) clearTimeout(w.timer);
    if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
    if (group.waiters.length === 0) {
      group.wake?.();
      if (!group.running) this.groups.delete(key);
    }
    return true;
  }

  private next(group: Group): Waiter | undefined {
    let best: Waiter | undefined;
    for (const w of group.waiters) {
      if (!best || w.tag < best.tag || (w.tag === best.tag && w.seq < best.seq)) best = w;
    }
    return best;
  }

  private async pump(key: string, group: Group): Promise<void> {
    if (group.running) {
      group.wake?.();
      return;
    }
    group.running = true;
    try {
      for (;;) {
        const w = this.next(group);
        if (!w) break;
        let r: Attempt<unknown>;
        try {
          r = await w.attempt();
        } catch (err) {
          if (this.remove(group, key, w)) w.reject(err as Error);
          continue;
        }
        w.last = r.value;
        if (!group.waiters.includes(w)) {
          // Timed out or aborted while the attempt was in flight; an admission it won must be returned.
          if (r.ok) w.release?.(r.value);
          continue;
        }
        if (r.ok) {
          group.clock = w.tag;
          this.remove(group, key, w);
          w.resolve({ value: r.value, waitedMs: Math.round(performance.now() - w.enqueuedAt) });
          continue;
        }
        if (r.retryAfterMs < 0) {
          this.remove(group, key, w);
          w.reject(new QueueTimeoutError(Math.round(performance.now() - w.enqueuedAt), r.value));
          continue;
        }
        await new Promise<void>((res) => {
          const t = setTimeout(done, Math.min(Math.max(r.retryAfterMs, 1), MAX_SLEEP_MS));
          function done() {
            clearTimeout(t);
            res();
          }
          group.wake = done;
        });
        group.wake = undefined;
      }
    } finally {
      group.running = false;
      if (group.waiters.length === 0) this.groups.delete(key);
    }
  }
}
