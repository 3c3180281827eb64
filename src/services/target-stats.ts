import type { TargetLoad } from '../core/routing.js';

/**
 * Live per-target load for the least-busy and latency strategies. Per gateway instance on purpose: in-flight
 * counts and latencies are about this process's own connections, and a shared store would put a network
 * round trip on every request for numbers that are stale by the time they arrive.
 */

export function targetKey(provider: string, model: string): string {
  return `${provider}/${model}`;
}

interface Entry {
  inFlight: number;
  latencyMs: number | undefined;
  ttftMs: number | undefined;
  /** begin() calls so far when this entry was last begun; the oldest idle entries are evicted first. */
  lastUsed: number;
}

/**
 * Entries kept at most: clients can address `provider/any-model-name` directly, and each name would
 * otherwise keep an entry forever. Past this many, the least recently used idle entries go (a forgotten
 * entry only loses its latency averages).
 */
export const MAX_TARGET_STATS = 512;

export interface AttemptOutcome {
  ok: boolean;
  latencyMs?: number;
  ttftMs?: number;
}

function isSample(x: number | undefined): x is number {
  return x !== undefined && Number.isFinite(x) && x >= 0;
}

export class TargetStats {
  private readonly alpha: number;
  private readonly entries = new Map<string, Entry>();
  private readonly max: number;
  private tick = 0;

  constructor(opts: { alpha?: number /* EWMA weight, default 0.2 */; maxEntries?: number } = {}) {
    this.max = opts.maxEntries ?? MAX_TARGET_STATS;
    const alpha = opts.alpha ?? 0.2;
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`TargetStats alpha must be in (0, 1], got ${alpha}`);
    this.alpha = alpha;
  }

  /** Call when an attempt starts; the returned function is called exactly once when it ends (idempotent if called twice). */
  begin(key: string): (outcome: AttemptOutcome) => void {
    let e = this.entries.get(key);
    if (e === undefined) {
      if (this.entries.size >= this.max) this.evict();
      e = { inFlight: 0, latencyMs: undefined, ttftMs: undefined, lastUsed: 0 };
      this.entries.set(key, e);
    }
    e.lastUsed = ++this.tick;
    const entry = e;
    entry.inFlight++;
    let ended = false;
    return (outcome) => {
      // A second call (e.g. from both a finally block and an abort handler) must not release a slot
      // another attempt holds, or in-flight would drift below the truth and least-busy would overload it.
      if (ended) return;
      ended = true;
      entry.inFlight--;
      // Only successes feed the EWMAs: a failure is often fast (connection refused, instant 5xx), and
      // counting it would make a broken target look like the quickest one to the latency strategy.
      if (!outcome.ok) return;
      if (isSample(outcome.latencyMs)) entry.latencyMs = this.ewma(entry.latencyMs, outcome.latencyMs);
      if (isSample(outcome.ttftMs)) entry.ttftMs = this.ewma(entry.ttftMs, outcome.ttftMs);
    };
  }

  load(key: string): TargetLoad {
    const e = this.entries.get(key);
    if (e === undefined) return { inFlight: 0, latencyMs: undefined, ttftMs: undefined };
    // A copy, so a caller cannot corrupt the live counters through the returned object.
    return { inFlight: e.inFlight, latencyMs: e.latencyMs, ttftMs: e.ttftMs };
  }

  /** The number of targets with an entry (for /health and the bound's test). */
  get size(): number {
    return this.entries.size;
  }

  /** Drops the least recently used idle entries down to 90% of the cap; busy entries stay. */
  private evict(): void {
    const idle = [...this.entries].filter(([, e]) => e.inFlight === 0);
    idle.sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    const target = Math.floor(this.max * 0.9);
    for (let k = 0; k < idle.length && this.entries.size > target; k++) this.entries.delete(idle[k]![0]);
  }

  private ewma(prev: number | undefined, sample: number): number {
    // The first sample is taken as is: seeding with 0 would make a new target look fast for its first
    // several requests and draw a burst of traffic before its real latency shows.
    return prev === undefined ? sample : prev + this.alpha * (sample - prev);
  }
}
