/** An async iterable a test feeds by hand: push items, end it, or fail it. Records whether it was closed. */
export class PushSource<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private ended = false;
  private error: unknown;
  closed = false;
  pulls = 0;

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  push(item: T): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve({ done: false, value: item });
    } else this.queue.push(item);
  }

  end(): void {
    this.ended = true;
    this.waiting?.resolve({ done: true, value: undefined });
    this.waiting = undefined;
  }

  fail(err: unknown): void {
    this.error = err;
    this.waiting?.reject(err);
    this.waiting = undefined;
  }

  next(): Promise<IteratorResult<T>> {
    this.pulls++;
    if (this.queue.length > 0) return Promise.resolve({ done: false, value: this.queue.shift() as T });
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.ended || this.closed) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  async return(): Promise<IteratorResult<T>> {
    this.closed = true;
    this.waiting?.resolve({ done: true, value: undefined });
    this.waiting = undefined;
    return { done: true, value: undefined };
  }
}

/** Collects an async iterable into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Polls until `check` holds, or throws after `limitMs`. */
export async function until(check: () => boolean | Promise<boolean>, limitMs = 5_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 10));
  }
}
