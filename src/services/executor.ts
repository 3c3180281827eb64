import { retryDelay } from '../core/backoff.js';
import type { CancelSource } from '../core/cancel.js';
import { CLIENT_ERROR_CLASSES } from '../core/classify.js';
import type { EventBus } from '../core/event-bus.js';
import { orderTargets } from '../core/routing.js';
import type { SpanAttributes, SpanHandle } from '../core/trace-context.js';
import {
  abortError,
  GatewayError,
  isClientAbort,
  isUpstreamError,
  UpstreamError,
  type UpstreamErrorClass,
} from '../errors/gateway-error.js';
import type { CircuitBreakerRegistry } from '../resilience/circuit-breakers.js';
import type { DegradationLevel } from '../types/config.js';
import type { CallContext } from '../upstream/types.js';
import type { RequestMeta } from './request-meta.js';
import type { ResolvedRoute, RouteTarget, Runtime } from './runtime.js';
import type { TargetStats } from './target-stats.js';

/**
 * The execute stage: which target serves a request, and what happens when one fails. Order targets by
 * the model's strategy, skip open circuits, retry retryable failures with full-jitter backoff (honouring
 * Retry-After), rotate keys on 429/401, fail over to the next target and then to fallback models, all
 * inside the request's total time budget; when everything failed, walk the degradation chain.
 * Transport-agnostic: the caller passes `run`, which performs one attempt (a call, or opening a stream
 * and reading its first chunk).
 */

export interface ExecutorDeps {
  breakers: CircuitBreakerRegistry;
  stats: TargetStats;
  events: EventBus;
  rng: () => number;
  log: { warn(obj: object, msg: string): void };
}

export interface ExecutionRequest {
  requestId: string;
  /** Client disconnect (or, for a call merged requests share, every waiter gone). */
  cancel: CancelSource;
  /** performance.now() at arrival; the total budget counts from here. */
  startedAt: number;
  span: SpanHandle;
  meta: RequestMeta;
  stream: boolean;
  team: string;
  /** Names the attempt spans, after the GenAI conventions: `chat gpt-4o`, `embeddings text-embedding-3-small`. */
  operation: 'chat' | 'embeddings';
  /** The cache holds an expired answer within its grace period: the `stale_cache` level can answer. */
  staleAvailable?: boolean;
}

/**
 * Marks the error thrown at the `stale_cache` degradation level: every target failed and the cache
 * stage, which holds the stale entry, should answer with it. A property on the error (not a wrapper) so
 * requests merged onto one upstream call, which share the error object, all see it.
 */
export const STALE_CACHE_LEVEL = Symbol.for('switchyard.degradation.stale_cache');

export function reachedStaleCacheLevel(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { [STALE_CACHE_LEVEL]?: true })[STALE_CACHE_LEVEL] === true
  );
}

export interface AttemptContext extends CallContext {
  /** The first-token budget for this attempt (streams); the runner reads its first chunk within it. */
  firstTokenMs: number;
}

/** One attempt against one target. Resolves with the result, or rejects with the attempt's error. */
export type AttemptRunner<R> = (
  target: RouteTarget,
  params: Record<string, unknown>,
  ctx: AttemptContext,
) => Promise<R>;

export interface Execution<R> {
  result: R;
  target: RouteTarget;
  /** Releases the attempt's timers and ends its span; call when the response (or stream) is finished. */
  finish(outcome: { ok: boolean; attributes?: SpanAttributes }): void;
}

interface Failure {
  provider: string;
  model: string;
  code: string;
  errorClass: UpstreamErrorClass | 'circuit_open' | 'keys_resting';
  error: GatewayError | undefined;
  retryAfterSec: number | undefined;
}

