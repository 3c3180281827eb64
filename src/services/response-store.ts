import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { LRUCache } from 'lru-cache';
import { boundedLru } from '../core/bounded-lru.js';
import type { ResponseBody, ResponseRow, ResponseRows } from '../db/response-rows.js';
import { RESPONSES_LIMITS } from '../dialects/responses/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { ResponseObject, ResponsesInputItem } from '../types/responses.js';

/**
 * Stored responses (`store: true`) for `previous_response_id`, `item_reference` and the GET/DELETE
 * endpoints. Every read is scoped by team: another team's id is simply not found (404), never a 403
 * that would confirm it exists. A response past its retention is not found either, swept or not.
 *
 * Two implementations pass one contract (test/contract/response-store.contract.ts): `DbResponseStore`
 * over the gateway's database (SQLite or PostgreSQL), the default wherever the database is open, and
 * `MemoryResponseStore`, for a GatewayState with no storage (the `switchyard worker` process and
 * pipeline tests without HTTP).
 */

export interface StoredResponse {
  id: string;
  team: string;
  /** Unix ms. */
  createdAt: number;
  response: ResponseObject;
  /** This request's own input items (with ids), oldest first; not the earlier turns. */
  input: ResponsesInputItem[];
  /** Size of the stored JSON (UTF-16 code units); set by the store on reads. */
  bytes?: number;
}

export interface ResponseStore {
  /**
   * Resolves once every reader of this store can find the response (for a store shared by several
   * instances, when it is committed, or after a bounded wait). Rejects, storing nothing, when the
   * response is over the size or item bounds.
   */
  put(rec: StoredResponse): Promise<void>;
  get(team: string, id: string): Promise<StoredResponse | undefined>;
  delete(team: string, id: string): Promise<boolean>;
  /** An input or output item of any stored response of this team, by item id. */
  item(team: string, itemId: string): Promise<ResponsesInputItem | undefined>;
  /**
   * The `previous_response_id` chain from `id`, newest first: it stops where a link is not found
   * (missing, expired, another team's), after `maxDepth` responses, or after the response that takes
   * the total `bytes` past `maxBytes`. The caller tells those apart from the last record.
   */
  chain(team: string, id: string, bounds: ChainBounds): Promise<StoredResponse[]>;
  /** Writes anything still buffered and stops timers. */
  close(): Promise<void>;
}

export interface ChainBounds {
  maxDepth: number;
  maxBytes: number;
}

/** `chain` by one `get` per link, from `start` (whose total so far is `bytes`). */
async function walk(
  get: (id: string) => Promise<StoredResponse | undefined>,
  start: string | null,
  bounds: ChainBounds,
  out: StoredResponse[] = [],
  bytes = 0,
): Promise<StoredResponse[]> {
  let next = start;
  while (next && out.length < bounds.maxDepth && bytes <= bounds.maxBytes) {
    const rec = await get(next);
    if (!rec) break;
    out.push(rec);
    bytes += rec.bytes ?? 0;
    next = rec.response.previous_response_id;
  }
  return out;
}

/** Input plus output items one stored response may hold (each is an index row for `item_reference`). */
export const MAX_STORED_ITEMS = 2 * RESPONSES_LIMITS.inputItems;

export class ResponseTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResponseTooLargeError';
  }
}

interface Limits {
  retentionMs: number;
  /** Largest stored JSON, in UTF-16 code units (bytes for ASCII). */
  maxBytes: number;
  /** The clock: tests move it to expire responses. */
  now?: () => number;
}

/** The stored JSON, checked against the bounds; throws ResponseTooLargeError. */
function encode(rec: StoredResponse, maxBytes: number): { json: string; itemIds: string[] } {
  const itemIds = itemIdsOf(rec);
  if (itemIds.length > MAX_STORED_ITEMS) {
    throw new ResponseTooLargeError(
      `response ${rec.id} has ${itemIds.length} items, more than the ${MAX_STORED_ITEMS} a stored response may hold`,
    );
  }
  const json = JSON.stringify({ response: rec.response, input: rec.input });
  if (json.length > maxBytes) {
    throw new ResponseTooLargeError(
      `response ${rec.id} is ${json.length} bytes as JSON, more than responses.max_size (${maxBytes})`,
    );
  }
  return { json, itemIds };
}

function itemIdsOf(rec: StoredResponse): string[] {
  const ids: string[] = [];
  for (const it of rec.input) if (it.type !== 'item_reference' && 'id' in it && it.id) ids.push(it.id);
  for (const it of rec.response.output) ids.push(it.id);
  return ids;
}

