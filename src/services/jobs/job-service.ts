import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { BullQueue } from '../../backends/queue/bullmq-queue.js';
import { SqliteQueue } from '../../backends/queue/sqlite-queue.js';
import {
  type CloseResult,
  type EnqueueResult,
  type JobEvent,
  type JobPriority,
  type JobRecord,
  NonRetryableJobError,
  type QueueBackend,
  type QueueCounts,
  type QueueWorker,
} from '../../backends/queue/types.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { Caller } from '../../types/caller.js';
import type { JobsSpec, RedisSpec } from '../../types/config.js';
import type { JobRegistry } from './registry.js';

export interface SubmitRequest {
  type: string;
  team: string;
  /** The submitter as identify saw them; the job's pipeline runs are admitted and billed as them. */
  caller?: Caller | undefined;
  input: unknown;
  priority?: JobPriority | undefined;
  delayMs?: number | undefined;
  idempotencyKey?: string | undefined;
  webhook?: string | undefined;
}

export interface JobServiceOptions {
  spec: JobsSpec;
  redis: RedisSpec | undefined;
  registry: JobRegistry;
  log: Logger;
}

export type SettledListener = (job: JobRecord, durationMs: number | undefined) => void;

/** The longest delay a client may ask for: 30 days. */
export const MAX_DELAY_MS = 30 * 86_400_000;

/**
 * Jobs, whichever backend holds them: submission checks, team ownership, the processor that runs
 * registered handlers, and the hooks (metrics, webhooks) that fire once per finished job.
 */
export class JobService {
  readonly registry: JobRegistry;
  private queue: QueueBackend | undefined;
  private workers: QueueWorker[] = [];
  private readonly settledListeners: SettledListener[] = [];
  private readonly retryListeners: Array<(job: JobRecord) => void> = [];
  private workerTypes: readonly string[] | undefined;
  private stopping: Promise<CloseResult> | undefined;
  private bull: typeof BullQueue | undefined;
  private queueTableSeen = false;

  constructor(private readonly opts: JobServiceOptions) {
    this.registry = opts.registry;
  }

  /**
   * Loads the backend's code. BullMQ takes about a second to import, so only deployments that use it pay
   * for it; call once before serving (buildApp and the worker do).
   */
  async load(): Promise<void> {
    if (this.opts.spec.backend === 'bullmq' && !this.bull) {
      this.bull = (await import('../../backends/queue/bullmq-queue.js')).BullQueue;
    }
  }

  get spec(): JobsSpec {
    return this.opts.spec;
  }

  /** Whether a queue exists yet (the embedded one is created by the first submission). */
  get opened(): boolean {
    return this.queue !== undefined;
  }

  /**
   * The embedded queue's table exists (jobs were submitted before, by this process or another one on the
   * same file), schedules must run, or the backend is shared. The table, not the file: by default the file
   * is also the gateway's database (keys, request log), which exists from the first start, so looking at
   * the file alone made every gateway open the queue and poll it, with or without jobs.
   */
  get hasDurableState(): boolean {
    const s = this.opts.spec;
    if (s.backend === 'bullmq' || s.schedules.length > 0) return true;
    // A table never goes away, so once seen it is not looked for again.
    this.queueTableSeen ||= SqliteQueue.existsAt(s.databasePath);
    return this.queueTableSeen;
  }

  backend(): QueueBackend {
    if (!this.queue) {
      const s = this.opts.spec;
      if (s.backend === 'bullmq') {
        if (!this.opts.redis) throw new Error('jobs.backend bullmq needs redis');
        if (!this.bull) throw new Error('JobService.load() must run before the BullMQ backend is used');
        this.queue = new this.bull({
          url: this.opts.redis.url,
          prefix: this.opts.redis.keyPrefix,
          backoff: s.backoff,
          lockMs: s.lockMs,
          stalledIntervalMs: s.stalledIntervalMs,
          retentionMs: s.retentionMs,
        });
      } else {
        if (s.databasePath !== ':memory:') mkdirSync(dirname(s.databasePath), { recursive: true });
        this.queue = new SqliteQueue({
          path: s.databasePath,
          backoff: s.backoff,
          leaseMs: s.leaseMs,
          retentionMs: s.retentionMs,
        });
      }
      // The first use of an embedded queue in a gateway that runs its own worker starts that worker.
      if (this.workerTypes) this.startWorkersNow(this.workerTypes);
    }
    return this.queue;
  }

