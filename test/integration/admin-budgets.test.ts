import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, createKey } from '../helpers/admin.js';
import { startApp } from '../helpers/app-under-test.js';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { until } from '../helpers/poll.js';
import { services } from '../helpers/services.js';

/**
 * Spend caps in /admin/usage, over real HTTP: per key and per team, the cap, its window, settled spend
 * and reservations in flight (integer micro-dollars), what is left and when the window starts over, read
 * from the limiter backend. With Redis, two gateways sharing it show the same figures.
 *
 * Prices come from `pricing:` (the request log's table): gpt-test costs $1 / $2 per million tokens, so
 * 1 and 2 micro-dollars per token. "hi" with max_tokens 300 reserves 7 + 600 = 607; the upstream reports
 * 8 + 100 tokens, so it settles at 208.
 */

const ADMIN = 'adm-budget-test-0123456789';
const REDIS_URL = 'redis://127.0.0.1:6379';

let upstream: FakeUpstream;
/** Requests wait here until the test lets them answer, so a reservation can be seen in flight. */
let gate: { open: () => void; opened: Promise<void> };
function closeGate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  gate = { open, opened };
}

beforeAll(async () => {
  closeGate();
  gate.open();
  upstream = await startFakeUpstream(async (_req, res) => {
    await gate.opened;
    sendJson(res, 200, {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-test',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 8, completion_tokens: 100, total_tokens: 108 },
    });
  });
});
afterAll(() => upstream.close());

const dirs: string[] = [];
const apps: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function gateway(extra: string, env: Record<string, string> = {}) {
  const gw = await startApp(
    `
logging: { level: warn }
admin: { key: ${ADMIN} }
auth: { mode: keys }
pricing: { gpt-test: { input: 1, output: 2 } }
providers:
  up: { type: openai, base_url: ${upstream.url}/v1, api_key: k }
models:
  m: { targets: [{ provider: up, model: gpt-test }], retry: { attempts: 1 } }
tiers:
  capped: { rpm: 1000, budget: { daily: 0.01 } }
  # Callers without identity would share this cap, but with auth on there are none: no row for it.
  anon: { budget: { daily: 1 } }
limits:
  anonymous_tier: anon
  teams: { acme: { budget: { monthly: 1 } } }
${extra}`,
    { env },
  );
  apps.push(gw);
  return gw;
}

function chat(url: string, secret: string) {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 300 }),
  });
}

interface BudgetRow {
  limit: string;
  key?: string;
  spent_micro_usd: number;
  reserved_micro_usd: number;
  remaining_micro_usd: number;
}

async function budgets(url: string, query = ''): Promise<BudgetRow[]> {
  const r = await adminCall<{ budgets: BudgetRow[] }>(url, ADMIN, 'GET', `/usage${query}`);
  expect(r.status).toBe(200);
  return r.body.budgets;
}

function nextUtcDay(): string {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1)).toISOString();
}
function nextUtcMonth(): string {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString();
}

function rows(keyId: string, source: 'memory' | 'redis', spent: number, reserved: number) {
  return [
    {
      limit: 'key.daily',
      scope: 'key',
      window: 'daily',
      team: 'acme',
      key: keyId,
      cap_micro_usd: 10_000,
      spent_micro_usd: spent,
      reserved_micro_usd: reserved,
      remaining_micro_usd: 10_000 - spent - reserved,
      resets_at: nextUtcDay(),
      source,
    },
    {
      limit: 'team.monthly',
      scope: 'team',
      window: 'monthly',
      team: 'acme',
      cap_micro_usd: 1_000_000,
      spent_micro_usd: spent,
      reserved_micro_usd: reserved,
      remaining_micro_usd: 1_000_000 - spent - reserved,
      resets_at: nextUtcMonth(),
      source,
    },
  ];
}

