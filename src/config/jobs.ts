import { type Static, Type as T } from '@sinclair/typebox';
import { checkCron } from '../core/cron.js';
import { parseDuration, parseSize } from '../core/units.js';
import type { JobsSpec, JobTypeSpec } from '../types/config.js';

const Duration = T.Union([T.String(), T.Number({ minimum: 0 })], {
  description: "duration: '30s', '200ms', or ms",
});
const Size = T.Union([T.String(), T.Integer({ minimum: 0 })], { description: "size: '10mb', or bytes" });

/** Job type names double as queue names: short, and safe as Redis key parts and metric labels. */
export const JOB_TYPE_PATTERN = '^[a-z][a-z0-9_.-]{0,63}$';

export const JobsSchema = T.Object(
  {
    enabled: T.Optional(T.Boolean()),
    backend: T.Optional(T.Union([T.Literal('sqlite'), T.Literal('bullmq')])),
    database: T.Optional(T.String({ minLength: 1 })),
    embedded_worker: T.Optional(T.Boolean()),
    lease: T.Optional(Duration),
    lock: T.Optional(Duration),
    stalled_interval: T.Optional(Duration),
    retention: T.Optional(Duration),
    backoff: T.Optional(
      T.Object({ base: T.Optional(Duration), max: T.Optional(Duration) }, { additionalProperties: false }),
    ),
    max_input_size: T.Optional(Size),
    files_dir: T.Optional(T.String({ minLength: 1 })),
    max_file_size: T.Optional(Size),
    batch_window: T.Optional(Duration),
    batch_finalize_timeout: T.Optional(Duration),
    types: T.Optional(
      T.Record(
        T.String({ pattern: JOB_TYPE_PATTERN }),
        T.Object(
          {
            concurrency: T.Optional(T.Integer({ minimum: 1, maximum: 1000 })),
            max_attempts: T.Optional(T.Integer({ minimum: 1, maximum: 100 })),
            rate_limit: T.Optional(
              T.Object({ max: T.Integer({ minimum: 1 }), per: Duration }, { additionalProperties: false }),
            ),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    schedules: T.Optional(
      T.Array(
        T.Object(
          {
            name: T.String({ pattern: '^[A-Za-z0-9_.:-]{1,100}$' }),
            cron: T.String({ minLength: 1 }),
            type: T.String({ pattern: JOB_TYPE_PATTERN }),
            input: T.Optional(T.Unknown()),
            tz: T.Optional(T.String({ minLength: 1 })),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    webhooks: T.Optional(
      T.Object(
        {
          secret: T.Optional(T.String()),
          timeout: T.Optional(Duration),
          max_attempts: T.Optional(T.Integer({ minimum: 1, maximum: 20 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type RawJobs = Static<typeof JobsSchema>;

export const JOB_DEFAULTS = {
  databasePath: './data/switchyard.db',
  leaseMs: 10_000,
  lockMs: 5_000,
  stalledIntervalMs: 1_000,
  retentionMs: 7 * 86_400_000,
  backoff: { baseMs: 1_000, maxMs: 300_000 },
  maxInputBytes: 1024 * 1024,
  filesDir: './data/files',
  maxFileBytes: 512 * 1024 * 1024,
  batchWindowMs: 86_400_000,
  batchFinalizeTimeoutMs: 600_000,
  webhookTimeoutMs: 10_000,
  webhookMaxAttempts: 5,
};

export function resolveJobs(raw: RawJobs | undefined, hasRedis: boolean, issues: string[]): JobsSpec {
  const j: RawJobs = raw ?? {};
  const dur = (v: string | number | undefined, key: string, dflt: number) => {
    if (v === undefined) return dflt;
    const ms = parseDuration(v);
    if (ms === undefined) issues.push(`jobs.${key}: must be a duration such as '10s'`);
    return ms ?? dflt;
  };
  const backend = j.backend ?? 'sqlite';
  if (backend === 'bullmq' && !hasRedis) issues.push('jobs.backend: bullmq needs `redis.url`');
  const maxInput = j.max_input_size === undefined ? JOB_DEFAULTS.maxInputBytes : parseSize(j.max_input_size);
  if (maxInput === undefined) issues.push(`jobs.max_input_size: must be a size such as '1mb'`);
  const maxFile = j.max_file_size === undefined ? JOB_DEFAULTS.maxFileBytes : parseSize(j.max_file_size);
  if (maxFile === undefined) issues.push(`jobs.max_file_size: must be a size such as '512mb'`);
  const types = new Map<string, Partial<JobTypeSpec>>();
  for (const [name, t] of Object.entries(j.types ?? {})) {
    if (!new RegExp(JOB_TYPE_PATTERN).test(name)) {
      issues.push(`jobs.types.${name}: a job type name must match ${JOB_TYPE_PATTERN}`);
      continue;
    }
    types.set(name, {
      ...(t.concurrency !== undefined ? { concurrency: t.concurrency } : {}),
      ...(t.max_attempts !== undefined ? { maxAttempts: t.max_attempts } : {}),
      ...(t.rate_limit
        ? {
            rateLimit: {
              max: t.rate_limit.max,
              durationMs: dur(t.rate_limit.per, `types.${name}.rate_limit.per`, 1000),
            },
          }
        : {}),
    });
  }
  const names = new Set<string>();
  const schedules = (j.schedules ?? []).map((s, i) => {
    if (names.has(s.name)) issues.push(`jobs.schedules[${i}].name: '${s.name}' is used twice`);
    names.add(s.name);
    const bad = checkCron(s.cron, s.tz);
    if (bad) issues.push(`jobs.schedules[${i}].cron: ${bad}`);
    return { name: s.name, cron: s.cron, type: s.type, input: s.input ?? null, tz: s.tz };
  });
  return {
    enabled: j.enabled ?? true,
    backend,
    databasePath: j.database ?? JOB_DEFAULTS.databasePath,
    embeddedWorker: j.embedded_worker ?? true,
    leaseMs: dur(j.lease, 'lease', JOB_DEFAULTS.leaseMs),
    lockMs: dur(j.lock, 'lock', JOB_DEFAULTS.lockMs),
    stalledIntervalMs: dur(j.stalled_interval, 'stalled_interval', JOB_DEFAULTS.stalledIntervalMs),
    retentionMs: dur(j.retention, 'retention', JOB_DEFAULTS.retentionMs),
    backoff: {
      baseMs: dur(j.backoff?.base, 'backoff.base', JOB_DEFAULTS.backoff.baseMs),
      maxMs: dur(j.backoff?.max, 'backoff.max', JOB_DEFAULTS.backoff.maxMs),
    },
    maxInputBytes: maxInput ?? JOB_DEFAULTS.maxInputBytes,
    filesDir: j.files_dir ?? JOB_DEFAULTS.filesDir,
    maxFileBytes: maxFile ?? JOB_DEFAULTS.maxFileBytes,
    batchWindowMs: dur(j.batch_window, 'batch_window', JOB_DEFAULTS.batchWindowMs),
    batchFinalizeTimeoutMs: dur(
      j.batch_finalize_timeout,
      'batch_finalize_timeout',
      JOB_DEFAULTS.batchFinalizeTimeoutMs,
    ),
    types,
    schedules,
    webhooks: {
      secret: j.webhooks?.secret || undefined,
      timeoutMs: dur(j.webhooks?.timeout, 'webhooks.timeout', JOB_DEFAULTS.webhookTimeoutMs),
      maxAttempts: j.webhooks?.max_attempts ?? JOB_DEFAULTS.webhookMaxAttempts,
    },
  };
}