function findItem(rec: StoredResponse, itemId: string): ResponsesInputItem | undefined {
  return (
    (rec.response.output as ResponsesInputItem[]).find((o) => 'id' in o && o.id === itemId) ??
    rec.input.find((i) => i.type !== 'item_reference' && 'id' in i && i.id === itemId)
  );
}

export interface MemoryResponseStoreOptions extends Limits {
  /** Responses kept at most; the least recently used go first. */
  maxEntries: number;
}

interface MemoryEntry {
  rec: StoredResponse;
  expiresAt: number;
}

/** Bounded in-process store: an LRU with expiry times, for processes without the database. */
export class MemoryResponseStore implements ResponseStore {
  private readonly responses: LRUCache<string, MemoryEntry>;
  /**
   * team\0itemId -> ids of the responses holding it, newest last (a client may send an item back in
   * several requests); ids whose response is gone are skipped on read.
   */
  private readonly items: LRUCache<string, string[]>;
  private readonly now: () => number;

  constructor(private readonly opts: MemoryResponseStoreOptions) {
    this.now = opts.now ?? Date.now;
    this.responses = boundedLru({ maxEntries: opts.maxEntries });
    // A response has a handful of items; the index is bounded in proportion.
    this.items = boundedLru({ maxEntries: opts.maxEntries * 16 });
  }

  async put(rec: StoredResponse): Promise<void> {
    const { json, itemIds } = encode(rec, this.opts.maxBytes);
    this.responses.set(key(rec.team, rec.id), {
      rec: { ...rec, bytes: json.length },
      expiresAt: rec.createdAt + this.opts.retentionMs,
    });
    for (const id of itemIds) {
      const k = key(rec.team, id);
      const holders = (this.items.get(k) ?? []).filter((h) => h !== rec.id);
      holders.push(rec.id);
      // Holders beyond the newest few are older copies of the same item; drop them to stay bounded.
      this.items.set(k, holders.slice(-MAX_HOLDERS));
    }
  }

  private live(team: string, id: string): MemoryEntry | undefined {
    const k = key(team, id);
    const e = this.responses.get(k);
    if (e && e.expiresAt <= this.now()) {
      this.responses.delete(k);
      return undefined;
    }
    return e;
  }

  async get(team: string, id: string): Promise<StoredResponse | undefined> {
    return this.live(team, id)?.rec;
  }

  async delete(team: string, id: string): Promise<boolean> {
    if (!this.live(team, id)) return false;
    return this.responses.delete(key(team, id));
  }

  async item(team: string, itemId: string): Promise<ResponsesInputItem | undefined> {
    const holders = this.items.get(key(team, itemId)) ?? [];
    for (let i = holders.length - 1; i >= 0; i--) {
      const e = this.live(team, holders[i]!);
      const found = e && findItem(e.rec, itemId);
      if (found) return found;
    }
    return undefined;
  }

  chain(team: string, id: string, bounds: ChainBounds): Promise<StoredResponse[]> {
    return walk((next) => this.get(team, next), id, bounds);
  }

  async close(): Promise<void> {}
}

/** Responses remembered per item id in memory. */
const MAX_HOLDERS = 8;

function key(team: string, id: string): string {
  return `${team}\u0000${id}`;
}

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DbResponseStoreOptions extends Limits {
  log: Log;
  /** Responses per write transaction. */
  batchSize?: number;
  /** Written-behind JSON held in memory at most (bytes); past it, new responses are not stored. */
  maxPendingBytes?: number;
  /** How often expired rows are deleted; 0 turns the sweep off (reads still ignore expired rows). */
  sweepEveryMs?: number;
  /**
   * How long `put` waits for its batch to commit (0: resolves once queued). Other instances sharing
   * the database read committed rows only, so a caller that answers after `put` resolves can continue
   * the conversation on any instance. Past the wait the row stays queued and is written later.
   */
  awaitCommitMs?: number;
}

interface Pending {
  rec: StoredResponse;
  row: ResponseRow;
  /** Resolves the `put` waiting for this row's commit. */
  done?: () => void;
}

/** About a millisecond of synchronous SQLite work per transaction (measured: bench/micro/response-store). */
const DEFAULT_BATCH = 50;
const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;
const SWEEP_EVERY_MS = 3_600_000;
/** Rows per sweep transaction: each is short, and requests run between them. */
const SWEEP_BATCH = 500;
const MAX_BACKOFF_MS = 5_000;

/**
 * Stored responses in the gateway's database, written behind: `put` only queues the row (no database
 * work on the request's path; with SQLite every statement is synchronous), and one transaction per
 * batch writes what has queued, as soon as the event loop is free (group commit: while one batch is
 * written, the next one gathers). Until a row is committed, reads on this instance are served from
 * the queue, so a `previous_response_id` sent the moment a response was returned is found. Other
 * instances see it once committed; with `awaitCommitMs` (PostgreSQL, see storage.ts) `put` resolves
 * only then, and the response is answered after it.
 *
 * Retention: each row carries its expiry time, reads ignore expired rows, and a timer deletes them in
 * small transactions.
 */
