import type { JobRecord } from '../../backends/queue/types.js';

/** A job as the API and webhooks show it. Times are Unix seconds, as in OpenAI's APIs. */
export interface JobJson {
  id: string;
  object: 'job';
  type: string;
  status: JobRecord['status'];
  priority: JobRecord['priority'];
  progress: number;
  progress_message: string | null;
  attempts: number;
  max_attempts: number;
  result: unknown;
  error: JobRecord['error'];
  idempotency_key: string | null;
  webhook: string | null;
  created_at: number;
  run_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const sec = (ms: number) => Math.floor(ms / 1000);

export function jobJson(j: JobRecord): JobJson {
  return {
    id: j.id,
    object: 'job',
    type: j.type,
    status: j.status,
    priority: j.priority,
    progress: j.progress,
    progress_message: j.progressMessage,
    attempts: j.attempts,
    max_attempts: j.maxAttempts,
    result: j.result ?? null,
    error: j.error,
    idempotency_key: j.idempotencyKey,
    webhook: j.webhook,
    created_at: sec(j.createdAt),
    run_at: sec(j.runAt),
    started_at: j.startedAt === null ? null : sec(j.startedAt),
    finished_at: j.finishedAt === null ? null : sec(j.finishedAt),
  };
}
