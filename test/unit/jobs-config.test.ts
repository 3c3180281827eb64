import { describe, expect, it } from 'vitest';
import { jobBackoffMs } from '../../src/backends/queue/types.js';
import { ConfigError } from '../../src/config/config-error.js';
import { parseConfig } from '../../src/config/load.js';
import { parseBatchInput } from '../../src/services/files/batch-service.js';

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('jobs config', () => {
  it('has working defaults without a jobs section', () => {
    const { jobs } = parseConfig('{}', 'f', {});
    expect(jobs).toMatchObject({
      enabled: true,
      backend: 'sqlite',
      databasePath: './data/switchyard.db',
      embeddedWorker: true,
      leaseMs: 10_000,
      lockMs: 5_000,
      stalledIntervalMs: 1_000,
      backoff: { baseMs: 1_000, maxMs: 300_000 },
      maxInputBytes: 1024 * 1024,
      schedules: [],
      webhooks: { secret: undefined, timeoutMs: 10_000, maxAttempts: 5 },
    });
  });

  it('resolves durations, sizes, types and schedules', () => {
    const { jobs } = parseConfig(
      `
redis: { url: "redis://127.0.0.1:6379" }
jobs:
  backend: bullmq
  lock: 3s
  max_input_size: 2mb
  types:
    chat.completion: { concurrency: 4, max_attempts: 5, rate_limit: { max: 10, per: 1m } }
  schedules:
    - { name: sweep, cron: "0 3 * * *", type: text.split, input: { text: "x" }, tz: Europe/Paris }
`,
      'f',
      {},
    );
    expect(jobs.backend).toBe('bullmq');
    expect(jobs.lockMs).toBe(3000);
    expect(jobs.maxInputBytes).toBe(2 * 1024 * 1024);
    expect(jobs.types.get('chat.completion')).toEqual({
      concurrency: 4,
      maxAttempts: 5,
      rateLimit: { max: 10, durationMs: 60_000 },
    });
    expect(jobs.schedules).toEqual([
      { name: 'sweep', cron: '0 3 * * *', type: 'text.split', input: { text: 'x' }, tz: 'Europe/Paris' },
    ]);
  });

  it('names each mistake', () => {
    expect(
      issuesOf(() =>
        parseConfig(
          `
jobs:
  backend: bullmq
  lease: soon
  schedules:
    - { name: a, cron: "every day", type: text.split }
    - { name: a, cron: "* * * * *", type: text.split }
`,
          'f',
          {},
        ),
      ),
    ).toEqual([
      'jobs.backend: bullmq needs `redis.url`',
      expect.stringMatching(/^jobs\.schedules\[0\]\.cron: /),
      "jobs.schedules[1].name: 'a' is used twice",
      "jobs.lease: must be a duration such as '10s'",
    ]);
    expect(issuesOf(() => parseConfig('jobs: { types: { "Bad Name": {} } }', 'f', {}))[0]).toMatch(
      /jobs\.types/,
    );
  });
});

describe('job backoff', () => {
  it('is exponential with equal jitter, capped', () => {
    const spec = { baseMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 10].map((r) => jobBackoffMs(r, spec, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect([0, 1, 2, 3, 10].map((r) => jobBackoffMs(r, spec, () => 1))).toEqual([100, 200, 400, 800, 1000]);
    expect(jobBackoffMs(5000, spec, () => Number.NaN)).toBe(500);
  });
});

describe('batch input', () => {
  it('accepts valid lines and skips blank ones', () => {
    const line = (id: string) =>
      JSON.stringify({
        custom_id: id,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'm', messages: [] },
      });
    const r = parseBatchInput(`${line('a')}\n\n${line('b')}\n`, '/v1/chat/completions');
    expect(r.errors).toEqual([]);
    expect(r.requests.map((x) => [x.line, x.custom_id])).toEqual([
      [1, 'a'],
      [3, 'b'],
    ]);
  });

  it('refuses an empty file and a streamed body', () => {
    expect(parseBatchInput('\n', '/v1/chat/completions').errors).toEqual([
      { code: 'invalid_request', message: 'the input file holds no requests', param: null, line: 0 },
    ]);
    const streamed = JSON.stringify({
      custom_id: 'a',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'm', messages: [], stream: true },
    });
    expect(parseBatchInput(streamed, '/v1/chat/completions').errors[0]).toMatchObject({
      line: 1,
      param: 'body.stream',
    });
  });
});
