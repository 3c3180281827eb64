import { NonRetryableJobError } from '../../backends/queue/types.js';
import { incomingTrace, PassthroughSpan } from '../../core/trace-context.js';
import { isGatewayError } from '../../errors/gateway-error.js';
import { createContext, type PipelineDeps } from '../../pipeline/context.js';
import { runPipeline } from '../../pipeline/pipeline.js';
import type { Caller } from '../../types/caller.js';
import type { ChatCompletion, ChatCompletionRequest } from '../../types/openai.js';
import type { GatewayState } from '../gateway-state.js';
import type { JobHandlerContext, JobRegistry } from './registry.js';

export const CHAT_JOB_TYPE = 'chat.completion';

/** Checks the shape a chat job needs before it is queued; the pipeline's own checks run when it executes. */
export function validateChatInput(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return 'input must be a chat completion request object';
  }
  const i = input as Record<string, unknown>;
  if (typeof i.model !== 'string' || i.model.length === 0 || i.model.length > 256) {
    return 'input.model must be a model name';
  }
  if (!Array.isArray(i.messages) || i.messages.length === 0)
    return 'input.messages must be a non-empty array';
  if (i.messages.length > 10_000) return 'input.messages may hold at most 10000 messages';
  if (i.stream === true) {
    return 'input.stream must not be true: a job stores one result (follow it with /v1/jobs/{id}/events)';
  }
  return undefined;
}

/**
 * `chat.completion`: one chat request through the gateway's pipeline (identify, resolve, admit, cache,
 * execute, settle) with a context built from the job instead of an HTTP request, so it gets the same
 * routing, retries, limits, cache, usage, events and request-log row. Upstream 4xx errors are final
 * (retrying cannot fix them); 429s, 5xx and timeouts are retried by the queue once the pipeline's own
 * retries and fallbacks are spent.
 */
/**
 * The pipeline's deps with identify replaced: the caller was identified when the job was submitted
 * (keys, JWT, the key's model allowlist), and a job carries no credentials to identify it again. The
 * job carries that caller whole (key, user, tier, per-key limits and budget), so admit charges and the
 * request log bills the submitter's key, not just its team. Everything else is the gateway's own.
 */
function jobDeps(state: GatewayState, job: JobHandlerContext['job']): PipelineDeps {
  const deps = state.pipelineDeps;
  const caller: Caller = job.caller ? { ...job.caller, team: job.team } : { team: job.team };
  return {
    ...deps,
    stages: {
      ...deps.stages,
      identify(ctx) {
        ctx.caller = caller;
      },
    },
  };
}

/** Runs one chat request through the pipeline as the job's team; shared by `chat.completion` and batches. */
export async function runChatForJob(
  state: GatewayState,
  body: ChatCompletionRequest,
  job: JobHandlerContext,
  path: string,
): Promise<ChatCompletion> {
  const ctx = createContext({
    // One request id per attempt, so each attempt has its own request-log row.
    id: `${job.job.id}.${job.attempt}`,
    signal: job.signal,
    span: new PassthroughSpan(incomingTrace({})),
    log: job.log,
    runtime: state.runtime,
    operation: 'chat',
    body: { ...body, stream: false },
    // No HTTP: no headers, no client address. Identity comes from the job, not from a header.
    ingress: { headers: {}, ip: undefined, path },
    deps: jobDeps(state, job.job),
  });
  return runPipeline(ctx);
}

/** Upstream 4xx errors (other than 408, 429 and a cancel's 499) cannot be fixed by retrying. */
export function isFinalError(err: unknown): boolean {
  return (
    isGatewayError(err) && err.status >= 400 && err.status < 500 && ![408, 429, 499].includes(err.status)
  );
}

export function registerChatJob(registry: JobRegistry, state: GatewayState): void {
  registry.register<ChatCompletionRequest, unknown>({
    name: CHAT_JOB_TYPE,
    concurrency: 16,
    validate: validateChatInput,
    async handler(input, job) {
      await job.progress(10, 'calling the model');
      try {
        return await runChatForJob(state, input, job, `job:${CHAT_JOB_TYPE}`);
      } catch (err) {
        if (isFinalError(err) && isGatewayError(err)) throw new NonRetryableJobError(err.message, err.code);
        throw err;
      }
    },
  });
}
