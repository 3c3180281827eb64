import { randomUUID } from 'node:crypto';
import { incomingTrace, PassthroughSpan } from '../core/trace-context.js';
import type { Runtime } from './../services/runtime.js';
import type { ChatCompletionRequest } from '../types/openai.js';
import { createContext, type PipelineDeps, type PipelineLogger } from './context.js';
import { runPipeline } from './pipeline.js';

/**
 * Cache warming (`cache.warm`): each configured request runs through the whole pipeline as a job with
 * no HTTP request, so it is keyed, merged, stored and counted exactly like a client's. The caller is the
 * warm request's namespace as a team, so clients of that team (or keys allowed that namespace) hit it.
 */
export function cacheWarmer(
  current: () => { runtime: Runtime; deps: PipelineDeps },
  log: PipelineLogger,
): (request: { model: string; namespace: string; body: Record<string, unknown> }) => Promise<void> {
  return async (request) => {
    const { runtime, deps } = current();
    const ctx = createContext({
      id: `warm-${randomUUID()}`,
      signal: new AbortController().signal,
      span: new PassthroughSpan(incomingTrace({})),
      log,
      runtime,
      operation: 'chat',
      body: request.body as unknown as ChatCompletionRequest,
      ingress: { headers: {}, ip: undefined, path: 'job:cache-warm' },
      deps,
    });
    ctx.caller = { team: request.namespace };
    await runPipeline(ctx);
  };
}
