import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { nextCronRun } from '../../core/cron.js';
import { randomHex } from '../../core/ids.js';
import { openSqlite } from '../../db/sqlite.js';
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
  type JobEvent,
  type JobPriority,
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
 * The embedded durable queue: one table in the embedded SQLite database, claimed with leases.
 *
 * - A claim is one `UPDATE … WHERE seq IN (SELECT … LIMIT n) RETURNING *`: atomic across processes
 *   (SQLite has one writer), no read-then-write race, one short transaction per batch.
 * - A claim holds a lease (`lease_until`) renewed by a heartbeat. A lease that runs out (the worker died or
 *   its loop was blocked) puts the job back in the queue; the old holder's late finish no longer matches
 *   `lease_token` and is dropped, so a result is recorded once.
 * - One connection, prepared statements, WAL with synchronous=NORMAL: every statement is short, so the
 *   loop is never held for long; a busy timeout covers another process writing the same file.
 */

const LOCAL_POLL_MS = 1_000;
const SCHEDULE_TICK_MS = 1_000;
const RETENTION_SWEEP_MS = 60_000;

export interface SqliteQueueOptions {
  /** The database file (the embedded database's); `:memory:` works for a single process. */
  path: string;
  backoff: BackoffSpec;
  /** How long a claim holds without a heartbeat (default 10 s); the heartbeat renews at a third of it. */
  leaseMs?: number;
  /** Idle poll interval for new jobs from other processes (default 200 ms); same-process enqueues wake at once. */
  pollMs?: number;
  /** Finished jobs older than this are deleted (default 7 days). */
  retentionMs?: number;
}

