import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { isGatewayError } from '../../src/errors/gateway-error.js';
import {
  type Admission,
  type AdmitInput,
  type DecisionOutcome,
  type LimitCaller,
  LimitsService,
} from '../../src/services/limits/limits-service.js';
import type { LimitsSpec } from '../../src/types/limits.js';
import { OwnRedis } from '../helpers/redis-server.js';
import { services } from '../helpers/services.js';

/** The limits service over the real memory backend and real Redis servers; no module is mocked. */

const REDIS_URL = 'redis://127.0.0.1:6379';
const prefix = `sytest:svc:${randomUUID()}:`;
const started: LimitsService[] = [];
const ownRedis: OwnRedis[] = [];

function spec(yaml: string): LimitsSpec {
  return parseConfig(yaml, 'test', {}).limits;
}

function service(
  opts: ConstructorParameters<typeof LimitsService>[0] = {},
): LimitsService & { outcomes: string[] } {
  const s = new LimitsService(opts) as LimitsService & { outcomes: string[] };
  s.outcomes = [];
  s.observer = {
    decision: (o: DecisionOutcome, l: string) => s.outcomes.push(`${o}:${l}`),
    queueWait() {},
    reconciled() {},
    redisError: (op) => s.outcomes.push(`redis_error:${op}`),
  };
  started.push(s);
  return s;
}

function input(caller: LimitCaller, over: Partial<AdmitInput> = {}): AdmitInput {
  return {
    caller,
    ip: '10.0.0.1',
    route: '/v1/chat/completions',
    model: 'gpt-test',
    promptTokens: 0,
    maxTokens: 100,
    ...over,
  };
}