  onSettled(fn: SettledListener): void {
    this.settledListeners.push(fn);
  }

  onRetry(fn: (job: JobRecord) => void): void {
    this.retryListeners.push(fn);
  }

  async submit(req: SubmitRequest): Promise<EnqueueResult> {
    const def = this.registry.get(req.type);
    if (!def || def.public === false) {
      const known = this.registry
        .names()
        .filter((n) => this.registry.get(n)?.public !== false)
        .join(', ');
      throw new GatewayError('unknown_job_type', `unknown job type '${req.type}'; known types: ${known}`, {
        param: 'type',
      });
    }
    const size = Buffer.byteLength(JSON.stringify(req.input ?? null));
    if (size > this.opts.spec.maxInputBytes) {
      throw new GatewayError(
        'job_input_too_large',
        `input is ${size} bytes of JSON; the limit is ${this.opts.spec.maxInputBytes} (jobs.max_input_size)`,
        { param: 'input' },
      );
    }
    const bad = def.validate?.(req.input);
    if (bad) throw new GatewayError('invalid_job_input', bad, { param: 'input' });
    if (req.webhook !== undefined && !this.opts.spec.webhooks.secret) {
      throw new GatewayError(
        'webhooks_not_configured',
        'webhook needs a signing secret on the gateway (jobs.webhooks.secret)',
        { param: 'webhook' },
      );
    }
    return this.backend().enqueue({
      type: req.type,
      team: req.team,
      input: req.input ?? null,
      priority: req.priority,
      delayMs: req.delayMs,
      idempotencyKey: req.idempotencyKey,
      webhook: req.webhook,
      caller: req.caller,
      maxAttempts: this.registry.settings(req.type).maxAttempts,
    });
  }

  /**
   * Internal submissions (webhook deliveries, schedules, batch lines): any registered type, no size check,
   * and unlisted unless `listed` says otherwise: the team never sees them through the Jobs API.
   */
  enqueueInternal(req: SubmitRequest & { listed?: boolean }): Promise<EnqueueResult> {
    return this.backend().enqueue({
      ...req,
      listed: req.listed ?? false,
      maxAttempts: this.registry.settings(req.type).maxAttempts,
    });
  }

  /**
   * A job of another team, or an internal one, is reported as missing, never as forbidden: ids must not
   * leak across teams, and internal jobs are not the caller's to read or cancel.
   */
  async get(id: string, team: string): Promise<JobRecord> {
    const job = this.opened || this.hasDurableState ? await this.backend().get(id) : undefined;
    if (!job || job.team !== team || !job.listed) throw notFound(id);
    return job;
  }

  /** Admin: any job, internal ones included. */
  async getAny(id: string): Promise<JobRecord> {
    const job = this.opened || this.hasDurableState ? await this.backend().get(id) : undefined;
    if (!job) throw notFound(id);
    return job;
  }

  async list(team: string, limit: number, after?: string): Promise<JobRecord[]> {
    if (!this.opened && !this.hasDurableState) return [];
    return this.backend().list({ team, limit, after });
  }