interface Row {
  seq: number;
  id: string;
  type: string;
  team: string;
  input: string;
  priority: number;
  state: JobStatus;
  progress: number;
  progress_message: string | null;
  attempts: number;
  max_attempts: number;
  result: string | null;
  error: string | null;
  idem_key: string | null;
  webhook: string | null;
  created_at: number;
  run_at: number;
  started_at: number | null;
  finished_at: number | null;
  lease_token: string | null;
  lease_until: number | null;
  cancel_requested: number;
  caller: string | null;
  listed: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sy_jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  team TEXT NOT NULL,
  input TEXT NOT NULL,
  priority INTEGER NOT NULL,
  state TEXT NOT NULL,
  progress INTEGER NOT NULL DEFAULT 0,
  progress_message TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  result TEXT,
  error TEXT,
  idem_key TEXT,
  webhook TEXT,
  created_at INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  lease_token TEXT,
  lease_until INTEGER,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  caller TEXT,
  listed INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS sy_jobs_claim ON sy_jobs (type, priority, run_at, seq) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS sy_jobs_lease ON sy_jobs (lease_until) WHERE state = 'active';
CREATE INDEX IF NOT EXISTS sy_jobs_team ON sy_jobs (team, seq);
CREATE INDEX IF NOT EXISTS sy_jobs_type_state ON sy_jobs (type, state);
CREATE INDEX IF NOT EXISTS sy_jobs_finished ON sy_jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS sy_jobs_idem ON sy_jobs (team, idem_key) WHERE idem_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS sy_job_schedules (
  name TEXT PRIMARY KEY,
  cron TEXT NOT NULL,
  next_run_at INTEGER NOT NULL
);
`;

function priorityName(rank: number): JobPriority {
  return JOB_PRIORITIES[rank - 1] ?? 'standard';
}

function parseJson(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

function toRecord(r: Row): JobRecord {
  return {
    id: r.id,
    type: r.type,
    team: r.team,
    input: parseJson(r.input),
    priority: priorityName(r.priority),
    status: r.state,
    progress: r.progress,
    progressMessage: r.progress_message,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    result: parseJson(r.result),
    error: parseJson(r.error) as JobRecord['error'],
    idempotencyKey: r.idem_key,
    webhook: r.webhook,
    caller: parseJson(r.caller) as JobRecord['caller'],
    listed: r.listed !== 0,
    createdAt: r.created_at,
    runAt: r.run_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export class SqliteQueue implements QueueBackend {
  readonly kind = 'sqlite' as const;

  /**
   * Whether a queue was ever created in the file at `path`, without creating one (nor the file). When the
   * file cannot be read, says yes, so the caller opens the queue and meets the error there.
   */
  static existsAt(path: string): boolean {
    if (path === ':memory:' || !existsSync(path)) return false;
    try {
      const db = openSqlite(path, { fileMustExist: true, timeout: 5000 });
      try {
        return (
          db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sy_jobs'").get() !==
          undefined
        );
      } finally {
        db.close();
      }
    } catch {
      return true;
    }
  }

  private readonly db: Database.Database;
  private readonly events = new EventEmitter();
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly retentionMs: number;
  private readonly workers = new Set<SqliteWorker>();
  private scheduleTimer: NodeJS.Timeout | undefined;
  private schedules: Schedule[] = [];
  private lastRetentionSweep = 0;
  private closed = false;
  private readonly st;

  constructor(private readonly opts: SqliteQueueOptions) {
    this.leaseMs = opts.leaseMs ?? 10_000;
    this.pollMs = opts.pollMs ?? 200;
    this.retentionMs = opts.retentionMs ?? 7 * 86_400_000;
    this.db = openSqlite(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // Files created before jobs carried their caller and visibility get the columns here.
    const cols = new Set(
      (this.db.pragma('table_info(sy_jobs)') as Array<{ name: string }>).map((c) => c.name),
    );
    if (!cols.has('caller')) this.db.exec('ALTER TABLE sy_jobs ADD COLUMN caller TEXT');
    if (!cols.has('listed')) this.db.exec('ALTER TABLE sy_jobs ADD COLUMN listed INTEGER NOT NULL DEFAULT 1');
    // Listeners are per job id; hundreds of SSE watchers are normal.
    this.events.setMaxListeners(0);
    const db = this.db;
    this.st = {
      insert: db.prepare(
        `INSERT INTO sy_jobs (id, type, team, input, priority, state, max_attempts, idem_key, webhook, created_at, run_at,
           caller, listed)
         VALUES (@id, @type, @team, @input, @priority, 'queued', @max_attempts, @idem_key, @webhook, @now, @run_at,
           @caller, @listed)
         ON CONFLICT DO NOTHING RETURNING *`,
      ),
      byIdem: db.prepare('SELECT * FROM sy_jobs WHERE team = ? AND idem_key = ?'),
      byId: db.prepare('SELECT * FROM sy_jobs WHERE id = ?'),
      listFirst: db.prepare('SELECT * FROM sy_jobs WHERE team = ? AND listed = 1 ORDER BY seq DESC LIMIT ?'),
      listAfter: db.prepare(
        `SELECT * FROM sy_jobs WHERE team = ? AND listed = 1 AND seq < (SELECT seq FROM sy_jobs WHERE id = ?)
         ORDER BY seq DESC LIMIT ?`,
      ),
      claim: db.prepare(
        `UPDATE sy_jobs SET state = 'active', lease_token = @token, lease_until = @until,
           attempts = attempts + 1, started_at = COALESCE(started_at, @now)
         WHERE seq IN (SELECT seq FROM sy_jobs WHERE state = 'queued' AND type = @type AND run_at <= @now
                       ORDER BY priority, run_at, seq LIMIT @n)
         RETURNING *`,
      ),
      heartbeat: db.prepare(
        `UPDATE sy_jobs SET lease_until = @until WHERE id = @id AND lease_token = @token AND state = 'active'
         RETURNING cancel_requested`,
      ),
      progress: db.prepare(
        `UPDATE sy_jobs SET progress = @progress, progress_message = @message
         WHERE id = @id AND lease_token = @token AND state = 'active'`,
      ),
      complete: db.prepare(
        `UPDATE sy_jobs SET state = 'completed', result = @result, progress = 100, finished_at = @now,
           lease_token = NULL, lease_until = NULL
         WHERE id = @id AND lease_token = @token AND state = 'active' RETURNING *`,
      ),
      fail: db.prepare(
        `UPDATE sy_jobs SET state = 'failed', error = @error, finished_at = @now, lease_token = NULL, lease_until = NULL
         WHERE id = @id AND lease_token = @token AND state = 'active' RETURNING *`,
      ),
      retryLater: db.prepare(
        `UPDATE sy_jobs SET state = 'queued', error = @error, run_at = @run_at, lease_token = NULL, lease_until = NULL
         WHERE id = @id AND lease_token = @token AND state = 'active' RETURNING *`,
      ),
      finishCancelled: db.prepare(
        `UPDATE sy_jobs SET state = 'cancelled', finished_at = @now, lease_token = NULL, lease_until = NULL,
           error = '{"message":"cancelled","code":"cancelled"}'
         WHERE id = @id AND lease_token = @token AND state = 'active' RETURNING *`,
      ),
      // Shutdown: the attempt did not really happen, so it is not counted.
      giveBack: db.prepare(
        `UPDATE sy_jobs SET state = 'queued', attempts = attempts - 1, run_at = @now, lease_token = NULL,
           lease_until = NULL WHERE id = @id AND lease_token = @token AND state = 'active'`,
      ),
      cancelQueued: db.prepare(
        `UPDATE sy_jobs SET state = 'cancelled', finished_at = @now, cancel_requested = 1,
           error = '{"message":"cancelled","code":"cancelled"}'
         WHERE id = @id AND state = 'queued' RETURNING *`,
      ),
      cancelActive: db.prepare(
        `UPDATE sy_jobs SET cancel_requested = 1 WHERE id = @id AND state = 'active' RETURNING *`,
      ),
      expiredCancelled: db.prepare(
        `UPDATE sy_jobs SET state = 'cancelled', finished_at = @now, lease_token = NULL, lease_until = NULL,
           error = '{"message":"cancelled","code":"cancelled"}'
         WHERE state = 'active' AND lease_until < @now AND cancel_requested = 1 RETURNING *`,
      ),
      expiredExhausted: db.prepare(
        `UPDATE sy_jobs SET state = 'failed', finished_at = @now, lease_token = NULL, lease_until = NULL,
           error = '{"message":"the worker stopped responding (lease expired) on the last attempt","code":"stalled"}'
         WHERE state = 'active' AND lease_until < @now AND attempts >= max_attempts RETURNING *`,
      ),
      expiredRequeue: db.prepare(
        `UPDATE sy_jobs SET state = 'queued', run_at = @now, lease_token = NULL, lease_until = NULL
         WHERE state = 'active' AND lease_until < @now RETURNING id`,
      ),
      retryFailed: db.prepare(
        `UPDATE sy_jobs SET state = 'queued', attempts = 0, error = NULL, result = NULL, progress = 0,
           progress_message = NULL, run_at = @now, finished_at = NULL, started_at = NULL
         WHERE id = @id AND state = 'failed' RETURNING *`,
      ),
      deleteOld: db.prepare(
        `DELETE FROM sy_jobs WHERE finished_at IS NOT NULL AND finished_at < ? AND state IN ('completed','failed','cancelled')`,
      ),
      upsertSchedule: db.prepare(
        `INSERT INTO sy_job_schedules (name, cron, next_run_at) VALUES (@name, @cron, @next)
         ON CONFLICT (name) DO UPDATE SET cron = excluded.cron,
           next_run_at = CASE WHEN sy_job_schedules.cron = excluded.cron THEN sy_job_schedules.next_run_at
                              ELSE excluded.next_run_at END`,
      ),
      schedules: db.prepare('SELECT name, cron, next_run_at FROM sy_job_schedules'),
      advanceSchedule: db.prepare(
        'UPDATE sy_job_schedules SET next_run_at = @next WHERE name = @name AND next_run_at = @prev',
      ),
      deleteSchedule: db.prepare('DELETE FROM sy_job_schedules WHERE name = ?'),
    };
  }

  async enqueue(req: EnqueueRequest): Promise<EnqueueResult> {
    const now = Date.now();
    const row = this.st.insert.get({
      id: `job_${randomHex(24)}`,
      type: req.type,
      team: req.team,
      input: JSON.stringify(req.input ?? null),
      priority: PRIORITY_RANK[req.priority ?? 'standard'],
      max_attempts: req.maxAttempts ?? 3,
      idem_key: req.idempotencyKey ?? null,
      webhook: req.webhook ?? null,
      caller: req.caller ? JSON.stringify(req.caller) : null,
      listed: req.listed === false ? 0 : 1,
      now,
      run_at: now + Math.max(0, req.delayMs ?? 0),
    }) as Row | undefined;
    if (row) {
      this.events.emit('wake', req.type);
      return { job: toRecord(row), created: true };
    }
    // Only the idempotency index can conflict (ids are random).
    const existing = this.st.byIdem.get(req.team, req.idempotencyKey ?? null) as Row | undefined;
    if (!existing) throw new Error('enqueue conflicted without an existing idempotent job');
    return { job: toRecord(existing), created: false };
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const row = this.st.byId.get(id) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  async list(q: ListQuery): Promise<JobRecord[]> {
    const rows = (
      q.after ? this.st.listAfter.all(q.team, q.after, q.limit) : this.st.listFirst.all(q.team, q.limit)
    ) as Row[];
    return rows.map(toRecord);
  }

  async cancel(id: string): Promise<JobRecord | undefined> {
    const now = Date.now();
    const queued = this.st.cancelQueued.get({ id, now }) as Row | undefined;
    if (queued) {
      this.emit({ kind: 'status', id, status: 'cancelled' });
      return toRecord(queued);
    }
    const active = this.st.cancelActive.get({ id }) as Row | undefined;
    if (active) {
      // A worker in this process aborts at once; one in another process learns it at its next heartbeat.
      for (const w of this.workers) w.abortLocal(id, ABORT_CANCELLED);
      // Reported as cancelled from now on: the job will not complete, whatever its handler does.
      return { ...toRecord(active), status: 'cancelled' };
    }
    return this.get(id);
  }

  async retry(id: string): Promise<JobRecord | undefined> {
    const row = this.st.retryFailed.get({ id, now: Date.now() }) as Row | undefined;
    if (!row) return undefined;
    this.events.emit('wake', row.type);
    this.emit({ kind: 'status', id, status: 'queued' });
    return toRecord(row);
  }

  async deadLetters(queues: readonly string[], limit: number): Promise<JobRecord[]> {
    if (queues.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT * FROM sy_jobs WHERE state = 'failed' AND type IN (${queues.map(() => '?').join(',')})
         ORDER BY finished_at DESC LIMIT ?`,
      )
      .all(...queues, limit) as Row[];
    return rows.map(toRecord);
  }

  async purgeDeadLetters(queues: readonly string[]): Promise<number> {
    if (queues.length === 0) return 0;
    return this.db
      .prepare(`DELETE FROM sy_jobs WHERE state = 'failed' AND type IN (${queues.map(() => '?').join(',')})`)
      .run(...queues).changes;
  }

  async counts(queues: readonly string[]): Promise<QueueCounts[]> {
    if (queues.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT type AS queue,
           COALESCE(SUM(state = 'queued' AND run_at <= @now), 0) AS waiting,
           COALESCE(SUM(state = 'queued' AND run_at > @now), 0) AS delayed,
           COALESCE(SUM(state = 'active'), 0) AS active,
           COALESCE(SUM(state = 'completed'), 0) AS completed,
           COALESCE(SUM(state = 'failed'), 0) AS failed
         FROM sy_jobs WHERE type IN (${queues.map((_, i) => `@q${i}`).join(',')}) GROUP BY type`,
      )
      .all({ now: Date.now(), ...Object.fromEntries(queues.map((q, i) => [`q${i}`, q])) }) as QueueCounts[];
    const byQueue = new Map(rows.map((r) => [r.queue, r]));
    return queues.map(
      (queue) => byQueue.get(queue) ?? { queue, waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 },
    );
  }

  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    const channel = `job:${id}`;
    this.events.on(channel, listener);
    // Changes made by a worker in another process reach us through the table, so poll it while watched.
    let last = this.st.byId.get(id) as Row | undefined;
    const timer = setInterval(() => {
      const now = this.st.byId.get(id) as Row | undefined;
      if (!now) return;
      if (!last || now.progress !== last.progress || now.progress_message !== last.progress_message) {
        listener({ kind: 'progress', id, progress: now.progress, message: now.progress_message });
      }
      if (!last || now.state !== last.state) listener({ kind: 'status', id, status: now.state });
      last = now;
    }, LOCAL_POLL_MS);
    timer.unref();
    return () => {
      clearInterval(timer);
      this.events.off(channel, listener);
    };
  }

  work(processor: JobProcessor, opts: WorkOptions): QueueWorker {
    const w = new SqliteWorker(this, processor, opts, () => this.workers.delete(w));
    this.workers.add(w);
    w.start();
    return w;
  }

  async setSchedules(schedules: readonly Schedule[]): Promise<void> {
    const now = Date.now();
    const names = new Set(schedules.map((s) => s.name));
    this.db.transaction(() => {
      for (const s of schedules) {
        this.st.upsertSchedule.run({ name: s.name, cron: s.cron, next: nextCronRun(s.cron, now, s.tz) });
      }
      for (const r of this.st.schedules.all() as Array<{ name: string }>) {
        if (!names.has(r.name)) this.st.deleteSchedule.run(r.name);
      }
    })();
    this.schedules = [...schedules];
    if (!this.scheduleTimer && schedules.length > 0 && !this.closed) {
      this.scheduleTimer = setInterval(() => void this.runDueSchedules(), SCHEDULE_TICK_MS);
      this.scheduleTimer.unref();
    }
  }

  /** Each due schedule is advanced with a compare-and-set, so exactly one process enqueues each run. */
  private async runDueSchedules(): Promise<void> {
    const now = Date.now();
    const rows = this.st.schedules.all() as Array<{ name: string; cron: string; next_run_at: number }>;
    for (const r of rows) {
      if (r.next_run_at > now) continue;
      const s = this.schedules.find((x) => x.name === r.name);
      if (!s) continue;
      const next = nextCronRun(s.cron, now, s.tz);
      if (this.st.advanceSchedule.run({ name: r.name, prev: r.next_run_at, next }).changes !== 1) continue;
      await this.enqueue({
        type: s.type,
        team: s.team,
        input: s.input,
        priority: 'background',
        idempotencyKey: `schedule:${s.name}:${r.next_run_at}`,
        listed: false,
      });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.scheduleTimer) clearInterval(this.scheduleTimer);
    await Promise.all([...this.workers].map((w) => w.close({ timeoutMs: 0 })));
    this.db.close();
  }

  // ---- used by SqliteWorker ----

  /** @internal */
  emit(e: JobEvent): void {
    this.events.emit(`job:${e.id}`, e);
  }

  /** @internal */
  onWake(fn: (type: string) => void): () => void {
    this.events.on('wake', fn);
    return () => this.events.off('wake', fn);
  }

  /** @internal Expired leases: cancelled ones end, exhausted ones fail, the rest go back to the queue. */
  sweepExpired(): JobRecord[] {
    const now = Date.now();
    const settled: JobRecord[] = [];
    this.db.transaction(() => {
      for (const r of this.st.expiredCancelled.all({ now }) as Row[]) settled.push(toRecord(r));
      for (const r of this.st.expiredExhausted.all({ now }) as Row[]) settled.push(toRecord(r));
      for (const r of this.st.expiredRequeue.all({ now }) as Array<{ id: string }>) {
        this.emit({ kind: 'status', id: r.id, status: 'queued' });
      }
      if (now - this.lastRetentionSweep > RETENTION_SWEEP_MS) {
        this.lastRetentionSweep = now;
        this.st.deleteOld.run(now - this.retentionMs);
      }
    })();
    for (const j of settled) this.emit({ kind: 'status', id: j.id, status: j.status });
    return settled;
  }

  /** @internal */
  claim(type: string, n: number): Array<{ job: JobRecord; token: string }> {
    const now = Date.now();
    const token = randomHex(16);
    const rows = this.st.claim.all({ type, n, now, token, until: now + this.leaseMs }) as Row[];
    rows.sort((a, b) => a.priority - b.priority || a.run_at - b.run_at || a.seq - b.seq);
    return rows.map((r) => {
      this.emit({ kind: 'status', id: r.id, status: 'active' });
      return { job: toRecord(r), token };
    });
  }

  /** @internal Renews leases; returns the ids whose lease is lost and those whose cancel was requested. */
  heartbeat(held: Array<{ id: string; token: string }>): { lost: string[]; cancelled: string[] } {
    const until = Date.now() + this.leaseMs;
    const lost: string[] = [];
    const cancelled: string[] = [];
    this.db.transaction(() => {
      for (const h of held) {
        const r = this.st.heartbeat.get({ id: h.id, token: h.token, until }) as
          | { cancel_requested: number }
          | undefined;
        if (!r) lost.push(h.id);
        else if (r.cancel_requested) cancelled.push(h.id);
      }
    })();
    return { lost, cancelled };
  }

  /** @internal */
  setProgress(id: string, token: string, progress: number, message: string | null): void {
    this.st.progress.run({ id, token, progress, message });
    this.emit({ kind: 'progress', id, progress, message });
  }

  /** @internal Returns the settled record, or undefined when the lease was lost (someone else owns it now). */
  finish(
    id: string,
    token: string,
    outcome:
      | { kind: 'completed'; result: unknown }
      | { kind: 'failed'; error: unknown }
      | { kind: 'retry'; error: unknown; delayMs: number }
      | { kind: 'cancelled' }
      | { kind: 'shutdown' },
  ): JobRecord | undefined {
    const now = Date.now();
    let row: Row | undefined;
    switch (outcome.kind) {
      case 'completed':
        row = this.st.complete.get({ id, token, now, result: JSON.stringify(outcome.result ?? null) }) as
          | Row
          | undefined;
        break;
      case 'failed':
        row = this.st.fail.get({ id, token, now, error: JSON.stringify(errorInfo(outcome.error)) }) as
          | Row
          | undefined;
        break;
      case 'retry':
        row = this.st.retryLater.get({
          id,
          token,
          error: JSON.stringify(errorInfo(outcome.error)),
          run_at: now + outcome.delayMs,
        }) as Row | undefined;
        break;
      case 'cancelled':
        row = this.st.finishCancelled.get({ id, token, now }) as Row | undefined;
        break;
      case 'shutdown':
        this.st.giveBack.run({ id, token, now });
        this.emit({ kind: 'status', id, status: 'queued' });
        return undefined;
    }
    if (row) this.emit({ kind: 'status', id, status: row.state });
    return row ? toRecord(row) : undefined;
  }

  /** @internal */
  get config() {
    return { leaseMs: this.leaseMs, pollMs: this.pollMs, backoff: this.opts.backoff };
  }
}

interface Running {
  job: JobRecord;
  token: string;
  controller: AbortController;
  done: Promise<void>;
}

class SqliteWorker implements QueueWorker {
  private readonly running = new Map<string, Running>();
  private readonly activeByType = new Map<string, number>();
  private readonly starts = new Map<string, number[]>();
  private wakeTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private offWake: (() => void) | undefined;
  private closing: Promise<CloseResult> | undefined;
  private ticking = false;
  private tickAgain = false;
  private lastSweep = 0;
  private refillScheduled = false;

  constructor(
    private readonly q: SqliteQueue,
    private readonly processor: JobProcessor,
    private readonly opts: WorkOptions,
    private readonly onClosed: () => void,
  ) {}

  get activeCount(): number {
    return this.running.size;
  }

  start(): void {
    this.offWake = this.q.onWake((type) => {
      if (type in this.opts.types) this.tick();
    });
    const hb = Math.max(50, Math.floor(this.q.config.leaseMs / 3));
    this.heartbeatTimer = setInterval(() => this.heartbeat(), hb);
    this.heartbeatTimer.unref();
    this.tick();
  }

  abortLocal(id: string, reason: string): void {
    this.running.get(id)?.controller.abort(reason);
  }

  private heartbeat(): void {
    if (this.running.size === 0) return;
    const held = [...this.running.values()].map((r) => ({ id: r.job.id, token: r.token }));
    const { lost, cancelled } = this.q.heartbeat(held);
    for (const id of cancelled) this.abortLocal(id, ABORT_CANCELLED);
    // Our lease ran out and someone else may run it now: stop spending effort on it.
    for (const id of lost) this.abortLocal(id, 'lease_lost');
  }

  /** Claims what free slots and rate limits allow, then polls again (or at once if a batch was full). */
  private tick(): void {
    if (this.closing) return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    this.ticking = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    let full = false;
    try {
      const now = Date.now();
      // Expired leases are rare; looking for them a few times per lease is enough, not on every claim.
      if (now - this.lastSweep >= Math.min(1_000, this.q.config.leaseMs / 4)) {
        this.lastSweep = now;
        for (const j of this.q.sweepExpired()) this.opts.onSettled?.(j);
      }
      for (const [type, t] of Object.entries(this.opts.types)) {
        let free = t.concurrency - (this.activeByType.get(type) ?? 0);
        // A sliding log of recent starts, so no window of `durationMs` ever holds more than `max` starts
        // (fixed windows would allow twice that across a boundary).
        let recent: number[] | undefined;
        if (t.rateLimit) {
          const since = now - t.rateLimit.durationMs;
          recent = (this.starts.get(type) ?? []).filter((ts) => ts > since);
          this.starts.set(type, recent);
          free = Math.min(free, t.rateLimit.max - recent.length);
          if (free <= 0 && recent.length > 0) this.wakeAt((recent[0] as number) + t.rateLimit.durationMs);
        }
        if (free <= 0) continue;
        const claimed = this.q.claim(type, free);
        if (recent) for (let i = 0; i < claimed.length; i++) recent.push(now);
        if (claimed.length === free) full = true;
        for (const c of claimed) this.run(c.job, c.token);
      }
    } catch (err) {
      // A busy database or a disk error: try again at the next poll rather than crash the process.
      process.emitWarning(`job queue poll failed: ${(err as Error).message}`);
    } finally {
      this.ticking = false;
    }
    if (this.closing) return;
    if (this.tickAgain || full) {
      this.tickAgain = false;
      setImmediate(() => this.tick());
      return;
    }
    // Not unref'd: a running worker is a reason for its process to stay alive (`switchyard worker`).
    this.pollTimer = setTimeout(() => this.tick(), this.q.config.pollMs);
  }

  /** A rate-limited type can start again at `at`: poll then rather than waiting for the idle poll. */
  private wakeAt(at: number): void {
    if (this.wakeTimer) return;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.tick();
      },
      Math.max(1, at - Date.now()),
    );
  }

  private run(job: JobRecord, token: string): void {
    const controller = new AbortController();
    this.activeByType.set(job.type, (this.activeByType.get(job.type) ?? 0) + 1);
    const entry: Running = { job, token, controller, done: Promise.resolve() };
    this.running.set(job.id, entry);
    entry.done = this.execute(entry).finally(() => {
      this.running.delete(job.id);
      this.activeByType.set(job.type, (this.activeByType.get(job.type) ?? 1) - 1);
      // A slot is free: take the next job now instead of at the next poll. Coalesced, so that jobs finishing
      // together refill their slots with one claim.
      if (!this.refillScheduled) {
        this.refillScheduled = true;
        setImmediate(() => {
          this.refillScheduled = false;
          this.tick();
        });
      }
    });
  }

  private async execute({ job, token, controller }: Running): Promise<void> {
    const { signal } = controller;
    let outcome: Parameters<SqliteQueue['finish']>[2];
    try {
      const result = await this.processor(job, {
        signal,
        attempt: job.attempts,
        progress: async (pct, message) => {
          if (signal.aborted) return;
          this.q.setProgress(job.id, token, clampPct(pct), message?.slice(0, 500) ?? null);
        },
      });
      outcome = signal.aborted ? abortOutcome(signal) : { kind: 'completed', result };
    } catch (err) {
      if (signal.aborted) outcome = abortOutcome(signal);
      else if (isNonRetryable(err) || job.attempts >= job.maxAttempts)
        outcome = { kind: 'failed', error: err };
      else {
        outcome = {
          kind: 'retry',
          error: err,
          delayMs: jobBackoffMs(job.attempts - 1, this.q.config.backoff),
        };
        this.opts.onRetry?.(job, err);
      }
    }
    if (signal.reason === 'lease_lost') return;
    let settled: JobRecord | undefined;
    try {
      settled = this.q.finish(job.id, token, outcome);
    } catch (err) {
      // A result that cannot be stored (not JSON-serialisable) fails the job instead of leaving it active.
      settled = this.q.finish(job.id, token, { kind: 'failed', error: err });
    }
    if (settled && settled.status !== 'queued') this.opts.onSettled?.(settled);
  }

  close(opts: { timeoutMs?: number } = {}): Promise<CloseResult> {
    this.closing ??= (async () => {
      if (this.pollTimer) clearTimeout(this.pollTimer);
      if (this.wakeTimer) clearTimeout(this.wakeTimer);
      this.offWake?.();
      const all = Promise.all([...this.running.values()].map((r) => r.done));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), opts.timeoutMs ?? 30_000);
      });
      const first = await Promise.race([all.then(() => 'done' as const), deadline]);
      clearTimeout(timer);
      let returned = 0;
      if (first === 'timeout') {
        returned = this.running.size;
        for (const r of this.running.values()) r.controller.abort(ABORT_SHUTDOWN);
        await Promise.all([...this.running.values()].map((r) => r.done));
      }
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      this.onClosed();
      return { returned };
    })();
    return this.closing;
  }
}

function clampPct(pct: number): number {
  return Number.isFinite(pct) ? Math.max(0, Math.min(100, Math.round(pct))) : 0;
}

function abortOutcome(signal: AbortSignal): { kind: 'cancelled' } | { kind: 'shutdown' } {
  return signal.reason === ABORT_SHUTDOWN ? { kind: 'shutdown' } : { kind: 'cancelled' };
}
