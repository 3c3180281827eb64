import { randomUUID } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/event-bus.js';
import { type CircuitBreakerRegistry, createCircuitBreakers } from '../../src/resilience/circuit-breakers.js';
import type { CircuitBreakerSpec, RedisSpec } from '../../src/types/config.js';
import type { GatewayEvents } from '../../src/types/events.js';
import { services } from '../helpers/services.js';

/**
 * Two (or three) registries stand in for gateway instances: separate EventBus, separate ioredis connections,
 * the same key prefix, talking only through the real Redis at 127.0.0.1:6379.
 */

const REDIS_URL = 'redis://127.0.0.1:6379';
const SPEC: CircuitBreakerSpec = {
  enabled: true,
  failureRate: 0.5,
  windowMs: 10_000,
  minRequests: 4,
  // The rate trigger is what most of these tests exercise; the consecutive one has its own tests.
  consecutiveFailures: 0,
  cooldownMs: 60_000,
};
const PROPAGATION_LIMIT_MS = 1_000;

interface Instance {
  reg: CircuitBreakerRegistry;
  events: EventBus;
  transitions: Array<GatewayEvents['ai.circuit.state_changed']>;
  logged: string[];
}

let keyPrefix: string;
let redis: RedisSpec;
let admin: Redis;
const started: Instance[] = [];

async function instance(opts: { redis?: RedisSpec; now?: () => number } = {}): Promise<Instance> {
  const events = new EventBus();
  const transitions: Instance['transitions'] = [];
  const logged: string[] = [];
  events.on('ai.circuit.state_changed', (e) => {
    transitions.push(e);
  });
  const reg = await createCircuitBreakers({
    events,
    redis: opts.redis ?? redis,
    log: { warn: (_o, msg) => logged.push(msg), error: (_o, msg) => logged.push(msg) },
    ...(opts.now ? { now: opts.now } : {}),
  });
  const inst = { reg, events, transitions, logged };
  started.push(inst);
  return inst;
}

function fail(reg: CircuitBreakerRegistry, n: number, target: [string, string] = ['p', 'm']): void {
  for (let i = 0; i < n; i++) reg.acquire(target[0], target[1], SPEC)!.failure('server_error');
}

