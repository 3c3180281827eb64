import type { Redis } from 'ioredis';
import { MemoryLimiter } from '../../backends/limiter/memory.js';
import { RedisLimiter, RedisUnavailableError } from '../../backends/limiter/redis.js';
import type {
  BudgetAdjust,
  BudgetCharge,
  BudgetUsage,
  Decision,
  LimiterBackend,
  RateAdjust,
  RateCharge,
  RateState,
} from '../../backends/limiter/types.js';
import { createRedisClient } from '../../backends/redis/client.js';
import { ClientAbortError, GatewayError } from '../../errors/gateway-error.js';
import type { Caller } from '../../types/caller.js';
import type { RedisSpec } from '../../types/config.js';
import type { BudgetCaps, LimitsSpec, RateName, RateRule, TierSpec } from '../../types/limits.js';
import { FairQueue, QueueAbortedError, QueueFullError, QueueTimeoutError } from './fair-queue.js';
import { formatMicros, formatReset, rateHeaders, tightest } from './headers.js';

/** Who is calling, as far as limits care. Every field but `team` is optional until keys exist. */
export interface LimitCaller {
  team: string;
  user?: string | undefined;
  /** The key's id (never its secret). */
  key?: string | undefined;
  tier?: string | undefined;
  /** Per-key overrides of the tier's rates. */
  limits?: Partial<Record<RateName, number>> | undefined;
  /** Per-key spend caps, overriding the tier's. */
  budget?: BudgetCaps | undefined;
  /** Team-wide rates and caps, overriding `limits.teams.<team>`. */
  teamLimits?: Partial<Record<RateName, number>> | undefined;
  teamBudget?: BudgetCaps | undefined;
}

/** One spend cap as usage views show it; money in integer micro-dollars. */
export interface BudgetUsageRow {
  /** As in `x-switchyard-budget-limit`: `key.daily`, `user.monthly`, `team.total`. */
  limit: string;
  scope: 'key' | 'user' | 'team';
  window: 'daily' | 'monthly' | 'total';
  team: string;
  key?: string;
  user?: string;
  capMicros: number;
  /** Settled spend in this window. */
  spentMicros: number;
  /** Reserved by requests still in flight; counted against the cap with the spend. */
  reservedMicros: number;
  /** cap - spent - reserved, never below 0. */
  remainingMicros: number;
  /** Epoch ms when the window starts over; undefined for `total`. */
  resetsAt: number | undefined;
  /** Where the figures were read: `redis` is every instance's. */
  backend: 'memory' | 'redis';
}

/** Integer micro-dollars per million tokens. */
export interface ModelPrice {
  inputMicrosPerMTok: number;
  outputMicrosPerMTok: number;
}
export type PriceOf = (model: string) => ModelPrice | undefined;

/** Prices from the request log's table (built-in plus `pricing:`), so budgets charge what the log records. */
export function pricesFrom(pricing: {
  price(model: string): { input: number; output: number } | undefined;
}): PriceOf {
  return (model) => {
    const p = pricing.price(model);
    // USD per million tokens to integer micro-dollars per million tokens.
    return p
      ? { inputMicrosPerMTok: Math.round(p.input * 1e6), outputMicrosPerMTok: Math.round(p.output * 1e6) }
      : undefined;
  };
}

export interface AdmitInput {
  caller: LimitCaller;
  ip: string;
  /** The route template, e.g. `/v1/chat/completions`. */
  route: string;
  /** The upstream model the reservation is priced at. */
  model: string | undefined;
  /** Prompt tokens, or a function that counts them: called only when a token limit or budget applies. */
  promptTokens: number | (() => number | Promise<number>);
  /** The request's max_tokens; undefined: `limits.default_max_tokens`; 0 for routes with no completion. */
  maxTokens: number | undefined;
  /** The request's abort signal, or a function that makes it: read only if the request queues. */
  signal?: AbortSignal | (() => AbortSignal) | undefined;
  /**
   * What the request would become as a job, for tiers with `on_limit: job`: a chat request over HTTP
   * (the admit stage sets it; a job's own run never does, so a job is never deferred again).
   */
  deferrable?: { body: unknown; caller: Caller } | undefined;
}

export interface LimitTicket {
  backend: LimiterBackend;
  tokenLimits: Array<{ key: string; limit: number; windowMs: number }>;
  budgets: Array<{ key: string; ttlMs: number }>;
  promptTokens: number;
  reservedTokens: number;
  reservedMicros: number;
  model: string | undefined;
  settled: boolean;
}

