import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '../../pipeline/context.js';
import type { GatewayState } from '../../services/gateway-state.js';
import type { ChatCompletionRequest } from '../../types/openai.js';
import { httpContext } from '../http-context.js';

/**
 * The caller's team, from the pipeline's identify stage (keys, JWT), so the Jobs API knows callers exactly
 * as the chat routes do. For a chat job the body is the chat request, so a key's model allowlist applies.
 */
export async function teamOf(
  request: FastifyRequest,
  reply: FastifyReply,
  state: GatewayState,
  body: unknown,
): Promise<string> {
  return (await callerOf(request, reply, state, body)).team;
}

/** The whole caller (key, user, tier, limits, budget): what a job runs and is billed as. */
export async function callerOf(
  request: FastifyRequest,
  reply: FastifyReply,
  state: GatewayState,
  body: unknown,
): Promise<Caller> {
  // Only identify runs on this context. It is a `chat` context because identify checks a key's model
  // allowlist against `body.model`: for a chat job that is the job's model; for other types there is none.
  const ctx = httpContext(request, reply, state, 'chat', (body ?? {}) as ChatCompletionRequest);
  await state.pipelineDeps.stages.identify(ctx);
  return ctx.caller;
}
