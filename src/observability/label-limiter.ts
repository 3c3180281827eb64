/**
 * Keeps a label's cardinality bounded: the first `max` distinct values are kept, later ones become
 * `_other`. Model names can come from requests (`provider/anything`), and an unbounded label would
 * grow Prometheus's memory with every typo a client sends.
 */
export class LabelLimiter {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}

  get(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return '_other';
    this.seen.add(value);
    return value;
  }
}
