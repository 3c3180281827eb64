import { chatPromptTokens, embeddingTokens } from '../services/limits/estimate.js';
import type { Admission, LimitCaller, LimitsService } from '../services/limits/limits-service.js';
import type { ChatCompletionRequest, EmbeddingsRequest } from '../types/openai.js';
import type { Caller, Outcome, RequestContext, StageImplementations } from './context.js';

/**
 * The admit stage with limits: reserve the request, its estimated tokens and its estimated cost on every
 * limit and budget that applies (or wait in the priority queue, or be refused with a 429/402/503), put
 * the x-ratelimit-* and budget headers on the response, and leave a settle hook that reconciles the
 * reservation with what the request really used.
 */
export function limitsAdmit(service: LimitsService): StageImplementations['admit'] {
  // Not async: a request admitted in memory is decided synchronously (LimitsService.admitNow), and an
  // async stage would allocate its frame and a promise for nothing.
  return function admitWithLimits(ctx: RequestContext): Promise<void> | void {
    const spec = ctx.runtime.config.limits;
    if (!spec.enabled) return;
    const { promptTokens, maxTokens } = reservation(ctx);
    const admission = service.admitNow(spec, {
      caller: limitCaller(ctx.caller),
      ip: ctx.ingress.ip ?? 'none',
      route: ctx.ingress.path,
      model: ctx.route?.targets[0]?.spec.model,
      promptTokens,
      maxTokens,
      // Read only if the request has to queue: the context makes its signal on first use.
      signal: () => ctx.signal,
      // Only a plain chat request over HTTP can become a job (a job stores one result, not a stream).
      deferrable:
        ctx.operation === 'chat' && ctx.ingress.path === '/v1/chat/completions'
          ? { body: ctx.body, caller: ctx.caller }
          : undefined,
    });
    if (admission instanceof Promise) return admission.then((a) => admitted(service, ctx, a));
    admitted(service, ctx, admission);
  };
}

function admitted(service: LimitsService, ctx: RequestContext, admission: Admission | undefined): void {
  if (!admission) return;
  Object.assign(ctx.responseHeaders, admission.headers);
  const ticket = admission.ticket;
  ctx.settleHooks.push(function reconcileLimits(c: RequestContext, outcome: Outcome): void {
    // A cache hit used no upstream tokens and cost nothing; its request slot still counts.
    const usage = c.meta.cache === 'HIT' ? NO_USAGE : c.meta.usage;
    try {
      service
        .settle(ticket, {
          usage,
          model: c.meta.upstreamModel,
          // Failed before any answer: providers do not charge for errors. A stream cut off (or a client
          // gone) without usage keeps its reservation: what it used is unknown, so it is not given back.
          failed: !outcome.ok && !outcome.aborted && !outcome.midStream && usage === undefined,
        })
        ?.catch((err: unknown) => reconciliationFailed(c, err));
    } catch (err) {
      reconciliationFailed(c, err);
    }
  });
}

function reconciliationFailed(c: RequestContext, err: unknown): void {
  c.log.error({ err }, 'limits: reconciliation failed');
}

const NO_USAGE = Object.freeze({ prompt_tokens: 0, completion_tokens: 0 });

/** The caller's limit-relevant identity; keys (identify) add tier, user and overrides. */
function limitCaller(c: Caller): LimitCaller {
  const extra = c as Caller & Partial<Pick<LimitCaller, 'limits' | 'budget' | 'teamLimits' | 'teamBudget'>>;
  return {
    team: c.team,
    user: c.user,
    key: c.keyId,
    tier: c.tier,
    limits: extra.limits,
    budget: extra.budget,
    teamLimits: extra.teamLimits,
    teamBudget: extra.teamBudget,
  };
}

/** The prompt is estimated only if a token limit or budget needs it (the service decides). */
function reservation(ctx: RequestContext): {
  promptTokens: () => number;
  maxTokens: number | undefined;
} {
  if (ctx.operation === 'embeddings') {
    const input = (ctx.body as EmbeddingsRequest).input;
    return { promptTokens: () => embeddingTokens(input), maxTokens: 0 };
  }
  const body = ctx.body as ChatCompletionRequest;
  return {
    promptTokens: () => chatPromptTokens(body.messages),
    maxTokens: body.max_completion_tokens ?? body.max_tokens,
  };
}
