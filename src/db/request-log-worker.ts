import { setImmediate as yieldToMessages } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import {
  DELETE_CHUNK,
  type RequestValues,
  sqliteRequestDeleter,
  sqliteRequestWriter,
} from './request-log-sqlite.js';

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

export type ToWorker =
  | { op: 'write'; id: number; rows: RequestValues[] }
  | { op: 'delete'; id: number; before: number }
  | { op: 'close' };
/** `deleted`: for a delete, the rows it removed. */
export type FromWorker = { id: number; deleted?: number; error?: { message: string; code?: string } };

const opts = workerData as RequestLogWorkerData;
const port = parentPort!;
const db = new Database(opts.path, { timeout: opts.busyTimeoutMs });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('foreign_keys = ON');
// This connection keeps SQLite's automatic checkpoint (after a commit that leaves the WAL past 1,000
// pages): it writes most of the WAL, so the checkpoint, and its fsync, runs here.
const write = sqliteRequestWriter(db);
const deleteChunk = sqliteRequestDeleter(db);
let closing = false;

function failure(err: unknown): FromWorker['error'] {
  const e = err as { message?: string; code?: string };
  return { message: String(e.message ?? err), ...(e.code ? { code: e.code } : {}) };
}

/** Retention in chunks, with the message queue served between them: batches never wait for a sweep. */
async function sweep(id: number, before: number): Promise<void> {
  let deleted = 0;
  try {
    for (;;) {
      const n = deleteChunk(before);
      deleted += n;
      if (n < DELETE_CHUNK || closing) break;
      await yieldToMessages();
      if (closing) break;
    }
    port.postMessage({ id, deleted } satisfies FromWorker);
  } catch (err) {
    port.postMessage({ id, error: failure(err) } satisfies FromWorker);
  }
}
const checkpoint = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or closing: the next tick, or this connection's automatic checkpoint, does it.
  }
}, opts.checkpointEveryMs);

port.on('message', (m: ToWorker) => {
  if (m.op === 'delete') {
    void sweep(m.id, m.before);
    return;
  }
  if (m.op === 'close') {
    closing = true;
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
    reply = { id: m.id, error: failure(err) };
  }
  port.postMessage(reply);
});