describe('/admin/usage budgets', () => {
  it('memory: shows each cap with spend, reservations in flight, what is left and the reset time', async () => {
    const gw = await gateway('');
    const key = await createKey(gw.url, ADMIN, 'acme', { tier: 'capped' });
    // A key of a team without a team cap, on a tier without one: no rows of its own.
    await createKey(gw.url, ADMIN, 'other');
    expect(await budgets(gw.url)).toEqual(rows(key.id, 'memory', 0, 0));

    closeGate();
    const pending = chat(gw.url, key.secret);
    const inFlight = await until(async () => {
      const b = await budgets(gw.url);
      return b[0]?.reserved_micro_usd === 607 ? b : undefined;
    }, 'the reservation in flight');
    expect(inFlight).toEqual(rows(key.id, 'memory', 0, 607));
    gate.open();
    expect((await pending).status).toBe(200);
    const settled = await until(async () => {
      const b = await budgets(gw.url);
      return b[0]?.reserved_micro_usd === 0 ? b : undefined;
    }, 'the reconciliation');
    expect(settled).toEqual(rows(key.id, 'memory', 208, 0));

    // Filters: the key's rows, one team's, and a team with no caps.
    expect(await budgets(gw.url, `?key=${key.id}`)).toEqual(rows(key.id, 'memory', 208, 0));
    expect(await budgets(gw.url, '?team=acme')).toEqual(rows(key.id, 'memory', 208, 0));
    expect(await budgets(gw.url, '?team=other')).toEqual([]);
  });

  it('auth off: the anonymous tier cap is the `none` team cap, as admission charges it', async () => {
    const gw = await startApp(`
logging: { level: warn }
admin: { key: ${ADMIN} }
pricing: { gpt-test: { input: 1, output: 2 } }
providers:
  up: { type: openai, base_url: ${upstream.url}/v1, api_key: k }
models:
  m: { targets: [{ provider: up, model: gpt-test }], retry: { attempts: 1 } }
tiers:
  free: { rpm: 1000, budget: { total: 0.5 } }
`);
    apps.push(gw);
    expect((await chat(gw.url, 'unused')).status).toBe(200);
    const b = await until(async () => {
      const r = await budgets(gw.url);
      return r[0]?.reserved_micro_usd === 0 && r[0].spent_micro_usd > 0 ? r : undefined;
    }, 'the reconciliation');
    expect(b).toEqual([
      {
        limit: 'team.total',
        scope: 'team',
        window: 'total',
        team: 'none',
        cap_micro_usd: 500_000,
        spent_micro_usd: 208,
        reserved_micro_usd: 0,
        remaining_micro_usd: 499_792,
        resets_at: null,
        source: 'memory',
      },
    ]);
  });

  describe.skipIf(!services.redis)('with Redis', () => {
    let redis: Redis;
    const prefix = `sytest:admbudget:${process.pid}:${Date.now()}:`;
    beforeAll(() => {
      redis = new Redis(REDIS_URL);
    });
    afterAll(async () => {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    });

    it('two gateways sharing Redis show the same spend and reservations', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sy-budgets-'));
      dirs.push(dir);
      // One database (keys) and one Redis (limits) for both instances.
      const env = { SWITCHYARD_DB_PATH: join(dir, 'db.sqlite') };
      const shared = `redis: { url: ${REDIS_URL}, key_prefix: "${prefix}" }`;
      const a = await gateway(shared, env);
      const b = await gateway(shared, env);
      const key = await createKey(a.url, ADMIN, 'acme', { tier: 'capped' });

      closeGate();
      const pending = chat(a.url, key.secret);
      // The request is in flight on A; B sees its reservation.
      const seen = await until(async () => {
        const r = await budgets(b.url);
        return r[0]?.reserved_micro_usd === 607 ? r : undefined;
      }, 'the reservation, seen from the other instance');
      expect(seen).toEqual(rows(key.id, 'redis', 0, 607));
      gate.open();
      expect((await pending).status).toBe(200);
      await until(async () => (await budgets(b.url))[0]?.reserved_micro_usd === 0, 'the reconciliation');
      expect(await budgets(b.url)).toEqual(rows(key.id, 'redis', 208, 0));

      // Spend on B shows on A.
      expect((await chat(b.url, key.secret)).status).toBe(200);
      await until(async () => {
        const r = await budgets(a.url);
        return r[0]?.spent_micro_usd === 416 && r[0].reserved_micro_usd === 0;
      }, 'B spend seen from A');
      expect(await budgets(a.url)).toEqual(rows(key.id, 'redis', 416, 0));
    });
  });
});
