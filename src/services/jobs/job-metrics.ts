import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { JobService } from './job-service.js';

const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

/**
 * Queue sizes are read from the queue when Prometheus scrapes (one query per scrape, none per job);
 * durations and outcomes are counted in the process that finished each job. Labels are job types, which
 * are registered names, so they are bounded.
 */
export function registerJobMetrics(registry: Registry, jobs: JobService): void {
  new Gauge({
    name: 'ai_queue_size',
    help: 'Jobs per queue (job type) and state: waiting, active, delayed, completed, failed.',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const c of await jobs.counts()) {
          for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed'] as const) {
            this.set({ queue: c.queue, state }, c[state]);
          }
        }
      } catch {
        // The queue is unreachable: report nothing rather than fail the whole scrape.
      }
    },
  });
  const duration = new Histogram({
    name: 'ai_job_duration_seconds',
    help: 'Time from a job first starting to its final outcome.',
    labelNames: ['type', 'outcome'] as const,
    buckets: JOB_BUCKETS,
    registers: [registry],
  });
  const outcomes = new Counter({
    name: 'ai_jobs_total',
    help: 'Finished jobs by type and outcome (completed, failed, cancelled).',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  });
  const retries = new Counter({
    name: 'ai_job_retries_total',
    help: 'Failed job attempts that will be retried.',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  jobs.onSettled((job, ms) => {
    outcomes.inc({ type: job.type, outcome: job.status });
    if (ms !== undefined) duration.observe({ type: job.type, outcome: job.status }, ms / 1000);
  });
  jobs.onRetry((job) => retries.inc({ type: job.type }));
}
