import { createRequire } from 'node:module';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type SqliteDatabase from 'better-sqlite3';
import {
  DELETE_CHUNK,
  type RequestValues,
  sqliteRequestDeleter,
  sqliteRequestWriter,
} from './request-log-sqlite.js';
import type { FromWorker, RequestLogWorkerData, ToWorker } from './request-log-worker.js';
import { type RequestRow, type RequestRowsSink, requestValues } from './store.js';

interface Log {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** More exits than this within RESTART_WINDOW_MS and the writes stay on the main thread. */
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 60_000;
/** A batch not answered in this long (beyond the busy timeout) means a stuck worker: it is replaced. */
const WRITE_GRACE_MS = 30_000;
const CLOSE_TIMEOUT_MS = 5_000;
const CHECKPOINT_EVERY_MS = 1_000;
const WORKER_YOUNG_MB = 2;
/** Out of memory means a leak: the worker exits, its batch is retried on a new one. */
const WORKER_OLD_MB = 64;

interface Pending {
  resolve(m: FromWorker): void;
  reject(err: Error): void;
  /** Writes only: a sweep may rightly take long (it yields to writes between chunks). */
  timer: NodeJS.Timeout | undefined;
}

interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  closing: boolean;
}

/**
 * From source (tests, `npm run dev`) the worker is TypeScript. As for core/token-counter.ts, a worker
 * thread loads it through tsx; but `--import tsx` in a worker's execArgv registers only tsx's require
 * hook in time on Node 20 (an ESM entry or `import()` of a .ts file fails with ERR_UNKNOWN_FILE_EXTENSION;
 * piscina works because it `require`s the task file), so this worker registers tsx's CommonJS hook
 * itself and `require`s its entry.
 */
