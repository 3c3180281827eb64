import { Counter, Histogram, type Registry } from 'prom-client';
import { CounterBatch } from '../observability/counter-batch.js';
import type { LimitsObserver } from '../services/limits/limits-service.js';

/**
 * Prometheus metrics for limits. The limits service calls these directly (cheaper than an event per
 * decision); every label is bounded: outcomes, limit names such as `team.tpm`, units and operations.
 * The per-request ones (a decision, a reconciliation) add up in plain numbers and reach prom-client when
 * a scrape reads the counters: five label-hashing increments per request cost more than the decision.
 */
export function createLimitsObserver(registry: Registry): LimitsObserver {
  const decisionBatch = new CounterBatch<'outcome' | 'limit'>();
  // Reserved and used, by unit: [tokens reserved, tokens used, micros reserved, micros used].
  const sums = [0, 0, 0, 0];
  new Counter({
    name: 'switchyard_limit_decisions_total',
    help: 'Limit decisions by outcome (admitted, rejected, budget_exceeded, queue_admitted, queue_timeout, queue_full, deferred, unavailable, fail_open) and the limit that decided.',
    labelNames: ['outcome', 'limit'] as const,
    registers: [registry],
    collect() {
      decisionBatch.flushInto(this);
    },
  });
  const queueWait = new Histogram({
    name: 'switchyard_limit_queue_wait_seconds',
    help: 'Time over-limit requests waited in the priority queue, by how the wait ended.',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  /** Hands the sums at `first` (tokens) and `first + 2` (micros) to a counter, then zeroes them. */
  const flushSums = (counter: Counter<'unit'>, first: number) => {
    if (sums[first]) counter.inc({ unit: 'tokens' }, sums[first]);
    if (sums[first + 2]) counter.inc({ unit: 'micros' }, sums[first + 2]);
    sums[first] = 0;
    sums[first + 2] = 0;
  };
  const reserved = new Counter({
    name: 'switchyard_limit_reserved_total',
    help: 'Reserved at admission, by unit (tokens, micros = micro-dollars); compare with switchyard_limit_used_total.',
    labelNames: ['unit'] as const,
    registers: [registry],
    collect() {
      flushSums(this, 0);
    },
  });
  const used = new Counter({
    name: 'switchyard_limit_used_total',
    help: 'Actually used, as reconciled at settle, by unit (tokens, micros).',
    labelNames: ['unit'] as const,
    registers: [registry],
    collect() {
      flushSums(this, 1);
    },
  });
  const redisErrors = new Counter({
    name: 'switchyard_limit_redis_errors_total',
    help: 'Limit operations that could not reach Redis (decide, adjust); decided per limits.redis_failure.',
    labelNames: ['op'] as const,
    registers: [registry],
  });
  for (const op of ['decide', 'adjust']) redisErrors.inc({ op }, 0);
  for (const unit of ['tokens', 'micros']) {
    reserved.inc({ unit }, 0);
    used.inc({ unit }, 0);
  }
  return {
    decision(outcome, limit) {
      decisionBatch.add(`${outcome}\u0000${limit}`, () => ({ outcome, limit }), 1);
    },
    queueWait(seconds, outcome) {
      queueWait.observe({ outcome }, seconds);
    },
    reconciled(unit, r, u) {
      const at = unit === 'tokens' ? 0 : 2;
      sums[at] = (sums[at] as number) + r;
      sums[at + 1] = (sums[at + 1] as number) + u;
    },
    redisError(op) {
      redisErrors.inc({ op });
    },
  };
}
