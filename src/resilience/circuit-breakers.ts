/**
 * Per-target circuit breakers (one circuit per provider/model), optionally shared across instances via Redis.
 *
 * Why not cockatiel (3.2.1, read from its dist/: CircuitBreakerPolicy.js and
 * breaker/SamplingBreaker.js)? It is no dependency of ours:
 * 1. Its only entry point is `policy.execute(fn)`, an async function that decides admission internally and
 *    reports an open circuit as a rejected promise (BrokenCircuitError). Our executor needs a synchronous
 *    `acquire()` that answers "skip this target" before building the upstream request; `execute(() =>
 *    outcomePromise)` could be driven that way only by peeking at `policy.state` first and reproducing its
 *    Open→HalfOpen timing check outside it.
 * 2. Half-open does not match: while the probe runs, every other caller is *queued* behind it
 *    (`await state.test`) and then re-executed. For a streaming probe that can be a minute. We need the other
 *    callers to get `undefined` at once so they fail over to the next target.
 * 3. An outcome that says nothing about the target (client abort, the user's own 400) must not count. In
 *    cockatiel such an error is "not handled", and in half-open that path calls `close()` ("Task failed
 *    successfully"): a client hanging up on the probe would close the circuit of a dead target.
 * 4. SamplingBreaker's rolling window advances at most one bucket per recorded call, so after an idle gap
 *    only one stale bucket is cleared and the rest are still summed: failures older than the window can
 *    open the circuit. Its threshold is `failures > rate` (ours: `>=`), must be strictly inside (0, 1) (the
 *    config allows 0 and 1), and the minimum is a rate (minimumRps) rather than a request count.
 * 5. Shared state: the only way to impose a state from outside is `isolate()` (held open until disposed, then
 *    straight to Closed, skipping the half-open probe). `initialState` (the `toJSON()` shape) is a constructor
 *    option only, so applying a remote open would mean swapping the policy object (and its listeners) under
 *    in-flight calls. Neither models "another instance opened this, for N more ms".
 * 6. Time comes from `Date.now()` inside the library, with no injectable clock.
 * So the state machine below is small and written for exactly this permit model; it is tested directly.
 *
 * Sharing: each instance keeps its own window (no Redis round trip on the request path, not even async);
 * openings and closings are broadcast through Redis (see redis-circuit-sync.ts), so one instance's failures
 * open the circuit everywhere within pub/sub latency. The trade-off: the failure rate is measured per
 * instance, not fleet-wide, so with many instances each one needs `minRequests` of its own before it can
 * trip; once any one trips, all follow.
 */
import { randomUUID } from 'node:crypto';
import type { EventBus } from '../core/event-bus.js';
import type { CircuitBreakerSpec, RedisSpec } from '../types/config.js';
import { createRedisCircuitSync, type RedisCircuitSync } from './redis-circuit-sync.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface BreakerPermit {
  /** The attempt succeeded (e.g. first stream chunk arrived, or a full response). */
  success(): void;
  /** The attempt failed with a class that counts against the target (rate_limit, server_error, overloaded, timeout, connection, stream_interrupted). */
  failure(errorClass: string): void;
  /** The attempt ended in a way that says nothing about the target's health (client abort, the user's own 400, context_length, ...). */
  ignore(): void;
}

export interface CircuitBreakerRegistry {
  /**
   * A permit to call target `provider`/`model`, or undefined when its circuit is open (skip it without a call).
   * Half-open admits one probe at a time; other callers get undefined until the probe resolves.
   */
  acquire(provider: string, model: string, spec: CircuitBreakerSpec): BreakerPermit | undefined;
  state(provider: string, model: string): CircuitState;
  /** For /health: every target seen, with state and recent counts. */
  snapshot(): Array<{
    provider: string;
    model: string;
    state: CircuitState;
    requests: number;
    failures: number;
    openedAt: number | null;
  }>;
  close(): Promise<void>;
}

