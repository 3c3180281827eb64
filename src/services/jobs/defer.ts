import { isGatewayError } from '../../errors/gateway-error.js';
import type { Caller } from '../../types/caller.js';
import type { DeferToJob } from '../limits/limits-service.js';
import { CHAT_JOB_TYPE } from './chat-job.js';
import { jobJson } from './job-json.js';
import { type JobService, MAX_DELAY_MS } from './job-service.js';

/**
 * `on_limit: job`: a chat request over its tier's rate limit becomes a `chat.completion` job of the same
 * caller, held until the blocking limit has room again. The job runs through the pipeline and is
 * admitted against the same limits when it runs, so deferral adds no capacity.
 */
export function deferChatToJob(jobs: JobService): DeferToJob {
  return async (input, _blockedLimit, retryAfterMs) => {
    if (!input.deferrable) return undefined;
    const caller = input.deferrable.caller as Caller;
    try {
      const { job } = await jobs.submit({
        type: CHAT_JOB_TYPE,
        team: caller.team,
        caller,
        input: input.deferrable.body,
        priority: 'standard',
        delayMs: Math.min(retryAfterMs, MAX_DELAY_MS),
      });
      return { ...jobJson(job), status_url: `/v1/jobs/${job.id}` };
    } catch (err) {
      // A request the Jobs API would refuse (e.g. larger than jobs.max_input_size) gets the 429 instead.
      if (isGatewayError(err)) return undefined;
      throw err;
    }
  };
}
