import type SqliteDatabase from 'better-sqlite3';
import type { UsageDailyTable } from './tables.js';

/**
 * The request log's write on SQLite, shared by the main thread (':memory:', and the fallback) and the
 * request-log worker thread (request-log-thread.ts). It imports no query builder, so the worker loads
 * better-sqlite3 and this file only.
 */

export const DAY_MS = 86_400_000;

export function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

export const REQUEST_COLUMNS = [
  'id',
  'request_id',
  'created_at',
  'team_id',
  'key_id',
  'user_id',
  'operation',
  'model',
  'provider',
  'upstream_model',
  'status',
  'error_class',
  'stream',
  'latency_ms',
  'ttft_ms',
  'prompt_tokens',
  'completion_tokens',
  'cost_micro_usd',
  'usage_estimated',
  'attempts',
  'cache_status',
] as const;

/**
 * One request_log row as its SQL values, in REQUEST_COLUMNS order: what crosses to the worker thread (an
 * array of primitives clones far cheaper than an object, whose 21 property names are written per row).
 */
export type RequestValues = [
  id: string,
  requestId: string,
  createdAt: number,
  teamId: string,
  keyId: string | null,
  userId: string | null,
  operation: string,
  model: string | null,
  provider: string | null,
  upstreamModel: string | null,
  status: number,
  errorClass: string | null,
  stream: 0 | 1,
  latencyMs: number,
  ttftMs: number | null,
  promptTokens: number,
  completionTokens: number,
  costMicroUsd: number,
  usageEstimated: 0 | 1,
  attempts: number,
  cacheStatus: string | null,
];

/**
 * The daily-usage rows a batch adds to: one per (day, team, key, model), so a batch of any size makes a
 * handful of upserts. Consecutive rows mostly share their group (one key calling one model), so the
 * last group is checked before the map's string key is built.
 */
class UsageRollup {
  private readonly groups = new Map<string, UsageDailyTable>();
  private last: UsageDailyTable | undefined;

  add(v: RequestValues): void {
    const day = dayOf(v[2]);
    const teamId = v[3];
    const keyId = v[4] ?? '';
    const model = v[7] ?? '';
    let u = this.last;
    if (!u || u.day !== day || u.team_id !== teamId || u.key_id !== keyId || u.model !== model) {
      const k = `${day}\u0000${teamId}\u0000${keyId}\u0000${model}`;
      u = this.groups.get(k);
      if (!u) {
        u = {
          day,
          team_id: teamId,
          key_id: keyId,
          model,
          requests: 0,
          errors: 0,
          prompt_tokens: 0,
          completion_tokens: 0,
          cost_micro_usd: 0,
        };
        this.groups.set(k, u);
      }
      this.last = u;
    }
    u.requests += 1;
    if (v[10] >= 400) u.errors += 1;
    u.prompt_tokens += v[15];
    u.completion_tokens += v[16];
    u.cost_micro_usd += v[17];
  }

  rows(): IterableIterator<UsageDailyTable> {
    return this.groups.values();
  }
}

/**
 * Prepared once and run row by row inside one transaction. Through the query builder each batch would
 * compile and prepare a 2,000-parameter statement again, about ten times the CPU of the write itself.
 * Multi-row INSERTs prepared once (64/16/4/1 rows per statement) measured no cheaper (bench/README.md,
 * session 4): what a row costs here is SQLite's own work, the table, its id index and three secondary
 * indexes, and the WAL. Same SQL semantics as the PostgreSQL path in store.ts (and the same contract suite).
 */
export function sqliteRequestWriter(
  sqlite: SqliteDatabase.Database,
): (rows: readonly RequestValues[]) => void {
  const insert = sqlite.prepare(
    `insert into request_log (${REQUEST_COLUMNS.join(', ')}) values (${REQUEST_COLUMNS.map(() => '?').join(', ')})
     on conflict (id) do nothing`,
  );
  const upsert = sqlite.prepare(
    `insert into usage_daily (day, team_id, key_id, model, requests, errors, prompt_tokens, completion_tokens, cost_micro_usd)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?)
     on conflict (day, team_id, key_id, model) do update set
       requests = requests + excluded.requests, errors = errors + excluded.errors,
       prompt_tokens = prompt_tokens + excluded.prompt_tokens,
       completion_tokens = completion_tokens + excluded.completion_tokens,
       cost_micro_usd = cost_micro_usd + excluded.cost_micro_usd`,
  );
  return sqlite.transaction((rows: readonly RequestValues[]) => {
    const usage = new UsageRollup();
    for (const v of rows) {
      // A row already written (a batch retried) adds nothing to the totals.
      if (insert.run(v).changes === 1) usage.add(v);
    }
    for (const u of usage.rows()) {
      upsert.run(
        u.day,
        u.team_id,
        u.key_id,
        u.model,
        u.requests,
        u.errors,
        u.prompt_tokens,
        u.completion_tokens,
        u.cost_micro_usd,
      );
    }
  });
}

/** Rows per retention delete: each is its own short transaction, so writes interleave with a long sweep. */
export const DELETE_CHUNK = 2_000;

/**
 * Retention, one chunk at a time: deletes up to DELETE_CHUNK request rows older than `before`, oldest
 * first (the time index), and returns how many went. The caller repeats until fewer come back.
 */
export function sqliteRequestDeleter(sqlite: SqliteDatabase.Database): (before: number) => number {
  const del = sqlite.prepare(
    `delete from request_log where rowid in
       (select rowid from request_log where created_at < ? order by created_at limit ${DELETE_CHUNK})`,
  );
  return (before) => del.run(before).changes;
}
