import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CACHE_POLICY } from '../../src/config/schema-cache.js';
import { Cancel, type CancelSource } from '../../src/core/cancel.js';
import { EventBus } from '../../src/core/event-bus.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { type CachePlan, planCache } from '../../src/services/cache/cache-policy.js';
import { ResponseCache } from '../../src/services/cache/response-cache.js';
import type { FlightOpen, FlightShared } from '../../src/services/cache/single-flight.js';
import type { CacheSpec } from '../../src/types/config.js';
import type { ChatCompletion, ChatCompletionChunk } from '../../src/types/openai.js';
import { collect } from '../helpers/push-source.js';
import { services } from '../helpers/services.js';

/**
 * Two ResponseCache instances stand in for two gateway instances: separate memory, separate Redis
 * connections, one key prefix, talking only through the real Redis at 127.0.0.1:6379.
 */

const REDIS_URL = 'redis://127.0.0.1:6379';
let admin: Redis;
let prefix: string;
const opened: ResponseCache[] = [];

beforeAll(() => {
  if (services.redis) admin = new Redis(REDIS_URL);
});
afterAll(() => admin?.disconnect());
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
  if (!admin) return;
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
});

const spec = (over: Partial<CacheSpec> = {}): CacheSpec => ({
  defaults: { ...DEFAULT_CACHE_POLICY, enabled: true, ttlMs: 60_000 },
  maxBytes: 1_000_000,
  lockTtlMs: 5_000,
  warm: undefined,
  ...over,
});

async function instance(s: CacheSpec = spec(), url = REDIS_URL): Promise<ResponseCache> {
  const events = new EventBus();
  const c = new ResponseCache({
    spec: s,
    redis: { url, keyPrefix: prefix },
    events,
    log: { warn: () => {} },
  });
  await c.start();
  opened.push(c);
  return c;
}

function plan(c: ResponseCache, content = 'hello'): CachePlan {
  return planCache(
    c.policy(undefined),
    'gpt-4o',
    { messages: [{ role: 'user', content }] },
    {},
    { team: 't1' },
  );
}

const completion: ChatCompletion = {
  id: 'chatcmpl-x',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
};

/** A fake upstream call: counts calls, answers after `delayMs`. */
function upstream(delayMs: number, answer: () => FlightOpen | Promise<FlightOpen>) {
  const u = {
    calls: 0,
    start: async (cancel: CancelSource): Promise<FlightOpen> => {
      u.calls++;
      await new Promise((r) => setTimeout(r, delayMs));
      if (cancel.aborted) throw new Error('aborted');
      return answer();
    },
  };
  return u;
}

async function completionOf(s: FlightShared): Promise<unknown> {
  return s.kind === 'completion' ? s.completion : collect(s.broadcast.subscribe());
}