export class DbResponseStore implements ResponseStore {
  /** id -> queued or being written; removed once committed. */
  private readonly pending = new Map<string, Pending>();
  /** team\0itemId -> ids of the queued responses holding it, newest last. */
  private readonly pendingItems = new Map<string, string[]>();
  private pendingBytes = 0;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private firstSweep: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  private readonly now: () => number;
  private readonly batchSize: number;
  private readonly maxPendingBytes: number;
  /** Responses committed, refused (bounds, full queue, closed), failed write attempts, rows swept. */
  readonly stats = { written: 0, refused: 0, writeErrors: 0, swept: 0 };

  constructor(
    private readonly rows: ResponseRows,
    private readonly opts: DbResponseStoreOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH;
    this.maxPendingBytes = opts.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    const every = opts.sweepEveryMs ?? SWEEP_EVERY_MS;
    if (every > 0) {
      // The first sweep waits a little, so startup stays fast; then one per interval.
      const sweep = () => void this.sweep().catch((err) => opts.log.warn({ err }, 'responses: sweep failed'));
      this.firstSweep = setTimeout(sweep, Math.min(every, 10_000));
      this.firstSweep.unref();
      this.sweepTimer = setInterval(sweep, every);
      this.sweepTimer.unref();
    }
  }

  /** Responses queued or being written. */
  get buffered(): number {
    return this.pending.size;
  }

  async put(rec: StoredResponse): Promise<void> {
    const refuse = (err: Error) => {
      this.stats.refused += 1;
      throw err;
    };
    if (this.closed) refuse(new Error('response store is closed'));
    let encoded: { json: string; itemIds: string[] };
    try {
      encoded = encode(rec, this.opts.maxBytes);
    } catch (err) {
      return refuse(err as Error);
    }
    if (this.pendingBytes + encoded.json.length > this.maxPendingBytes) {
      refuse(new Error('response store: the write queue is full (is the database down?); not stored'));
    }
    const row: ResponseRow = {
      id: rec.id,
      teamId: rec.team,
      createdAt: rec.createdAt,
      expiresAt: rec.createdAt + this.opts.retentionMs,
      previousResponseId: rec.response.previous_response_id ?? null,
      bytes: encoded.json.length,
      body: encoded.json,
      itemIds: encoded.itemIds,
    };
    const p: Pending = { rec: { ...rec, bytes: row.bytes }, row };
    const old = this.pending.get(rec.id);
    if (old) this.unqueue(old);
    this.pending.set(rec.id, p);
    this.pendingBytes += row.bytes;
    for (const id of encoded.itemIds) {
      const k = key(rec.team, id);
      const holders = this.pendingItems.get(k);
      if (holders) holders.push(rec.id);
      else this.pendingItems.set(k, [rec.id]);
    }
    if (this.failures === 0) this.schedule(0);
    const wait = this.opts.awaitCommitMs ?? 0;
    if (wait <= 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, wait);
      p.done = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private queued(team: string, id: string): Pending | undefined {
    const p = this.pending.get(id);
    return p && p.row.teamId === team && p.row.expiresAt > this.now() ? p : undefined;
  }

  async get(team: string, id: string): Promise<StoredResponse | undefined> {
    const p = this.queued(team, id);
    if (p) return p.rec;
    const row = await this.read(() => this.rows.get(team, id, this.now()));
    return row && decode(team, row);
  }

  async delete(team: string, id: string): Promise<boolean> {
    const p = this.queued(team, id);
    if (p) this.unqueue(p);
    // A batch being written may hold it: once that commits, the delete below finds the row.
    if (this.flushing) await this.flushing.catch(() => {});
    const deleted = await this.read(() => this.rows.delete(team, id, this.now()));
    return deleted || p !== undefined;
  }

  async item(team: string, itemId: string): Promise<ResponsesInputItem | undefined> {
    const holders = this.pendingItems.get(key(team, itemId)) ?? [];
    for (let i = holders.length - 1; i >= 0; i--) {
      const p = this.queued(team, holders[i]!);
      const found = p && findItem(p.rec, itemId);
      if (found) return found;
    }
    const row = await this.read(() => this.rows.itemHolder(team, itemId, this.now()));
    return row && findItem(decode(team, row), itemId);
  }

  /** A database failure on a read is the caller's 503, not a 500 and not a silent "not found". */
  private async read<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (err) {
      this.opts.log.error({ err }, 'responses: database read failed');
      throw new GatewayError(
        'response_store_unavailable',
        'Stored responses cannot be read right now; try again.',
        { headers: { 'retry-after': '1' } },
      );
    }
  }