async function rejection(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    if (isGatewayError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

async function until(check: () => boolean | Promise<boolean>, limitMs = 5_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

afterEach(async () => {
  for (const s of started.splice(0)) await s.close();
  for (const r of ownRedis.splice(0)) await r.down();
});

afterAll(async () => {
  if (!services.redis) return;
  const c = new Redis(REDIS_URL);
  const keys = await c.keys(`${prefix}*`);
  if (keys.length > 0) await c.del(...keys);
  c.disconnect();
});

describe('token reservations', () => {
  const s1 = spec('tiers: { t: { tpd: 1000 } }\nlimits: { anonymous_tier: t }');

  it('reserves prompt + max_tokens and returns the unused part at settle, once', async () => {
    const s = service();
    const a = (await s.admit(
      s1,
      input({ team: 'none' }, { promptTokens: 100, maxTokens: 400 }),
    )) as Admission;
    expect(a.headers['x-ratelimit-remaining-tokens']).toBe('500');
    expect(a.headers['x-ratelimit-limit-tokens']).toBe('1000');
    await s.settle(a.ticket, { usage: { prompt_tokens: 50, completion_tokens: 100 } });
    await s.settle(a.ticket, { usage: { prompt_tokens: 50, completion_tokens: 100 } });
    const b = (await s.admit(s1, input({ team: 'none' }, { promptTokens: 0, maxTokens: 0 }))) as Admission;
    expect(b.headers['x-ratelimit-remaining-tokens']).toBe('850');
  });

  it('fractional counts round up; missing or malformed usage counts as 0, never as an error', async () => {
    const s = service();
    const a = (await s.admit(
      s1,
      input({ team: 'none' }, { promptTokens: 10.2, maxTokens: 0.5 }),
    )) as Admission;
    expect(a.headers['x-ratelimit-remaining-tokens']).toBe('988');
    await s.settle(a.ticket, {
      usage: { prompt_tokens: Number.NaN, completion_tokens: undefined as unknown as number },
    });
    const b = (await s.admit(s1, input({ team: 'none' }, { promptTokens: 0, maxTokens: 0 }))) as Admission;
    expect(b.headers['x-ratelimit-remaining-tokens']).toBe('1000');
    await s.settle(b.ticket, { usage: { prompt_tokens: 2.5, completion_tokens: 0.1 } });
    const c = (await s.admit(s1, input({ team: 'none' }, { promptTokens: 0, maxTokens: 0 }))) as Admission;
    expect(c.headers['x-ratelimit-remaining-tokens']).toBe('996');
  });

  it('counts the prompt only when a token limit or budget needs it', async () => {
    const s = service();
    let counted = 0;
    const promptTokens = async () => {
      counted++;
      return 10;
    };
    const rpmOnly = spec('tiers: { t: { rpd: 5 } }\nlimits: { anonymous_tier: t }');
    expect(await s.admit(rpmOnly, input({ team: 'none' }, { promptTokens }))).toBeDefined();
    expect(counted).toBe(0);
    const a = (await s.admit(s1, input({ team: 'none' }, { promptTokens, maxTokens: 5 }))) as Admission;
    expect(counted).toBe(1);
    expect(a.headers['x-ratelimit-remaining-tokens']).toBe('985');
  });

  it('uses default_max_tokens when the request names none, and refuses what can never fit', async () => {
    const s = service();
    const sp = spec('tiers: { t: { tpm: 1000 } }\nlimits: { anonymous_tier: t, default_max_tokens: 300 }');
    const a = (await s.admit(
      sp,
      input({ team: 'none' }, { promptTokens: 10, maxTokens: undefined }),
    )) as Admission;
    expect(a.headers['x-ratelimit-remaining-tokens']).toBe('690');
    const err = await rejection(s.admit(sp, input({ team: 'none' }, { promptTokens: 10, maxTokens: 5000 })));
    expect(err.status).toBe(429);
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.message).toBe(
      'Request too large for caller.tpm: it needs 5010 tokens and the limit is 1000 per 1m0s. Lower max_tokens or the prompt.',
    );
    expect(err.headers['retry-after']).toBe('60');
    expect(err.headers['x-switchyard-limit']).toBe('caller.tpm');
  });

  it('a failed request returns everything; a stream cut off without usage keeps its reservation', async () => {
    const s = service();
    const a = (await s.admit(
      s1,
      input({ team: 'none' }, { promptTokens: 100, maxTokens: 100 }),
    )) as Admission;
    await s.settle(a.ticket, { failed: true });
    const b = (await s.admit(
      s1,
      input({ team: 'none' }, { promptTokens: 100, maxTokens: 100 }),
    )) as Admission;
    expect(b.headers['x-ratelimit-remaining-tokens']).toBe('800');
    await s.settle(b.ticket, {});
    const c = (await s.admit(s1, input({ team: 'none' }, { promptTokens: 0, maxTokens: 0 }))) as Admission;
    expect(c.headers['x-ratelimit-remaining-tokens']).toBe('800');
    await s.settle(c.ticket, { completionTokensEstimate: 0 });
  });
});

describe('priority queue', () => {
  const qs = spec(`
tiers:
  gold: { on_limit: queue, max_queue_wait: 10s, priority: 4 }
  silver: { on_limit: queue, max_queue_wait: 10s, priority: 2 }
  brief: { on_limit: queue, max_queue_wait: 200ms, priority: 1 }
  bronze: { on_limit: reject }
limits:
  anonymous_tier: bronze
  teams: { acme: { tpm: 100 }, other: { tpm: 100 } }
`);
  const who = (tier: string, user: string, team = 'acme'): LimitCaller => ({ team, tier, user });

  it('serves waiters by weighted fair order, and a lower tier still gets its share', async () => {
    const s = service();
    const first = (await s.admit(qs, input(who('gold', 'g0')))) as Admission;
    const order: string[] = [];
    const admitted = new Map<string, Admission>();
    const waits: Array<Promise<void>> = [];
    for (let i = 1; i <= 4; i++) {
      for (const [tier, name] of [
        ['silver', `s${i}`],
        ['gold', `g${i}`],
      ] as const) {
        waits.push(
          s.admit(qs, input(who(tier, name))).then((a) => {
            order.push(name);
            admitted.set(name, a as Admission);
          }),
        );
        await until(() => s.queued === waits.length);
      }
    }
    // A reject tier over the same team limit is turned away at once, not queued behind anyone.
    const err = await rejection(s.admit(qs, input(who('bronze', 'b1'))));
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.headers['x-switchyard-limit']).toBe('team.tpm');
    // Another team's request has its own capacity: never held behind acme's queue.
    expect(await s.admit(qs, input(who('silver', 'x1', 'other')))).toBeDefined();

    let current = first;
    for (let n = 1; n <= 8; n++) {
      await s.settle(current.ticket, { failed: true });
      await until(() => order.length === n);
      current = admitted.get(order[n - 1] as string) as Admission;
      expect(Number(current.headers['x-switchyard-queue-wait-ms'])).toBeGreaterThanOrEqual(0);
    }
    await Promise.all(waits);
    // Tags: gold +1/4, silver +1/2 from the same start; ties go to the earlier arrival.
    expect(order).toEqual(['g1', 's1', 'g2', 'g3', 's2', 'g4', 's3', 's4']);
  });

  it('gives up at max_queue_wait with a 429 naming the limit and the wait', async () => {
    const s = service();
    await s.admit(qs, input(who('brief', 'u1')));
    const t0 = performance.now();
    const err = await rejection(s.admit(qs, input(who('brief', 'u2'))));
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(195);
    expect(took).toBeLessThan(2_000);
    expect(err.status).toBe(429);
    expect(err.message).toMatch(
      /^Rate limit reached for team\.tpm \(limit 100 tokens per 1m0s\)\. Waited \d+ ms in the queue\. Try again in /,
    );
    expect(Number(err.headers['retry-after'])).toBeGreaterThan(0);
    expect(s.outcomes).toContain('queue_timeout:team.tpm');
    expect(s.queued).toBe(0);
  });

  it('a full queue rejects at once, and a client gone while queued leaves the queue', async () => {
    const s = service();
    const q1 = { ...qs, maxQueued: 1 };
    await s.admit(q1, input(who('gold', 'u1')));
    const ac = new AbortController();
    const waiting = rejection(s.admit(q1, input(who('gold', 'u2'), { signal: ac.signal })));
    await until(() => s.queued === 1);
    const full = await rejection(s.admit(q1, input(who('gold', 'u3'))));
    expect(full.message).toContain('The queue is full.');
    expect(s.outcomes).toContain('queue_full:team.tpm');
    ac.abort();
    expect((await waiting).status).toBe(499);
    expect(s.queued).toBe(0);
  });
});

describe('budgets', () => {
  const price = () => ({ inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 2_000_000 });
  const bs = (status = 429) =>
    spec(`
limits:
  budget_exhausted_status: ${status}
  teams: { acme: { budget: { daily: 0.01 } } }
tiers:
  free: { budget: { total: 1 } }
`);
  const caller: LimitCaller = { team: 'acme', key: 'k1', tier: 'free' };

  it.skipIf(!services.redis)(
    '50 concurrent first requests on shared Redis stay within the cap, then reconcile to actual cost',
    async () => {
      const s = service({ redis: { url: REDIS_URL, keyPrefix: `${prefix}b1:` }, priceOf: price });
      await s.start();
      // 1000 prompt + 2000 completion tokens = 1000 + 4000 micro-dollars reserved; the cap is 10000.
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, () =>
          s.admit(bs(), input(caller, { promptTokens: 1000, maxTokens: 2000 })),
        ),
      );
      const ok = results
        .filter((r) => r.status === 'fulfilled')
        .map((r) => (r as PromiseFulfilledResult<Admission>).value);
      expect(ok).toHaveLength(2);
      const no = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(no.reason.status).toBe(429);
      expect(no.reason.code).toBe('budget_exceeded');
      expect(no.reason.message).toBe(
        'Budget exceeded: team.daily spend cap of $0.010000 (spent $0.010000, this request reserves $0.005000).',
      );
      expect(Number(no.reason.headers['retry-after'])).toBeGreaterThan(0);
      expect(ok[0]?.headers['x-switchyard-budget-limit']).toMatch(/^team\.daily$/);
      for (const a of ok)
        await s.settle(a.ticket, { usage: { prompt_tokens: 1000, completion_tokens: 500 } });
      // 2 * (1000 + 1000) = 4000 spent: one more 5000 reservation fits, a second does not.
      const third = (await s.admit(
        bs(),
        input(caller, { promptTokens: 1000, maxTokens: 2000 }),
      )) as Admission;
      expect(third.headers['x-switchyard-budget-spent-usd']).toBe('0.009000');
      expect(third.headers['x-switchyard-budget-remaining-usd']).toBe('0.001000');
      await expect(s.admit(bs(), input(caller, { promptTokens: 1000, maxTokens: 2000 }))).rejects.toThrow(
        /Budget exceeded/,
      );
    },
  );

  it('budgetUsage reads each cap, its settled spend and its reservations in flight, without reserving', async () => {
    const s = service({ priceOf: price });
    const a = (await s.admit(bs(), input(caller, { promptTokens: 1000, maxTokens: 2000 }))) as Admission;
    // In flight: 1000 + 2 * 2000 = 5000 micro-dollars reserved, nothing settled yet.
    const dayEnd = Date.UTC(
      new Date().getUTCFullYear(),
      new Date().getUTCMonth(),
      new Date().getUTCDate() + 1,
    );
    expect(await s.budgetUsage(bs(), [caller])).toEqual([
      {
        limit: 'key.total',
        scope: 'key',
        window: 'total',
        team: 'acme',
        key: 'k1',
        capMicros: 1_000_000,
        spentMicros: 0,
        reservedMicros: 5000,
        remainingMicros: 995_000,
        resetsAt: undefined,
        backend: 'memory',
      },
      {
        limit: 'team.daily',
        scope: 'team',
        window: 'daily',
        team: 'acme',
        capMicros: 10_000,
        spentMicros: 0,
        reservedMicros: 5000,
        remainingMicros: 5000,
        resetsAt: dayEnd,
        backend: 'memory',
      },
    ]);
    await s.settle(a.ticket, { usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    const usage = await s.budgetUsage(bs(), [caller, { ...caller, key: 'k2' }]);
    expect(usage.map((u) => [u.limit, u.key, u.spentMicros, u.reservedMicros, u.remainingMicros])).toEqual([
      ['key.total', 'k1', 2000, 0, 998_000],
      ['team.daily', undefined, 2000, 0, 8000],
      // The team's cap is shared, so it appears once; k2 has its own (empty) total.
      ['key.total', 'k2', 0, 0, 1_000_000],
    ]);
    expect(await s.budgetUsage(bs(), [caller, { ...caller, key: 'k2' }])).toEqual(usage);
  });

  it('answers 402 when configured', async () => {
    const s = service({ priceOf: price });
    await s.admit(bs(402), input(caller, { promptTokens: 1000, maxTokens: 4500 }));
    const err = await rejection(s.admit(bs(402), input(caller, { promptTokens: 1000, maxTokens: 2000 })));
    expect(err.status).toBe(402);
    expect(err.code).toBe('budget_exceeded');
  });
});

// Needs redis-server to start our own; the same probe says whether Redis is installed here.
describe.skipIf(!services.redis)('redis unreachable', () => {
  const rs = (mode: string) =>
    spec(`tiers: { t: { rpm: 1000 } }\nlimits: { anonymous_tier: t, redis_failure: ${mode} }`);

  it('fail open: decides locally while Redis is down, and goes back to Redis by itself', async () => {
    const own = await OwnRedis.start();
    ownRedis.push(own);
    const s = service({ redis: { url: own.url, keyPrefix: `${prefix}open:` } });
    await s.start();
    expect(((await s.admit(rs('open'), input({ team: 'none' }))) as Admission).ticket.backend.kind).toBe(
      'redis',
    );
    await own.down();
    const during = (await s.admit(rs('open'), input({ team: 'none' }))) as Admission;
    expect(during.ticket.backend.kind).toBe('memory');
    expect(s.outcomes).toContain('fail_open:redis');
    expect(s.outcomes).toContain('redis_error:decide');
    await own.up();
    await until(
      async () =>
        ((await s.admit(rs('open'), input({ team: 'none' }))) as Admission).ticket.backend.kind === 'redis',
      10_000,
    );
  });

  it('fail closed: 503 limits_unavailable while Redis is down, and back by itself', async () => {
    const own = await OwnRedis.start();
    ownRedis.push(own);
    const s = service({ redis: { url: own.url, keyPrefix: `${prefix}closed:` } });
    await s.start();
    await s.admit(rs('closed'), input({ team: 'none' }));
    await own.down();
    const err = await rejection(s.admit(rs('closed'), input({ team: 'none' })));
    expect(err.status).toBe(503);
    expect(err.code).toBe('limits_unavailable');
    expect(err.headers['retry-after']).toBe('1');
    await own.up();
    await until(async () => {
      try {
        return (
          ((await s.admit(rs('closed'), input({ team: 'none' }))) as Admission).ticket.backend.kind ===
          'redis'
        );
      } catch {
        return false;
      }
    }, 10_000);
  });
});
