import { randomHex } from '../../core/ids.js';
import type { BatchResult, BatchRow, FileStore } from '../../db/file-store.js';
import { GatewayError, isGatewayError } from '../../errors/gateway-error.js';
import type { Caller } from '../../types/caller.js';
import type { ChatCompletionRequest } from '../../types/openai.js';
import type { GatewayState } from '../gateway-state.js';
import { isFinalError, runChatForJob } from '../jobs/chat-job.js';
import type { JobService } from '../jobs/job-service.js';
import type { FileService } from './file-service.js';

/**
 * OpenAI's Batch API over the job queue: a batch is a `batch.run` job that validates the JSONL input file
 * and submits one `batch.request` job per line; each line's job records its own result (once, keyed by
 * batch and line) and the last one to finish writes the output and error files. A batch still unfinished
 * when its window ends (`jobs.batch_window`) expires: what finished is kept, the rest is reported in the
 * error file as `batch_expired`. Records live in the FileStore, so every instance and worker shares them.
 */

export type { BatchRow, BatchStatus } from '../../db/file-store.js';

export const BATCH_ENDPOINTS = ['/v1/chat/completions'] as const;
const MAX_LINES = 50_000;
const MAX_REPORTED_ERRORS = 100;
const RESULT_PAGE = 1000;
const UNFINISHED = ['validating', 'in_progress', 'cancelling'] as const;

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
    expired_at: sec(b.expired_at),
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

/** A line that never ran: how the error file reports it. */
function unfinishedRecord(customId: string, code: 'batch_expired' | 'batch_cancelled'): string {
  return JSON.stringify({
    id: `batch_req_${randomHex(24)}`,
    custom_id: customId,
    response: null,
    error:
      code === 'batch_expired'
        ? { code, message: 'This request could not be executed before the completion window expired.' }
        : { code, message: 'The batch was cancelled before this request ran.' },
  });
}

