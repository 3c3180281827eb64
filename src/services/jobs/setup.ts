import type { Logger } from 'pino';
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
  /** Files and uploads; opened on first use. */
  files(): FileService;
  batches: BatchService;
  close(): Promise<void>;
}

export function createJobService(state: GatewayState, log: Logger): JobSetup {
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
  let files: FileService | undefined;
  const filesOf = () => {
    files ??= new FileService(config.jobs.databasePath, config.jobs.filesDir, config.jobs.maxFileBytes);
    return files;
  };
  const batches = new BatchService(config.jobs.databasePath, filesOf, jobs);
  batches.register(state);
  return {
    jobs,
    cpu,
    files: filesOf,
    batches,
    async close() {
      await cpu.close();
      batches.close();
      files?.close();
    },
  };
}
