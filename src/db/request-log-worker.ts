import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { type RequestValues, sqliteRequestWriter } from './request-log-sqlite.js';

/**
 * The request-log worker thread (started by request-log-thread.ts): its own connection to the gateway's
 * SQLite file, the batches' transactions, and the WAL checkpoints, all off the gateway's event loop.
 * Messages are handled one at a time, in order; each write is answered once it has committed (or failed).
 */

export interface RequestLogWorkerData {
  path: string;
  busyTimeoutMs: number;
  /** How often to run a PASSIVE checkpoint for WAL pages other connections wrote (they do not checkpoint). */
  checkpointEveryMs: number;
}

export type ToWorker = { op: 'write'; id: number; rows: RequestValues[] } | { op: 'close' };
export type FromWorker = { id: number; error?: { message: string; code?: string } };

const opts = workerData as RequestLogWorkerData;
const port = parentPort!;
const db = new Database(opts.path, { timeout: opts.busyTimeoutMs });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('foreign_keys = ON');
// This connection keeps SQLite's automatic checkpoint (after a commit that leaves the WAL past 1,000
// pages): it writes most of the WAL, so the checkpoint, and its fsync, runs here.
const write = sqliteRequestWriter(db);
const checkpoint = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or closing: the next tick, or this connection's automatic checkpoint, does it.
  }
}, opts.checkpointEveryMs);

port.on('message', (m: ToWorker) => {
  if (m.op === 'close') {
    clearInterval(checkpoint);
    db.close();
    port.close();
    return;
  }
  let reply: FromWorker;
  try {
    write(m.rows);
    reply = { id: m.id };
  } catch (err) {
    const e = err as { message?: string; code?: string };
    reply = { id: m.id, error: { message: String(e.message ?? err), ...(e.code ? { code: e.code } : {}) } };
  }
  port.postMessage(reply);
});
