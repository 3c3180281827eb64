import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { LoadMonitor } from '../../src/observability/load-monitor.js';
import { captureLogs } from '../helpers/gateway.js';

/**
 * Issue 7: the OpenAPI test got a 503 from load shedding right after start on a loaded machine. The
 * event-loop histogram ran while the app was being built, so the synchronous work of building (and any
 * stall before listen) was reported as load by the first sample.
 */

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // A stalled start on a loaded machine.
  }
}

async function until(what: () => boolean, deadlineMs: number): Promise<void> {
  const end = performance.now() + deadlineMs;
  while (!what()) {
    if (performance.now() > end) throw new Error('deadline passed');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('load shedding right after start', () => {
  it('a stall before listen is not load: no request is shed through the first two samples', async () => {
    const config = parseConfig(
      `
server: { load_shedding: { max_event_loop_delay: 40ms } }
providers: { mock: { type: mock } }
models: { mock: { targets: [ { provider: mock, model: mock } ] } }
`,
      'test',
      { PORT: '0', HOST: '127.0.0.1' },
    );
    const { app } = await buildApp({ config, logStream: captureLogs().stream });
    try {
      await app.ready();
      busy(1500);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as { port: number };
      const started = performance.now();
      const statuses: number[] = [];
      // The default sample interval is 1s: cover the first sample after start and the next.
      while (performance.now() - started < 2300) {
        const res = await request(`http://127.0.0.1:${port}/v1/models`);
        statuses.push(res.statusCode);
        await res.body.dump();
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(statuses.length).toBeGreaterThan(5);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

describe('LoadMonitor', () => {
  it('discards the first sample after start, then reports what it finds', async () => {
    const monitor = new LoadMonitor({
      maxEventLoopDelayMs: 0,
      maxHeapUsedBytes: 1000,
      maxRssBytes: 0,
      sampleIntervalMs: 30,
      memoryUsage: () => ({ heapUsed: 5000, rss: 1 }),
    });
    monitor.start();
    try {
      await until(() => monitor.sampleCount() >= 1, 5000);
      if (monitor.sampleCount() === 1) expect(monitor.pressure()).toBeUndefined();
      await until(() => monitor.sampleCount() >= 2, 5000);
      expect(monitor.pressure()).toEqual({ kind: 'heapUsedBytes', value: 5000 });
    } finally {
      monitor.stop();
    }
    expect(monitor.pressure()).toBeUndefined();
  });

  it('counts a stall after start as event-loop delay', async () => {
    const monitor = new LoadMonitor({
      maxEventLoopDelayMs: 50,
      maxHeapUsedBytes: 0,
      maxRssBytes: 0,
      sampleIntervalMs: 100,
    });
    monitor.start();
    try {
      await until(() => monitor.sampleCount() >= 1, 5000);
      busy(1000);
      await until(() => monitor.pressure() !== undefined, 5000);
      expect(monitor.pressure()).toEqual({ kind: 'eventLoopDelay', value: expect.any(Number) });
      expect(monitor.pressure()!.value).toBeGreaterThan(50);
    } finally {
      monitor.stop();
    }
  });
});
