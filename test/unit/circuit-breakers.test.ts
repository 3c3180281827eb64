import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/event-bus.js';
import { type CircuitBreakerRegistry, createCircuitBreakers } from '../../src/resilience/circuit-breakers.js';
import type { CircuitBreakerSpec } from '../../src/types/config.js';
import type { GatewayEvents } from '../../src/types/events.js';
import { services } from '../helpers/services.js';

type Transition = GatewayEvents['ai.circuit.state_changed'];

const REDIS_URL = 'redis://127.0.0.1:6379';

const SPEC: CircuitBreakerSpec = {
  enabled: true,
  failureRate: 0.5,
  windowMs: 10_000,
  minRequests: 4,
  // The rate trigger is what most of these tests exercise; the consecutive one has its own tests.
  consecutiveFailures: 0,
  cooldownMs: 5_000,
};

interface Harness {
  reg: CircuitBreakerRegistry;
  /** Every message logged by the registry. */
  logged: string[];
  cleanup(): Promise<void>;
}

type Factory = (events: EventBus, now: () => number) => Promise<Harness>;

const recorder = (logged: string[]) => ({
  warn: (_o: object, msg: string) => logged.push(msg),
  error: (_o: object, msg: string) => logged.push(msg),
});

const memory: Factory = async (events, now) => {
  const logged: string[] = [];
  const reg = await createCircuitBreakers({ events, now, log: recorder(logged) });
  return { reg, logged, cleanup: () => reg.close() };
};

const redis: Factory = async (events, now) => {
  const keyPrefix = `test-${randomUUID()}:`;
  const logged: string[] = [];
  const reg = await createCircuitBreakers({
    events,
    now,
    redis: { url: REDIS_URL, keyPrefix },
    log: recorder(logged),
  });
  return {
    reg,
    logged,
    async cleanup() {
      await reg.close();
      // A healthy Redis must not have produced a single degradation warning.
      expect(logged.filter((m) => m.includes('Redis'))).toEqual([]);
      const r = new Redis(REDIS_URL);
      const keys = await r.keys(`${keyPrefix}*`);
      if (keys.length > 0) await r.del(...keys);
      await r.quit();
    },
  };
};

const backends = [
  ['memory', memory, true],
  ['redis', redis, services.redis],
] as const;

