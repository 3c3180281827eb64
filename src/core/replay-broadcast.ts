/**
 * One async iterable read once and shared by many consumers. Every subscriber receives every item from
 * the first, whenever it subscribes: a late joiner gets the items already produced, then the live ones.
 * An error reaches every subscriber as the same error object.
 *
 * The source is pumped as fast as it produces, independent of consumers: the items are kept for replay
 * anyway, and a slow consumer must not hold back the others. When every subscriber has left before the
 * end, the source is closed (`return()`) and `onAbandoned` runs, so the caller can abort the upstream;
 * a single consumer leaving never does while others remain.
 */

export interface ReplayBroadcastOptions {
  /** Every subscriber left before the source ended. */
  onAbandoned?: () => void;
}

type Status = 'open' | 'done' | 'failed' | 'abandoned';

/** A subscriber's iterator; `nextBuffered` gives the next result without waiting, or undefined. */
export interface Subscription<T> extends AsyncIterableIterator<T> {
  nextBuffered(): IteratorResult<T> | undefined;
}

export class ReplayBroadcast<T> {
  private readonly items: T[] = [];
  private status: Status = 'open';
  private error: unknown;
  private readonly wakers = new Set<() => void>();
  private wakeQueued = false;
  private active = 0;
  private readonly source: AsyncIterator<T>;
  private readonly onAbandoned: (() => void) | undefined;
  /** Resolves with every item once the source ends normally; rejects with its error, or when abandoned. */
  readonly done: Promise<readonly T[]>;

  constructor(source: AsyncIterable<T> | AsyncIterator<T>, opts: ReplayBroadcastOptions = {}) {
    this.source =
      Symbol.asyncIterator in source ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : source;
    this.onAbandoned = opts.onAbandoned;
    this.done = this.pump();
    // The owner may never look at `done`; its rejection is delivered through the subscribers.
    this.done.catch(() => {});
  }

  /** Items produced so far. */
  get size(): number {
    return this.items.length;
  }

  get subscribers(): number {
    return this.active;
  }

  get finished(): boolean {
    return this.status !== 'open';
  }

  private async pump(): Promise<readonly T[]> {
    try {
      for (;;) {
        const r = await this.source.next();
        if (this.status !== 'open') break;
        if (r.done) {
          this.status = 'done';
          break;
        }
        this.items.push(r.value);
        this.wake();
        // Lets the first item reach the clients' sockets before the rest of a read is pumped: a
        // source whose items are already buffered would otherwise produce them all in microtasks,
        // ahead of the first response write (which leaves on a later tick).
        if (this.items.length === 1) await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      if (this.status === 'open') {
        this.status = 'failed';
        this.error = err;
      }
    }
    this.wake();
    if (this.status === 'done') return this.items;
    throw this.status === 'abandoned' ? new Error('every subscriber left') : this.error;
  }

  /**
   * Wakes waiting subscribers on the next tick, once for everything produced until then: a source with
   * items already buffered is pumped through in microtasks, and a subscriber woken per item would park
   * again (a promise and a waker each) between every two.
   */
  private wake(): void {
    if (this.wakeQueued || this.wakers.size === 0) return;
    this.wakeQueued = true;
    process.nextTick(wakeTick, this);
  }

  /** @internal */
  runWakers(): void {
    this.wakeQueued = false;
    const ws = [...this.wakers];
    this.wakers.clear();
    for (const w of ws) w();
  }

  private leave(): void {
    this.active--;
    if (this.active === 0 && this.status === 'open') {
      this.status = 'abandoned';
      this.wake();
      this.onAbandoned?.();
      // Releases the source (an upstream body) even while its next() is pending on a slow provider.
      this.source.return?.().catch(() => {});
    }
  }

  /**
   * A consumer's view. `signal` (its client's disconnect) detaches it: a pending `next()` rejects with the
   * signal's reason. Breaking out of `for await` detaches it too.
   */
  subscribe(signal?: AbortSignal): Subscription<T> {
    if (this.status === 'abandoned') throw new Error('this broadcast was abandoned by every subscriber');
    this.active++;
    let pos = 0;
    let left = false;
    let rejectPending: ((err: unknown) => void) | undefined;
    const detach = () => {
      if (left) return;
      left = true;
      signal?.removeEventListener('abort', onAbort);
      this.leave();
    };
    const onAbort = () => {
      detach();
      rejectPending?.(signal?.reason);
    };
    if (signal?.aborted) queueMicrotask(onAbort);
    else signal?.addEventListener('abort', onAbort, { once: true });

    const self = this;
    const it: Subscription<T> = {
      [Symbol.asyncIterator]() {
        return it;
      },
      nextBuffered(): IteratorResult<T> | undefined {
        if (left) {
          if (signal?.aborted) throw signal.reason;
          return { done: true, value: undefined };
        }
        if (pos < self.items.length) return { done: false, value: self.items[pos++] as T };
        if (self.status === 'done') {
          detach();
          return { done: true, value: undefined };
        }
        if (self.status === 'failed') {
          detach();
          throw self.error;
        }
        if (self.status === 'abandoned') return { done: true, value: undefined };
        return undefined;
      },
      async next(): Promise<IteratorResult<T>> {
        for (;;) {
          const r = it.nextBuffered();
          if (r !== undefined) return r;
          await new Promise<void>((resolve, reject) => {
            rejectPending = reject;
            self.wakers.add(resolve);
          });
          rejectPending = undefined;
        }
      },
      async return(): Promise<IteratorResult<T>> {
        detach();
        return { done: true, value: undefined };
      },
    };
    return it;
  }
}

function wakeTick(b: ReplayBroadcast<unknown>): void {
  b.runWakers();
}