export interface Admission {
  ticket: LimitTicket;
  /** x-ratelimit-*, budget and queue-wait headers for the response. */
  headers: Record<string, string>;
  queuedMs: number;
}

export interface SettleOutcome {
  usage?: { prompt_tokens: number; completion_tokens: number } | undefined;
  /** The model that answered, when it differs from the one reserved at. */
  model?: string | undefined;
  /** For a stream cut off without usage: completion tokens estimated from what was streamed. */
  completionTokensEstimate?: number | undefined;
  /** The request failed without output: nothing was used. */
  failed?: boolean | undefined;
}

export type DecisionOutcome =
  | 'admitted'
  | 'rejected'
  | 'budget_exceeded'
  | 'queue_admitted'
  | 'queue_timeout'
  | 'queue_full'
  | 'deferred'
  | 'unavailable'
  | 'fail_open';

/** prom-client lives in plugins/metrics.ts; it plugs in here. */
export interface LimitsObserver {
  decision(outcome: DecisionOutcome, limit: string): void;
  queueWait(seconds: number, outcome: 'admitted' | 'timeout'): void;
  reconciled(unit: 'tokens' | 'micros', reserved: number, actual: number): void;
  redisError(op: 'decide' | 'adjust'): void;
}

/**
 * The hook for answering an over-limit request with a 202 job instead of a 429 (the jobs feature
 * provides it), for tiers with `on_limit: job`: return the job (as the API shows it, with `status_url`),
 * or undefined to reject. `retryAfterMs` is when the blocking limit has room again.
 */
export type DeferToJob = (
  input: AdmitInput,
  blockedLimit: string,
  retryAfterMs: number,
) => Promise<DeferredJob | undefined>;

export interface DeferredJob {
  id: string;
  status: string;
  status_url: string;
  [field: string]: unknown;
}

/** Thrown by admit() when the request became a job; the transport answers 202 with the job. */
export class DeferredToJob extends Error {
  constructor(readonly job: DeferredJob) {
    super('deferred to a job');
  }
}

interface Charge {
  rate: RateCharge;
  /** Human name for errors and metrics: `ip.rpm`, `team.tpm`, `key.rpd`, `route.rpm`. */
  name: string;
  unit: RateRule['unit'];
}
/** What an admission reserved, for its ticket. */
interface Reserved {
  promptTokens: number;
  reservedTokens: number;
  reservedMicros: number;
  model: string | undefined;
}
interface Budget {
  charge: BudgetCharge;
  name: string;
  window: 'daily' | 'monthly' | 'total';
}

const NOOP_OBSERVER: LimitsObserver = {
  decision() {},
  queueWait() {},
  reconciled() {},
  redisError() {},
};

export interface LimitsServiceOptions {
  redis?: RedisSpec | undefined;
  priceOf?: PriceOf | undefined;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Tests: a clock for budget windows. */
  now?: () => number;
}

/**
 * Admission (rate limits, token reservations, budget reservations, priority queueing) and
 * reconciliation. No Fastify here: the pipeline's admit and settle stages call it. The limits config
 * comes with each call, from the request's runtime snapshot, so a reload applies to new requests only.
 */
export class LimitsService {
  observer: LimitsObserver = NOOP_OBSERVER;
  deferToJob: DeferToJob | undefined;
  priceOf: PriceOf;
  private readonly local = new MemoryLimiter();
  private readonly shared: RedisLimiter | undefined;
  private readonly redis: Redis | undefined;
  private readonly queue: FairQueue;
  private readonly log: NonNullable<LimitsServiceOptions['log']> | undefined;
  private readonly now: () => number;
  private redisDown = false;

  constructor(opts: LimitsServiceOptions = {}) {
    this.priceOf = opts.priceOf ?? (() => undefined);
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.queue = new FairQueue();
    if (opts.redis) {
      this.redis = createRedisClient(opts.redis, 'limits');
      // Failures surface per command (and are counted there); without a listener ioredis prints them.
      this.redis.on('error', () => {});
      this.shared = new RedisLimiter(this.redis, `${opts.redis.keyPrefix}limits:`);
    }
  }

  /** Connects to Redis when configured. A failure is not fatal: decisions follow `redis_failure`. */
  async start(): Promise<void> {
    if (!this.redis) return;
    try {
      await this.redis.connect();
    } catch (err) {
      this.log?.warn({ err }, 'limits: redis unreachable at start; deciding per limits.redis_failure');
    }
  }

