import { isClientAbort, isGatewayError, isUpstreamError } from '../errors/gateway-error.js';
import { DeferredToJob } from '../services/limits/limits-service.js';
import type { RequestRecord } from '../types/events.js';
import type { Outcome, RequestContext } from './context.js';

/**
 * The settle stage: runs exactly once per request, on success, on error and on client abort, with or
 * without an HTTP response. It notes how the request ended, runs the stages' settle hooks (reconcile
 * reservations, write the cache) and emits the lifecycle events that metrics, the request log and
 * webhooks subscribe to. The HTTP log line and HTTP metrics are the HTTP layer's, not this stage's.
 */
export function settle(ctx: RequestContext, outcome: Outcome): void {
  if (ctx.settled) return;
  ctx.settled = true;
  const m = ctx.meta;
  if (outcome.error instanceof DeferredToJob) {
    // Not a failure: the request was answered 202 with a job, which runs (and settles) on its own.
    m.deferredTo = outcome.error.job.id;
  } else if (outcome.aborted || (outcome.error !== undefined && isClientAbort(outcome.error))) {
    m.clientAborted = true;
  } else if (isGatewayError(outcome.error)) {
    const err = outcome.error;
    m.error = {
      code: err.code,
      errorType: isUpstreamError(err) ? err.errorClass : err.code,
      status: err.status,
      midStream: outcome.midStream === true,
    };
  } else if (outcome.error !== undefined) {
    m.error = { code: 'internal_error', errorType: 'internal_error', status: 500, midStream: false };
  }
  const totalMs = performance.now() - ctx.startedAt;
  for (const hook of ctx.settleHooks) {
    try {
      hook(ctx, outcome);
    } catch (err) {
      // A hook's failure (a cache write, a reconciliation) must never turn into the request's failure.
      ctx.log.error({ err, hook: hook.name }, 'settle hook failed');
    }
  }
  emit(ctx, totalMs);
}

function emit(ctx: RequestContext, totalMs: number): void {
  const events = ctx.deps.events;
  const m = ctx.meta;
  // Each payload is one object literal (no shared base spread into it): one allocation per event.
  if (m.error) {
    // Failures before any upstream attempt (an open circuit, a rejected key, a limit) count too: the
    // error-rate alert divides by this event's metric.
    if (events.has('ai.response.error')) {
      events.emit('ai.response.error', {
        requestId: ctx.id,
        model: m.model ?? '',
        provider: m.provider ?? '',
        upstreamModel: m.upstreamModel ?? '',
        stream: m.stream === true,
        team: ctx.caller.team,
        code: m.error.code,
        errorType: m.error.errorType,
        status: m.error.status,
        midStream: m.error.midStream,
        upstreamMs: m.upstreamMs,
      });
    }
  } else if (!m.clientAborted && m.deferredTo === undefined && events.has('ai.response.completed')) {
    const upstreamMs = m.upstreamMs ?? 0;
    events.emit('ai.response.completed', {
      requestId: ctx.id,
      model: m.model ?? '',
      provider: m.provider ?? '',
      upstreamModel: m.upstreamModel ?? '',
      stream: m.stream === true,
      team: ctx.caller.team,
      upstreamMs,
      totalMs,
      overheadMs: Math.max(0, totalMs - upstreamMs),
      firstTokenMs: m.firstTokenMs,
      usage: m.usage,
    });
  }
  if (events.has('ai.request.settled')) events.emit('ai.request.settled', record(ctx, totalMs));
}

/** Everything the request log keeps of one request; built only when someone listens. */
function record(ctx: RequestContext, totalMs: number): RequestRecord {
  const m = ctx.meta;
  const c = ctx.caller;
  return {
    requestId: ctx.id,
    receivedAt: ctx.receivedAt,
    operation: ctx.operation,
    path: ctx.ingress.path,
    team: c.team,
    user: c.user,
    keyId: c.keyId,
    model: m.model,
    provider: m.provider,
    upstreamModel: m.upstreamModel,
    upstreamRequestId: m.upstreamRequestId,
    stream: m.stream === true,
    // 499: the client went away before the answer was complete (nginx's "client closed request").
    status: m.clientAborted ? 499 : m.deferredTo !== undefined ? 202 : (m.error?.status ?? 200),
    errorCode: m.error?.code,
    errorType: m.error?.errorType,
    midStream: m.error?.midStream === true,
    totalMs,
    upstreamMs: m.upstreamMs,
    firstTokenMs: m.firstTokenMs,
    usage: m.usage ?? m.estimatedUsage,
    usageEstimated: m.usage === undefined && m.estimatedUsage !== undefined,
    attempts: m.attempts ?? 0,
    fallback: m.fallback,
    degraded: m.degraded,
    cache: m.cache,
    mergedWith: m.mergedWith,
  };
}