describe.skipIf(!services.redis)('response cache across two instances sharing Redis', () => {
  it('20 concurrent identical requests over two instances make exactly one upstream call', async () => {
    prefix = `test-${randomUUID()}:`;
    const [a, b] = [await instance(), await instance()];
    const up = upstream(300, () => ({ kind: 'completion', completion }));
    const runs = Array.from({ length: 20 }, (_, i) => {
      const c = i % 2 === 0 ? a : b;
      return c.execute(plan(c), `r${i}`, new Cancel(), up.start);
    });
    const results = await Promise.all(runs);
    expect(up.calls).toBe(1);
    for (const r of results) expect(await completionOf(r.shared)).toEqual(completion);
    const merged = results.map((r) => r.merged).sort();
    // One leader; the rest of its instance joined locally; one request on the other instance waited
    // on the lock and read the entry, and its instance's others joined it.
    expect(merged.filter((m) => m === 'none')).toHaveLength(1);
    expect(merged.filter((m) => m === 'remote')).toHaveLength(1);
    expect(merged.filter((m) => m === 'local')).toHaveLength(18);
    expect(results.find((r) => r.merged === 'remote')?.mergedWith).toBe('r0');
    // Both instances now hit.
    expect((await b.lookup(plan(b)))?.fresh).toBe(true);
    expect((await a.lookup(plan(a)))?.layer).toBe('memory');
  });

  it('a stream led on one instance is replayed chunk for chunk on the other', async () => {
    prefix = `test-${randomUUID()}:`;
    const [a, b] = [await instance(), await instance()];
    const chunks: ChatCompletionChunk[] = ['a', 'b', 'c'].map((t) => ({
      id: 's',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'gpt-4o',
      choices: [{ index: 0, delta: { content: t }, finish_reason: null }],
    }));
    const up = upstream(200, () => ({
      kind: 'stream',
      chunks: (async function* () {
        for (const c of chunks) {
          await new Promise((r) => setTimeout(r, 20));
          yield c;
        }
      })(),
    }));
    const [ra, rb] = await Promise.all([
      a.execute(plan(a), 'ra', new Cancel(), up.start),
      new Promise((r) => setTimeout(r, 50)).then(() => b.execute(plan(b), 'rb', new Cancel(), up.start)),
    ]);
    expect(await completionOf(ra.shared)).toEqual(chunks);
    expect(await completionOf(rb.shared)).toEqual(chunks);
    expect(up.calls).toBe(1);
    expect(rb.merged).toBe('remote');
  });

  it("the leader's error fails the other instance's waiters with the same error", async () => {
    prefix = `test-${randomUUID()}:`;
    const [a, b] = [await instance(), await instance()];
    const up = upstream(200, () => {
      throw new GatewayError('upstream_rate_limit', 'slow down', { headers: { 'retry-after': '7' } });
    });
    const ra = a.execute(plan(a), 'ra', new Cancel(), up.start);
    await new Promise((r) => setTimeout(r, 50));
    const rb = b.execute(plan(b), 'rb', new Cancel(), up.start);
    await expect(ra).rejects.toMatchObject({
      status: 429,
      code: 'upstream_rate_limit',
      message: 'slow down',
    });
    await expect(rb).rejects.toMatchObject({
      status: 429,
      code: 'upstream_rate_limit',
      message: 'slow down',
    });
    expect(up.calls).toBe(1);
    expect(await a.lookup(plan(a))).toBeUndefined();
  });

  it('a waiter whose leader never answers calls the upstream itself after the lock timeout', async () => {
    prefix = `test-${randomUUID()}:`;
    const s = spec({ lockTtlMs: 400 });
    const [a, b] = [await instance(s), await instance(s)];
    let calls = 0;
    const hang = async (): Promise<FlightOpen> => {
      calls++;
      return new Promise(() => {});
    };
    void a.execute(plan(a), 'ra', new Cancel(), hang);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    const rb = await b.execute(plan(b), 'rb', new Cancel(), async () => {
      calls++;
      return { kind: 'completion', completion };
    });
    const waited = performance.now() - t0;
    expect(rb.merged).toBe('none');
    expect(await completionOf(rb.shared)).toEqual(completion);
    expect(calls).toBe(2);
    expect(waited).toBeGreaterThanOrEqual(350);
    expect(waited).toBeLessThan(3_000);
  });

  it('with Redis down, caches and merges on the instance alone, with no errors', async () => {
    prefix = `test-${randomUUID()}:`;
    const c = await instance(spec(), 'redis://127.0.0.1:1');
    const up = upstream(100, () => ({ kind: 'completion', completion }));
    const runs = await Promise.all(
      Array.from({ length: 5 }, (_, i) => c.execute(plan(c), `r${i}`, new Cancel(), up.start)),
    );
    expect(up.calls).toBe(1);
    for (const r of runs) expect(await completionOf(r.shared)).toEqual(completion);
    const hit = await c.lookup(plan(c));
    expect(hit?.layer).toBe('memory');
    expect(c.stats().layers.redis?.errors).toBeGreaterThan(0);
  });
});