  async close(): Promise<void> {
    this.redis?.disconnect();
    await this.local.close();
  }

  get queued(): number {
    return this.queue.queued;
  }

  /**
   * Reserves the request and its tokens on every limit that applies, and the estimated cost on every
   * budget; all or nothing. Returns undefined when limits are off. Throws (or rejects with) a
   * GatewayError (429, 402, 503) or DeferredToJob.
   *
   * The same as {@link admitNow}, always as a promise.
   */
  admit(spec: LimitsSpec, input: AdmitInput): Promise<Admission | undefined> {
    try {
      return Promise.resolve(this.admitNow(spec, input));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * {@link admit}, synchronous when it can be: a request admitted in memory (no Redis, no queue, no
   * offloaded count) gets its admission without a promise. As an async function, admit kept its whole
   * frame on the heap across the await, about 2.6 KB per request: with limits on, a quarter of a cache
   * hit's garbage. Throws synchronously or rejects.
   */
  admitNow(spec: LimitsSpec, input: AdmitInput): Admission | undefined | Promise<Admission | undefined> {
    if (!spec.enabled) return undefined;
    const tier =
      spec.tiers.get(input.caller.tier ?? spec.anonymousTier) ?? spec.tiers.get(spec.anonymousTier);
    if (!tier) return undefined;
    // Built with no tokens first: counting the prompt is skipped when no token limit or budget applies.
    const charges = this.charges(spec, tier, input, 0);
    const budgets = this.budgets(spec, tier, input.caller, 0);
    if (charges.length === 0 && budgets.length === 0) return undefined;
    let needsTokens = budgets.length > 0;
    for (let i = 0; !needsTokens && i < charges.length; i++)
      needsTokens = (charges[i] as Charge).unit === 'tokens';
    const p = input.promptTokens;
    const counted = !needsTokens ? 0 : typeof p === 'number' ? p : p();
    if (typeof counted !== 'number') {
      return counted.then((n) => this.admitCounted(spec, tier, input, charges, budgets, needsTokens, n));
    }
    return this.admitCounted(spec, tier, input, charges, budgets, needsTokens, counted);
  }

  private admitCounted(
    spec: LimitsSpec,
    tier: TierSpec,
    input: AdmitInput,
    charges: Charge[],
    budgets: Budget[],
    needsTokens: boolean,
    counted: number,
  ): Admission | Promise<Admission> {
    const completion = count(input.maxTokens ?? spec.defaultMaxTokens);
    const promptTokens = count(counted);
    const reservedTokens = needsTokens ? promptTokens + completion : 0;
    for (const c of charges) if (c.unit === 'tokens') c.rate.cost = reservedTokens;
    const price = input.model && budgets.length > 0 ? this.priceOf(input.model) : undefined;
    const reservedMicros = price ? costMicros(price, promptTokens, completion) : 0;
    if (reservedMicros > 0) budgets = this.budgets(spec, tier, input.caller, reservedMicros);
    const rates = new Array<RateCharge>(charges.length);
    for (let i = 0; i < charges.length; i++) rates[i] = (charges[i] as Charge).rate;
    const budgetCharges = new Array<BudgetCharge>(budgets.length);
    for (let i = 0; i < budgets.length; i++) budgetCharges[i] = (budgets[i] as Budget).charge;
    const reserved: Reserved = { promptTokens, reservedTokens, reservedMicros, model: input.model };
    if (this.shared === undefined) {
      // In memory, a decision is synchronous and, when it admits, final: no promise for the common case.
      const decision = this.local.decideSync(rates, budgetCharges);
      if (decision.ok) {
        this.observer.decision('admitted', 'all');
        return this.admission(charges, budgets, decision, this.local, reserved, undefined);
      }
      // Refused: the slow path starts from this decision rather than making it again.
      const first = { decision, backend: this.local as LimiterBackend };
      return this.admitSlow(spec, tier, input, charges, budgets, rates, budgetCharges, reserved, first);
    }
    return this.admitSlow(spec, tier, input, charges, budgets, rates, budgetCharges, reserved, undefined);
  }

  /** Redis, or a request over a limit: queueing, deferring to a job, or the rejection. */
  private async admitSlow(
    spec: LimitsSpec,
    tier: TierSpec,
    input: AdmitInput,
    charges: Charge[],
    budgets: Budget[],
    rates: RateCharge[],
    budgetCharges: BudgetCharge[],
    reserved: Reserved,
    first: { decision: Decision; backend: LimiterBackend } | undefined,
  ): Promise<Admission> {
    const failClosed = spec.redisFailure === 'closed';
    const reservedTokens = reserved.reservedTokens;
    const attempt = async () => {
      const { decision, backend } = await this.decide(rates, budgetCharges, failClosed);
      return { ok: decision.ok, retryAfterMs: decision.retryAfterMs, value: { decision, backend } };
    };

    let { decision, backend } = first ?? (await attempt()).value;
    let queuedMs: number | undefined;
    if (!decision.ok && decision.blocked?.kind === 'rate') {
      const blocked = charges[decision.blocked.index] as Charge;
      const deferred =
        tier.onLimit === 'job' && this.deferToJob && input.deferrable
          ? await this.deferToJob(input, blocked.name, Math.max(0, decision.retryAfterMs))
          : undefined;
      if (deferred) {
        this.observer.decision('deferred', blocked.name);
        throw new DeferredToJob(deferred);
      }
      if (tier.onLimit === 'queue' && decision.retryAfterMs >= 0 && tier.maxQueueWaitMs > 0) {
        try {
          const r = await this.queue.wait(
            spec.maxQueued,
            blocked.rate.key,
            tier.name,
            tier.priority,
            tier.maxQueueWaitMs,
            attempt,
            typeof input.signal === 'function' ? input.signal() : input.signal,
            // Admitted just as its wait ended: nobody will use it, so all of it goes back.
            (v) => void this.release(v.backend, rates, budgetCharges),
          );
          ({ decision, backend } = r.value);
          queuedMs = r.waitedMs;
          this.observer.queueWait(queuedMs / 1000, 'admitted');
          this.observer.decision('queue_admitted', blocked.name);
        } catch (err) {
          if (err instanceof QueueTimeoutError) {
            this.observer.queueWait(err.waitedMs / 1000, 'timeout');
            this.observer.decision('queue_timeout', blocked.name);
            const last = (err.last as { decision?: Decision } | undefined)?.decision ?? decision;
            throw this.rejection(spec, charges, budgets, last, { queuedMs: err.waitedMs, reservedTokens });
          }
          if (err instanceof QueueFullError) {
            this.observer.decision('queue_full', blocked.name);
            throw this.rejection(spec, charges, budgets, decision, { queueFull: true, reservedTokens });
          }
          if (err instanceof QueueAbortedError) {
            throw new ClientAbortError();
          }
          throw err;
        }
      }
    }
    if (!decision.ok) {
      const blocked = decision.blocked;
      const name = blocked
        ? blocked.kind === 'rate'
          ? (charges[blocked.index] as Charge).name
          : (budgets[blocked.index] as Budget).name
        : 'unknown';
      this.observer.decision(blocked?.kind === 'budget' ? 'budget_exceeded' : 'rejected', name);
      throw this.rejection(spec, charges, budgets, decision, { reservedTokens });
    }
    if (queuedMs === undefined) this.observer.decision('admitted', 'all');
    return this.admission(charges, budgets, decision, backend, reserved, queuedMs);
  }

  private admission(
    charges: Charge[],
    budgets: Budget[],
    decision: Decision,
    backend: LimiterBackend,
    reserved: Reserved,
    queuedMs: number | undefined,
  ): Admission {
    const headers = this.headers(charges, budgets, decision);
    if (queuedMs !== undefined) headers['x-switchyard-queue-wait-ms'] = String(queuedMs);
    // The ticket keeps the request's own charge objects (built for this request alone) instead of copies.
    const tokenLimits: LimitTicket['tokenLimits'] = [];
    for (const c of charges) if (c.unit === 'tokens') tokenLimits.push(c.rate);
    const ticketBudgets = new Array<{ key: string; ttlMs: number }>(budgets.length);
    for (let i = 0; i < budgets.length; i++) ticketBudgets[i] = (budgets[i] as Budget).charge;
    const ticket: LimitTicket = {
      backend,
      tokenLimits,
      budgets: ticketBudgets,
      promptTokens: reserved.promptTokens,
      reservedTokens: reserved.reservedTokens,
      reservedMicros: reserved.reservedMicros,
      model: reserved.model,
      settled: false,
    };
    return { ticket, headers, queuedMs: queuedMs ?? 0 };
  }

  /**
   * Spend caps and what is spent and reserved on each, for usage views such as /admin/usage: one row per
   * distinct budget counter of the given callers (a team's cap shared by several keys appears once).
   * Read from the backend that decides (Redis when configured and reachable), so every instance shows
   * the same figures. Reads only; never reserves.
   */
  async budgetUsage(spec: LimitsSpec, callers: readonly LimitCaller[]): Promise<BudgetUsageRow[]> {
    const seen = new Map<string, { budget: Budget; caller: LimitCaller }>();
    for (const caller of callers) {
      const tier = spec.tiers.get(caller.tier ?? spec.anonymousTier) ?? spec.tiers.get(spec.anonymousTier);
      if (!tier) continue;
      for (const b of this.budgets(spec, tier, caller, 0))
        if (!seen.has(b.charge.key)) seen.set(b.charge.key, { budget: b, caller });
    }
    const rows = [...seen.values()];
    const keys = rows.map((r) => r.budget.charge.key);
    let usage: BudgetUsage[];
    let backend: LimiterBackend['kind'] = 'memory';
    const shared = this.shared;
    try {
      if (shared?.ready) {
        usage = await shared.budgetUsage(keys);
        backend = 'redis';
      } else usage = await this.local.budgetUsage(keys);
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      this.observer.redisError('decide');
      usage = await this.local.budgetUsage(keys);
    }
    const w = this.windows(this.now());
    return rows.map(({ budget: b, caller }, i) => {
      const u = usage[i] ?? { countedMicros: 0, reservedMicros: 0 };
      const scope = b.name.slice(0, b.name.indexOf('.')) as BudgetUsageRow['scope'];
      return {
        limit: b.name,
        scope,
        window: b.window,
        team: caller.team,
        ...(scope === 'key' && caller.key !== undefined ? { key: caller.key } : {}),
        ...(scope === 'user' && caller.user !== undefined ? { user: caller.user } : {}),
        capMicros: b.charge.capMicros,
        spentMicros: u.countedMicros - u.reservedMicros,
        reservedMicros: u.reservedMicros,
        remainingMicros: Math.max(0, b.charge.capMicros - u.countedMicros),
        resetsAt: b.window === 'daily' ? w.dayEnd : b.window === 'monthly' ? w.monthEnd : undefined,
        backend,
      };
    });
  }

  /**
   * Reconciles a ticket with what the request really used: unused tokens and money go back, overuse is
   * added. Runs once per ticket; later calls do nothing. In memory it is done when it returns (no
   * promise); with Redis the promise settles when Redis has it.
   */
  settle(ticket: LimitTicket, outcome: SettleOutcome): Promise<void> | undefined {
    if (ticket.settled) return undefined;
    ticket.settled = true;
    let prompt: number;
    let completion: number;
    if (outcome.usage) {
      prompt = outcome.usage.prompt_tokens;
      completion = outcome.usage.completion_tokens;
    } else if (outcome.completionTokensEstimate !== undefined) {
      prompt = ticket.promptTokens;
      completion = outcome.completionTokensEstimate;
    } else if (outcome.failed) {
      prompt = 0;
      completion = 0;
    } else {
      // Success without usage and nothing to estimate from: the reservation stands.
      prompt = ticket.promptTokens;
      completion = ticket.reservedTokens - ticket.promptTokens;
    }
    prompt = count(prompt);
    completion = count(completion);
    const actualTokens = prompt + completion;
    const model = outcome.model ?? ticket.model;
    const price = model ? this.priceOf(model) : undefined;
    const actualMicros = price ? costMicros(price, prompt, completion) : 0;
    if (ticket.tokenLimits.length > 0)
      this.observer.reconciled('tokens', ticket.reservedTokens, actualTokens);
    if (ticket.budgets.length > 0) this.observer.reconciled('micros', ticket.reservedMicros, actualMicros);
    const dTokens = actualTokens - ticket.reservedTokens;
    const dMicros = actualMicros - ticket.reservedMicros;
    const rates: RateAdjust[] = [];
    if (dTokens !== 0) {
      for (const t of ticket.tokenLimits)
        rates.push({ key: t.key, limit: t.limit, windowMs: t.windowMs, delta: dTokens });
    }
    const budgets: BudgetAdjust[] = [];
    if (dMicros !== 0 || ticket.reservedMicros !== 0) {
      for (const b of ticket.budgets)
        budgets.push({
          key: b.key,
          ttlMs: b.ttlMs,
          deltaMicros: dMicros,
          releaseMicros: ticket.reservedMicros,
        });
    }
    const nudge = dTokens < 0 || dMicros < 0;
    // Not an async function, and no promise in memory: it would keep this frame on the heap (about 2 KB
    // per request) only to wait for an adjustment that, in memory, is made right here.
    if (ticket.backend === this.local) {
      if (rates.length > 0 || budgets.length > 0) this.local.adjustSync(rates, budgets);
      if (nudge) this.queue.nudge();
      return undefined;
    }
    const done = this.adjust(ticket.backend, rates, budgets);
    return nudge ? done.then(() => this.queue.nudge()) : done;
  }

  /** Returns a whole admission (request slots too): for an admission nobody will use. */
  private async release(
    backend: LimiterBackend,
    rates: RateCharge[],
    budgets: BudgetCharge[],
  ): Promise<void> {
    await this.adjust(
      backend,
      rates.map((r) => ({ key: r.key, limit: r.limit, windowMs: r.windowMs, delta: -r.cost })),
      budgets.map((b) => ({
        key: b.key,
        ttlMs: b.ttlMs,
        deltaMicros: -b.amountMicros,
        releaseMicros: b.amountMicros,
      })),
    );
    this.queue.nudge();
  }

  private async adjust(
    backend: LimiterBackend,
    rates: Parameters<LimiterBackend['adjust']>[0],
    budgets: Parameters<LimiterBackend['adjust']>[1],
  ): Promise<void> {
    if (rates.length === 0 && budgets.length === 0) return;
    try {
      await backend.adjust(rates, budgets);
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      this.observer.redisError('adjust');
      this.log?.warn({ err }, 'limits: a reconciliation was lost while redis was unreachable');
    }
  }

  private async decide(
    rates: RateCharge[],
    budgets: BudgetCharge[],
    failClosed: boolean,
  ): Promise<{ decision: Decision; backend: LimiterBackend }> {
    const shared = this.shared;
    if (shared) {
      // Limits turned on by a reload after a start without them: connect now, decide per the failure
      // mode until connected.
      if (this.redis?.status === 'wait') void this.start();
      if (shared.ready) {
        try {
          const decision = await shared.decide(rates, budgets);
          if (this.redisDown) {
            this.redisDown = false;
            this.log?.warn({}, 'limits: redis is back; limits are shared again');
          }
          return { decision, backend: shared };
        } catch (err) {
          if (!(err instanceof RedisUnavailableError)) throw err;
        }
      }
      this.observer.redisError('decide');
      if (!this.redisDown) {
        this.redisDown = true;
        this.log?.error({}, 'limits: redis unreachable; deciding per limits.redis_failure');
      }
      if (failClosed) {
        this.observer.decision('unavailable', 'redis');
        throw new GatewayError('limits_unavailable', 'rate limits cannot be checked right now; try again', {
          headers: { 'retry-after': '1' },
        });
      }
      this.observer.decision('fail_open', 'redis');
    }
    return { decision: this.local.decideSync(rates, budgets), backend: this.local };
  }

  private charges(spec: LimitsSpec, tier: TierSpec, input: AdmitInput, tokens: number): Charge[] {
    const out: Charge[] = [];
    const c = input.caller;
    const subject = c.key ? `k:${c.key}` : c.user ? `u:${c.team}:${c.user}` : `a:${input.ip}`;
    const scope = c.key ? 'key' : c.user ? 'user' : 'caller';
    pushCharges(out, override(tier.rates, c.limits), subject, scope, tokens);
    if (c.team !== 'none') {
      const team = spec.teams.get(c.team);
      const rules = c.teamLimits ? override(team?.rates ?? [], c.teamLimits) : (team?.rates ?? []);
      pushCharges(out, rules, `t:${c.team}`, 'team', tokens);
    }
    pushCharges(out, spec.ip, `ip:${input.ip}`, 'ip', tokens);
    const route = spec.routes.get(input.route);
    if (route) {
      const key = route.per === 'global' ? `r:${input.route}` : `r:${input.route}:${subject}`;
      pushCharges(out, route.rates, key, 'route', tokens);
    }
    return out;
  }

  /**
   * Spend caps: the tier's (or the key's own) per key, or per user for a keyless user; the team's per
   * team. A caller with neither key nor user is only known by team, so the tier's cap is the team's.
   */
  private budgets(spec: LimitsSpec, tier: TierSpec, c: LimitCaller, amount: number): Budget[] {
    const out: Budget[] = [];
    const subject = c.key ? `k:${c.key}` : c.user ? `u:${c.team}:${c.user}` : undefined;
    const own = subject ? (c.budget ?? tier.budget) : undefined;
    const team = c.teamBudget ?? spec.teams.get(c.team)?.budget ?? (subject ? undefined : tier.budget);
    // Most requests have no budget at all: no date arithmetic for them.
    if (!hasCap(own) && !hasCap(team)) return out;
    const now = this.now();
    const w = this.windows(now);
    if (subject && own) pushBudgets(out, own, subject, c.key ? 'key' : 'user', w, now, amount);
    if (team) pushBudgets(out, team, `t:${c.team}`, 'team', w, now, amount);
    return out;
  }

  /** The current UTC day and month and when they end; recomputed only when the day changes. */
  private windows(now: number): { day: string; month: string; dayEnd: number; monthEnd: number } {
    const w = this.windowCache;
    if (w && now >= w.dayStart && now < w.dayEnd) return w;
    const d = new Date(now);
    const day = d.toISOString().slice(0, 10);
    const fresh = {
      day,
      month: day.slice(0, 7),
      dayStart: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()),
      dayEnd: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1),
      monthEnd: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
    };
    this.windowCache = fresh;
    return fresh;
  }

