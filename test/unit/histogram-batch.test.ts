import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HistogramBatch } from '../../src/observability/histogram-batch.js';

const BUCKETS = [0.0001, 0.005, 0.01, 0.25, 1, 60];

/** The same observations through prom-client's Histogram and through HistogramBatch. */
function both(observations: ReadonlyArray<{ method: string; route: string; value: number }>) {
  const promRegistry = new Registry();
  const prom = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration, arrival to response close.',
    labelNames: ['method', 'route'] as const,
    buckets: BUCKETS,
    registers: [promRegistry],
  });
  const batchRegistry = new Registry();
  const batch = new HistogramBatch<'method' | 'route'>(
    'http_request_duration_seconds',
    'HTTP request duration, arrival to response close.',
    BUCKETS,
    batchRegistry,
  );
  for (const o of observations) {
    prom.observe({ method: o.method, route: o.route }, o.value);
    batch.observe(`${o.method}\u0000${o.route}`, () => ({ method: o.method, route: o.route }), o.value);
  }
  return { promRegistry, batchRegistry, batch };
}

describe('HistogramBatch', () => {
  it('renders exactly what prom-client renders for the same observations', async () => {
    const { promRegistry, batchRegistry } = both([
      { method: 'POST', route: '/v1/chat/completions', value: 0.003 },
      { method: 'POST', route: '/v1/chat/completions', value: 0.005 },
      { method: 'POST', route: '/v1/chat/completions', value: 0.5 },
      { method: 'GET', route: '/v1/models', value: 0.00001 },
      { method: 'POST', route: '/v1/chat/completions', value: 61 },
      { method: 'GET', route: 'a "quoted"\\ \nroute', value: 1 },
    ]);
    const text = await batchRegistry.metrics();
    expect(text).toBe(await promRegistry.metrics());
    expect(text).toContain(
      'http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/chat/completions"} 2\n',
    );
    expect(text).toContain(
      'http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/chat/completions"} 4\n',
    );
    expect(text).toContain('http_request_duration_seconds_count{method="GET",route="/v1/models"} 1\n');
    // The JSON form too, less prom-client's exemplar slots (always empty here: no exemplars enabled).
    const withoutExemplars = (metrics: unknown) =>
      JSON.parse(JSON.stringify(metrics, (k, v) => (k === 'exemplar' ? undefined : v)));
    expect(withoutExemplars(await batchRegistry.getMetricsAsJSON())).toEqual(
      withoutExemplars(await promRegistry.getMetricsAsJSON()),
    );
  });

  it('matches prom-client for any observations (property)', async () => {
    const obs = fc.record({
      method: fc.constantFrom('GET', 'POST', 'DELETE'),
      route: fc.constantFrom('/v1/chat/completions', '/v1/embeddings', '/health'),
      value: fc.oneof(
        fc.constantFrom(...BUCKETS, 0, 1e-9, 1000),
        fc.double({ min: 0, max: 120, noNaN: true }),
      ),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(obs, { maxLength: 60 }), async (observations) => {
        const { promRegistry, batchRegistry } = both(observations);
        expect(await batchRegistry.metrics()).toBe(await promRegistry.metrics());
      }),
      { numRuns: 150 },
    );
  });

  it('renders nothing but its HELP and TYPE before the first observation, and again after reset', async () => {
    const { promRegistry, batchRegistry, batch } = both([{ method: 'GET', route: '/x', value: 1 }]);
    batch.reset();
    promRegistry.resetMetrics();
    expect(await batchRegistry.metrics()).toBe(await promRegistry.metrics());
    expect(await batchRegistry.metrics()).toBe(
      '# HELP http_request_duration_seconds HTTP request duration, arrival to response close.\n' +
        '# TYPE http_request_duration_seconds histogram\n',
    );
  });
});
