import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * Samples event-loop delay and memory once per interval and says whether the process is over a limit.
 * Load shedding asks it before reading a request body. Plain module, no Fastify, so it is tested alone.
 *
 * Sampling starts when the server starts listening, not when the app is built: building compiles
 * schemas and loads modules synchronously, and a histogram running through that reports the build as
 * event-loop delay (on a loaded machine, several seconds), so the first requests were shed. The first
 * sample after start is also discarded: it covers warm-up (first connections, JIT, lazy docs), not load.
 */

export type PressureKind = 'eventLoopDelay' | 'heapUsedBytes' | 'rssBytes';

export interface Pressure {
  kind: PressureKind;
  value: number;
}

export interface LoadMonitorOptions {
  /** 0 disables a check. */
  maxEventLoopDelayMs: number;
  maxHeapUsedBytes: number;
  maxRssBytes: number;
  sampleIntervalMs: number;
  /** For tests; defaults to process.memoryUsage. */
  memoryUsage?: () => { heapUsed: number; rss: number };
}

/** monitorEventLoopDelay's timer period; its own tick adds this much to every reading. */
const RESOLUTION_MS = 10;

export class LoadMonitor {
  private histogram: IntervalHistogram | undefined;
  private timer: NodeJS.Timeout | undefined;
  private samples = 0;
  private current: Pressure | undefined;
  /** The histogram's running count and sum at the previous sample; a window is the difference. */
  private seenCount = 0;
  private seenSumNs = 0;

  constructor(private readonly opts: LoadMonitorOptions) {}

  /** Begins sampling; idempotent. */
  start(): void {
    if (this.timer !== undefined) return;
    if (this.opts.maxEventLoopDelayMs > 0) {
      this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      this.histogram.enable();
    }
    this.samples = 0;
    this.current = undefined;
    this.seenCount = 0;
    this.seenSumNs = 0;
    this.timer = setInterval(() => this.sample(), this.opts.sampleIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.histogram?.disable();
    this.histogram = undefined;
    this.current = undefined;
  }

  /** What the latest sample found over a limit; undefined before the second sample after start. */
  pressure(): Pressure | undefined {
    return this.current;
  }

  /** Number of samples taken since start; for tests that wait for one. */
  sampleCount(): number {
    return this.samples;
  }

  private sample(): void {
    this.samples++;
    const found = this.measure();
    this.current = this.samples >= 2 ? found : undefined;
  }

  private measure(): Pressure | undefined {
    const { maxEventLoopDelayMs, maxHeapUsedBytes, maxRssBytes } = this.opts;
    if (this.histogram) {
      // The window's mean is the difference of running totals, never histogram.reset(): a reset that runs
      // before the histogram's own timer after a stall makes it drop that stall (measured on Node 20:
      // a 1 s block vanished in about one run in three), which is how @fastify/under-pressure samples.
      // No reading in the window is no evidence of delay: the stall is recorded when the timer runs.
      const count = this.histogram.count;
      const sumNs = count === 0 ? 0 : this.histogram.mean * count;
      const n = count - this.seenCount;
      const delay = n > 0 ? Math.max(0, (sumNs - this.seenSumNs) / n / 1e6 - RESOLUTION_MS) : 0;
      this.seenCount = count;
      this.seenSumNs = sumNs;
      if (delay > maxEventLoopDelayMs) return { kind: 'eventLoopDelay', value: delay };
    }
    if (maxHeapUsedBytes > 0 || maxRssBytes > 0) {
      const mem = (this.opts.memoryUsage ?? process.memoryUsage)();
      if (maxHeapUsedBytes > 0 && mem.heapUsed > maxHeapUsedBytes) {
        return { kind: 'heapUsedBytes', value: mem.heapUsed };
      }
      if (maxRssBytes > 0 && mem.rss > maxRssBytes) return { kind: 'rssBytes', value: mem.rss };
    }
    return undefined;
  }
}