  private windowCache:
    | { day: string; month: string; dayStart: number; dayEnd: number; monthEnd: number }
    | undefined;

  private headers(charges: Charge[], budgets: Budget[], d: Decision): Record<string, string> {
    const out: Record<string, string> = {};
    const req: RateState[] = [];
    const tok: RateState[] = [];
    charges.forEach((c, i) => {
      const s = d.rates[i];
      if (s) (c.unit === 'requests' ? req : tok).push(s);
    });
    rateHeaders(tightest(req), tightest(tok), out);
    let best = -1;
    let bestLeft = Number.POSITIVE_INFINITY;
    d.budgets.forEach((b, i) => {
      const left = b.capMicros - b.spentMicros;
      if (left < bestLeft) {
        bestLeft = left;
        best = i;
      }
    });
    const b = d.budgets[best];
    if (b) {
      out['x-switchyard-budget-limit'] = (budgets[best] as Budget).name;
      out['x-switchyard-budget-spent-usd'] = formatMicros(b.spentMicros);
      out['x-switchyard-budget-remaining-usd'] = formatMicros(Math.max(0, b.capMicros - b.spentMicros));
    }
    return out;
  }

  private rejection(
    spec: LimitsSpec,
    charges: Charge[],
    budgets: Budget[],
    d: Decision,
    extra: { queuedMs?: number; queueFull?: boolean; reservedTokens: number },
  ): GatewayError {
    const headers = this.headers(charges, budgets, d);
    const blocked = d.blocked;
    if (blocked?.kind === 'budget') {
      const b = budgets[blocked.index] as Budget;
      const state = d.budgets[blocked.index];
      const retryS = budgetRetrySeconds(b.window, this.now());
      if (retryS !== undefined) headers['retry-after'] = String(retryS);
      headers['x-switchyard-limit'] = b.name;
      const is402 = spec.budgetExhaustedStatus === 402;
      return new GatewayError(
        'budget_exceeded',
        `Budget exceeded: ${b.name} spend cap of $${formatMicros(b.charge.capMicros)} ` +
          `(spent $${formatMicros(state?.spentMicros ?? 0)}, this request reserves $${formatMicros(b.charge.amountMicros)}).`,
        { status: is402 ? 402 : 429, headers },
      );
    }
    const c = blocked ? (charges[blocked.index] as Charge) : undefined;
    const name = c?.name ?? 'unknown';
    headers['x-switchyard-limit'] = name;
    const never = d.retryAfterMs < 0;
    const retryMs = never ? (c?.rate.windowMs ?? 60_000) : d.retryAfterMs;
    headers['retry-after'] = String(Math.max(1, Math.ceil(retryMs / 1000)));
    let message: string;
    if (never && c) {
      message =
        `Request too large for ${name}: it needs ${c.rate.cost} ${c.unit} and the limit is ${c.rate.limit} ` +
        `per ${formatReset(c.rate.windowMs)}. Lower max_tokens or the prompt.`;
    } else {
      message = `Rate limit reached for ${name}${c ? ` (limit ${c.rate.limit} ${c.unit} per ${formatReset(c.rate.windowMs)})` : ''}.`;
      if (extra.queuedMs !== undefined) message += ` Waited ${extra.queuedMs} ms in the queue.`;
      else if (extra.queueFull) message += ' The queue is full.';
      message += ` Try again in ${formatReset(retryMs)}.`;
    }
    return new GatewayError('rate_limit_exceeded', message, { headers });
  }
}

