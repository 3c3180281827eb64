import { createHash } from 'node:crypto';
import { type Job, Queue, QueueEvents, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { randomHex } from '../../core/ids.js';
import type { Caller } from '../../types/caller.js';
import {
  ABORT_CANCELLED,
  ABORT_SHUTDOWN,
  type BackoffSpec,
  type CloseResult,
  type EnqueueRequest,
  type EnqueueResult,
  errorInfo,
  isNonRetryable,
  JOB_PRIORITIES,
  type JobErrorInfo,
  type JobEvent,
  type JobProcessor,
  type JobRecord,
  type JobStatus,
  jobBackoffMs,
  type ListQuery,
  PRIORITY_RANK,
  type QueueBackend,
  type QueueCounts,
  type QueueWorker,
  type Schedule,
  type WorkOptions,
} from './types.js';

/**
 * BullMQ on Redis, for the scaled mode: `switchyard worker` processes take jobs from one queue per type.
 *
 * BullMQ keeps the job (data, progress, return value, failure, attempts, timestamps); a few keys of ours
 * add what it lacks: id -> type (to find a job's queue), a per-team index for listing, idempotency keys and
 * cancellation markers. Cancellation reaches a worker in another process over pub/sub, then
 * `Worker.cancelJob` aborts the handler's signal.
 *
 * Locks: 5 s (renewed every 2.5 s) and a 1 s stalled check, so a job whose worker was killed runs again
 * within seconds instead of BullMQ's default minute. Only the lock holder can complete a job, so a result
 * is recorded once even when a stalled job ran twice.
 */

interface JobData {
  team: string;
  input: unknown;
  webhook: string | null;
  idem: string | null;
  caller?: Caller | null;
  /** Absent on older jobs: listed. */
  unlisted?: boolean;
}

interface StoredProgress {
  pct: number;
  msg: string | null;
}

const CANCELLED_RESULT = '__switchyard_cancelled__';
const TEAM_INDEX_MAX = 10_000;

export interface BullQueueOptions {
  url: string;
  /** Prefix for BullMQ's keys and ours, e.g. `switchyard:`; each test run uses its own. */
  prefix: string;
  backoff: BackoffSpec;
  lockMs?: number;
  stalledIntervalMs?: number;
  /** Finished jobs (and idempotency keys) are kept this long (default 7 days). */
  retentionMs?: number;
}

function encodeError(info: JobErrorInfo): string {
  return JSON.stringify(info);
}

function decodeError(reason: string | undefined): JobErrorInfo | null {
  if (!reason) return null;
  try {
    const v = JSON.parse(reason) as JobErrorInfo;
    if (typeof v === 'object' && v && typeof v.message === 'string')
      return { message: v.message, code: v.code ?? null };
  } catch {
    // BullMQ's own reasons (e.g. a job stalled too often) are plain text.
  }
  return { message: reason, code: null };
}

function mapState(state: string): JobStatus {
  switch (state) {
    case 'active':
      return 'active';
    case 'completed':
      return 'completed';
    case 'failed':
      return 'failed';
    default:
      return 'queued';
  }
}

export class BullQueue implements QueueBackend {
  readonly kind = 'bullmq' as const;
  private readonly redis: Redis;
  private sub: Redis | undefined;
  private readonly queues = new Map<string, Queue>();
  private readonly queueEvents = new Map<string, QueueEvents>();
  private readonly listeners = new Map<string, Set<(e: JobEvent) => void>>();
  private lastListScore = 0;
  private readonly workers = new Set<BullWorker>();
  private readonly k: { idx: string; cancelChannel: string; bull: string };
  private readonly retentionMs: number;
  private scheduledTypes = new Set<string>();
  private closed = false;

  constructor(readonly opts: BullQueueOptions) {
    // BullMQ blocks on its connections (BZPOPMIN), so commands must wait for a reconnect, not fail.
    this.redis = new Redis(opts.url, { maxRetriesPerRequest: null, connectionName: `${opts.prefix}jobs` });
    this.retentionMs = opts.retentionMs ?? 7 * 86_400_000;
    this.k = {
      idx: `${opts.prefix}sy:jobidx`,
      cancelChannel: `${opts.prefix}sy:cancel`,
      bull: `${opts.prefix}bull`,
    };
  }

  private key(...parts: string[]): string {
    return `${this.opts.prefix}sy:${parts.join(':')}`;
  }

  /** @internal */
  queue(type: string): Queue {
    let q = this.queues.get(type);
    if (!q) {
      q = new Queue(type, { connection: this.redis, prefix: this.k.bull });
      this.queues.set(type, q);
    }
    return q;
  }

  /** @internal The subscriber connection for cancellations (workers and watchers share it). */
  cancelSubscriber(): Redis {
    if (!this.sub) {
      this.sub = new Redis(this.opts.url, {
        maxRetriesPerRequest: null,
        connectionName: `${this.opts.prefix}jobs-sub`,
      });
      this.sub.on('error', () => {
        // Reconnects on its own; a cancel missed while down still ends the job via its marker.
      });
      void this.sub.subscribe(this.k.cancelChannel);
      this.sub.on('message', (_channel, id: string) => {
        for (const w of this.workers) w.cancelLocal(id);
        this.dispatch({ kind: 'status', id, status: 'cancelled' });
      });
    }
    return this.sub;
  }

  async enqueue(req: EnqueueRequest): Promise<EnqueueResult> {
    const now = Date.now();
    let id = `job_${randomHex(24)}`;
    let created = true;
    if (req.idempotencyKey !== undefined) {
      // The id is derived from the key, so BullMQ itself ignores a second add of the same job.
      id = `job_${createHash('sha256').update(`${req.team}\0${req.idempotencyKey}`).digest('hex').slice(0, 48)}`;
      const won = await this.redis.set(this.key('idem', id), '1', 'PX', this.retentionMs, 'NX');
      created = won === 'OK';
      if (!created) {
        const existing = await this.get(id);
        if (existing) return { job: existing, created: false };
        // The winner has not added it yet (or it expired): adding the same id again is harmless.
      }
    }
    const teamKey = this.key('team', req.team);
    // Scores are microsecond-ish and strictly increasing within this process, so jobs enqueued in the same
    // millisecond still list newest first (equal scores would fall back to comparing random ids).
    this.lastListScore = Math.max(now * 1000, this.lastListScore + 1);
    const listed = req.listed !== false;
    const m = this.redis.multi().hset(this.k.idx, id, req.type);
    // Internal jobs stay out of the team's index: listing never sees them.
    if (listed) m.zadd(teamKey, this.lastListScore, id).zremrangebyrank(teamKey, 0, -TEAM_INDEX_MAX - 1);
    await m.exec();
    const data: JobData = {
      team: req.team,
      input: req.input ?? null,
      webhook: req.webhook ?? null,
      idem: req.idempotencyKey ?? null,
      caller: req.caller ?? null,
      ...(listed ? {} : { unlisted: true }),
    };
    const retentionSec = Math.ceil(this.retentionMs / 1000);
    const job = await this.queue(req.type).add(req.type, data, {
      jobId: id,
      timestamp: now,
      priority: PRIORITY_RANK[req.priority ?? 'standard'],
      ...(req.delayMs ? { delay: req.delayMs } : {}),
      attempts: req.maxAttempts ?? 3,
      backoff: { type: 'switchyard' },
      removeOnComplete: { age: retentionSec },
      removeOnFail: { age: retentionSec },
    });
    const rec = created ? this.toRecord(job, req.delayMs ? 'delayed' : 'waiting', false) : await this.get(id);
    if (!rec) throw new Error(`job ${id} vanished after enqueue`);
    return { job: rec, created };
  }

  private toRecord(job: Job, state: string, cancelled: boolean): JobRecord {
    const data = job.data as JobData;
    const p = job.progress as StoredProgress | number | undefined;
    const progress = typeof p === 'number' ? p : (p?.pct ?? 0);
    const status: JobStatus = cancelled ? 'cancelled' : mapState(state);
    const rank = job.opts.priority ?? 2;
    return {
      id: job.id as string,
      type: job.name,
      team: data.team,
      input: data.input,
      priority: JOB_PRIORITIES[rank - 1] ?? 'standard',
      status,
      progress: status === 'completed' ? 100 : progress,
      progressMessage: typeof p === 'object' && p ? p.msg : null,
      attempts: job.attemptsStarted ?? job.attemptsMade,
      maxAttempts: job.opts.attempts ?? 1,
      result: status === 'completed' ? (job.returnvalue ?? null) : null,
      error: cancelled
        ? { message: 'cancelled', code: 'cancelled' }
        : state === 'failed' || job.failedReason
          ? decodeError(job.failedReason)
          : null,
      idempotencyKey: data.idem,
      webhook: data.webhook,
      caller: data.caller ?? null,
      listed: data.unlisted !== true,
      createdAt: job.timestamp,
      runAt: job.timestamp + (job.opts.delay ?? 0),
      startedAt: job.processedOn ?? null,
      finishedAt: job.finishedOn ?? null,
    };
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const [[, type], [, marker]] = (await this.redis
      .pipeline()
      .hget(this.k.idx, id)
      .get(this.key('cancel', id))
      .exec()) as [[unknown, string | null], [unknown, string | null]];
    if (!type) return undefined;
    let job = await this.queue(type).getJob(id);
    if (!job) return marker && marker !== '1' ? (JSON.parse(marker) as JobRecord) : undefined;
    const state = await job.getState();
    // The job finished between the two reads: read it again so the result and the state agree.
    if ((state === 'completed' || state === 'failed') && !job.finishedOn) {
      job = (await this.queue(type).getJob(id)) ?? job;
    }
    // A cancel that arrived after the job finished does not rewrite its outcome.
    const cancelled =
      job.returnvalue === CANCELLED_RESULT ||
      (marker !== null && state !== 'completed' && state !== 'failed');
    return this.toRecord(job, state, cancelled);
  }

  async list(q: ListQuery): Promise<JobRecord[]> {
    const teamKey = this.key('team', q.team);
    let start = 0;
    if (q.after) {
      const rank = await this.redis.zrevrank(teamKey, q.after);
      if (rank === null) return [];
      start = rank + 1;
    }
    const ids = await this.redis.zrevrange(teamKey, start, start + q.limit - 1);
    const recs = await Promise.all(ids.map((id) => this.get(id)));
    return recs.filter((r): r is JobRecord => r !== undefined);
  }

  async cancel(id: string): Promise<JobRecord | undefined> {
    const rec = await this.get(id);
    if (!rec || rec.status === 'completed' || rec.status === 'failed' || rec.status === 'cancelled')
      return rec;
    const cancelled: JobRecord = {
      ...rec,
      status: 'cancelled',
      finishedAt: Date.now(),
      error: { message: 'cancelled', code: 'cancelled' },
    };
    await this.redis.set(this.key('cancel', id), JSON.stringify(cancelled), 'PX', this.retentionMs);
    if (rec.status === 'queued') {
      try {
        // Removal fails when a worker holds the job's lock; then it is active and gets the signal below.
        const job = await this.queue(rec.type).getJob(id);
        await job?.remove();
        this.dispatch({ kind: 'status', id, status: 'cancelled' });
        return cancelled;
      } catch {
        // Taken by a worker meanwhile.
      }
    }
    await this.redis.publish(this.k.cancelChannel, id);
    return cancelled;
  }

  async retry(id: string): Promise<JobRecord | undefined> {
    const type = await this.redis.hget(this.k.idx, id);
    if (!type) return undefined;
    const job = await this.queue(type).getJob(id);
    if (!job || (await job.getState()) !== 'failed') return undefined;
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    this.dispatch({ kind: 'status', id, status: 'queued' });
    return this.get(id);
  }

  async deadLetters(queues: readonly string[], limit: number): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    for (const type of queues) {
      const jobs = await this.queue(type).getFailed(0, limit - 1);
      for (const j of jobs) out.push(this.toRecord(j as Job, 'failed', false));
    }
    out.sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0));
    return out.slice(0, limit);
  }

  async purgeDeadLetters(queues: readonly string[]): Promise<number> {
    let n = 0;
    for (const type of queues) n += (await this.queue(type).clean(0, 100_000, 'failed')).length;
    return n;
  }

  async counts(queues: readonly string[]): Promise<QueueCounts[]> {
    return Promise.all(
      queues.map(async (queue) => {
        const c = await this.queue(queue).getJobCounts(
          'waiting',
          'prioritized',
          'active',
          'delayed',
          'completed',
          'failed',
        );
        return {
          queue,
          waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
          active: c.active ?? 0,
          delayed: c.delayed ?? 0,
          completed: c.completed ?? 0,
          failed: c.failed ?? 0,
        };
      }),
    );
  }

  private dispatch(e: JobEvent): void {
    const set = this.listeners.get(e.id);
    if (set) for (const l of set) l(e);
  }

  private watchQueue(type: string): void {
    if (this.queueEvents.has(type) || this.closed) return;
    const qe = new QueueEvents(type, {
      connection: { ...redisOptionsFromUrl(this.opts.url), maxRetriesPerRequest: null },
      prefix: this.k.bull,
    });
    qe.on('error', () => {
      // Reconnects by itself; watchers also poll.
    });
    qe.on('progress', ({ jobId, data }) => {
      const p = data as StoredProgress | number;
      this.dispatch({
        kind: 'progress',
        id: jobId,
        progress: typeof p === 'number' ? p : p.pct,
        message: typeof p === 'number' ? null : p.msg,
      });
    });
    qe.on('active', ({ jobId }) => this.dispatch({ kind: 'status', id: jobId, status: 'active' }));
    qe.on('waiting', ({ jobId }) => this.dispatch({ kind: 'status', id: jobId, status: 'queued' }));
    qe.on('delayed', ({ jobId }) => this.dispatch({ kind: 'status', id: jobId, status: 'queued' }));
    qe.on('completed', ({ jobId, returnvalue }) => {
      const cancelled = (returnvalue as unknown) === CANCELLED_RESULT;
      this.dispatch({ kind: 'status', id: jobId, status: cancelled ? 'cancelled' : 'completed' });
    });
    qe.on('failed', ({ jobId, prev }) => {
      // A failed attempt that will retry shows as `delayed`/`waiting` next; `failed` is the last one.
      void prev;
      void this.get(jobId).then((r) => {
        if (r && r.status !== 'active') this.dispatch({ kind: 'status', id: jobId, status: r.status });
      });
    });
    this.queueEvents.set(type, qe);
  }

  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(listener);
    this.cancelSubscriber();
    void this.redis.hget(this.k.idx, id).then((type) => {
      if (type) this.watchQueue(type);
    });
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(id);
    };
  }

  work(processor: JobProcessor, opts: WorkOptions): QueueWorker {
    this.cancelSubscriber();
    const w = new BullWorker(this, processor, opts, () => this.workers.delete(w));
    this.workers.add(w);
    return w;
  }

  /** @internal */
  isCancelled(id: string): Promise<boolean> {
    return this.redis.exists(this.key('cancel', id)).then((n) => n > 0);
  }

  /** @internal */
  get settings() {
    return {
      url: this.opts.url,
      prefix: this.k.bull,
      backoff: this.opts.backoff,
      lockMs: this.opts.lockMs ?? 5_000,
      stalledIntervalMs: this.opts.stalledIntervalMs ?? 1_000,
    };
  }

  async setSchedules(schedules: readonly Schedule[]): Promise<void> {
    const wanted = new Set(schedules.map((s) => s.name));
    for (const type of new Set([...this.scheduledTypes, ...schedules.map((s) => s.type)])) {
      for (const existing of await this.queue(type).getJobSchedulers()) {
        if (existing.key && !wanted.has(existing.key))
          await this.queue(type).removeJobScheduler(existing.key);
      }
    }
    for (const s of schedules) {
      this.scheduledTypes.add(s.type);
      const data: JobData = {
        team: s.team,
        input: s.input ?? null,
        webhook: null,
        idem: null,
        unlisted: true,
      };
      await this.queue(s.type).upsertJobScheduler(
        s.name,
        { pattern: s.cron, ...(s.tz ? { tz: s.tz } : {}) },
        {
          name: s.type,
          data,
          opts: {
            priority: PRIORITY_RANK.background,
            attempts: 3,
            backoff: { type: 'switchyard' },
            removeOnComplete: { age: Math.ceil(this.retentionMs / 1000) },
            removeOnFail: { age: Math.ceil(this.retentionMs / 1000) },
          },
        },
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.workers].map((w) => w.close({ timeoutMs: 0 })));
    await Promise.all([...this.queueEvents.values()].map((qe) => qe.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.sub?.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** @internal */
  recordOf(job: Job, state: string, cancelled: boolean): JobRecord {
    return this.toRecord(job, state, cancelled);
  }
}

/** ioredis options for BullMQ connections it creates itself (QueueEvents, Worker blocking clients). */
function redisOptionsFromUrl(url: string): {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
} {
  const u = new URL(url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
  };
}

class BullWorker implements QueueWorker {
  private readonly workers: Worker[] = [];
  private readonly active = new Map<string, Worker>();
  private closing: Promise<CloseResult> | undefined;

  constructor(
    private readonly q: BullQueue,
    private readonly processor: JobProcessor,
    private readonly opts: WorkOptions,
    private readonly onClosed: () => void,
  ) {
    const s = q.settings;
    for (const [type, t] of Object.entries(opts.types)) {
      const worker: Worker = new Worker(
        type,
        (job, token, signal) => this.process(worker, job, token, signal),
        {
          connection: { ...redisOptionsFromUrl(s.url), maxRetriesPerRequest: null },
          prefix: s.prefix,
          concurrency: t.concurrency,
          ...(t.rateLimit ? { limiter: { max: t.rateLimit.max, duration: t.rateLimit.durationMs } } : {}),
          lockDuration: s.lockMs,
          stalledInterval: s.stalledIntervalMs,
          // A kill -9 is one stall; a second is tolerated too (a deploy restarting workers in a row).
          maxStalledCount: 2,
          settings: { backoffStrategy: (attemptsMade: number) => jobBackoffMs(attemptsMade - 1, s.backoff) },
        },
      );
      worker.on('error', () => {
        // Connection errors: BullMQ reconnects; an unhandled 'error' event would crash the process.
      });
      worker.on('completed', (job, result) => {
        const cancelled = result === CANCELLED_RESULT;
        this.opts.onSettled?.(this.q.recordOf(job, 'completed', cancelled));
      });
      worker.on('failed', (job, err) => {
        if (!job) return;
        const final =
          err instanceof UnrecoverableError ||
          err.name === 'UnrecoverableError' ||
          job.attemptsMade >= (job.opts.attempts ?? 1);
        if (final) this.opts.onSettled?.(this.q.recordOf(job, 'failed', false));
        else this.opts.onRetry?.(this.q.recordOf(job, 'delayed', false), err);
      });
      this.workers.push(worker);
    }
  }

  get activeCount(): number {
    return this.active.size;
  }

  cancelLocal(id: string): void {
    this.active.get(id)?.cancelJob(id, ABORT_CANCELLED);
  }

  private async process(
    worker: Worker,
    job: Job,
    token: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const id = job.id as string;
    // Cancelled while queued, in the instant before removal could win: it never starts.
    if (await this.q.isCancelled(id)) return CANCELLED_RESULT;
    const ctrl = signal ?? new AbortController().signal;
    this.active.set(id, worker);
    try {
      const result = await this.processor(this.q.recordOf(job, 'active', false), {
        signal: ctrl,
        attempt: job.attemptsStarted ?? job.attemptsMade + 1,
        progress: async (pct, message) => {
          if (ctrl.aborted) return;
          const p: StoredProgress = {
            pct: Number.isFinite(pct) ? Math.max(0, Math.min(100, Math.round(pct))) : 0,
            msg: message?.slice(0, 500) ?? null,
          };
          await job.updateProgress(p);
        },
      });
      if (ctrl.aborted) return this.aborted(job, token, ctrl);
      return result ?? null;
    } catch (err) {
      if (ctrl.aborted) return this.aborted(job, token, ctrl);
      const info = encodeError(errorInfo(err));
      if (isNonRetryable(err)) throw new UnrecoverableError(info);
      throw new Error(info);
    } finally {
      this.active.delete(id);
    }
  }

  private async aborted(job: Job, token: string | undefined, signal: AbortSignal): Promise<unknown> {
    if (signal.reason === ABORT_SHUTDOWN) {
      // Back to the queue without counting a failure; WaitingError tells BullMQ we moved it ourselves.
      await job.moveToWait(token);
      throw new WaitingError();
    }
    return CANCELLED_RESULT;
  }

  close(opts: { timeoutMs?: number } = {}): Promise<CloseResult> {
    this.closing ??= (async () => {
      const closing = Promise.all(this.workers.map((w) => w.close()));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), opts.timeoutMs ?? 30_000);
      });
      const first = await Promise.race([closing.then(() => 'done' as const), deadline]);
      clearTimeout(timer);
      let returned = 0;
      if (first === 'timeout') {
        returned = this.active.size;
        for (const w of this.workers) w.cancelAllJobs(ABORT_SHUTDOWN);
        await closing;
      }
      this.onClosed();
      return { returned };
    })();
    return this.closing;
  }
}
