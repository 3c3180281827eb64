export const MAX_LABEL_LENGTH = 128;

/**
 * Keeps a label's cardinality bounded: the first `max` distinct values are kept, later ones become
 * `_other`. Model names can come from requests (`provider/anything`), and an unbounded label would
 * grow Prometheus's memory with every typo a client sends.
 */
export class LabelLimiter {
  private readonly seen = new Set<string>();
  constructor(
    private readonly max: number,
    /** Longest value kept; longer ones are cut (a 1 MB model name would add 1 MB to every scrape). */
    private readonly maxLength = MAX_LABEL_LENGTH,
  ) {}

  get(raw: string): string {
    const value = raw.length > this.maxLength ? raw.slice(0, this.maxLength) : raw;
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return '_other';
    this.seen.add(value);
    return value;
  }
}