/**
 * A token count as the limiters take it: a whole number, rounded up (half a token is still a token),
 * and 0 for anything that is not a finite positive number (a provider's missing or malformed usage).
 */
function count(n: number | undefined): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.min(Math.ceil(n), 1e12) : 0;
}

function hasCap(b: BudgetCaps | undefined): b is BudgetCaps {
  return (
    b !== undefined &&
    (b.dailyMicros !== undefined || b.monthlyMicros !== undefined || b.totalMicros !== undefined)
  );
}

function override(
  rules: readonly RateRule[],
  over: Partial<Record<RateName, number>> | undefined,
): RateRule[] {
  if (!over) return rules as RateRule[];
  const out = rules.filter((r) => over[r.name] === undefined);
  const windows: Record<RateName, [RateRule['unit'], number]> = {
    rpm: ['requests', 60_000],
    rpd: ['requests', 86_400_000],
    tpm: ['tokens', 60_000],
    tpd: ['tokens', 86_400_000],
  };
  for (const [name, limit] of Object.entries(over) as Array<[RateName, number | undefined]>) {
    if (limit === undefined || !Number.isSafeInteger(limit) || limit < 1) continue;
    const [unit, windowMs] = windows[name];
    out.push({ name, unit, limit, windowMs });
  }
  return out;
}