function sourceWorker(options: WorkerOptions): Worker {
  const require = createRequire(import.meta.url);
  const tsx = require.resolve('tsx/cjs/api');
  const entry = fileURLToPath(new URL('./request-log-worker.ts', import.meta.url));
  return new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(entry)});`, {
    ...options,
    eval: true,
  });
}

/**
 * The request log's writes on a SQLite file, on a worker thread (request-log-worker.ts) with its own
 * connection, so neither the inserts nor the WAL checkpoints (whose fsync stalled the event loop 11-31 ms)
 * run on the gateway's event loop. The main thread turns each batch into arrays of values and posts it
 * in one message; the promise resolves once the worker has committed, so a read on the main connection
 * after it sees the rows (WAL: a new read sees the last commit).
 *
 * The worker starts with the first batch, so the gateway's start-up does not wait for it. A batch the
 * worker did not answer (it exited, or hung and was replaced) is rejected: the request-log writer keeps
 * those rows and retries them (inserts are idempotent on the row id, so a batch committed just before an
 * exit is not counted twice). A worker that keeps exiting is given up on, and the writes go back to the
 * main connection.
 *
 * Checkpoints: while the worker runs, the main connection's automatic checkpoint is off
 * (`wal_autocheckpoint = 0`), and the worker does them: its own automatic one after its commits (it
 * writes most of the WAL), and a PASSIVE one every second for what other connections wrote (stored
 * responses, admin writes). PASSIVE never blocks readers or writers. Whenever no worker is going to run
 * (given up on, closed), the main connection's setting is restored.
 */
export class RequestLogThread implements RequestRowsSink {
  private current: Thread | undefined;
  private nextId = 0;
  private exits: number[] = [];
  private inThread: ((rows: readonly RequestValues[]) => void) | undefined;
  private closed = false;
  private readonly autocheckpoint: number;
  /** Batches committed by the worker and by the main-thread fallback; unexpected worker exits. */
  readonly stats = { workerBatches: 0, inThreadBatches: 0, workerExits: 0 };

  constructor(
    private readonly main: SqliteDatabase.Database,
    private readonly opts: { path: string; busyTimeoutMs: number; log: Log },
  ) {
    this.autocheckpoint = main.pragma('wal_autocheckpoint', { simple: true }) as number;
  }

  /** The running worker, if any (diagnostics; tests end it to check what a crash costs). */
  get worker(): Worker | undefined {
    return this.current?.worker;
  }

  insert(rows: readonly RequestRow[]): Promise<void> {
    const values = rows.map(requestValues);
    if (this.inThread || this.closed) return this.writeHere(values);
    return this.send({ op: 'write', id: ++this.nextId, rows: values }).then(() => {
      this.stats.workerBatches += 1;
    });
  }

  /** Retention: deletes request rows older than `before`, in short transactions; returns the count. */
  async deleteBefore(before: number): Promise<number> {
    if (this.inThread || this.closed) {
      const del = sqliteRequestDeleter(this.main);
      let deleted = 0;
      for (;;) {
        const n = del(before);
        deleted += n;
        if (n < DELETE_CHUNK) return deleted;
        await yieldToLoop();
      }
    }
    const reply = await this.send({ op: 'delete', id: ++this.nextId, before });
    return reply.deleted ?? 0;
  }

  private send(m: Exclude<ToWorker, { op: 'close' }>): Promise<FromWorker> {
    const t = this.current ?? this.start();
    return new Promise<FromWorker>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      if (m.op === 'write') {
        timer = setTimeout(() => this.stuck(t), this.opts.busyTimeoutMs + WRITE_GRACE_MS);
        timer.unref();
      }
      // Referenced only while a message is out: an idle worker never keeps the process alive, and a
      // flush at shutdown is not cut short by the event loop running dry.
      if (t.pending.size === 0) t.worker.ref();
      t.pending.set(m.id, { resolve, reject, timer });
      t.worker.postMessage(m satisfies ToWorker);
    });
  }

  private writeHere(values: RequestValues[]): Promise<void> {
    try {
      this.inThread ??= sqliteRequestWriter(this.main);
      this.inThread(values);
      this.stats.inThreadBatches += 1;
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private start(): Thread {
    const options = {
      workerData: {
        path: this.opts.path,
        busyTimeoutMs: this.opts.busyTimeoutMs,
        checkpointEveryMs: CHECKPOINT_EVERY_MS,
      } satisfies RequestLogWorkerData,
      // A batch is at most a few hundred KB of values, freed as soon as it is written: a small young
      // generation keeps the isolate's memory small under load (V8 would otherwise grow it to 16 MB+).
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB, maxOldGenerationSizeMb: WORKER_OLD_MB },
    };
    const worker = import.meta.url.endsWith('.ts')
      ? sourceWorker(options)
      : new Worker(new URL('./request-log-worker.js', import.meta.url), options);
    worker.unref();
    const t: Thread = { worker, pending: new Map(), closing: false };
    worker.on('message', (m: FromWorker) => this.answer(t, m));
    worker.on('error', (err) => this.opts.log.error({ err }, 'request log worker failed'));
    worker.on('exit', (code) => this.exited(t, code));
    this.current = t;
    this.main.pragma('wal_autocheckpoint = 0');
    return t;
  }

  private answer(t: Thread, m: FromWorker): void {
    const p = t.pending.get(m.id);
    if (!p) return;
    t.pending.delete(m.id);
    clearTimeout(p.timer);
    if (t.pending.size === 0) t.worker.unref();
    if (m.error) {
      p.reject(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
    } else {
      p.resolve(m);
    }
  }

  private stuck(t: Thread): void {
    this.opts.log.error({ pending: t.pending.size }, 'request log worker stopped answering; replacing it');
    if (this.current === t) this.current = undefined;
    void t.worker.terminate();
  }

  private exited(t: Thread, code: number): void {
    if (this.current === t) this.current = undefined;
    const err = new Error(`request log worker exited (code ${code})`);
    for (const p of t.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    t.pending.clear();
    if (t.closing) return;
    this.stats.workerExits += 1;
    const now = Date.now();
    this.exits = this.exits.filter((at) => now - at < RESTART_WINDOW_MS);
    this.exits.push(now);
    if (this.exits.length > MAX_RESTARTS) {
      this.inThread ??= sqliteRequestWriter(this.main);
      this.restoreCheckpoints();
      this.opts.log.error(
        { code, exits: this.exits.length },
        'request log worker keeps exiting; writing the request log on the main thread from now on',
      );
    } else {
      // The next batch starts a new worker; the rows of the batches just rejected are retried.
      this.opts.log.warn({ code }, 'request log worker exited; a new one takes the next batch');
    }
  }

  private restoreCheckpoints(): void {
    try {
      if (this.main.open) this.main.pragma(`wal_autocheckpoint = ${this.autocheckpoint}`);
    } catch {
      // The connection is going away: nothing left to checkpoint from it.
    }
  }

  /**
   * Ends the worker once the batches sent to it are answered (messages are handled in order), after the
   * request-log writer has closed. Later batches, if any, are written on the main connection.
   */
  async close(): Promise<void> {
    this.closed = true;
    const t = this.current;
    this.current = undefined;
    this.restoreCheckpoints();
    if (!t) return;
    t.closing = true;
    const exited = new Promise<void>((resolve) => t.worker.once('exit', () => resolve()));
    t.worker.ref();
    t.worker.postMessage({ op: 'close' } satisfies ToWorker);
    const timer = setTimeout(() => void t.worker.terminate(), CLOSE_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}