export async function execute<R>(
  runtime: Runtime,
  primary: ResolvedRoute,
  req: ExecutionRequest,
  run: AttemptRunner<R>,
  deps: ExecutorDeps,
): Promise<Execution<R>> {
  const settings = primary.settings;
  const deadline = req.startedAt + settings.timeouts.totalMs;
  const remaining = () => deadline - performance.now();
  const failures: Failure[] = [];
  const plans: Array<{ route: ResolvedRoute; fallback: string | undefined }> = [
    { route: primary, fallback: undefined },
  ];
  for (const name of settings.fallbacks) plans.push({ route: runtime.resolve(name), fallback: name });
  let contextFallbackQueued = false;
  req.meta.attempts = 0;

  for (let p = 0; p < plans.length; p++) {
    const { route, fallback } = plans[p]!;
    const rs = route.settings;
    const order = orderTargets(
      route.targets,
      rs.strategy,
      (i) => deps.stats.load(keyOf(route.targets[i]!)),
      deps.rng,
    );
    targets: for (const target of order) {
      let rotations = 0;
      for (let attempt = 0; attempt < rs.retry.attempts; attempt++) {
        if (remaining() <= 0) break;
        const permit = deps.breakers.acquire(target.provider.id, target.upstreamModel, target.breaker);
        if (!permit) {
          failures.push(skip(target, 'circuit_open'));
          break;
        }
        let key: string | undefined;
        if (target.keys.size > 0) {
          key = target.keys.pick();
          if (key === undefined) {
            permit.ignore();
            failures.push({
              ...skip(target, 'keys_resting'),
              retryAfterSec: target.keys.msUntilAvailable() / 1000,
            });
            break;
          }
        }
        req.meta.attempts++;
        // The target in charge so far; a failed request is attributed to the last one tried.
        req.meta.provider = target.provider.id;
        req.meta.upstreamModel = target.upstreamModel;
        if (req.meta.attempts === 1 && deps.events.has('ai.response.started')) {
          deps.events.emit('ai.response.started', {
            requestId: req.requestId,
            model: req.meta.model ?? primary.model,
            provider: target.provider.id,
            upstreamModel: target.upstreamModel,
            stream: req.stream,
            team: req.team,
          });
        }
        const attemptTarget: RouteTarget =
          key === undefined || key === target.provider.apiKey
            ? target
            : { ...target, provider: { ...target.provider, apiKey: key } };
        const attemptSpan = req.span.child(`${req.operation} ${target.upstreamModel}`, 'client', {
          'gen_ai.system': target.provider.type,
          'gen_ai.request.model': target.upstreamModel,
          'switchyard.provider': target.provider.id,
          'switchyard.attempt': req.meta.attempts,
        });
        const done = deps.stats.begin(keyOf(target));
        // first_token is a stream's promise; a non-streamed answer arrives whole, bounded by the total.
        const timer = new AttemptTimer(
          req.cancel,
          remaining(),
          req.stream ? firstTokenMs(target, rs.timeouts.firstTokenMs) : 0,
          target.provider.id,
          target.spec.timeouts.totalMs,
        );
        const t0 = performance.now();
        try {
          const result = await run(attemptTarget, target.spec.params, {
            requestId: req.requestId,
            signal: timer.signal,
            headers: attemptSpan.propagationHeaders(),
            firstTokenMs: timer.firstTokenMs,
          });
          timer.firstTokenReached();
          permit.success();
          const ms = performance.now() - t0;
          done({ ok: true, latencyMs: ms, ...(req.stream ? { ttftMs: ms } : {}) });
          if (fallback !== undefined) req.meta.fallback = fallback;
          return {
            result,
            target: attemptTarget,
            finish: (outcome) => {
              timer.clear();
              if (outcome.attributes) attemptSpan.setAttributes(outcome.attributes);
              if (!outcome.ok) {
                attemptSpan.fail(new Error('stream interrupted'));
                // A stream that broke after its first byte counts against the target after all.
                if (!req.cancel.aborted) permit.failure('stream_interrupted');
              }
              attemptSpan.end();
            },
          };
        } catch (raw) {
          timer.clear();
          // The attempt's own timer fired while the client is still here: whatever the transport threw
          // (an abort error, or a ClientAbortError from the mock), the truth is the timeout.
          const err = timer.signal.aborted && !req.cancel.aborted ? abortError(timer.signal) : raw;
          attemptSpan.fail(err);
          attemptSpan.end();
          done({ ok: false });
          if (isClientAbort(err)) {
            permit.ignore();
            throw err;
          }
          if (!isUpstreamError(err)) {
            // The adapter refused the request (e.g. arguments that are not JSON): the caller's to fix.
            permit.ignore();
            throw err;
          }
          const cls = err.errorClass;
          if (CLIENT_ERROR_CLASSES.has(cls)) permit.ignore();
          else permit.failure(cls);
          failures.push({
            provider: target.provider.id,
            model: target.upstreamModel,
            code: err.code,
            errorClass: cls,
            error: err,
            retryAfterSec: err.retryAfter,
          });

          // With one key there is nothing to rotate to: Retry-After and the circuit breaker handle it.
          if (key !== undefined && target.keys.size > 1 && (cls === 'rate_limit' || cls === 'auth')) {
            target.keys.rest(key, Math.max(target.provider.keyCooldownMs, (err.retryAfter ?? 0) * 1000));
            // Another key may be fine right now: use it at once, without spending a retry or waiting.
            if (rotations < target.keys.size - 1 && target.keys.msUntilAvailable() === 0) {
              rotations++;
              attempt--;
              note(deps, req, target, err, 'retry');
              continue;
            }
          }
          if (cls === 'context_length' && rs.contextFallback !== undefined && !contextFallbackQueued) {
            contextFallbackQueued = true;
            plans.splice(p + 1, 0, {
              route: runtime.resolve(rs.contextFallback),
              fallback: rs.contextFallback,
            });
            note(deps, req, target, err, 'next_target');
            break targets;
          }
          if (CLIENT_ERROR_CLASSES.has(cls)) {
            note(deps, req, target, err, 'give_up');
            throw err;
          }
          if (!(rs.retry.on as readonly string[]).includes(cls) || attempt + 1 >= rs.retry.attempts) {
            note(deps, req, target, err, 'next_target');
            break;
          }
          // A provider asking for a longer pause than max_delay is better served by another target, or by
          // telling the client when to come back, than by holding the request open.
          const tooLong = err.retryAfter !== undefined && err.retryAfter * 1000 > rs.retry.maxDelayMs;
          const delay = tooLong
            ? undefined
            : retryDelay(attempt, rs.retry, err.retryAfter, remaining(), deps.rng);
          if (delay === undefined) {
            note(deps, req, target, err, 'next_target');
            break;
          }
          note(deps, req, target, err, 'retry', delay);
          await sleep(delay, req.cancel);
        }
      }
    }
  }
  return degrade(runtime, primary, req, run, failures, remaining());
}