export interface CircuitBreakerLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Classes that say the target is unhealthy. Anything else passed to `failure()` (bad_request, context_length,
 * content_policy, auth — the last is the key pool's business) is treated as `ignore()`, so the executor can
 * hand over whatever class it got without filtering first.
 */
const COUNTED_CLASSES: ReadonlySet<string> = new Set([
  'rate_limit',
  'server_error',
  'overloaded',
  'timeout',
  'connection',
  'stream_interrupted',
  'invalid_response',
]);

/** The window is summed from this many buckets; it slides in steps of windowMs / BUCKETS. */
const BUCKETS = 10;
/**
 * A probe that never reports (a lost permit, or a call stuck past every timeout) would hold the circuit
 * half-open forever; after this long the next caller probes instead. Above the default first-token timeout.
 */
const MIN_PROBE_LEASE_MS = 90_000;

interface Bucket {
  start: number;
  requests: number;
  failures: number;
}

interface Target {
  readonly provider: string;
  readonly model: string;
  state: CircuitState;
  /** The latest spec an acquire() passed (config reloads apply on the next call). */
  spec: CircuitBreakerSpec | undefined;
  buckets: Bucket[];
  /** Counted failures since the last counted success in the current closed period. */
  consecutive: number;
  openedAt: number | null;
  openUntil: number;
  /** Whether this instance opened it from its own traffic (re-pushed to Redis after a reconnect). */
  openedLocally: boolean;
  /** Bumped on every transition; outcomes of permits issued in an earlier state are dropped. */
  generation: number;
  /** The probe currently out, by permit id; 0 when none. */
  probeId: number;
  probeSince: number;
  /** When an acquire() last asked for it; the least recently used closed targets are evicted first. */
  lastUsed: number;
}

/**
 * Targets kept at most. Clients can address `provider/any-model-name` directly, and each name would
 * otherwise keep a circuit (and a /health entry) forever; past this many, the least recently used
 * closed circuits are forgotten (a forgotten closed circuit loses only its recent counts).
 */
export const MAX_TARGETS = 512;

type Outcome = 'pending' | 'success' | 'failure' | 'ignore';

const NOOP_PERMIT: BreakerPermit = Object.freeze({
  success() {},
  failure() {},
  ignore() {},
});

export async function createCircuitBreakers(opts: {
  events: EventBus;
  redis?: RedisSpec;
  log?: CircuitBreakerLog;
  now?: () => number;
}): Promise<CircuitBreakerRegistry> {
  const log = opts.log ?? { warn() {}, error() {} };
  const registry = new Breakers(opts.events, opts.now ?? Date.now, log);
  if (opts.redis) {
    const sync = await createRedisCircuitSync({
      redis: opts.redis,
      instanceId: randomUUID(),
      log,
      handlers: {
        onOpen: (provider, model, remainingMs) => registry.remoteOpen(provider, model, remainingMs),
        onClose: (provider, model) => registry.remoteClose(provider, model),
        openCircuits: () => registry.locallyOpen(),
      },
    });
    registry.attach(sync);
  }
  return registry;
}

class Permit implements BreakerPermit {
  private outcome: Outcome = 'pending';
  /** Where a success was counted, so a later failure (a stream cut after its first chunk) can convert it. */
  bucket: Bucket | undefined;

  constructor(
    private readonly owner: Breakers,
    readonly target: Target,
    public generation: number,
    /** Non-zero for the half-open probe. */
    readonly probeId: number,
  ) {}

  success(): void {
    if (this.outcome !== 'pending') return;
    this.outcome = 'success';
    this.owner.onSuccess(this);
  }

  failure(errorClass: string): void {
    if (!COUNTED_CLASSES.has(errorClass)) {
      this.ignore();
      return;
    }
    if (this.outcome === 'pending') {
      this.outcome = 'failure';
      this.owner.onFailure(this, false);
    } else if (this.outcome === 'success') {
      // Success is reported at the first chunk; a stream that breaks later still failed, counted once.
      this.outcome = 'failure';
      this.owner.onFailure(this, true);
    }
  }

  ignore(): void {
    if (this.outcome !== 'pending') return;
    this.outcome = 'ignore';
    this.owner.onIgnore(this);
  }
}

class Breakers implements CircuitBreakerRegistry {
  private readonly targets = new Map<string, Map<string, Target>>();
  private size = 0;
  private sync: RedisCircuitSync | undefined;
  private nextProbeId = 1;

  constructor(
    private readonly events: EventBus,
    private readonly now: () => number,
    private readonly log: CircuitBreakerLog,
    private readonly maxTargets = MAX_TARGETS,
  ) {}

  attach(sync: RedisCircuitSync): void {
    this.sync = sync;
  }

  acquire(provider: string, model: string, spec: CircuitBreakerSpec): BreakerPermit | undefined {
    if (!spec.enabled) return NOOP_PERMIT;
    const t = this.target(provider, model, true);
    t.spec = spec;
    const now = this.now();
    t.lastUsed = now;
    this.advance(t, now);
    if (t.state === 'closed') return new Permit(this, t, t.generation, 0);
    if (t.state === 'open') return undefined;
    if (t.probeId !== 0) {
      if (now - t.probeSince < Math.max(MIN_PROBE_LEASE_MS, spec.cooldownMs)) return undefined;
      this.log.warn({ provider, model }, 'circuit probe never reported; admitting a new probe');
    }
    t.probeId = this.nextProbeId++;
    t.probeSince = now;
    return new Permit(this, t, t.generation, t.probeId);
  }

  state(provider: string, model: string): CircuitState {
    const t = this.target(provider, model, false);
    if (!t) return 'closed';
    this.advance(t, this.now());
    return t.state;
  }

  snapshot(): ReturnType<CircuitBreakerRegistry['snapshot']> {
    const now = this.now();
    const out: ReturnType<CircuitBreakerRegistry['snapshot']> = [];
    for (const byModel of this.targets.values()) {
      for (const t of byModel.values()) {
        this.advance(t, now);
        const { requests, failures } = this.counts(t, now);
        out.push({
          provider: t.provider,
          model: t.model,
          state: t.state,
          requests,
          failures,
          openedAt: t.openedAt,
        });
      }
    }
    return out;
  }

  async close(): Promise<void> {
    const sync = this.sync;
    this.sync = undefined;
    await sync?.close();
  }

  onSuccess(p: Permit): void {
    const t = p.target;
    const now = this.now();
    this.advance(t, now);
    if (this.isCurrentProbe(p)) {
      this.transition(t, 'closed', now);
      this.sync?.publishClose(t.provider, t.model);
      // The probe's success is the first request of the fresh window; a later stream cut converts it.
      p.generation = t.generation;
    } else if (!this.inCurrentWindow(p)) {
      return;
    }
    const b = this.bucket(t, now);
    b.requests++;
    p.bucket = b;
    t.consecutive = 0;
  }

  onFailure(p: Permit, converting: boolean): void {
    const t = p.target;
    const now = this.now();
    this.advance(t, now);
    if (this.isCurrentProbe(p)) {
      this.open(t, now, t.spec?.cooldownMs ?? 0);
      return;
    }
    if (!this.inCurrentWindow(p)) return;
    if (converting) {
      // The success was counted in a bucket that has since slid out of the window: nothing left to convert.
      if (!p.bucket || !t.buckets.includes(p.bucket)) return;
      p.bucket.failures++;
    } else {
      const b = this.bucket(t, now);
      b.requests++;
      b.failures++;
    }
    t.consecutive++;
    const spec = t.spec;
    if (!spec) return;
    if (spec.consecutiveFailures > 0 && t.consecutive >= spec.consecutiveFailures) {
      this.open(t, now, spec.cooldownMs);
      return;
    }
    const { requests, failures } = this.counts(t, now);
    if (requests >= spec.minRequests && failures / requests >= spec.failureRate)
      this.open(t, now, spec.cooldownMs);
  }

  onIgnore(p: Permit): void {
    // An unanswered question, not a "no": let the next caller probe.
    if (this.isCurrentProbe(p)) p.target.probeId = 0;
  }

  remoteOpen(provider: string, model: string, remainingMs: number): void {
    if (!(remainingMs > 0)) return;
    const t = this.target(provider, model, true);
    const now = this.now();
    this.advance(t, now);
    const until = now + remainingMs;
    if (t.state === 'open') {
      t.openUntil = Math.max(t.openUntil, until);
      return;
    }
    this.transition(t, 'open', now);
    t.openUntil = until;
    t.openedLocally = false;
  }

  remoteClose(provider: string, model: string): void {
    const t = this.target(provider, model, false);
    if (!t) return;
    const now = this.now();
    this.advance(t, now);
    if (t.state !== 'closed') this.transition(t, 'closed', now);
  }

  locallyOpen(): Array<{ provider: string; model: string; remainingMs: number }> {
    const now = this.now();
    const out: Array<{ provider: string; model: string; remainingMs: number }> = [];
    for (const byModel of this.targets.values()) {
      for (const t of byModel.values()) {
        this.advance(t, now);
        if (t.state === 'open' && t.openedLocally) {
          out.push({ provider: t.provider, model: t.model, remainingMs: t.openUntil - now });
        }
      }
    }
    return out;
  }

  private open(t: Target, now: number, cooldownMs: number): void {
    this.transition(t, 'open', now);
    t.openUntil = now + cooldownMs;
    t.openedLocally = true;
    this.sync?.publishOpen(t.provider, t.model, cooldownMs);
  }

  /** Open circuits become half-open lazily, when someone next looks: no timers to leak or fake. */
  private advance(t: Target, now: number): void {
    if (t.state === 'open' && now >= t.openUntil) this.transition(t, 'half_open', now);
  }

  private transition(t: Target, to: CircuitState, now: number): void {
    const from = t.state;
    t.state = to;
    t.generation++;
    t.probeId = 0;
    t.consecutive = 0;
    if (to === 'open') {
      t.openedAt = now;
      // Failures that opened it must not reopen it the moment it closes again.
      t.buckets = [];
    } else if (to === 'closed') {
      t.openedAt = null;
      t.openedLocally = false;
      t.buckets = [];
    }
    this.events.emit('ai.circuit.state_changed', { provider: t.provider, model: t.model, from, to });
  }

  private isCurrentProbe(p: Permit): boolean {
    return p.probeId !== 0 && p.target.state === 'half_open' && p.target.probeId === p.probeId;
  }

  /** Only outcomes of permits issued in the current closed period count towards its window. */
  private inCurrentWindow(p: Permit): boolean {
    return p.target.state === 'closed' && p.generation === p.target.generation;
  }

  private bucket(t: Target, now: number): Bucket {
    const windowMs = t.spec?.windowMs ?? 0;
    this.prune(t, now, windowMs);
    const last = t.buckets[t.buckets.length - 1];
    if (last && now - last.start < windowMs / BUCKETS) return last;
    const b: Bucket = { start: now, requests: 0, failures: 0 };
    t.buckets.push(b);
    return b;
  }

  private counts(t: Target, now: number): { requests: number; failures: number } {
    this.prune(t, now, t.spec?.windowMs ?? 0);
    let requests = 0;
    let failures = 0;
    for (const b of t.buckets) {
      requests += b.requests;
      failures += b.failures;
    }
    return { requests, failures };
  }

  /** Drops buckets that ended before the window began; the window is thus windowMs plus at most one bucket. */
  private prune(t: Target, now: number, windowMs: number): void {
    const bucketMs = windowMs / BUCKETS;
    let drop = 0;
    while (drop < t.buckets.length && t.buckets[drop]!.start + bucketMs <= now - windowMs) drop++;
    if (drop > 0) t.buckets.splice(0, drop);
  }

  private target(provider: string, model: string, create: true): Target;
  private target(provider: string, model: string, create: false): Target | undefined;
  private target(provider: string, model: string, create: boolean): Target | undefined {
    let byModel = this.targets.get(provider);
    let t = byModel?.get(model);
    if (t || !create) return t;
    t = {
      provider,
      model,
      state: 'closed',
      spec: undefined,
      buckets: [],
      consecutive: 0,
      openedAt: null,
      openUntil: 0,
      openedLocally: false,
      generation: 0,
      probeId: 0,
      probeSince: 0,
      lastUsed: this.now(),
    };
    if (this.size >= this.maxTargets) this.evict();
    byModel = this.targets.get(provider);
    if (!byModel) {
      byModel = new Map();
      this.targets.set(provider, byModel);
    }
    byModel.set(model, t);
    this.size++;
    return t;
  }

  /**
   * Forgets the least recently used targets down to 90% of the cap, closed ones first (an open circuit
   * is still protecting someone). A sort per eviction round, one round per 10% of the cap: amortised
   * O(log n) per new target, and nothing on the path of a known target.
   */
  private evict(): void {
    const all: Target[] = [];
    for (const byModel of this.targets.values()) for (const t of byModel.values()) all.push(t);
    const busy = (t: Target) => (t.state === 'closed' && t.probeId === 0 ? 0 : 1);
    all.sort((a, b) => busy(a) - busy(b) || a.lastUsed - b.lastUsed);
    const target = Math.floor(this.maxTargets * 0.9);
    for (let k = 0; k < all.length && this.size > target; k++) {
      const t = all[k]!;
      const byModel = this.targets.get(t.provider);
      if (!byModel?.delete(t.model)) continue;
      if (byModel.size === 0) this.targets.delete(t.provider);
      this.size--;
    }
  }
}