  async cancel(id: string, team: string): Promise<JobRecord> {
    await this.get(id, team);
    const job = await this.backend().cancel(id);
    if (!job) throw notFound(id);
    return job;
  }

  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    return this.backend().subscribe(id, listener);
  }

  // ---- admin ----

  queueNames(): string[] {
    return this.registry.names();
  }

  async counts(): Promise<QueueCounts[]> {
    if (!this.opened && !this.hasDurableState) {
      return this.queueNames().map((queue) => ({
        queue,
        waiting: 0,
        active: 0,
        delayed: 0,
        completed: 0,
        failed: 0,
      }));
    }
    return this.backend().counts(this.queueNames());
  }

  deadLetters(limit: number): Promise<JobRecord[]> {
    return this.backend().deadLetters(this.queueNames(), limit);
  }

  async retryDeadLetter(id: string): Promise<JobRecord> {
    const job = await this.backend().retry(id);
    if (!job) throw new GatewayError('job_not_found', `no failed job '${id}'`, { param: 'id' });
    return job;
  }

  purgeDeadLetters(): Promise<number> {
    return this.backend().purgeDeadLetters(this.queueNames());
  }

  // ---- workers ----

  /**
   * Runs workers for `types` (default: every registered type). With `lazy`, an embedded queue that does not
   * exist yet is not created: the workers start with the first submission.
   */
  startWorkers(opts: { types?: readonly string[]; lazy?: boolean } = {}): void {
    const types = opts.types ?? this.registry.names();
    this.workerTypes = types;
    if (opts.lazy && !this.opened && !this.hasDurableState) return;
    this.backend();
    if (this.workers.length === 0) this.startWorkersNow(types);
  }

  private startWorkersNow(types: readonly string[]): void {
    if (this.workers.length > 0 || !this.queue || this.stopping) return;
    const queue = this.queue;
    if (this.opts.spec.schedules.length > 0) {
      void queue
        .setSchedules(this.opts.spec.schedules.map((s) => ({ ...s, team: 'system' })))
        .catch((err: unknown) => this.opts.log.error({ err }, 'job schedules could not be installed'));
    }
    this.workers.push(
      queue.work((job, ctx) => this.process(job, ctx), {
        types: this.registry.workOptions(types),
        onSettled: (job) => {
          const ms = job.startedAt && job.finishedAt ? job.finishedAt - job.startedAt : undefined;
          for (const l of this.settledListeners) {
            try {
              l(job, ms);
            } catch (err) {
              this.opts.log.error({ err, job_id: job.id }, 'job settled listener failed');
            }
          }
        },
        onRetry: (job, err) => {
          this.opts.log.warn(
            { job_id: job.id, type: job.type, attempt: job.attempts, err },
            'job attempt failed; retrying',
          );
          for (const l of this.retryListeners) l(job);
        },
      }),
    );
  }

  private async process(
    job: JobRecord,
    ctx: { signal: AbortSignal; attempt: number; progress(pct: number, msg?: string): Promise<void> },
  ): Promise<unknown> {
    const def = this.registry.get(job.type);
    if (!def)
      throw new NonRetryableJobError(
        `no handler for job type '${job.type}' in this process`,
        'unknown_job_type',
      );
    const log = this.opts.log.child({ job_id: job.id, job_type: job.type, attempt: ctx.attempt });
    return def.handler(job.input, {
      signal: ctx.signal,
      progress: ctx.progress,
      log,
      attempt: ctx.attempt,
      job: { id: job.id, team: job.team, type: job.type, priority: job.priority, caller: job.caller },
    });
  }

  get activeJobs(): number {
    return this.workers.reduce((n, w) => n + w.activeCount, 0);
  }

  /** Stops taking jobs, lets active ones finish until the deadline, returns the rest, closes the queue. */
  stop(timeoutMs: number): Promise<CloseResult> {
    this.stopping ??= (async () => {
      const results = await Promise.all(this.workers.map((w) => w.close({ timeoutMs })));
      await this.queue?.close();
      return { returned: results.reduce((n, r) => n + r.returned, 0) };
    })();
    return this.stopping;
  }
}

function notFound(id: string): GatewayError {
  return new GatewayError('job_not_found', `no job '${id}'`, { param: 'id' });
}