async function degrade<R>(
  runtime: Runtime,
  primary: ResolvedRoute,
  req: ExecutionRequest,
  run: AttemptRunner<R>,
  failures: Failure[],
  remainingMs: number,
): Promise<Execution<R>> {
  const chain: readonly DegradationLevel[] = primary.settings.degradation?.chain ?? [];
  for (const level of chain) {
    if (level === 'stale_cache') {
      if (!req.staleAvailable) continue;
      // The cache stage answers with its expired entry; the error says why it has to.
      const err = finalError(primary.model, failures);
      Object.defineProperty(err, STALE_CACHE_LEVEL, { value: true });
      throw err;
    }
    if (level === 'offline') {
      const target = runtime.offline(primary.settings.degradation?.offlineProvider);
      const timer = new AttemptTimer(req.cancel, Math.max(remainingMs, 5_000), 0, target.provider.id);
      try {
        const result = await run(
          target,
          {},
          {
            requestId: req.requestId,
            signal: timer.signal,
            headers: {},
            firstTokenMs: 0,
          },
        );
        req.meta.degraded = 'offline';
        req.meta.provider = target.provider.id;
        req.meta.upstreamModel = target.upstreamModel;
        return { result, target, finish: () => timer.clear() };
      } catch (err) {
        timer.clear();
        if (isClientAbort(err)) throw err;
        continue;
      }
    }
    if (level === 'error') {
      req.meta.degraded = 'error';
      throw politeError(primary.model, failures);
    }
  }
  throw finalError(primary.model, failures);
}

/** What the client sees when nothing answered: the one error as it was, or a summary of them all. */
function finalError(model: string, failures: Failure[]): GatewayError {
  const real = failures.filter((f) => f.error !== undefined);
  if (failures.length > 0 && failures.every((f) => f.errorClass === 'circuit_open')) {
    return new GatewayError(
      'circuit_open',
      `Every target of model '${model}' is temporarily disabled after repeated failures. Retry later.`,
      { headers: retryAfterHeader(failures) },
    );
  }
  if (failures.length === 0) {
    return new GatewayError(
      'budget_exhausted',
      `The time budget of model '${model}' ran out before any attempt.`,
      {},
    );
  }
  const codes = new Set(real.map((f) => f.code));
  if (codes.size === 1 && failures.length === real.length) return real.at(-1)!.error!;
  const allRateLimited = failures.every(
    (f) => f.errorClass === 'rate_limit' || f.errorClass === 'keys_resting',
  );
  return new GatewayError(
    'all_targets_failed',
    `All targets of model '${model}' failed: ${describe(failures)}.`,
    {
      status: allRateLimited ? 429 : 502,
      headers: retryAfterHeader(failures),
    },
  );
}

function politeError(model: string, failures: Failure[]): GatewayError {
  const headers = retryAfterHeader(failures);
  const wait = headers['retry-after'] ?? '30';
  return new GatewayError(
    'service_degraded',
    `Model '${model}' is temporarily unavailable: ${describe(failures)}. Please retry in ${wait} seconds.`,
    { headers: { 'retry-after': wait } },
  );
}