// One contract, once per backend; the Redis one needs the real Redis (skipped locally without it).
for (const [name, factory, available] of backends)
  describe.skipIf(!available)(`circuit breakers contract (${name})`, () => {
    let clock: number;
    let events: EventBus;
    let transitions: Transition[];
    let h: Harness;
    const now = () => clock;

    beforeEach(async () => {
      clock = 1_000_000;
      events = new EventBus();
      // Per-test array: a previous test's bus may still drain after it ended.
      const mine: Transition[] = [];
      transitions = mine;
      events.on('ai.circuit.state_changed', (e) => {
        mine.push(e);
      });
      h = await factory(events, now);
    });
    afterEach(async () => {
      await h.cleanup();
    });

    const call = (outcome: 'ok' | 'fail' | 'ignore', spec = SPEC, target: [string, string] = ['p', 'm']) => {
      const permit = h.reg.acquire(target[0], target[1], spec);
      if (!permit) throw new Error('expected a permit');
      if (outcome === 'ok') permit.success();
      else if (outcome === 'fail') permit.failure('server_error');
      else permit.ignore();
    };
    const openIt = () => {
      for (let i = 0; i < 4; i++) call('fail');
      expect(h.reg.state('p', 'm')).toBe('open');
    };
    const emitted = async () => {
      await events.flush();
      return transitions;
    };

    it('an unseen target is closed and absent from the snapshot', () => {
      expect(h.reg.state('p', 'm')).toBe('closed');
      expect(h.reg.snapshot()).toEqual([]);
    });

    it('stays closed below the minimum request count, even at a 100% failure rate', async () => {
      for (let i = 0; i < 3; i++) call('fail');
      expect(h.reg.state('p', 'm')).toBe('closed');
      expect(h.reg.acquire('p', 'm', SPEC)).toBeDefined();
      expect(h.reg.snapshot()).toEqual([
        { provider: 'p', model: 'm', state: 'closed', requests: 3, failures: 3, openedAt: null },
      ]);
      expect(await emitted()).toEqual([]);
    });

    it('stays closed below the failure rate and opens when failures/requests reaches it', async () => {
      call('ok');
      call('ok');
      call('ok');
      call('fail'); // 1/4 = 0.25
      call('fail'); // 2/5 = 0.4
      expect(h.reg.state('p', 'm')).toBe('closed');
      clock += 1;
      call('fail'); // 3/6 = 0.5 >= 0.5
      expect(h.reg.state('p', 'm')).toBe('open');
      expect(h.reg.snapshot()).toEqual([
        { provider: 'p', model: 'm', state: 'open', requests: 0, failures: 0, openedAt: 1_000_001 },
      ]);
      expect(await emitted()).toEqual([{ provider: 'p', model: 'm', from: 'closed', to: 'open' }]);
    });

    it('counts only the rolling window: failures older than windowMs expire', () => {
      call('fail');
      call('fail');
      call('fail');
      clock += SPEC.windowMs + SPEC.windowMs / 10;
      call('fail');
      expect(h.reg.state('p', 'm')).toBe('closed');
      expect(h.reg.snapshot()[0]).toMatchObject({ requests: 1, failures: 1 });
    });

    it('open: acquire returns undefined (skip without a call) until the cooldown ends', () => {
      openIt();
      expect(h.reg.acquire('p', 'm', SPEC)).toBeUndefined();
      clock += SPEC.cooldownMs - 1;
      expect(h.reg.acquire('p', 'm', SPEC)).toBeUndefined();
      expect(h.reg.state('p', 'm')).toBe('open');
    });

    it('after the cooldown exactly one half-open probe is admitted at a time', () => {
      openIt();
      clock += SPEC.cooldownMs;
      expect(h.reg.state('p', 'm')).toBe('half_open');
      const probe = h.reg.acquire('p', 'm', SPEC);
      expect(probe).toBeDefined();
      expect(h.reg.acquire('p', 'm', SPEC)).toBeUndefined();
      clock += 60_000;
      expect(h.reg.acquire('p', 'm', SPEC)).toBeUndefined();
      expect(h.reg.state('p', 'm')).toBe('half_open');
    });

    it('probe success closes the circuit with a fresh window holding just the probe', async () => {
      openIt();
      clock += SPEC.cooldownMs;
      h.reg.acquire('p', 'm', SPEC)!.success();
      expect(h.reg.state('p', 'm')).toBe('closed');
      expect(h.reg.snapshot()).toEqual([
        { provider: 'p', model: 'm', state: 'closed', requests: 1, failures: 0, openedAt: null },
      ]);
      expect(h.reg.acquire('p', 'm', SPEC)).toBeDefined();
      expect(h.reg.acquire('p', 'm', SPEC)).toBeDefined();
      expect(await emitted()).toEqual([
        { provider: 'p', model: 'm', from: 'closed', to: 'open' },
        { provider: 'p', model: 'm', from: 'open', to: 'half_open' },
        { provider: 'p', model: 'm', from: 'half_open', to: 'closed' },
      ]);
    });

    it('probe failure reopens the circuit for another full cooldown', async () => {
      openIt();
      clock += SPEC.cooldownMs;
      h.reg.acquire('p', 'm', SPEC)!.failure('timeout');
      expect(h.reg.state('p', 'm')).toBe('open');
      expect(h.reg.snapshot()[0]).toMatchObject({ state: 'open', openedAt: 1_000_000 + SPEC.cooldownMs });
      clock += SPEC.cooldownMs - 1;
      expect(h.reg.acquire('p', 'm', SPEC)).toBeUndefined();
      clock += 1;
      expect(h.reg.acquire('p', 'm', SPEC)).toBeDefined();
      expect(await emitted()).toEqual([
        { provider: 'p', model: 'm', from: 'closed', to: 'open' },
        { provider: 'p', model: 'm', from: 'open', to: 'half_open' },
        { provider: 'p', model: 'm', from: 'half_open', to: 'open' },
        { provider: 'p', model: 'm', from: 'open', to: 'half_open' },
      ]);
    });

    it('an ignored probe frees the slot for the next caller without changing state', async () => {
      openIt();
      clock += SPEC.cooldownMs;
      h.reg.acquire('p', 'm', SPEC)!.ignore();
      expect(h.reg.state('p', 'm')).toBe('half_open');
      const next = h.reg.acquire('p', 'm', SPEC);
      expect(next).toBeDefined();
      expect(h.reg.acquire('p', 'm', SPEC)).toBeUndefined();
      next!.success();
      expect(h.reg.state('p', 'm')).toBe('closed');
    });

    it('a probe that never reports is replaced after the probe lease (90s)', () => {
      openIt();
      clock += SPEC.cooldownMs;
      const lost = h.reg.acquire('p', 'm', SPEC);
      expect(lost).toBeDefined();
      clock += 90_000 - 1;
      expect(h.reg.acquire('p', 'm', SPEC)).toBeUndefined();
      clock += 1;
      const replacement = h.reg.acquire('p', 'm', SPEC);
      expect(replacement).toBeDefined();
      // The lost probe's late answer no longer steers the circuit; the replacement's does.
      lost!.failure('server_error');
      expect(h.reg.state('p', 'm')).toBe('half_open');
      replacement!.success();
      expect(h.reg.state('p', 'm')).toBe('closed');
      expect(h.logged).toEqual(['circuit probe never reported; admitting a new probe']);
    });

    it('ignore() and failure() with a non-target class do not count', async () => {
      for (let i = 0; i < 10; i++) call('ignore');
      for (const cls of ['bad_request', 'context_length', 'content_policy', 'auth', 'client_abort']) {
        h.reg.acquire('p', 'm', SPEC)!.failure(cls);
      }
      expect(h.reg.snapshot()).toEqual([
        { provider: 'p', model: 'm', state: 'closed', requests: 0, failures: 0, openedAt: null },
      ]);
      call('fail');
      call('fail');
      call('fail');
      call('ignore');
      expect(h.reg.state('p', 'm')).toBe('closed');
      expect(await emitted()).toEqual([]);
    });

    it('every counting class counts', () => {
      const classes = [
        'rate_limit',
        'server_error',
        'overloaded',
        'timeout',
        'connection',
        'stream_interrupted',
      ];
      const spec = { ...SPEC, minRequests: 6, failureRate: 1 };
      for (const cls of classes) h.reg.acquire('p', 'm', spec)!.failure(cls);
      expect(h.reg.state('p', 'm')).toBe('open');
    });

    describe('consecutive failures', () => {
      const five = { ...SPEC, minRequests: 10, consecutiveFailures: 5 };

      it('opens after that many in a row, although 300 successes keep the rate far below failure_rate', async () => {
        for (let i = 0; i < 300; i++) call('ok', five);
        for (let i = 0; i < 4; i++) call('fail', five);
        expect(h.reg.state('p', 'm')).toBe('closed');
        call('fail', five);
        expect(h.reg.state('p', 'm')).toBe('open');
        expect(h.reg.acquire('p', 'm', five)).toBeUndefined();
        expect(await emitted()).toEqual([{ provider: 'p', model: 'm', from: 'closed', to: 'open' }]);
      });

      it('a success ends the run; an ignored outcome neither counts nor ends it', () => {
        for (let i = 0; i < 4; i++) call('fail', five);
        call('ok', five);
        for (let i = 0; i < 4; i++) call('fail', five);
        call('ignore', five);
        expect(h.reg.state('p', 'm')).toBe('closed');
        call('fail', five);
        expect(h.reg.state('p', 'm')).toBe('open');
      });

      it('starts again from zero after the circuit closes', () => {
        for (let i = 0; i < 5; i++) call('fail', five);
        clock += five.cooldownMs;
        call('ok', five);
        expect(h.reg.state('p', 'm')).toBe('closed');
        for (let i = 0; i < 4; i++) call('fail', { ...five, minRequests: 100 });
        expect(h.reg.state('p', 'm')).toBe('closed');
      });

      it('0 turns the trigger off', () => {
        const off = { ...five, consecutiveFailures: 0, minRequests: 1000 };
        for (let i = 0; i < 50; i++) call('fail', off);
        expect(h.reg.state('p', 'm')).toBe('closed');
      });
    });

    it('each permit counts once; a failure after success (a stream cut) converts it', () => {
      const p1 = h.reg.acquire('p', 'm', SPEC)!;
      p1.success();
      p1.success();
      p1.ignore();
      expect(h.reg.snapshot()[0]).toMatchObject({ requests: 1, failures: 0 });
      p1.failure('stream_interrupted');
      p1.failure('stream_interrupted');
      expect(h.reg.snapshot()[0]).toMatchObject({ requests: 1, failures: 1 });
      const p2 = h.reg.acquire('p', 'm', SPEC)!;
      p2.failure('server_error');
      p2.success();
      expect(h.reg.snapshot()[0]).toMatchObject({ requests: 2, failures: 2 });
    });

    it('outcomes of permits issued before the circuit opened are dropped', () => {
      const early = [1, 2, 3].map(() => h.reg.acquire('p', 'm', SPEC)!);
      openIt();
      clock += SPEC.cooldownMs;
      h.reg.acquire('p', 'm', SPEC)!.success();
      for (const p of early) p.failure('server_error');
      expect(h.reg.snapshot()).toEqual([
        { provider: 'p', model: 'm', state: 'closed', requests: 1, failures: 0, openedAt: null },
      ]);
    });

    it('enabled: false always allows, records nothing and never transitions', async () => {
      const off = { ...SPEC, enabled: false };
      for (let i = 0; i < 20; i++) call('fail', off);
      expect(h.reg.state('p', 'm')).toBe('closed');
      expect(h.reg.snapshot()).toEqual([]);
      // Disabling an open circuit (a config reload) lets traffic through at once.
      openIt();
      expect(h.reg.acquire('p', 'm', off)).toBeDefined();
      expect(await emitted()).toEqual([{ provider: 'p', model: 'm', from: 'closed', to: 'open' }]);
    });

    it('targets are independent and all appear in the snapshot', () => {
      openIt();
      call('ok', SPEC, ['p', 'other']);
      call('fail', SPEC, ['q', 'm']);
      expect(h.reg.acquire('p', 'other', SPEC)).toBeDefined();
      expect(h.reg.snapshot()).toEqual([
        { provider: 'p', model: 'm', state: 'open', requests: 0, failures: 0, openedAt: 1_000_000 },
        { provider: 'p', model: 'other', state: 'closed', requests: 1, failures: 0, openedAt: null },
        { provider: 'q', model: 'm', state: 'closed', requests: 1, failures: 1, openedAt: null },
      ]);
    });

    it('emits every transition with exact payloads, in order', async () => {
      openIt();
      clock += SPEC.cooldownMs;
      h.reg.acquire('p', 'm', SPEC)!.failure('overloaded');
      clock += SPEC.cooldownMs;
      h.reg.acquire('p', 'm', SPEC)!.success();
      for (let i = 0; i < 4; i++) call('fail', SPEC, ['q', 'n']);
      expect(await emitted()).toEqual([
        { provider: 'p', model: 'm', from: 'closed', to: 'open' },
        { provider: 'p', model: 'm', from: 'open', to: 'half_open' },
        { provider: 'p', model: 'm', from: 'half_open', to: 'open' },
        { provider: 'p', model: 'm', from: 'open', to: 'half_open' },
        { provider: 'p', model: 'm', from: 'half_open', to: 'closed' },
        { provider: 'q', model: 'n', from: 'closed', to: 'open' },
      ]);
    });
  });
