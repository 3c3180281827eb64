import type { Counter } from 'prom-client';

/**
 * Per-request counter increments gathered in a plain map and handed to prom-client once per label set,
 * when the counter is read (a scrape calls the counter's `collect`). prom-client validates and hashes
 * the label object on every `inc`; this costs one map lookup per request instead, and a scrape sees
 * exactly the same totals, since the batch is flushed before the counter's values are read.
 */
export class CounterBatch<L extends string> {
  private readonly pending = new Map<string, { labels: Record<L, string>; n: number }>();

  /** `key` must identify the label set (its values joined); `labels` builds it only the first time. */
  add(key: string, labels: () => Record<L, string>, n: number): void {
    const cell = this.pending.get(key);
    if (cell) cell.n += n;
    else this.pending.set(key, { labels: labels(), n });
  }

  /** Into the counter, then forget: called from the counter's `collect`. */
  flushInto(counter: Counter<L>): void {
    if (this.pending.size === 0) return;
    for (const { labels, n } of this.pending.values()) counter.inc(labels, n);
    this.pending.clear();
  }
}
