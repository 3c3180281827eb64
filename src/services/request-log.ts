import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { EventBus } from '../core/event-bus.js';
import type { RequestRow, Store } from '../db/store.js';
import type { RequestLogSpec } from '../types/config.js';
import type { RequestRecord } from '../types/events.js';
import type { Pricing } from './pricing.js';

interface Log {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const MAX_BACKOFF_MS = 5_000;
const RETENTION_EVERY_MS = 3_600_000;

/**
 * The request log's write path. `push` is O(1) and never waits on the database; a timer drains the
 * bounded buffer in transactions of at most `batchSize` rows, yielding to the event loop between batches.
 * While the database is down, rows wait (retried with backoff); past `bufferSize`, new rows are dropped
 * and counted, and requests carry on.
 */
export class RequestLogWriter {
  private buffer: RequestRow[] = [];
  /** Rows taken out of the buffer for the write in progress; they still count toward the bound. */
  private writing = 0;
  private timer: NodeJS.Timeout | undefined;
  private retention: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  private closed = false;
  /** Rows written, dropped (buffer full or shutdown deadline), and failed write attempts. */
  readonly stats = { written: 0, dropped: 0, writeErrors: 0 };

  constructor(
    private readonly store: Store,
    private readonly spec: RequestLogSpec,
    private readonly log: Log,
  ) {
    if (spec.retentionMs > 0) {
      // Deferred: startup stays fast, and one delete per hour is enough for a retention measured in days.
      const sweep = () => void this.sweep();
      setTimeout(sweep, 10_000).unref();
      this.retention = setInterval(sweep, RETENTION_EVERY_MS);
      this.retention.unref();
    }
  }

  get buffered(): number {
    return this.buffer.length + this.writing;
  }

  push(row: RequestRow): void {
    if (this.closed || this.buffer.length + this.writing >= this.spec.bufferSize) {
      this.stats.dropped += 1;
      return;
    }
    this.buffer.push(row);
    if (this.failures > 0) return; // a retry is already scheduled
    if (this.buffer.length >= this.spec.batchSize) this.schedule(0);
    else this.schedule(this.spec.flushIntervalMs);
  }

  private schedule(delayMs: number): void {
    if (this.flushing) return;
    if (this.timer) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
    this.timer.unref();
  }

  /** Writes everything buffered now (in batches). Resolves when the buffer is empty or a write failed. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
      if (this.buffer.length > 0 && !this.closed) {
        this.schedule(this.failures > 0 ? this.backoffMs() : this.spec.flushIntervalMs);
      }
    });
    return this.flushing;
  }

  private backoffMs(): number {
    return Math.min(this.spec.flushIntervalMs * 2 ** Math.min(this.failures, 10), MAX_BACKOFF_MS);
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.spec.batchSize);
      this.writing = batch.length;
      try {
        await this.store.insertRequests(batch);
        this.writing = 0;
        this.stats.written += batch.length;
        if (this.failures > 0) {
          this.log.warn({ buffered: this.buffer.length }, 'request log: database writes recovered');
        }
        this.failures = 0;
      } catch (err) {
        // Back to the front, in order; the next attempt retries the same rows (inserts are idempotent).
        this.writing = 0;
        this.buffer.unshift(...batch);
        this.stats.writeErrors += 1;
        if (this.failures === 0) {
          this.log.error(
            { err, buffered: this.buffer.length },
            'request log: database write failed; buffering',
          );
        }
        this.failures += 1;
        return;
      }
      // Between batches, let requests run: a backlog never becomes one long block.
      if (this.buffer.length > 0) await yieldToLoop();
    }
  }

  private async sweep(): Promise<void> {
    try {
      await this.store.deleteRequestsBefore(Date.now() - this.spec.retentionMs);
    } catch (err) {
      this.log.warn({ err }, 'request log: retention sweep failed');
    }
  }

  /** Stops timers and writes what is buffered, for at most `deadlineMs`; the rest is dropped and counted. */
  async close(deadlineMs = 5_000): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retention) clearInterval(this.retention);
    const deadline = Date.now() + deadlineMs;
    while (this.buffer.length > 0 && Date.now() < deadline) {
      const before = this.buffer.length;
      await this.flush();
      if (this.buffer.length >= before) {
        await new Promise((r) => setTimeout(r, Math.min(200, Math.max(0, deadline - Date.now()))));
      }
    }
    if (this.flushing) await this.flushing;
    this.stats.dropped += this.buffer.length;
    this.buffer = [];
  }
}

/** This process's part of every row id, so ids from several instances never collide. */
const PROCESS_TAG = randomBytes(6).toString('hex');
let sequence = 0;

/**
 * Row ids that sort by time: new rows append at the end of the primary-key index instead of landing at
 * random pages (a random UUID costs SQLite about a third more per insert), and are unique without a
 * random draw per request: arrival time, this process's tag, a counter.
 */
export function rowId(receivedAt: number): string {
  sequence = (sequence + 1) % 0x100000000;
  return `${receivedAt.toString(36).padStart(9, '0')}${PROCESS_TAG}${sequence.toString(36).padStart(7, '0')}`;
}

/** One request-log row from the settle stage's record, costed from its actual (or estimated) usage. */
export function requestRow(r: RequestRecord, pricing: Pricing): RequestRow {
  const prompt = r.usage?.prompt_tokens ?? 0;
  const completion = r.usage?.completion_tokens ?? 0;
  const cost = pricing.cost(r.upstreamModel || r.model, prompt, completion);
  return {
    id: rowId(r.receivedAt),
    requestId: r.requestId,
    createdAt: r.receivedAt,
    teamId: r.team,
    keyId: r.keyId ?? null,
    userId: r.user ?? null,
    operation: r.operation,
    model: r.model ?? null,
    provider: r.provider ?? null,
    upstreamModel: r.upstreamModel ?? null,
    status: r.status,
    errorClass: r.errorCode ?? null,
    stream: r.stream,
    latencyMs: r.totalMs,
    ttftMs: r.firstTokenMs ?? null,
    promptTokens: prompt,
    completionTokens: completion,
    costMicroUsd: cost.microUsd,
    usageEstimated: r.usageEstimated,
    attempts: r.attempts,
    cacheStatus: r.cache ?? null,
  };
}

/** The request log as a listener of settle: the event bus calls it after the request's own tick. */
export function subscribeRequestLog(
  events: EventBus,
  writer: RequestLogWriter,
  pricing: Pricing,
): () => void {
  return events.on('ai.request.settled', (r) => writer.push(requestRow(r, pricing)));
}
