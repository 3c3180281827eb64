import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { Cancel } from '../../src/core/cancel.js';
import { EventBus } from '../../src/core/event-bus.js';
import { incomingTrace, PassthroughSpan } from '../../src/core/trace-context.js';
import { isUpstreamError } from '../../src/errors/gateway-error.js';
import { createCircuitBreakers } from '../../src/resilience/circuit-breakers.js';
import { execute } from '../../src/services/executor.js';
import type { RequestMeta } from '../../src/services/request-meta.js';
import { Runtime } from '../../src/services/runtime.js';
import { TargetStats } from '../../src/services/target-stats.js';
import { UpstreamPools } from '../../src/upstream/pools.js';

/** The executor's waits, on a fake clock: the mock provider's faults play the failing upstream. */

afterEach(() => {
  vi.useRealTimers();
});

async function setup(yaml: string) {
  const runtime = new Runtime(parseConfig(yaml, 'test', {}), new UpstreamPools());
  const events = new EventBus();
  const deps = {
    breakers: await createCircuitBreakers({ events }),
    stats: new TargetStats(),
    events,
    rng: () => 0.999,
    log: { warn: () => {} },
  };
  const meta: RequestMeta = {};
  const req = () => ({
    requestId: 'r1',
    cancel: new Cancel(),
    startedAt: performance.now(),
    span: new PassthroughSpan(incomingTrace({})),
    meta,
    stream: false,
    team: 'none',
    operation: 'chat' as const,
  });
  const run = (model: string) =>
    execute(
      runtime,
      runtime.resolve(model),
      req(),
      (target, _params, ctx) =>
        target.client.chat({ model, messages: [{ role: 'user', content: 'hi' }] }, target, ctx),
      deps,
    );
  return { run, meta };
}

describe('executor timing (fake timers)', () => {
  it('waits exactly the Retry-After a 429 asked for before the next attempt', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { run, meta } = await setup(`
providers: { flaky: { type: mock, faults: { errors: [ { status: 429, probability: 1, retry_after: 2s } ] } } }
models: { m: { targets: [ { provider: flaky, model: x } ], retry: { attempts: 2, base_delay: 100ms, max_delay: 5s } } }
`);
    const outcome = run('m').then(
      () => 'resolved',
      (err: unknown) => (isUpstreamError(err) ? `${err.status} ${err.code}` : String(err)),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(meta.attempts).toBe(1);
    // Full jitter on a 100 ms base is at most 100 ms; the provider asked for 2 s, and 2 s it is.
    await vi.advanceTimersByTimeAsync(1999);
    expect(meta.attempts).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(meta.attempts).toBe(2);
    expect(await outcome).toBe('429 upstream_rate_limit');
  });

  it('backs off with full jitter when the provider gives no Retry-After, within the total budget', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { run, meta } = await setup(`
providers: { down: { type: mock, faults: { errors: [ { status: 500, probability: 1 } ] } } }
models:
  m:
    targets: [ { provider: down, model: x } ]
    retry: { attempts: 10, base_delay: 100ms, max_delay: 1s }
    timeouts: { total: 1500ms }
    circuit_breaker: { enabled: false }
`);
    const outcome = run('m').catch((err: unknown) => (isUpstreamError(err) ? err.code : String(err)));
    // rng 0.999: waits of 99.9, 199.8, 399.6, 799.2 ms (attempts at 0, 99.9, 299.7, 699.3, 1498.5 ms);
    // the next wait (1 s, capped) would end past the 1500 ms budget, so it is not taken.
    await vi.advanceTimersByTimeAsync(0);
    expect(meta.attempts).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(meta.attempts).toBe(2);
    await vi.advanceTimersByTimeAsync(200);
    expect(meta.attempts).toBe(3);
    await vi.advanceTimersByTimeAsync(400);
    expect(meta.attempts).toBe(4);
    await vi.advanceTimersByTimeAsync(799);
    expect(meta.attempts).toBe(5);
    expect(await outcome).toBe('upstream_server_error');
    expect(performance.now()).toBeLessThan(1500);
  });
});
