import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { adminCall, createKey, eventually } from '../helpers/admin.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { dropSchema, freshSchemaName, PG_URL } from '../helpers/postgres.js';
import { services } from '../helpers/services.js';

/**
 * Revocation across instances: two gateways share one PostgreSQL schema. With Redis, a revoke on one
 * reaches the other's key cache through pub/sub at once (well inside the 5 s TTL); without Redis the
 * cache TTL is the bound.
 */

const ADMIN = 'adm-revoke-test-0123456789';
const schemas: string[] = [];
const gateways: TestGateway[] = [];
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  for (const s of schemas) await dropSchema(s);
});

function yaml(schema: string, extra: string): string {
  return `
admin: { key: ${ADMIN} }
# The mock warms its tokenizer at start; on two loaded cores that must not read as overload.
server: { load_shedding: { enabled: false } }
auth: { mode: keys, ${extra} }
database: { url: "${PG_URL}", schema: ${schema} }
providers: { mock: { type: mock, reply: ok } }
models: { mock: { targets: [{ provider: mock, model: mock }] } }
`;
}

async function pair(authExtra: string, top = ''): Promise<[TestGateway, TestGateway]> {
  const schema = freshSchemaName();
  schemas.push(schema);
  const a = await startGateway(`${top}\n${yaml(schema, authExtra)}`);
  gateways.push(a);
  const b = await startGateway(`${top}\n${yaml(schema, authExtra)}`);
  gateways.push(b);
  return [a, b];
}

async function status(gw: TestGateway, secret: string): Promise<number> {
  const client = new OpenAI({ baseURL: gw.baseURL, apiKey: secret, maxRetries: 0 });
  try {
    await client.chat.completions.create({ model: 'mock', messages: [{ role: 'user', content: 'x' }] });
    return 200;
  } catch (err) {
    return (err as { status: number }).status;
  }
}

describe.skipIf(!services.postgres)('key revocation across instances', () => {
  it.skipIf(!services.redis)(
    'with Redis: the other instance refuses the key within a fraction of the TTL',
    async () => {
      const prefix = `sy-test-${randomBytes(4).toString('hex')}:`;
      const [a, b] = await pair(
        'key_cache_ttl: 5s',
        `redis: { url: "redis://127.0.0.1:6379", key_prefix: "${prefix}" }`,
      );
      const { id, secret } = await createKey(a.url, ADMIN, 'acme');
      // B caches the key as valid.
      expect(await status(b, secret)).toBe(200);
      expect(await status(b, secret)).toBe(200);
      const t0 = Date.now();
      expect((await adminCall(a.url, ADMIN, 'POST', `/keys/${id}/revoke`)).status).toBe(200);
      await eventually(async () => ((await status(b, secret)) === 401 ? true : undefined), 5_000);
      const elapsed = Date.now() - t0;
      // The TTL alone would take up to 5 s; pub/sub is immediate (a margin for two loaded cores).
      expect(elapsed).toBeLessThan(2_000);
    },
  );

  it('without Redis: the cache TTL bounds how long the other instance accepts a revoked key', async () => {
    const [a, b] = await pair('key_cache_ttl: 300ms');
    const { id, secret } = await createKey(a.url, ADMIN, 'acme');
    expect(await status(b, secret)).toBe(200);
    const t0 = Date.now();
    await adminCall(a.url, ADMIN, 'POST', `/keys/${id}/revoke`);
    await eventually(async () => ((await status(b, secret)) === 401 ? true : undefined), 5_000);
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it.skipIf(!services.redis)(
    'an update on one instance (a model allowlist) reaches the other instance at once',
    async () => {
      const prefix = `sy-test-${randomBytes(4).toString('hex')}:`;
      const [a, b] = await pair(
        'key_cache_ttl: 5s',
        `redis: { url: "redis://127.0.0.1:6379", key_prefix: "${prefix}" }`,
      );
      const { id, secret } = await createKey(a.url, ADMIN, 'acme');
      expect(await status(b, secret)).toBe(200);
      // An update (e.g. a model allowlist) reaches B as well.
      await adminCall(a.url, ADMIN, 'PATCH', `/keys/${id}`, { allowed_models: ['other'] });
      await eventually(async () => ((await status(b, secret)) === 403 ? true : undefined), 2_000);
    },
  );
});
