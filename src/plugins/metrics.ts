import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { CounterBatch } from '../observability/counter-batch.js';
import { HistogramBatch } from '../observability/histogram-batch.js';
import { LabelLimiter } from '../observability/label-limiter.js';
import type { GatewayState } from '../services/gateway-state.js';

/**
 * Prometheus metrics. AI metrics are fed by lifecycle events, never inline calls, so scraping and
 * metric bookkeeping stay off the request path; HTTP metrics come from the request-context settle step.
 * Every label is bounded: route templates, configured provider ids, error classes, limited model names.
 */

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const TTFT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];
/** Gateway overhead is sub-millisecond when healthy; the buckets resolve that range. */
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const MAX_MODELS = 200;
/** Ordered by severity so `max()` over instances reads as the worst state anywhere. */
const CIRCUIT_STATE_VALUE: Readonly<Record<string, number>> = { closed: 0, half_open: 1, open: 2 };

export interface GatewayMetrics {
  registry: Registry;
  observeHttp(method: string, route: string, status: number, seconds: number): void;
  countListenerError(event: string): void;
}

export function createMetrics(state: GatewayState): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const models = new LabelLimiter(MAX_MODELS);

  // Counted per request, read per scrape: batched (see CounterBatch). Registered through `registers`;
  // nothing else holds the counter.
  const httpBatch = new CounterBatch<'method' | 'route' | 'status'>();
  new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
    collect() {
      httpBatch.flushInto(this);
    },
  });
  // Observed per request (see HistogramBatch); label sets are bounded like the counters'.
  const httpDuration = new HistogramBatch<'method' | 'route'>(
    'http_request_duration_seconds',
    'HTTP request duration, arrival to response close.',
    LATENCY_BUCKETS,
    registry,
  );
  const aiDuration = new HistogramBatch<'provider' | 'model'>(
    'ai_response_duration_seconds',
    'Time spent waiting on the provider per successful response (whole stream for streams).',
    LATENCY_BUCKETS,
    registry,
  );
  const aiFirstToken = new HistogramBatch<'provider' | 'model'>(
    'ai_first_token_latency_seconds',
    'Time from request arrival to the first streamed chunk.',
    TTFT_BUCKETS,
    registry,
  );
  const tokenBatch = new CounterBatch<'provider' | 'model' | 'team' | 'token_type'>();
  new Counter({
    name: 'ai_tokens_consumed_total',
    help: 'Tokens reported by providers, by type (prompt, completion, cached).',
    labelNames: ['provider', 'model', 'team', 'token_type'] as const,
    registers: [registry],
    collect() {
      tokenBatch.flushInto(this);
    },
  });
  const aiErrors = new Counter({
    name: 'ai_errors_total',
    help: 'Failed AI requests by error class (rate_limit, timeout, stream_interrupted, ...).',
    labelNames: ['provider', 'model', 'error_type'] as const,
    registers: [registry],
  });
  const overhead = new HistogramBatch<'stream'>(
    'switchyard_overhead_seconds',
    'Time spent in the gateway per successful AI request, excluding the upstream wait.',
    OVERHEAD_BUCKETS,
    registry,
  );
  const STREAM_LABELS = { true: () => ({ stream: 'true' }), false: () => ({ stream: 'false' }) };
  const reloads = new Counter({
    name: 'switchyard_config_reloads_total',
    help: 'Config reloads by result (success, failure).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  // The request log's write path, read at scrape time from the writer's own counters.
  const logStats = () => state.storage?.requestLog?.stats;
  new Counter({
    name: 'switchyard_request_log_dropped_total',
    help: 'Request-log rows dropped: the buffer was full (database down or slow) or shutdown cut the flush.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(logStats()?.dropped ?? 0);
    },
  });
  new Counter({
    name: 'switchyard_request_log_written_total',
    help: 'Request-log rows written to the database.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(logStats()?.written ?? 0);
    },
  });
  new Counter({
    name: 'switchyard_request_log_write_errors_total',
    help: 'Failed request-log batch writes (each is retried with backoff).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(logStats()?.writeErrors ?? 0);
    },
  });
  new Gauge({
    name: 'switchyard_request_log_buffered',
    help: 'Request-log rows waiting in memory for the database.',
    registers: [registry],
    collect() {
      this.set(state.storage?.requestLog?.buffered ?? 0);
    },
  });
  // Stored Responses API responses (services/response-store.ts), read at scrape time like the log's.
  const responseStats = () => state.storage?.responses?.stats;
  new Counter({
    name: 'switchyard_stored_responses_total',
    help: 'Stored responses by result: written to the database, refused (over responses.max_size or the item bound, or the write queue full), or swept after their retention.',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const st = responseStats();
      for (const result of ['written', 'refused', 'swept'] as const) this.inc({ result }, st?.[result] ?? 0);
    },
  });
  new Counter({
    name: 'switchyard_stored_responses_write_errors_total',
    help: 'Failed stored-response batch writes (each is retried with backoff).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(responseStats()?.writeErrors ?? 0);
    },
  });
  new Gauge({
    name: 'switchyard_stored_responses_queued',
    help: 'Stored responses waiting in memory for the database.',
    registers: [registry],
    collect() {
      this.set(state.storage?.responses?.buffered ?? 0);
    },
  });
  const listenerErrors = new Counter({
    name: 'switchyard_event_listener_errors_total',
    help: 'Event subscribers that threw; the request that emitted is never affected.',
    labelNames: ['event'] as const,
    registers: [registry],
  });
  const circuitState = new Gauge({
    name: 'switchyard_circuit_state',
    help: 'Circuit breaker state per target: 0 closed, 1 half_open, 2 open.',
    labelNames: ['provider', 'model'] as const,
    registers: [registry],
  });
  const attemptFailures = new Counter({
    name: 'switchyard_attempt_failures_total',
    help: 'Failed upstream attempts (retries and failovers included) by class and what happened next.',
    labelNames: ['provider', 'model', 'error_type', 'next'] as const,
    registers: [registry],
  });
  const streamFailures = new Counter({
    name: 'switchyard_stream_failures_total',
    help: 'Stream failures: before the first byte (failed over invisibly) or after it (error event to the client).',
    labelNames: ['provider', 'model', 'phase'] as const,
    registers: [registry],
  });
  const circuitTransitions = new Counter({
    name: 'switchyard_circuit_transitions_total',
    help: 'Circuit breaker state changes per target, by the state entered.',
    labelNames: ['provider', 'model', 'to'] as const,
    registers: [registry],
  });
  for (const r of ['success', 'failure']) reloads.inc({ result: r }, 0);
  // The cache counts in plain maps on its hot path; these read them at scrape time.
  new Counter({
    name: 'ai_cache_operations_total',
    help: 'Response cache operations by operation (get, set, purge), layer (memory, redis) and result (hit, miss, ok, error).',
    labelNames: ['operation', 'cache_layer', 'result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [k, n] of state.cache?.operations ?? []) {
        const [operation = '', cache_layer = '', result = ''] = k.split('/');
        this.inc({ operation, cache_layer, result }, n);
      }
    },
  });
  new Counter({
    name: 'ai_cache_merges_total',
    help: "Requests that shared another request's upstream call: on this instance (local) or another (remote).",
    labelNames: ['scope'] as const,
    registers: [registry],
    collect() {
      const merges = state.cache?.merges;
      if (!merges) return;
      this.reset();
      this.inc({ scope: 'local' }, merges.local);
      this.inc({ scope: 'remote' }, merges.remote);
    },
  });
  new Gauge({
    name: 'ai_cache_bytes',
    help: 'Bytes held by the in-process (L1) response cache, as counted against cache.max_bytes.',
    registers: [registry],
    collect() {
      this.set(state.cache?.store.l1.bytes ?? 0);
    },
  });

  state.events.on('ai.response.completed', (e) => {
    const stream = e.stream ? 'true' : 'false';
    overhead.observe(stream, STREAM_LABELS[stream], e.overheadMs / 1000);
    // A cache hit or a merged request made no upstream call: no provider time, no tokens.
    if (e.provider === '') return;
    const labels = { provider: e.provider, model: models.get(e.model) };
    aiDuration.observe(`${labels.provider}\u0000${labels.model}`, () => labels, e.upstreamMs / 1000);
    const u = e.usage;
    if (u) {
      const key = `${labels.provider}\u0000${labels.model}\u0000${e.team}\u0000`;
      const tokens = (token_type: string) => () => ({ ...labels, team: e.team, token_type });
      tokenBatch.add(`${key}prompt`, tokens('prompt'), u.prompt_tokens);
      tokenBatch.add(`${key}completion`, tokens('completion'), u.completion_tokens);
      const cached = u.prompt_tokens_details?.cached_tokens;
      if (cached) tokenBatch.add(`${key}cached`, tokens('cached'), cached);
    }
  });
  state.events.on('ai.response.streaming', (e) => {
    const model = models.get(e.model);
    aiFirstToken.observe(
      `${e.provider}\u0000${model}`,
      () => ({ provider: e.provider, model }),
      e.firstTokenMs / 1000,
    );
  });
  state.events.on('ai.response.error', (e) => {
    // Failures before any attempt (unknown model, open circuit, rejected key) have no provider yet.
    aiErrors.inc({
      provider: e.provider || 'none',
      model: models.get(e.model || 'none'),
      error_type: e.errorType,
    });
    if (e.midStream) {
      streamFailures.inc({
        provider: e.provider || 'none',
        model: models.get(e.upstreamModel || 'none'),
        phase: 'after_first_byte',
      });
    }
  });
  state.events.on('ai.attempt.failed', (e) => {
    const model = models.get(e.model);
    attemptFailures.inc({ provider: e.provider, model, error_type: e.errorType, next: e.next });
    // Before the first byte a stream's failure is invisible to the client: the next attempt takes over.
    if (e.stream) streamFailures.inc({ provider: e.provider, model, phase: 'before_first_byte' });
  });
  state.events.on('ai.circuit.state_changed', (e) => {
    const labels = { provider: e.provider, model: models.get(e.model) };
    circuitState.set(labels, CIRCUIT_STATE_VALUE[e.to] ?? 0);
    circuitTransitions.inc({ ...labels, to: e.to });
  });
  state.events.on('ai.config.reloaded', (e) => {
    reloads.inc({ result: e.ok ? 'success' : 'failure' });
  });

  return {
    registry,
    observeHttp(method, route, status, seconds) {
      httpBatch.add(
        `${method}\u0000${route}\u0000${status}`,
        () => ({ method, route, status: String(status) }),
        1,
      );
      httpDuration.observe(`${method}\u0000${route}`, () => ({ method, route }), seconds);
    },
    countListenerError(event: string) {
      listenerErrors.inc({ event });
    },
  };
}

async function metricsPlugin(app: FastifyInstance, opts: { metrics: GatewayMetrics }): Promise<void> {
  const { registry } = opts.metrics;
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}

export default fp(metricsPlugin, { name: 'gw-metrics', fastify: '5.x' });