  /**
   * The newest turns are often still queued here; the rest comes from the database in one recursive
   * query rather than one round trip per turn.
   */
  async chain(team: string, id: string, bounds: ChainBounds): Promise<StoredResponse[]> {
    const out: StoredResponse[] = [];
    let bytes = 0;
    let next: string | null = id;
    for (;;) {
      if (!next || out.length >= bounds.maxDepth || bytes > bounds.maxBytes) return out;
      const p = this.queued(team, next);
      if (!p) break;
      out.push(p.rec);
      bytes += p.row.bytes;
      next = p.rec.response.previous_response_id;
    }
    const from = next;
    const rows = await this.read(() =>
      this.rows.chain(team, from, this.now(), bounds.maxDepth - out.length, bounds.maxBytes - bytes),
    );
    for (const row of rows) {
      out.push(decode(team, row));
      bytes += row.bytes;
    }
    // Rows come in order, so only an odd link (queued here behind one already written) is left: the
    // rest of the walk goes one link at a time from where the query stopped, normally not at all.
    const last = out.at(-1);
    if (rows.length === 0 || !last) return out;
    return walk((n) => this.get(team, n), last.response.previous_response_id, bounds, out, bytes);
  }

  private unqueue(p: Pending): void {
    if (this.pending.get(p.row.id) !== p) return;
    p.done?.();
    this.pending.delete(p.row.id);
    this.pendingBytes -= p.row.bytes;
    for (const id of p.row.itemIds) {
      const k = key(p.row.teamId, id);
      const holders = this.pendingItems.get(k)?.filter((h) => h !== p.row.id);
      if (holders?.length) this.pendingItems.set(k, holders);
      else this.pendingItems.delete(k);
    }
  }

  private schedule(delayMs: number): void {
    if (this.flushing || this.timer || this.immediate) return;
    if (delayMs === 0) {
      // As soon as the current I/O is done, without a timer's 1 ms floor.
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        void this.flush();
      });
      this.immediate.unref();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
    this.timer.unref();
  }

  /** Writes everything queued now, in batches. Resolves when the queue is empty or a write failed. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
      if (this.pending.size > 0 && !this.closed) {
        this.schedule(
          this.failures > 0 ? Math.min(50 * 2 ** Math.min(this.failures, 10), MAX_BACKOFF_MS) : 0,
        );
      }
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0) {
      const batch: Pending[] = [];
      for (const p of this.pending.values()) {
        batch.push(p);
        if (batch.length >= this.batchSize) break;
      }
      try {
        await this.rows.insert(batch.map((p) => p.row));
      } catch (err) {
        // Still queued and still readable here; retried with backoff (inserts are idempotent).
        this.stats.writeErrors += 1;
        if (this.failures === 0) {
          this.opts.log.error(
            { err, queued: this.pending.size },
            'responses: database write failed; queueing',
          );
        }
        this.failures += 1;
        return;
      }
      if (this.failures > 0) this.opts.log.warn({}, 'responses: database writes recovered');
      this.failures = 0;
      this.stats.written += batch.length;
      for (const p of batch) this.unqueue(p);
      if (this.pending.size > 0) await yieldToLoop();
    }
  }

  /** Deletes expired responses, a small transaction at a time; returns how many went. */
  async sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.rows.deleteExpired(this.now(), SWEEP_BATCH);
      total += n;
      if (n < SWEEP_BATCH || this.closed) break;
      await yieldToLoop();
    }
    this.stats.swept += total;
    if (total > 0) this.opts.log.info({ deleted: total }, 'responses: expired responses deleted');
    return total;
  }

  /** Stops the timers and writes what is queued, for at most `deadlineMs`; the rest is lost and logged. */
  async close(deadlineMs = 5_000): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.firstSweep) clearTimeout(this.firstSweep);
    const deadline = Date.now() + deadlineMs;
    while (this.pending.size > 0 && Date.now() < deadline) {
      const before = this.pending.size;
      await this.flush();
      if (this.pending.size >= before) {
        await new Promise((r) => setTimeout(r, Math.min(200, Math.max(0, deadline - Date.now()))));
      }
    }
    if (this.flushing) await this.flushing;
    if (this.pending.size > 0) {
      this.opts.log.error({ lost: this.pending.size }, 'responses: not written before shutdown');
      for (const p of this.pending.values()) p.done?.();
    }
  }
}

function decode(team: string, row: ResponseBody): StoredResponse {
  const { response, input } = JSON.parse(row.body) as {
    response: ResponseObject;
    input: ResponsesInputItem[];
  };
  return { id: row.id, team, createdAt: row.createdAt, response, input, bytes: row.bytes };
}