function describe(failures: Failure[]): string {
  if (failures.length === 0) return 'no target could be tried';
  return failures.map((f) => `${f.provider}/${f.model} (${f.code})`).join(', ');
}

function retryAfterHeader(failures: Failure[]): Record<string, string> {
  const waits = failures.map((f) => f.retryAfterSec).filter((s): s is number => s !== undefined);
  return waits.length === 0 ? {} : { 'retry-after': String(Math.max(1, Math.ceil(Math.min(...waits)))) };
}

function skip(target: RouteTarget, errorClass: 'circuit_open' | 'keys_resting'): Failure {
  return {
    provider: target.provider.id,
    model: target.upstreamModel,
    code: errorClass,
    errorClass,
    error: undefined,
    retryAfterSec: undefined,
  };
}

function note(
  deps: ExecutorDeps,
  req: ExecutionRequest,
  target: RouteTarget,
  err: UpstreamError,
  next: 'retry' | 'next_target' | 'give_up',
  delayMs?: number,
): void {
  deps.log.warn(
    {
      attempt: req.meta.attempts,
      provider: target.provider.id,
      upstream_model: target.upstreamModel,
      error_code: err.code,
      upstream_status: err.upstreamStatus,
      next,
      delay_ms: delayMs === undefined ? undefined : Math.round(delayMs),
    },
    'attempt failed',
  );
  deps.events.emit('ai.attempt.failed', {
    requestId: req.requestId,
    provider: target.provider.id,
    model: target.upstreamModel,
    errorType: err.errorClass,
    code: err.code,
    stream: req.stream,
    next,
  });
}

function keyOf(target: RouteTarget): string {
  return target.key;
}

function firstTokenMs(target: RouteTarget, modelDefault: number): number {
  return target.spec.timeouts.firstTokenMs ?? modelDefault;
}

const NOOP = (): void => {};

/**
 * One attempt's abort signal: the client's disconnect, the request's total budget, and (until the
 * first token) the first-token budget. Aborts carry the gateway's reason so a timeout is reported as
 * one, not as a client abort. The one AbortController a request's upstream call needs (undici takes
 * a signal); the client reaches it through a Cancel callback, not a second signal.
 */
class AttemptTimer {
  private readonly controller = new AbortController();
  private readonly totalTimer: NodeJS.Timeout;
  private firstTimer: NodeJS.Timeout | undefined;
  private readonly offClient: () => void;
  readonly firstTokenMs: number;

  constructor(
    client: CancelSource,
    remainingMs: number,
    firstTokenMs: number,
    provider: string,
    /** The target's own `timeouts.total`: a cap on each attempt on it, inside the request's budget. */
    targetTotalMs?: number,
  ) {
    this.firstTokenMs = firstTokenMs;
    if (client.aborted) {
      this.controller.abort(client.reason);
      this.offClient = NOOP;
    } else {
      this.offClient = client.onAbort(() => this.controller.abort(client.reason));
    }
    const capped = targetTotalMs !== undefined && targetTotalMs < remainingMs;
    this.totalTimer = setTimeout(
      () =>
        this.controller.abort(
          timeoutError(
            provider,
            capped
              ? `the target's total timeout (${targetTotalMs} ms) ran out`
              : `the request's total time budget ran out`,
          ),
        ),
      Math.max(0, capped ? targetTotalMs : remainingMs),
    );
    if (firstTokenMs > 0 && firstTokenMs < Math.min(remainingMs, targetTotalMs ?? remainingMs)) {
      this.firstTimer = setTimeout(
        () => this.controller.abort(timeoutError(provider, `no first token within ${firstTokenMs} ms`)),
        firstTokenMs,
      );
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  firstTokenReached(): void {
    if (this.firstTimer) clearTimeout(this.firstTimer);
    this.firstTimer = undefined;
  }

  clear(): void {
    this.firstTokenReached();
    clearTimeout(this.totalTimer);
    this.offClient();
  }
}

function timeoutError(provider: string, why: string): UpstreamError {
  return new UpstreamError(`provider '${provider}' timed out: ${why}`, {
    provider,
    errorClass: 'timeout',
    retryable: true,
  });
}

/** Backoff wait that a client disconnect cuts short. Uses the global timer so fake timers can drive it. */
function sleep(ms: number, cancel: CancelSource): Promise<void> {
  return new Promise((resolve, reject) => {
    if (cancel.aborted) {
      reject(abortError(cancel));
      return;
    }
    const t = setTimeout(() => {
      off();
      resolve();
    }, ms);
    const off = cancel.onAbort(() => {
      clearTimeout(t);
      reject(abortError(cancel));
    });
  });
}
