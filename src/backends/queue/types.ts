/**
 * The job queue contract shared by the embedded SQLite queue and BullMQ. One contract test suite
 * (test/contract/queue-contract.ts) runs against both; behaviour documented here is what it checks.
 *
 * Delivery is at least once: a worker that dies or stalls past its lease has its job run again elsewhere.
 * Completion is recorded once: only the holder of the current lease (BullMQ: lock token) can finish a job,
 * so a late finisher's result is dropped and `onSettled` fires once per terminal state.
 */

import type { Caller } from '../../types/caller.js';

export const JOB_PRIORITIES = ['critical', 'standard', 'background'] as const;
export type JobPriority = (typeof JOB_PRIORITIES)[number];
/** Lower runs first; both backends order by this number. */
export const PRIORITY_RANK: Readonly<Record<JobPriority, number>> = {
  critical: 1,
  standard: 2,
  background: 3,
};

export type JobStatus = 'queued' | 'active' | 'completed' | 'failed' | 'cancelled';

export interface JobErrorInfo {
  message: string;
  /** A short machine-readable class when the handler gave one (e.g. `invalid_input`, `cancelled`). */
  code: string | null;
}

export interface JobRecord {
  id: string;
  /** The job type; also the queue name (one queue per type, so per-type concurrency and limits hold). */
  type: string;
  team: string;
  input: unknown;
  priority: JobPriority;
  status: JobStatus;
  /** 0-100. */
  progress: number;
  progressMessage: string | null;
  /** Attempts started so far (1 while the first attempt runs). */
  attempts: number;
  maxAttempts: number;
  result: unknown;
  error: JobErrorInfo | null;
  idempotencyKey: string | null;
  webhook: string | null;
  /**
   * Who submitted it, as identify saw them (key, user, tier, limits, budget): the job's pipeline runs are
   * admitted and billed as this caller. Null for jobs with no caller (schedules, older records).
   */
  caller: Caller | null;
  /** Shown to its team (GET /v1/jobs); internal jobs (webhook deliveries, batch lines) are not. */
  listed: boolean;
  /** Epoch ms. */
  createdAt: number;
  /** Not before this time (delayed jobs; retries waiting out their backoff). */
  runAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface EnqueueRequest {
  type: string;
  team: string;
  input: unknown;
  priority?: JobPriority;
  delayMs?: number;
  idempotencyKey?: string;
  maxAttempts?: number;
  webhook?: string;
  caller?: Caller | undefined;
  /** Default true. False: kept out of the team's listing (internal jobs). */
  listed?: boolean | undefined;
}

export interface EnqueueResult {
  job: JobRecord;
  /** False when the idempotency key matched an existing job, which is returned instead. */
  created: boolean;
}

export interface ProcessorContext {
  /** Aborted when the job is cancelled (reason `cancelled`) or the worker shuts down (reason `shutdown`). */
  signal: AbortSignal;
  /** Attempt number, from 1. */
  attempt: number;
  progress(pct: number, message?: string): Promise<void>;
}

export type JobProcessor = (job: JobRecord, ctx: ProcessorContext) => Promise<unknown>;

export interface QueueTypeOptions {
  concurrency: number;
  /** At most `max` job starts per `durationMs`, per worker process. */
  rateLimit?: { max: number; durationMs: number } | undefined;
}

export interface WorkOptions {
  /** The types (queues) this worker takes, with their concurrency and rate limit. */
  types: Readonly<Record<string, QueueTypeOptions>>;
  /** Called once when this worker recorded a terminal state (completed, failed for good, cancelled). */
  onSettled?: (job: JobRecord) => void;
  /** Called when a handler failed an attempt that will be retried. */
  onRetry?: (job: JobRecord, err: unknown) => void;
}

export interface CloseResult {
  /** Jobs that were still running at the deadline and went back to the queue. */
  returned: number;
}

export interface QueueWorker {
  /** Jobs this worker is running now. */
  readonly activeCount: number;
  /** Stops taking jobs, lets active ones run until `timeoutMs`, then aborts the rest and returns them. */
  close(opts?: { timeoutMs?: number }): Promise<CloseResult>;
}

export type JobEvent =
  | { kind: 'progress'; id: string; progress: number; message: string | null }
  | { kind: 'status'; id: string; status: JobStatus };

export interface QueueCounts {
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export interface ListQuery {
  team: string;
  limit: number;
  /** Jobs created strictly before this job (cursor), newest first. */
  after?: string | undefined;
}

export interface Schedule {
  /** Unique per deployment; one run per tick across every process. */
  name: string;
  cron: string;
  type: string;
  input: unknown;
  team: string;
  tz?: string | undefined;
}

export interface BackoffSpec {
  baseMs: number;
  maxMs: number;
}

export interface QueueBackend {
  readonly kind: 'sqlite' | 'bullmq';
  enqueue(req: EnqueueRequest): Promise<EnqueueResult>;
  get(id: string): Promise<JobRecord | undefined>;
  /** The team's listed jobs, newest first; unlisted (internal) jobs never appear. */
  list(q: ListQuery): Promise<JobRecord[]>;
  /** Queued: never starts. Active: its signal aborts; the job ends `cancelled`. Terminal: unchanged. */
  cancel(id: string): Promise<JobRecord | undefined>;
  /** A failed (dead-letter) job goes back to the queue with its attempts reset. */
  retry(id: string): Promise<JobRecord | undefined>;
  deadLetters(queues: readonly string[], limit: number): Promise<JobRecord[]>;
  purgeDeadLetters(queues: readonly string[]): Promise<number>;
  counts(queues: readonly string[]): Promise<QueueCounts[]>;
  /** Progress and status changes of one job, wherever it runs. Returns the unsubscribe. */
  subscribe(id: string, listener: (e: JobEvent) => void): () => void;
  work(processor: JobProcessor, opts: WorkOptions): QueueWorker;
  /** Replaces the repeating jobs this deployment runs (cron). Runs them while a worker or the gateway lives. */
  setSchedules(schedules: readonly Schedule[]): Promise<void>;
  close(): Promise<void>;
}

/** A failure that retrying cannot fix (bad input, a 4xx from upstream): the job fails at once. */
export class NonRetryableJobError extends Error {
  override name = 'NonRetryableJobError';
  constructor(
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

export function isNonRetryable(err: unknown): boolean {
  if (err instanceof NonRetryableJobError) return true;
  return typeof err === 'object' && err !== null && (err as { retryable?: unknown }).retryable === false;
}

export function errorInfo(err: unknown): JobErrorInfo {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      message: err.message.slice(0, 2000),
      code: typeof code === 'string' ? code.slice(0, 100) : null,
    };
  }
  return { message: String(err).slice(0, 2000), code: null };
}

/**
 * Exponential backoff with equal jitter: half of the capped exponential delay is fixed, half random, so
 * retries of many jobs failing together spread out but never retry immediately. `retry` is 0 for the first.
 */
export function jobBackoffMs(retry: number, spec: BackoffSpec, rng: () => number = Math.random): number {
  const cap = Math.min(spec.maxMs, spec.baseMs * 2 ** Math.min(retry, 30));
  const r = rng();
  // A misbehaving RNG (NaN, out of range) must not produce a NaN or over-cap delay.
  const u = r > 0 ? Math.min(r, 1) : 0;
  return Math.round(cap / 2 + (u * cap) / 2);
}

/** Reason strings on the abort signal. */
export const ABORT_CANCELLED = 'cancelled';
export const ABORT_SHUTDOWN = 'shutdown';
