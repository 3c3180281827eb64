import type Database from 'better-sqlite3';
import { randomHex } from '../../core/ids.js';
import { openSqlite } from '../../db/sqlite.js';
import { GatewayError, isGatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionRequest } from '../../types/openai.js';
import type { GatewayState } from '../gateway-state.js';
import { isFinalError, runChatForJob } from '../jobs/chat-job.js';
import type { JobService } from '../jobs/job-service.js';
import type { FileService } from './file-service.js';

/**
 * OpenAI's Batch API over the job queue: a batch is a `batch.run` job that validates the JSONL input file
 * and submits one `batch.request` job per line; each line's job records its own result (once, keyed by
 * batch and line) and the last one to finish writes the output and error files.
 */

export const BATCH_ENDPOINTS = ['/v1/chat/completions'] as const;
const MAX_LINES = 50_000;
const MAX_REPORTED_ERRORS = 100;

export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

interface BatchRow {
  id: string;
  team: string;
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  errors: string | null;
  metadata: string | null;
  total: number;
  completed: number;
  failed: number;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sy_batches (
  id TEXT PRIMARY KEY, team TEXT NOT NULL, endpoint TEXT NOT NULL, input_file_id TEXT NOT NULL,
  completion_window TEXT NOT NULL, status TEXT NOT NULL, output_file_id TEXT, error_file_id TEXT, errors TEXT,
  metadata TEXT, total INTEGER NOT NULL DEFAULT 0, completed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL, in_progress_at INTEGER, expires_at INTEGER NOT NULL, finalizing_at INTEGER,
  completed_at INTEGER, failed_at INTEGER, cancelling_at INTEGER, cancelled_at INTEGER
);
CREATE INDEX IF NOT EXISTS sy_batches_team ON sy_batches (team, created_at);
CREATE TABLE IF NOT EXISTS sy_batch_results (
  batch_id TEXT NOT NULL, line INTEGER NOT NULL, custom_id TEXT NOT NULL, ok INTEGER NOT NULL, record TEXT NOT NULL,
  PRIMARY KEY (batch_id, line)
);
`;

const sec = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

export function batchJson(b: BatchRow) {
  return {
    id: b.id,
    object: 'batch' as const,
    endpoint: b.endpoint,
    errors: b.errors ? JSON.parse(b.errors) : null,
    input_file_id: b.input_file_id,
    completion_window: b.completion_window,
    status: b.status,
    output_file_id: b.output_file_id,
    error_file_id: b.error_file_id,
    created_at: sec(b.created_at),
    in_progress_at: sec(b.in_progress_at),
    expires_at: sec(b.expires_at),
    finalizing_at: sec(b.finalizing_at),
    completed_at: sec(b.completed_at),
    failed_at: sec(b.failed_at),
    expired_at: null,
    cancelling_at: sec(b.cancelling_at),
    cancelled_at: sec(b.cancelled_at),
    request_counts: { total: b.total, completed: b.completed, failed: b.failed },
    metadata: b.metadata ? JSON.parse(b.metadata) : null,
  };
}

interface BatchRequestInput {
  batch_id: string;
  line: number;
  custom_id: string;
  body: ChatCompletionRequest;
}

export class BatchService {
  private conn: Database.Database | undefined;

  /** Opens nothing until first used: a gateway that never sees a batch creates no database file. */
  constructor(
    private readonly dbPath: string,
    private readonly filesOf: () => FileService,
    private readonly jobs: JobService,
  ) {}

  private get db(): Database.Database {
    if (!this.conn) {
      this.conn = openSqlite(this.dbPath);
      this.conn.pragma('journal_mode = WAL');
      this.conn.pragma('busy_timeout = 5000');
      this.conn.exec(SCHEMA);
    }
    return this.conn;
  }

  private get files(): FileService {
    return this.filesOf();
  }

  private row(id: string): BatchRow | undefined {
    return this.db.prepare('SELECT * FROM sy_batches WHERE id = ?').get(id) as BatchRow | undefined;
  }

  get(id: string, team: string): BatchRow {
    const b = this.row(id);
    if (!b || b.team !== team) throw new GatewayError('batch_not_found', `no batch '${id}'`, { param: 'id' });
    return b;
  }

  list(team: string, limit: number, after?: string): BatchRow[] {
    return this.db
      .prepare(
        `SELECT * FROM sy_batches WHERE team = @team
         AND (@after IS NULL OR rowid < (SELECT rowid FROM sy_batches WHERE id = @after))
         ORDER BY rowid DESC LIMIT @limit`,
      )
      .all({ team, limit, after: after ?? null }) as BatchRow[];
  }

  async create(
    team: string,
    req: {
      input_file_id: string;
      endpoint: string;
      completion_window: string;
      metadata?: Record<string, string>;
    },
  ): Promise<BatchRow> {
    const file = this.files.get(req.input_file_id, team);
    if (file.purpose !== 'batch') {
      throw new GatewayError(
        'invalid_value',
        `file '${file.id}' has purpose '${file.purpose}'; a batch needs purpose 'batch'`,
        {
          param: 'input_file_id',
        },
      );
    }
    const id = `batch_${randomHex(24)}`;
    const now = Date.now();
    this.db
      .prepare(
        `INSERT INTO sy_batches (id, team, endpoint, input_file_id, completion_window, status, metadata, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, 'validating', ?, ?, ?)`,
      )
      .run(
        id,
        team,
        req.endpoint,
        file.id,
        req.completion_window,
        req.metadata ? JSON.stringify(req.metadata) : null,
        now,
        now + 86_400_000,
      );
    await this.jobs.enqueueInternal({
      type: 'batch.run',
      team,
      input: { batch_id: id },
      idempotencyKey: `batch:${id}`,
    });
    return this.get(id, team);
  }

  cancel(id: string, team: string): BatchRow {
    const b = this.get(id, team);
    if (b.status === 'validating' || b.status === 'in_progress') {
      this.db
        .prepare(
          `UPDATE sy_batches SET status = 'cancelling', cancelling_at = ? WHERE id = ? AND status IN ('validating', 'in_progress')`,
        )
        .run(Date.now(), id);
      return this.get(id, team);
    }
    if (b.status === 'cancelling' || b.status === 'cancelled') return b;
    throw new GatewayError('batch_not_cancellable', `batch '${id}' is ${b.status}`, { param: 'id' });
  }

  register(state: GatewayState): void {
    this.jobs.registry.register<{ batch_id: string }, unknown>({
      name: 'batch.run',
      public: false,
      concurrency: 2,
      handler: async ({ batch_id }, ctx) => {
        const b = this.row(batch_id);
        if (!b) return { skipped: 'no such batch' };
        if (b.status === 'cancelling') {
          this.db
            .prepare(`UPDATE sy_batches SET status = 'cancelled', cancelled_at = ? WHERE id = ?`)
            .run(Date.now(), batch_id);
          return { cancelled: true };
        }
        if (b.status !== 'validating') return { skipped: b.status };
        const text = await this.files.text(b.input_file_id, b.team);
        const { requests, errors } = parseBatchInput(text, b.endpoint);
        if (errors.length > 0) {
          this.db
            .prepare(`UPDATE sy_batches SET status = 'failed', failed_at = ?, errors = ? WHERE id = ?`)
            .run(Date.now(), JSON.stringify({ object: 'list', data: errors }), batch_id);
          return { failed: errors.length };
        }
        this.db
          .prepare(
            `UPDATE sy_batches SET status = 'in_progress', in_progress_at = ?, total = ? WHERE id = ? AND status = 'validating'`,
          )
          .run(Date.now(), requests.length, batch_id);
        for (const [i, r] of requests.entries()) {
          await this.jobs.enqueueInternal({
            type: 'batch.request',
            team: b.team,
            input: {
              batch_id,
              line: r.line,
              custom_id: r.custom_id,
              body: r.body,
            } satisfies BatchRequestInput,
            priority: 'background',
            idempotencyKey: `batch:${batch_id}:${r.line}`,
          });
          if (i % 500 === 0)
            await ctx.progress(Math.round((i / requests.length) * 100), `submitted ${i} requests`);
        }
        return { requests: requests.length };
      },
    });

    this.jobs.registry.register<BatchRequestInput, unknown>({
      name: 'batch.request',
      public: false,
      concurrency: 16,
      maxAttempts: 3,
      handler: async (input, ctx) => {
        const b = this.row(input.batch_id);
        if (!b) return { skipped: 'no such batch' };
        const reqId = `batch_req_${randomHex(24)}`;
        if (b.status === 'cancelling' || b.status === 'cancelled') {
          await this.record(input, false, {
            id: reqId,
            custom_id: input.custom_id,
            response: null,
            error: { code: 'batch_cancelled', message: 'The batch was cancelled before this request ran.' },
          });
          return { cancelled: true };
        }
        try {
          const completion = await runChatForJob(state, input.body, ctx, 'batch:/v1/chat/completions');
          await this.record(input, true, {
            id: reqId,
            custom_id: input.custom_id,
            response: { status_code: 200, request_id: `${ctx.job.id}.${ctx.attempt}`, body: completion },
            error: null,
          });
          return { status_code: 200 };
        } catch (err) {
          // Retryable failures go back to the queue until the last attempt; then the line records the error.
          if (!isFinalError(err) && ctx.attempt < 3 && !ctx.signal.aborted) throw err;
          const status = isGatewayError(err) ? err.status : 500;
          const body = isGatewayError(err)
            ? err.toBody()
            : {
                error: {
                  message: 'internal error',
                  type: 'server_error',
                  code: 'internal_error',
                  param: null,
                },
              };
          await this.record(input, false, {
            id: reqId,
            custom_id: input.custom_id,
            response: { status_code: status, request_id: `${ctx.job.id}.${ctx.attempt}`, body },
            error: null,
          });
          return { status_code: status };
        }
      },
    });
  }

  /** Records a line's result once, counts it, and finalizes the batch when it was the last. */
  private async record(input: BatchRequestInput, ok: boolean, record: unknown): Promise<void> {
    const inserted = this.db
      .prepare(
        'INSERT OR IGNORE INTO sy_batch_results (batch_id, line, custom_id, ok, record) VALUES (?, ?, ?, ?, ?)',
      )
      .run(input.batch_id, input.line, input.custom_id, ok ? 1 : 0, JSON.stringify(record)).changes;
    if (inserted !== 1) return;
    const b = this.db
      .prepare(
        `UPDATE sy_batches SET completed = completed + ?, failed = failed + ? WHERE id = ? RETURNING total, completed, failed`,
      )
      .get(ok ? 1 : 0, ok ? 0 : 1, input.batch_id) as { total: number; completed: number; failed: number };
    if (b.completed + b.failed === b.total) await this.finalize(input.batch_id);
  }

  private async finalize(id: string): Promise<void> {
    const claimed = this.db
      .prepare(
        `UPDATE sy_batches SET status = CASE status WHEN 'cancelling' THEN 'cancelling' ELSE 'finalizing' END, finalizing_at = ?
         WHERE id = ? AND status IN ('in_progress', 'cancelling') AND finalizing_at IS NULL RETURNING *`,
      )
      .get(Date.now(), id) as BatchRow | undefined;
    if (!claimed) return;
    const rows = this.db
      .prepare('SELECT ok, record FROM sy_batch_results WHERE batch_id = ? ORDER BY line')
      .all(id) as Array<{ ok: number; record: string }>;
    const out = rows
      .filter((r) => r.ok === 1)
      .map((r) => `${r.record}\n`)
      .join('');
    const errs = rows
      .filter((r) => r.ok === 0)
      .map((r) => `${r.record}\n`)
      .join('');
    const outFile = out
      ? await this.files.createFromText(claimed.team, `${id}_output.jsonl`, 'batch_output', out)
      : undefined;
    const errFile = errs
      ? await this.files.createFromText(claimed.team, `${id}_error.jsonl`, 'batch_output', errs)
      : undefined;
    const now = Date.now();
    const cancelled = claimed.status === 'cancelling';
    this.db
      .prepare(
        `UPDATE sy_batches SET status = ?, output_file_id = ?, error_file_id = ?, completed_at = ?, cancelled_at = ? WHERE id = ?`,
      )
      .run(
        cancelled ? 'cancelled' : 'completed',
        outFile?.id ?? null,
        errFile?.id ?? null,
        cancelled ? null : now,
        cancelled ? now : null,
        id,
      );
    this.db.prepare('DELETE FROM sy_batch_results WHERE batch_id = ?').run(id);
  }

  close(): void {
    this.conn?.close();
  }
}

interface ParsedLine {
  line: number;
  custom_id: string;
  body: ChatCompletionRequest;
}

interface LineError {
  code: string;
  message: string;
  param: string | null;
  line: number;
}

/** Checks every line as OpenAI does before a batch starts: JSON, unique custom_id, method, url, body. */
export function parseBatchInput(
  text: string,
  endpoint: string,
): { requests: ParsedLine[]; errors: LineError[] } {
  const requests: ParsedLine[] = [];
  const errors: LineError[] = [];
  const ids = new Set<string>();
  const lines = text.split('\n');
  const err = (line: number, message: string, param: string | null = null) => {
    if (errors.length < MAX_REPORTED_ERRORS) errors.push({ code: 'invalid_request', message, param, line });
  };
  for (const [i, raw] of lines.entries()) {
    const line = i + 1;
    if (raw.trim() === '') continue;
    if (requests.length + errors.length >= MAX_LINES) {
      err(line, `a batch may hold at most ${MAX_LINES} requests`);
      break;
    }
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      err(line, 'the line is not valid JSON');
      continue;
    }
    const o = v as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) err(line, 'the line must be a JSON object');
    else if (typeof o.custom_id !== 'string' || o.custom_id.length === 0 || o.custom_id.length > 512) {
      err(line, 'custom_id must be a string of 1 to 512 characters', 'custom_id');
    } else if (ids.has(o.custom_id)) err(line, `custom_id '${o.custom_id}' is used twice`, 'custom_id');
    else if (o.method !== 'POST') err(line, "method must be 'POST'", 'method');
    else if (o.url !== endpoint) err(line, `url must be the batch's endpoint '${endpoint}'`, 'url');
    else if (
      typeof o.body !== 'object' ||
      o.body === null ||
      typeof (o.body as { model?: unknown }).model !== 'string'
    ) {
      err(line, 'body must be a chat completion request with a model', 'body');
    } else if (!Array.isArray((o.body as { messages?: unknown }).messages))
      err(line, 'body.messages must be an array', 'body.messages');
    else if ((o.body as { stream?: unknown }).stream === true)
      err(line, 'body.stream is not supported in a batch', 'body.stream');
    else {
      ids.add(o.custom_id);
      requests.push({ line, custom_id: o.custom_id, body: o.body as ChatCompletionRequest });
    }
  }
  if (requests.length === 0 && errors.length === 0) err(0, 'the input file holds no requests');
  return { requests, errors };
}