export class BatchService {
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: FileStore,
    private readonly files: FileService,
    private readonly jobs: JobService,
    private readonly windowMs: number,
    /** A finalization older than this is taken over by the sweep (default 10 minutes). */
    private readonly finalizeTimeoutMs = 600_000,
  ) {}

  /** Expires batches past their window now and then; every process may run it (the claim is a compare-and-set). */
  startExpirySweep(log: { error(obj: object, msg: string): void }): void {
    if (this.sweep) return;
    const every = Math.max(
      250,
      Math.min(30_000, Math.floor(this.windowMs / 4), Math.floor(this.finalizeTimeoutMs / 4)),
    );
    this.sweep = setInterval(() => {
      void this.expireDue().catch((err: unknown) => log.error({ err }, 'batch expiry sweep failed'));
      void this.refinalizeStalled().catch((err: unknown) =>
        log.error({ err }, 'batch finalization takeover failed'),
      );
    }, every);
    this.sweep.unref();
  }

  /** Finalizes every unfinished batch whose window has ended; returns how many this call expired. */
  async expireDue(now = Date.now()): Promise<number> {
    let n = 0;
    for (const b of await this.store.expiredBatches(now, 50)) if (await this.finalize(b.id, 'expired')) n++;
    return n;
  }

  /**
   * Finishes batches whose finalizer died mid-way (the results are deleted only once the files are written,
   * so a second run writes the same files). Returns how many this call finished.
   */
  async refinalizeStalled(now = Date.now()): Promise<number> {
    let n = 0;
    for (const b of await this.store.stalledBatches(now - this.finalizeTimeoutMs, 50)) {
      const taken = await this.store.reclaimFinalizing(b.id, b.finalizing_at as number, now);
      if (!taken) continue;
      await this.writeOutcome(taken, taken.expired_at !== null ? 'expired' : 'done');
      n++;
    }
    return n;
  }

  async get(id: string, team: string): Promise<BatchRow> {
    let b = await this.store.getBatch(id);
    if (!b || b.team_id !== team)
      throw new GatewayError('batch_not_found', `no batch '${id}'`, { param: 'id' });
    // Read past its window before a sweep got to it: expire it now, so no reader sees it still running.
    if ((UNFINISHED as readonly string[]).includes(b.status) && b.expires_at < Date.now()) {
      await this.finalize(id, 'expired');
      b = (await this.store.getBatch(id)) ?? b;
    }
    return b;
  }

  list(team: string, limit: number, after?: string): Promise<BatchRow[]> {
    return this.store.listBatches(team, limit, after);
  }

  async create(
    caller: Caller,
    req: {
      input_file_id: string;
      endpoint: string;
      completion_window: string;
      metadata?: Record<string, string>;
    },
  ): Promise<BatchRow> {
    const team = caller.team;
    const file = await this.files.get(req.input_file_id, team);
    if (file.purpose !== 'batch') {
      throw new GatewayError(
        'invalid_value',
        `file '${file.id}' has purpose '${file.purpose}'; a batch needs purpose 'batch'`,
        { param: 'input_file_id' },
      );
    }
    const id = `batch_${randomHex(24)}`;
    const now = Date.now();
    await this.store.insertBatch({
      id,
      team_id: team,
      endpoint: req.endpoint,
      input_file_id: file.id,
      completion_window: req.completion_window,
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      errors: null,
      metadata: req.metadata ? JSON.stringify(req.metadata) : null,
      caller: JSON.stringify(caller),
      total: 0,
      completed: 0,
      failed: 0,
      created_at: now,
      in_progress_at: null,
      expires_at: now + this.windowMs,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
    });
    await this.jobs.enqueueInternal({
      type: 'batch.run',
      team,
      caller,
      input: { batch_id: id },
      idempotencyKey: `batch:${id}`,
    });
    return this.get(id, team);
  }

  async cancel(id: string, team: string): Promise<BatchRow> {
    const b = await this.get(id, team);
    if (b.status === 'validating' || b.status === 'in_progress') {
      const moved = await this.store.updateBatch(id, { status: 'cancelling', cancelling_at: Date.now() }, [
        'validating',
        'in_progress',
      ]);
      return moved ?? this.get(id, team);
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
        const b = await this.store.getBatch(batch_id);
        if (!b) return { skipped: 'no such batch' };
        if (b.status === 'cancelling') {
          await this.store.updateBatch(batch_id, { status: 'cancelled', cancelled_at: Date.now() }, [
            'cancelling',
          ]);
          return { cancelled: true };
        }
        if (b.status !== 'validating') return { skipped: b.status };
        if (b.expires_at < Date.now()) {
          await this.finalize(batch_id, 'expired');
          return { expired: true };
        }
        const text = await this.files.text(b.input_file_id, b.team_id);
        const { requests, errors } = parseBatchInput(text, b.endpoint);
        if (errors.length > 0) {
          await this.store.updateBatch(
            batch_id,
            {
              status: 'failed',
              failed_at: Date.now(),
              errors: JSON.stringify({ object: 'list', data: errors }),
            },
            ['validating'],
          );
          return { failed: errors.length };
        }
        const started = await this.store.updateBatch(
          batch_id,
          { status: 'in_progress', in_progress_at: Date.now(), total: requests.length },
          ['validating'],
        );
        if (!started) return { skipped: 'no longer validating' };
        // Every line runs and bills as the batch's submitter.
        const caller = b.caller ? (JSON.parse(b.caller) as Caller) : undefined;
        for (const [i, r] of requests.entries()) {
          await this.jobs.enqueueInternal({
            type: 'batch.request',
            team: b.team_id,
            caller,
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
        const b = await this.store.getBatch(input.batch_id);
        if (!b) return { skipped: 'no such batch' };
        const reqId = `batch_req_${randomHex(24)}`;
        if (b.status === 'cancelling' || b.status === 'cancelled') {
          await this.record(input, false, unfinishedRecord(input.custom_id, 'batch_cancelled'));
          return { cancelled: true };
        }
        // Finalized (expired, or finished by an earlier run of this line): nothing left to record.
        if (b.status !== 'in_progress') return { skipped: b.status };
        if (b.expires_at < Date.now()) {
          await this.finalize(b.id, 'expired');
          return { expired: true };
        }
        try {
          const completion = await runChatForJob(state, input.body, ctx, 'batch:/v1/chat/completions');
          await this.record(
            input,
            true,
            JSON.stringify({
              id: reqId,
              custom_id: input.custom_id,
              response: { status_code: 200, request_id: `${ctx.job.id}.${ctx.attempt}`, body: completion },
              error: null,
            }),
          );
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
          await this.record(
            input,
            false,
            JSON.stringify({
              id: reqId,
              custom_id: input.custom_id,
              response: { status_code: status, request_id: `${ctx.job.id}.${ctx.attempt}`, body },
              error: null,
            }),
          );
          return { status_code: status };
        }
      },
    });
  }

  /** Records a line's result once, counts it, and finalizes the batch when it was the last. */
  private async record(input: BatchRequestInput, ok: boolean, record: string): Promise<void> {
    const inserted = await this.store.recordResult(input.batch_id, {
      line: input.line,
      customId: input.custom_id,
      ok,
      record,
    });
    if (!inserted) return;
    const c = await this.store.countResult(input.batch_id, ok);
    if (c.completed + c.failed === c.total) await this.finalize(input.batch_id, 'done');
  }

  /**
   * Writes the output and error files and ends the batch: `completed`, `cancelled` (a cancel was asked),
   * or `expired` (its window ended first; lines that never ran go to the error file as `batch_expired`).
   * Exactly one caller wins the claim (a compare-and-set on the status), however many race for it.
   */
  private async finalize(id: string, why: 'done' | 'expired'): Promise<boolean> {
    const now = Date.now();
    const claimed = await this.store.updateBatch(
      id,
      { status: 'finalizing', finalizing_at: now, ...(why === 'expired' ? { expired_at: now } : {}) },
      UNFINISHED,
    );
    if (!claimed) return false;
    await this.writeOutcome(claimed, why);
    return true;
  }

  /** The second half of finalize, for a batch this process holds in `finalizing`. */
  private async writeOutcome(claimed: BatchRow, why: 'done' | 'expired'): Promise<void> {
    const id = claimed.id;
    const cancelled = claimed.cancelling_at !== null;
    const expired = why === 'expired' && !cancelled;
    // Lines that never ran: known from the input only when the batch ended early.
    let pending: Array<{ line: number; custom_id: string }> = [];
    if (why === 'expired' || cancelled) {
      try {
        pending = parseBatchInput(
          await this.files.text(claimed.input_file_id, claimed.team_id),
          claimed.endpoint,
        ).requests;
      } catch {
        // The input is gone: only what ran can be reported.
      }
    }
    const store = this.store;
    let unfinished = 0;
    // A line that never ran, as the error file shows it.
    const unfinishedLine = (l: { line: number; custom_id: string }): BatchResult => ({
      line: l.line,
      customId: l.custom_id,
      ok: false,
      record: unfinishedRecord(l.custom_id, cancelled ? 'batch_cancelled' : 'batch_expired'),
    });
    const merged = async function* (): AsyncGenerator<BatchResult> {
      let after = 0;
      let p = 0;
      for (;;) {
        const page = await store.results(id, after, RESULT_PAGE);
        for (const r of page) {
          for (; p < pending.length && (pending[p] as { line: number }).line < r.line; p++) {
            unfinished++;
            yield unfinishedLine(pending[p] as { line: number; custom_id: string });
          }
          if (p < pending.length && (pending[p] as { line: number }).line === r.line) p++;
          yield r;
        }
        if (page.length < RESULT_PAGE) break;
        after = (page.at(-1) as BatchResult).line;
      }
      for (; p < pending.length; p++) {
        unfinished++;
        yield unfinishedLine(pending[p] as { line: number; custom_id: string });
      }
    };
    // Two passes over the results (output, then errors), each streamed a page at a time into its file.
    const lines = (ok: boolean) =>
      (async function* () {
        for await (const r of merged()) if (r.ok === ok) yield `${r.record}\n`;
      })();
    const outFile = await this.fileOrNone(claimed, `${id}_output.jsonl`, lines(true));
    unfinished = 0;
    const errFile = await this.fileOrNone(claimed, `${id}_error.jsonl`, lines(false));
    const end = Date.now();
    await this.store.updateBatch(id, {
      status: cancelled ? 'cancelled' : expired ? 'expired' : 'completed',
      output_file_id: outFile?.id ?? null,
      error_file_id: errFile?.id ?? null,
      completed_at: cancelled || expired ? null : end,
      cancelled_at: cancelled ? end : null,
      failed: claimed.failed + unfinished,
      ...(claimed.total === 0 && pending.length > 0 ? { total: pending.length } : {}),
    });
    await this.store.deleteResults(id);
  }

  /** A batch_output file of these lines, or none when there are none. */
  private async fileOrNone(b: BatchRow, name: string, lines: AsyncIterable<string>) {
    const it = lines[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done) return undefined;
    return this.files.createFromLines(
      b.team_id,
      name,
      'batch_output',
      (async function* () {
        yield first.value;
        for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
      })(),
    );
  }

  close(): void {
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = undefined;
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