/** Integer micro-dollars, rounded up: a fraction of a micro-dollar is still spent. */
export function costMicros(p: ModelPrice, prompt: number, completion: number): number {
  return Math.ceil((prompt * p.inputMicrosPerMTok + completion * p.outputMicrosPerMTok) / 1_000_000);
}

function budgetRetrySeconds(window: Budget['window'], now: number): number | undefined {
  const d = new Date(now);
  if (window === 'daily') {
    return Math.ceil((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1) - now) / 1000);
  }
  if (window === 'monthly') {
    return Math.ceil((Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - now) / 1000);
  }
  return undefined;
}

function pushCharges(
  out: Charge[],
  rules: readonly RateRule[],
  key: string,
  scope: string,
  tokens: number,
): void {
  for (const r of rules) {
    out.push({
      rate: {
        key: `rl:${key}:${r.name}`,
        limit: r.limit,
        windowMs: r.windowMs,
        cost: r.unit === 'requests' ? 1 : tokens,
      },
      name: chargeName(scope, r.name),
      unit: r.unit,
    });
  }
}

/** `scope.rule` names (`key.rpm`, `team.daily`): a handful, made once instead of a string per charge. */
const CHARGE_NAMES = new Map<string, Record<string, string>>();
function chargeName(scope: string, rule: string): string {
  let names = CHARGE_NAMES.get(scope);
  if (names === undefined) {
    names = Object.create(null) as Record<string, string>;
    CHARGE_NAMES.set(scope, names);
  }
  let name = names[rule];
  if (name === undefined) {
    name = `${scope}.${rule}`;
    names[rule] = name;
  }
  return name;
}

function pushBudgets(
  out: Budget[],
  caps: BudgetCaps,
  key: string,
  scope: string,
  w: { day: string; month: string; dayEnd: number; monthEnd: number },
  now: number,
  amount: number,
): void {
  // Kept a day past the window's end, so a late reconciliation still finds its counter.
  if (caps.dailyMicros !== undefined) {
    const ttlMs = w.dayEnd - now + 86_400_000;
    pushBudget(out, `b:${key}:d:${w.day}`, caps.dailyMicros, amount, ttlMs, scope, 'daily');
  }
  if (caps.monthlyMicros !== undefined) {
    const ttlMs = w.monthEnd - now + 86_400_000;
    pushBudget(out, `b:${key}:m:${w.month}`, caps.monthlyMicros, amount, ttlMs, scope, 'monthly');
  }
  if (caps.totalMicros !== undefined)
    pushBudget(out, `b:${key}:total`, caps.totalMicros, amount, 0, scope, 'total');
}

function pushBudget(
  out: Budget[],
  key: string,
  capMicros: number,
  amountMicros: number,
  ttlMs: number,
  scope: string,
  window: Budget['window'],
): void {
  out.push({ charge: { key, capMicros, amountMicros, ttlMs }, name: chargeName(scope, window), window });
}
