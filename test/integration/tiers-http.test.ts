import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, createKey } from '../helpers/admin.js';
import { startApp } from '../helpers/app-under-test.js';

/**
 * One tier definition, through real HTTP: tiers defined under the top-level `tiers:` are the names keys
 * may carry (no second list under auth), a key's tier limits it, and a team can name a tier for its
 * team-wide limits and spend cap.
 */

const ADMIN = 'adm-tiers-test-0123456789';
let gw: Awaited<ReturnType<typeof startApp>>;

beforeAll(async () => {
  gw = await startApp(`
logging: { level: warn }
admin: { key: ${ADMIN} }
auth: { mode: keys, default_tier: bronze }
providers: { mock: { type: mock } }
models: { mock: { targets: [{ provider: mock, model: mock }] } }
tiers:
  bronze: { rpd: 1 }
  gold: { rpd: 2, on_limit: reject }
  team-plan: { rpd: 3, budget: { daily: 7 } }
limits:
  teams: { acme: { tier: team-plan, budget: { monthly: 100 } } }
`);
});
afterAll(() => gw.close());

function client(secret: string) {
  return new OpenAI({ baseURL: gw.baseURL, apiKey: secret, maxRetries: 0 });
}
const ask = (c: OpenAI) =>
  c.chat.completions.create({ model: 'mock', messages: [{ role: 'user', content: 'hi' }] }).withResponse();

describe('tiers defined once', () => {
  it('a key names a tier from tiers:, and that tier limits it; unknown names are refused', async () => {
    const gold = await createKey(gw.url, ADMIN, 'solo', { tier: 'gold' });
    expect(gold.body.tier).toBe('gold');
    // Created without a tier: auth.default_tier, itself a tiers: entry.
    const plain = await createKey(gw.url, ADMIN, 'solo');
    expect(plain.body.tier).toBe('bronze');

    const c = client(gold.secret);
    expect((await ask(c)).response.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    await ask(c);
    const err = await ask(c).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers.get('x-switchyard-limit')).toBe(
      'key.rpd',
    );

    const bad = await adminCall(gw.url, ADMIN, 'POST', '/keys', { team: 'solo', tier: 'platinum' });
    expect(bad).toEqual({
      status: 400,
      body: {
        error: {
          message:
            "Unknown tier 'platinum'; tiers: free, pro, enterprise, unlimited, bronze, gold, team-plan.",
          type: 'invalid_request_error',
          code: 'invalid_tier',
          param: 'tier',
        },
      },
    });
  });

  it("a team names a tier for its team-wide limits and cap; the team's own fields override", async () => {
    const a = await createKey(gw.url, ADMIN, 'acme', { tier: 'gold' });
    const b = await createKey(gw.url, ADMIN, 'acme', { tier: 'gold' });
    await ask(client(a.secret));
    await ask(client(a.secret));
    await ask(client(b.secret));
    // Each key has one of its two left, but the team's tier allows three a day in all.
    const err = await ask(client(b.secret)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers.get('x-switchyard-limit')).toBe(
      'team.rpd',
    );
    const usage = await adminCall<{ budgets: Array<{ limit: string; cap_micro_usd: number }> }>(
      gw.url,
      ADMIN,
      'GET',
      '/usage?team=acme',
    );
    expect(usage.body.budgets.map((r) => [r.limit, r.cap_micro_usd])).toEqual([
      ['team.daily', 7_000_000],
      ['team.monthly', 100_000_000],
    ]);
  });
});
