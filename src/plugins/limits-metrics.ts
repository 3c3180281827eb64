import { Counter, Histogram, type Registry } from 'prom-client';
import type { LimitsObserver } from '../services/limits/limits-service.js';

/**
 * Prometheus metrics for limits. The limits service calls these directly (a counter increment is
 * cheaper than an event per decision); every label is bounded: outcomes, limit names such as
 * `team.tpm`, units and operations.
 */
export function createLimitsObserver(registry: Registry): LimitsObserver {
  const decisions = new Counter({
    name: 'switchyard_limit_decisions_total',
    help: 'Limit decisions by outcome (admitted, rejected, budget_exceeded, queue_admitted, queue_timeout, queue_full, deferred, unavailable, fail_open) and the limit that decided.',
    labelNames: ['outcome', 'limit'] as const,
    registers: [registry],
  });
  const queueWait = new Histogram({
    name: 'switchyard_limit_queue_wait_seconds',
    help: 'Time over-limit requests waited in the priority queue, by how the wait ended.',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const reserved = new Counter({
    name: 'switchyard_limit_reserved_total',
    help: 'Reserved at admission, by unit (tokens, micros = micro-dollars); compare with switchyard_limit_used_total.',
    labelNames: ['unit'] as const,
    registers: [registry],
  });
  const used = new Counter({
    name: 'switchyard_limit_used_total',
    help: 'Actually used, as reconciled at settle, by unit (tokens, micros).',
    labelNames: ['unit'] as const,
    registers: [registry],
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
      decisions.inc({ outcome, limit });
    },
    queueWait(seconds, outcome) {
      queueWait.observe({ outcome }, seconds);
    },
    reconciled(unit, r, u) {
      reserved.inc({ unit }, r);
      used.inc({ unit }, u);
    },
    redisError(op) {
      redisErrors.inc({ op });
    },
  };
}
