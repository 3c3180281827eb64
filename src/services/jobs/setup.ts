import type { Logger } from 'pino';
import type { DbHandle } from '../../db/connect.js';
import { createFileStore } from '../../db/file-store.js';
import { BatchService } from '../files/batch-service.js';
import { FileService } from '../files/file-service.js';
import type { GatewayState } from '../gateway-state.js';
import { registerTextSplit } from './builtin.js';
import { registerChatJob } from './chat-job.js';
import { CpuPool } from './cpu-pool.js';
import { JobService } from './job-service.js';
import { JobRegistry } from './registry.js';
import { registerWebhooks } from './webhooks.js';

/** The job service with the built-in types, for the gateway and for `switchyard worker` alike. */
export interface JobSetup {
  jobs: JobService;
  cpu: CpuPool;
  /** Files and uploads, in the database's FileStore (shared by every instance with PostgreSQL). */
  files: FileService;
  batches: BatchService;
  close(): Promise<void>;
}

/** `db` is the storage layer's database (the gateway's, or one the worker opened): files and batches live there. */
export function createJobService(state: GatewayState, log: Logger, db: DbHandle): JobSetup {
  const config = state.runtime.config;
  const registry = new JobRegistry(config.jobs.types);
  const cpu = new CpuPool();
  const jobs = new JobService({ spec: config.jobs, redis: config.redis, registry, log });
  registerChatJob(registry, state);
  registerTextSplit(registry, cpu);
  registerWebhooks(jobs);
  jobs.onSettled((job, ms) =>
    log.info(
      { job_id: job.id, job_type: job.type, status: job.status, attempts: job.attempts, duration_ms: ms },
      'job settled',
    ),
  );
  const store = createFileStore(db, config.jobs.filesDir);
  const files = new FileService(store, config.jobs.maxFileBytes);
  const batches = new BatchService(
    store,
    files,
    jobs,
    config.jobs.batchWindowMs,
    config.jobs.batchFinalizeTimeoutMs,
  );
  batches.register(state);
  batches.startExpirySweep(log);
  return {
    jobs,
    cpu,
    files,
    batches,
    async close() {
      await cpu.close();
      batches.close();
      await store.close();
    },
  };
}