/** Polls until `check` holds; returns the elapsed milliseconds, or throws after `limitMs`. */
async function until(check: () => boolean, limitMs = 3_000): Promise<number> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > limitMs) throw new Error(`condition not met within ${limitMs}ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
  return performance.now() - t0;
}

beforeEach(() => {
  keyPrefix = `test-${randomUUID()}:`;
  redis = { url: REDIS_URL, keyPrefix };
  admin = new Redis(REDIS_URL);
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((i) => i.reg.close()));
  const keys = await admin.keys(`${keyPrefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

describe.skipIf(!services.redis)('circuit breakers shared through Redis', () => {
  it("instance A's failures open the circuit on instance B in under a second", async () => {
    const a = await instance();
    const b = await instance();
    expect(b.reg.acquire('p', 'm', SPEC)).toBeDefined();

    fail(a.reg, 4);
    const t0 = performance.now();
    expect(a.reg.state('p', 'm')).toBe('open');
    await until(() => b.reg.acquire('p', 'm', SPEC) === undefined);
    const delayMs = performance.now() - t0;
    console.info(`circuit open propagation A -> B: ${delayMs.toFixed(2)}ms`);
    expect(delayMs).toBeLessThan(PROPAGATION_LIMIT_MS);

    expect(b.reg.state('p', 'm')).toBe('open');
    await b.events.flush();
    expect(b.transitions).toEqual([{ provider: 'p', model: 'm', from: 'closed', to: 'open' }]);
    const pttl = await admin.pttl(`${keyPrefix}circuit:p:m`);
    expect(pttl).toBeGreaterThan(SPEC.cooldownMs - 5_000);
    expect(pttl).toBeLessThanOrEqual(SPEC.cooldownMs);
    // Other targets and other prefixes are untouched.
    expect(b.reg.acquire('p', 'other', SPEC)).toBeDefined();
    const stranger = await instance({ redis: { url: REDIS_URL, keyPrefix: `${keyPrefix}x-` } });
    expect(stranger.reg.state('p', 'm')).toBe('closed');
  });

  it('an instance started after the circuit opened sees it open at once', async () => {
    const a = await instance();
    fail(a.reg, 4);
    // A's SET is fire-and-forget; wait for it to land before starting C.
    const t0 = performance.now();
    while ((await admin.exists(`${keyPrefix}circuit:p:m`)) !== 1) {
      if (performance.now() - t0 > PROPAGATION_LIMIT_MS) throw new Error('open was never stored');
    }
    const c = await instance();
    expect(c.reg.state('p', 'm')).toBe('open');
    expect(c.reg.acquire('p', 'm', SPEC)).toBeUndefined();
  });

  it("a probe success on A closes the circuit on B (whose own cooldown hasn't ended)", async () => {
    let aClock = Date.now();
    const a = await instance({ now: () => aClock });
    const b = await instance();
    fail(a.reg, 4);
    await until(() => b.reg.state('p', 'm') === 'open');

    aClock += SPEC.cooldownMs;
    const probe = a.reg.acquire('p', 'm', SPEC);
    expect(probe).toBeDefined();
    probe!.success();
    const delayMs = await until(() => b.reg.state('p', 'm') === 'closed');
    console.info(`circuit close propagation A -> B: ${delayMs.toFixed(2)}ms`);
    expect(delayMs).toBeLessThan(PROPAGATION_LIMIT_MS);
    expect(b.reg.acquire('p', 'm', SPEC)).toBeDefined();
    expect(await admin.exists(`${keyPrefix}circuit:p:m`)).toBe(0);
    await b.events.flush();
    expect(b.transitions).toEqual([
      { provider: 'p', model: 'm', from: 'closed', to: 'open' },
      { provider: 'p', model: 'm', from: 'open', to: 'closed' },
    ]);
  });

  it('a failed probe on A re-opens B for the new cooldown', async () => {
    let aClock = Date.now();
    let bClock = Date.now();
    const a = await instance({ now: () => aClock });
    const b = await instance({ now: () => bClock });
    fail(a.reg, 4);
    await until(() => b.reg.state('p', 'm') === 'open');
    // B is 1ms short of its cooldown when A, already past its own, probes and fails.
    bClock += SPEC.cooldownMs - 1;
    aClock += SPEC.cooldownMs;
    a.reg.acquire('p', 'm', SPEC)!.failure('timeout');
    // Nothing on B is observable until its clock moves, so A opens a second target as a barrier: both
    // broadcasts go out on A's one connection and reach B's one subscription in order.
    fail(a.reg, 4, ['barrier', 'm']);
    await until(() => b.reg.state('barrier', 'm') === 'open');
    bClock += 2;
    // Without A's broadcast B would now be half-open and hand out a probe.
    expect(b.reg.acquire('p', 'm', SPEC)).toBeUndefined();
    expect(b.reg.state('p', 'm')).toBe('open');
    bClock += SPEC.cooldownMs;
    expect(b.reg.state('p', 'm')).toBe('half_open');
  });

  it('keeps working after its Redis connections are killed, and catches up on reconnect', async () => {
    const a = await instance();
    const before = await clientIds(`${keyPrefix}circuit`);
    const b = await instance();
    const bIds = (await clientIds(`${keyPrefix}circuit`)).filter((id) => !before.includes(id));
    expect(bIds).toHaveLength(2);
    for (const id of bIds) await admin.client('KILL', 'ID', id);
    fail(a.reg, 4, ['p2', 'm2']);
    expect(b.reg.acquire('p3', 'm3', SPEC)).toBeDefined();
    await until(() => b.reg.state('p2', 'm2') === 'open', 3_000);
    fail(a.reg, 4, ['p4', 'm4']);
    await until(() => b.reg.state('p4', 'm4') === 'open', PROPAGATION_LIMIT_MS);
    // B really is on fresh connections: A's two plus B's two new ones.
    const after = await clientIds(`${keyPrefix}circuit`);
    expect(after).toHaveLength(4);
    expect(after.filter((id) => bIds.includes(id))).toEqual([]);
  });

  it('with Redis unreachable: starts, works locally, never throws, warns once', async () => {
    // A port that resets every connection: unreachable, and each reconnect attempt can be counted.
    let attempts = 0;
    const refuser = createServer((socket) => {
      attempts++;
      socket.resetAndDestroy();
    });
    await new Promise<void>((r) => refuser.listen(0, '127.0.0.1', r));
    const port = (refuser.address() as AddressInfo).port;
    try {
      await unreachable(`redis://127.0.0.1:${port}`, () => attempts);
    } finally {
      refuser.close();
    }
  });

  async function unreachable(url: string, attempts: () => number): Promise<void> {
    const t0 = performance.now();
    const down = await instance({ redis: { url, keyPrefix } });
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(down.reg.state('p', 'm')).toBe('closed');
    fail(down.reg, 4);
    expect(down.reg.state('p', 'm')).toBe('open');
    expect(down.reg.acquire('p', 'm', SPEC)).toBeUndefined();
    // Several reconnect attempts fail meanwhile (50ms, 100ms, 200ms, ...); one warning covers the outage.
    // Two connections (commands and pub/sub), so six attempts are at least three rounds.
    await until(() => attempts() >= 6, 5_000);
    expect(down.logged).toEqual([
      'circuit breaker sync via Redis unavailable; circuits are local to this instance until it returns',
    ]);
    await down.events.flush();
    expect(down.transitions).toEqual([{ provider: 'p', model: 'm', from: 'closed', to: 'open' }]);
  }
});

async function clientIds(name: string): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${name}`))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1] ?? '')
    .filter((id) => id !== '');
}
