/**
 * A provider's API keys. A key that gets a 429 or 401 rests for a while and the next one is used.
 * Per instance: a rate-limited key is usually rate-limited for every instance at once, and each instance
 * learns that from its own next 429 within one request.
 */
export class KeyPool {
  private readonly restUntil: number[];
  private next = 0;

  constructor(
    private readonly keys: readonly string[],
    private readonly now: () => number = Date.now,
  ) {
    this.restUntil = keys.map(() => 0);
  }

  get size(): number {
    return this.keys.length;
  }

  /** The next key not resting, round-robin; undefined when every key rests (or there are none). */
  pick(): string | undefined {
    const n = this.keys.length;
    const t = this.now();
    for (let i = 0; i < n; i++) {
      const idx = (this.next + i) % n;
      if (this.restUntil[idx]! <= t) {
        this.next = (idx + 1) % n;
        return this.keys[idx];
      }
    }
    return undefined;
  }

  /** Rest `key` for `ms` (never shortening a longer rest). */
  rest(key: string, ms: number): void {
    const idx = this.keys.indexOf(key);
    if (idx < 0) return;
    this.restUntil[idx] = Math.max(this.restUntil[idx]!, this.now() + ms);
  }

  /** ms until the first key is usable again (0 when one is usable now). */
  msUntilAvailable(): number {
    const t = this.now();
    let min = Number.POSITIVE_INFINITY;
    for (const u of this.restUntil) min = Math.min(min, Math.max(0, u - t));
    return this.keys.length === 0 ? 0 : min;
  }
}
