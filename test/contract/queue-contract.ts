import { afterEach, describe, expect, it } from 'vitest';
import {
  type JobEvent,
  type JobRecord,
  NonRetryableJobError,
  type QueueBackend,
  type QueueWorker,
} from '../../src/backends/queue/types.js';

/**
 * One contract for every queue backend: the embedded SQLite queue and BullMQ run exactly these tests
 * (test/integration/queue-sqlite.test.ts, queue-bullmq.test.ts). The factory returns a fresh, empty queue.
 */
export interface QueueUnderTest {
  backend: QueueBackend;
  /** Another handle on the same queue (another process's view): a second worker, a second API instance. */
  second(): QueueBackend;
  cleanup(): Promise<void>;
}

export async function until<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function statusIs(b: QueueBackend, id: string, status: JobRecord['status']) {
  return until(async () => {
    const j = await b.get(id);
    return j?.status === status ? j : undefined;
  }, `${id} to be ${status}`);
}

export function queueContract(name: string, factory: () => Promise<QueueUnderTest>) {
  describe(`queue contract: ${name}`, () => {
    let q: QueueUnderTest;
    const workers: QueueWorker[] = [];
    const open = async () => {
      q = await factory();
      return q.backend;
    };
    afterEach(async () => {
      await Promise.all(workers.splice(0).map((w) => w.close({ timeoutMs: 0 })));
      await q?.cleanup();
    });

    it('runs a job through its lifecycle: queued, active with progress, completed once with its result', async () => {
      const b = await open();
      const { job, created } = await b.enqueue({ type: 'echo', team: 't1', input: { n: 2 } });
      expect(created).toBe(true);
      expect(job).toMatchObject({
        type: 'echo',
        team: 't1',
        input: { n: 2 },
        status: 'queued',
        priority: 'standard',
        progress: 0,
        attempts: 0,
        maxAttempts: 3,
        result: null,
        error: null,
      });
      expect(job.id).toMatch(/^job_[0-9a-f]+$/);
      const events: JobEvent[] = [];
      const unsubscribe = b.subscribe(job.id, (e) => events.push(e));
      // Let a subscription that needs a round trip (BullMQ's event stream) settle before the job runs.
      await new Promise((r) => setTimeout(r, 300));
      const settled: JobRecord[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      workers.push(
        b.work(
          async (j, ctx) => {
            expect(ctx.attempt).toBe(1);
            await ctx.progress(40, 'halfway there');
            await gate;
            return { doubled: (j.input as { n: number }).n * 2 };
          },
          { types: { echo: { concurrency: 1 } }, onSettled: (j) => settled.push(j) },
        ),
      );
      const active = await until(async () => {
        const j = await b.get(job.id);
        return j?.status === 'active' && j.progress === 40 ? j : undefined;
      }, 'active with progress');
      expect(active.progressMessage).toBe('halfway there');
      expect(active.attempts).toBe(1);
      expect(active.startedAt).toBeGreaterThanOrEqual(job.createdAt);
      release();
      const done = await statusIs(b, job.id, 'completed');
      expect(done).toMatchObject({ result: { doubled: 4 }, progress: 100, attempts: 1, error: null });
      expect(done.finishedAt).toBeGreaterThanOrEqual(done.startedAt as number);
      await until(() => settled.length === 1, 'onSettled');
      expect(settled[0]).toMatchObject({ id: job.id, status: 'completed', result: { doubled: 4 } });
      await until(
        () => events.some((e) => e.kind === 'status' && e.status === 'completed'),
        'completed event',
      );
      expect(events).toContainEqual({ kind: 'progress', id: job.id, progress: 40, message: 'halfway there' });
      unsubscribe();
      // Another instance sees the same job.
      expect((await q.second().get(job.id))?.status).toBe('completed');
    });

    it('retries with backoff up to the per-job maximum, then dead-letters; admin retry runs it again', async () => {
      const b = await open();
      const { job } = await b.enqueue({ type: 'flaky', team: 't1', input: null, maxAttempts: 3 });
      let fail = true;
      const starts: number[] = [];
      const retries: string[] = [];
      const settled: JobRecord[] = [];
      workers.push(
        b.work(
          async () => {
            starts.push(Date.now());
            if (fail) throw new Error(`boom ${starts.length}`);
            return 'fine';
          },
          {
            types: { flaky: { concurrency: 1 } },
            onRetry: (j) => retries.push(j.id),
            onSettled: (j) => settled.push(j),
          },
        ),
      );
      const failed = await statusIs(b, job.id, 'failed');
      expect(failed.attempts).toBe(3);
      expect(failed.error).toEqual({ message: 'boom 3', code: null });
      expect(starts).toHaveLength(3);
      expect(retries).toEqual([job.id, job.id]);
      // Backoff base 50 ms, equal jitter: the second retry waits at least half of 100 ms.
      expect((starts[1] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(20);
      expect((starts[2] as number) - (starts[1] as number)).toBeGreaterThanOrEqual(45);
      await until(() => settled.length === 1, 'settled once');
      expect(settled[0]?.status).toBe('failed');

      const dead = await b.deadLetters(['flaky'], 10);
      expect(dead.map((j) => j.id)).toEqual([job.id]);
      expect((await b.counts(['flaky']))[0]).toMatchObject({ queue: 'flaky', failed: 1, completed: 0 });

      fail = false;
      const again = await b.retry(job.id);
      expect(again?.status === 'queued' || again?.status === 'active' || again?.status === 'completed').toBe(
        true,
      );
      const done = await statusIs(b, job.id, 'completed');
      expect(done.result).toBe('fine');
      expect(done.attempts).toBe(1);
      expect(await b.deadLetters(['flaky'], 10)).toEqual([]);
      // Retrying something that is not failed does nothing.
      expect(await b.retry(job.id)).toBeUndefined();
    });

    it('fails a non-retryable error at once, and purges dead letters', async () => {
      const b = await open();
      const { job } = await b.enqueue({ type: 'strict', team: 't1', input: null, maxAttempts: 5 });
      workers.push(
        b.work(
          async () => {
            throw new NonRetryableJobError('input is not a chat request', 'invalid_input');
          },
          { types: { strict: { concurrency: 1 } } },
        ),
      );
      const failed = await statusIs(b, job.id, 'failed');
      expect(failed.attempts).toBe(1);
      expect(failed.error).toEqual({ message: 'input is not a chat request', code: 'invalid_input' });
      expect(await b.purgeDeadLetters(['strict'])).toBe(1);
      expect(await b.deadLetters(['strict'], 10)).toEqual([]);
    });

    it('holds a delayed job until its time', async () => {
      const b = await open();
      const { job } = await b.enqueue({ type: 'later', team: 't1', input: null, delayMs: 600 });
      expect(job.runAt - job.createdAt).toBe(600);
      expect((await b.counts(['later']))[0]).toMatchObject({ delayed: 1, waiting: 0 });
      workers.push(b.work(async () => 'ok', { types: { later: { concurrency: 1 } } }));
      const done = await statusIs(b, job.id, 'completed');
      expect((done.startedAt as number) - job.createdAt).toBeGreaterThanOrEqual(590);
    });

    it('takes critical before standard before background', async () => {
      const b = await open();
      const order: string[] = [];
      const ids: string[] = [];
      for (const priority of ['background', 'standard', 'critical', 'background', 'critical'] as const) {
        const { job } = await b.enqueue({ type: 'prio', team: 't1', input: priority, priority });
        expect(job.priority).toBe(priority);
        ids.push(job.id);
      }
      workers.push(
        b.work(
          async (j) => {
            order.push(j.input as string);
          },
          { types: { prio: { concurrency: 1 } } },
        ),
      );
      await until(() => order.length === 5, 'all five');
      expect(order).toEqual(['critical', 'critical', 'standard', 'background', 'background']);
    });

    it('deduplicates by idempotency key within a team, not across teams', async () => {
      const b = await open();
      const a = await b.enqueue({ type: 'idem', team: 't1', input: 1, idempotencyKey: 'k-1' });
      const again = await q.second().enqueue({ type: 'idem', team: 't1', input: 2, idempotencyKey: 'k-1' });
      const other = await b.enqueue({ type: 'idem', team: 't2', input: 3, idempotencyKey: 'k-1' });
      expect(a.created).toBe(true);
      expect(again.created).toBe(false);
      expect(again.job.id).toBe(a.job.id);
      expect(again.job.input).toBe(1);
      expect(other.created).toBe(true);
      expect(other.job.id).not.toBe(a.job.id);
      // Concurrent submissions of one key make one job.
      const burst = await Promise.all(
        Array.from({ length: 8 }, () =>
          b.enqueue({ type: 'idem', team: 't1', input: 4, idempotencyKey: 'k-2' }),
        ),
      );
      expect(new Set(burst.map((r) => r.job.id)).size).toBe(1);
      expect(burst.filter((r) => r.created)).toHaveLength(1);
    });

    it('cancels a queued job (it never starts) and an active one (its signal aborts)', async () => {
      const b = await open();
      const started: string[] = [];
      const settled: JobRecord[] = [];
      const queued = await b.enqueue({ type: 'cancel', team: 't1', input: 'queued', delayMs: 400 });
      const cancelled = await b.cancel(queued.job.id);
      expect(cancelled?.status).toBe('cancelled');
      const active = await b.enqueue({ type: 'cancel', team: 't1', input: 'active' });
      let abortReason: unknown;
      workers.push(
        b.work(
          (j, ctx) => {
            started.push(j.input as string);
            return new Promise((_resolve, reject) => {
              ctx.signal.addEventListener('abort', () => {
                abortReason = ctx.signal.reason;
                reject(new Error('aborted'));
              });
            });
          },
          { types: { cancel: { concurrency: 2 } }, onSettled: (j) => settled.push(j) },
        ),
      );
      await statusIs(b, active.job.id, 'active');
      // Cancelled from another instance: the worker learns it across processes.
      const c = await q.second().cancel(active.job.id);
      expect(c?.status).toBe('cancelled');
      await until(() => abortReason !== undefined, 'the abort signal');
      expect(abortReason).toBe('cancelled');
      const final = await statusIs(b, active.job.id, 'cancelled');
      expect(final.error).toEqual({ message: 'cancelled', code: 'cancelled' });
      await until(() => settled.length === 1, 'settled');
      expect(settled[0]).toMatchObject({ id: active.job.id, status: 'cancelled' });
      // Past the delayed job's time, it still never started.
      await new Promise((r) => setTimeout(r, 600));
      expect(started).toEqual(['active']);
      expect((await b.get(queued.job.id))?.status).toBe('cancelled');
      // Cancelling a finished job changes nothing.
      expect((await b.cancel(active.job.id))?.status).toBe('cancelled');
      expect(await b.cancel('job_does_not_exist')).toBeUndefined();
    });

    it("lists a team's own jobs, newest first, with a cursor", async () => {
      const b = await open();
      const mine: string[] = [];
      for (let i = 0; i < 5; i++) {
        mine.push((await b.enqueue({ type: 'list', team: 'alpha', input: i })).job.id);
        await b.enqueue({ type: 'list', team: 'beta', input: i });
      }
      const page1 = await b.list({ team: 'alpha', limit: 3 });
      expect(page1.map((j) => j.id)).toEqual([mine[4], mine[3], mine[2]]);
      const page2 = await b.list({ team: 'alpha', limit: 3, after: page1[2]?.id });
      expect(page2.map((j) => j.id)).toEqual([mine[1], mine[0]]);
      expect(page1.every((j) => j.team === 'alpha')).toBe(true);
      expect(await b.list({ team: 'gamma', limit: 10 })).toEqual([]);
    });

    it('keeps unlisted (internal) jobs out of the listing, and carries the caller to the worker', async () => {
      const b = await open();
      const caller = { team: 'alpha', keyId: 'key_1', user: 'u1', tier: 'pro', budget: { dailyMicros: 5 } };
      const shown = await b.enqueue({ type: 'vis', team: 'alpha', input: 1, caller });
      const hidden = await b.enqueue({ type: 'vis', team: 'alpha', input: 2, caller, listed: false });
      expect(shown.job).toMatchObject({ listed: true, caller });
      expect(hidden.job).toMatchObject({ listed: false, caller });
      expect((await b.list({ team: 'alpha', limit: 10 })).map((j) => j.id)).toEqual([shown.job.id]);
      // Still a job: fetched by id (the service decides who may see it), and run with its caller.
      expect((await b.get(hidden.job.id))?.listed).toBe(false);
      const seen: unknown[] = [];
      workers.push(
        b.work(
          async (job) => {
            seen.push(job.caller);
            return null;
          },
          { types: { vis: { concurrency: 2 } } },
        ),
      );
      await statusIs(b, hidden.job.id, 'completed');
      await statusIs(b, shown.job.id, 'completed');
      expect(seen).toEqual([caller, caller]);
      const none = await b.enqueue({ type: 'vis', team: 'alpha', input: 3 });
      expect(none.job.caller).toBeNull();
    });

    it('honours per-type concurrency', async () => {
      const b = await open();
      let running = 0;
      let peak = 0;
      for (let i = 0; i < 6; i++) await b.enqueue({ type: 'conc', team: 't1', input: i });
      workers.push(
        b.work(
          async () => {
            running++;
            peak = Math.max(peak, running);
            await new Promise((r) => setTimeout(r, 80));
            running--;
          },
          { types: { conc: { concurrency: 2 } } },
        ),
      );
      await until(async () => (await b.counts(['conc']))[0]?.completed === 6, 'six completed');
      expect(peak).toBe(2);
    });

    it('honours a per-type rate limit', async () => {
      const b = await open();
      const starts: number[] = [];
      for (let i = 0; i < 5; i++) await b.enqueue({ type: 'limited', team: 't1', input: i });
      workers.push(
        b.work(
          async () => {
            starts.push(Date.now());
          },
          { types: { limited: { concurrency: 5, rateLimit: { max: 2, durationMs: 1_000 } } } },
        ),
      );
      await until(() => starts.length === 5, 'all five', 15_000);
      // Never more than two starts within any window of the limit's length (less a margin for timers).
      for (let i = 2; i < starts.length; i++) {
        expect((starts[i] as number) - (starts[i - 2] as number)).toBeGreaterThanOrEqual(900);
      }
    });

    it('graceful close lets short jobs finish and returns the rest to the queue for another worker', async () => {
      const b = await open();
      const quick = await b.enqueue({ type: 'drain', team: 't1', input: 'quick' });
      const slow = await b.enqueue({ type: 'drain', team: 't1', input: 'slow' });
      let secondRun = false;
      const w = b.work(
        async (j, ctx) => {
          if (j.input === 'quick') {
            await new Promise((r) => setTimeout(r, 100));
            return 'quick done';
          }
          await new Promise((_r, reject) =>
            ctx.signal.addEventListener('abort', () => reject(new Error('stop'))),
          );
        },
        { types: { drain: { concurrency: 2 } } },
      );
      await until(async () => (await b.get(slow.job.id))?.status === 'active', 'slow active');
      await until(
        async () =>
          (await b.get(quick.job.id))?.status === 'active' ||
          (await b.get(quick.job.id))?.status === 'completed',
        'quick started',
      );
      const res = await w.close({ timeoutMs: 500 });
      expect(res.returned).toBe(1);
      expect((await b.get(quick.job.id))?.result).toBe('quick done');
      const back = await b.get(slow.job.id);
      expect(back?.status).toBe('queued');
      workers.push(
        q.second().work(
          async () => {
            secondRun = true;
            return 'slow done';
          },
          { types: { drain: { concurrency: 1 } } },
        ),
      );
      const done = await statusIs(b, slow.job.id, 'completed');
      expect(secondRun).toBe(true);
      expect(done.result).toBe('slow done');
    });

    it('runs a repeating job from a cron schedule', async () => {
      const b = await open();
      const runs: unknown[] = [];
      workers.push(
        b.work(
          async (j) => {
            runs.push(j.input);
          },
          { types: { sweep: { concurrency: 1 } } },
        ),
      );
      await b.setSchedules([
        {
          name: 'sweep-every-second',
          cron: '* * * * * *',
          type: 'sweep',
          team: 'system',
          input: { what: 'logs' },
        },
      ]);
      await until(() => runs.length >= 2, 'two scheduled runs', 8_000);
      expect(runs[0]).toEqual({ what: 'logs' });
      await b.setSchedules([]);
    });
  });
}
