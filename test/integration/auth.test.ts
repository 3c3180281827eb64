import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { adminCall, createKey } from '../helpers/admin.js';
import { captureLogs, startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError } from '../helpers/openai-fixtures.js';

/** Every auth mode over real HTTP, with the openai SDK where a user would use it. */

const ADMIN = 'adm-test-key-0123456789';
const HS_SECRET = 'jwt-shared-secret-for-tests-0123456789';
const MODELS = `
# The mock warms its tokenizer at start; on two loaded cores that must not read as overload.
server: { load_shedding: { enabled: false } }
providers: { mock: { type: mock, reply: "pong" } }
models:
  mock: { targets: [{ provider: mock, model: mock }] }
  other: { targets: [{ provider: mock, model: mock }] }
`;

function config(auth: string, extra = ''): string {
  return `admin: { key: ${ADMIN} }\nauth: ${auth}\n${extra}\n${MODELS}`;
}

function client(gw: TestGateway, apiKey: string): OpenAI {
  return new OpenAI({ baseURL: gw.baseURL, apiKey, maxRetries: 0 });
}

const ask = (c: OpenAI, model = 'mock') =>
  c.chat.completions.create({ model, messages: [{ role: 'user', content: 'ping' }] });

async function expectError(call: Promise<unknown>, status: number, error: Record<string, unknown>) {
  const err = await apiError(call);
  expect([err.status, err.error]).toEqual([status, { param: null, ...error }]);
}

function hs(claims: Record<string, unknown>, secret = HS_SECRET, exp: string | number = '5m') {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(secret));
}

describe('auth mode keys', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(config('{ mode: keys }'));
  });
  afterAll(() => gw.close());

  it('a valid key works as Bearer (openai SDK) and as x-api-key', async () => {
    const { secret } = await createKey(gw.url, ADMIN, 'acme');
    expect(secret).toMatch(/^sk-sy-[0-9A-Za-z]{43}$/);
    const r = await ask(client(gw, secret));
    expect(r.choices[0]?.message.content).toBe('pong');
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'x-api-key': secret, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'ping' }] }),
    });
    expect(res.status).toBe(200);
  });

  it('no key: 401 missing_api_key', async () => {
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'ping' }] }),
    });
    expect([res.status, await res.json()]).toEqual([
      401,
      {
        error: {
          message: 'No API key: send "Authorization: Bearer <key>" or "x-api-key: <key>".',
          type: 'authentication_error',
          code: 'missing_api_key',
          param: null,
        },
      },
    ]);
  });

  it('an unknown key and a malformed one get the same answer (no existence leak)', async () => {
    const invalid = {
      message: 'The API key is not valid.',
      type: 'authentication_error',
      code: 'invalid_api_key',
    };
    await expectError(ask(client(gw, `sk-sy-${'A'.repeat(43)}`)), 401, invalid);
    await expectError(ask(client(gw, 'not-a-key')), 401, invalid);
    await expectError(ask(client(gw, `sk-sy-${'x'.repeat(9000)}`)), 401, invalid);
  });

  it('a revoked key: 401 api_key_revoked, at once on this instance', async () => {
    const { id, secret } = await createKey(gw.url, ADMIN, 'acme');
    await ask(client(gw, secret));
    const rev = await adminCall(gw.url, ADMIN, 'POST', `/keys/${id}/revoke`);
    expect(rev.status).toBe(200);
    expect(typeof rev.body.revoked_at).toBe('string');
    await expectError(ask(client(gw, secret)), 401, {
      message: 'The API key has been revoked.',
      type: 'authentication_error',
      code: 'api_key_revoked',
    });
  });

  it('an expired key: 401 api_key_expired', async () => {
    const { secret } = await createKey(gw.url, ADMIN, 'acme', {
      expires_at: new Date(Date.now() - 1000).toISOString(),
    });
    await expectError(ask(client(gw, secret)), 401, {
      message: 'The API key has expired.',
      type: 'authentication_error',
      code: 'api_key_expired',
    });
  });

  it('a key limited to some models: 403 model_not_allowed for the others', async () => {
    const { secret } = await createKey(gw.url, ADMIN, 'acme', { allowed_models: ['mock'] });
    expect((await ask(client(gw, secret), 'mock')).choices).toHaveLength(1);
    const err = await apiError(ask(client(gw, secret), 'other'));
    expect([err.status, err.error]).toEqual([
      403,
      {
        message: "This API key may not use model 'other'.",
        type: 'permission_error',
        code: 'model_not_allowed',
        param: 'model',
      },
    ]);
  });

  it('signed requests: valid, missing, wrong body, stale, replayed', async () => {
    const { secret } = await createKey(gw.url, ADMIN, 'acme', { require_signature: true });
    const body = JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'signed' }] });
    const send = (headers: Record<string, string>, payload = body) =>
      fetch(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...headers },
        body: payload,
      });
    const sign = (ts: number, payload = body) =>
      `v1=${createHmac('sha256', secret).update(`${ts}.${payload}`).digest('hex')}`;
    const now = Math.floor(Date.now() / 1000);

    const missing = await send({});
    expect([missing.status, ((await missing.json()) as { error: { code: string } }).error.code]).toEqual([
      401,
      'signature_required',
    ]);
    const ok = await send({ 'x-switchyard-timestamp': String(now), 'x-switchyard-signature': sign(now) });
    expect(ok.status).toBe(200);
    const replay = await send({ 'x-switchyard-timestamp': String(now), 'x-switchyard-signature': sign(now) });
    expect([replay.status, await replay.json()]).toEqual([
      401,
      {
        error: {
          message: 'This signed request was already received.',
          type: 'authentication_error',
          code: 'signature_replayed',
          param: null,
        },
      },
    ]);
    const tampered = await send(
      { 'x-switchyard-timestamp': String(now + 1), 'x-switchyard-signature': sign(now + 1) },
      body.replace('signed', 'changed'),
    );
    expect([tampered.status, await tampered.json()]).toEqual([
      401,
      {
        error: {
          message: 'The request signature does not match the body.',
          type: 'authentication_error',
          code: 'invalid_signature',
          param: null,
        },
      },
    ]);
    const old = now - 3600;
    const stale = await send({ 'x-switchyard-timestamp': String(old), 'x-switchyard-signature': sign(old) });
    expect([stale.status, ((await stale.json()) as { error: { code: string } }).error.code]).toEqual([
      401,
      'signature_expired',
    ]);
  });
});

describe('auth mode jwt', () => {
  let hsGw: TestGateway;
  let rsGw: TestGateway;
  let esGw: TestGateway;
  let rsKey: CryptoKey;
  let esKey: CryptoKey;
  const dir = mkdtempSync(join(tmpdir(), 'sy-jwks-'));

  beforeAll(async () => {
    hsGw = await startGateway(
      config(
        `{ mode: jwt, jwt: { secret: ${HS_SECRET}, issuer: https://idp.test, claims: { team: org, user: sub, tier: plan } } }`,
      ),
    );
    const rs = await generateKeyPair('RS256');
    rsKey = rs.privateKey;
    const pem = await exportSPKI(rs.publicKey);
    rsGw = await startGateway(config(`{ mode: jwt, jwt: { public_key: ${JSON.stringify(pem)} } }`));
    const es = await generateKeyPair('ES256');
    esKey = es.privateKey;
    const jwks = { keys: [{ ...(await exportJWK(es.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks));
    esGw = await startGateway(config(`{ mode: jwt, jwt: { jwks_file: ${join(dir, 'jwks.json')} } }`));
  });
  afterAll(async () => {
    await Promise.all([hsGw.close(), rsGw.close(), esGw.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('HS256: a valid token maps claims to team, user and tier', async () => {
    const token = await hs({ org: 'acme', sub: 'u-7', plan: 'pro', iss: 'https://idp.test' });
    const r = await ask(client(hsGw, token));
    expect(r.choices[0]?.message.content).toBe('pong');
  });

  it('HS256: expired, wrong secret, wrong issuer, no team claim, not a JWT', async () => {
    const invalid = (message: string) => ({ message, type: 'authentication_error', code: 'invalid_token' });
    await expectError(
      ask(
        client(
          hsGw,
          await hs({ org: 'acme', iss: 'https://idp.test' }, HS_SECRET, Math.floor(Date.now() / 1000) - 60),
        ),
      ),
      401,
      { message: 'The JWT has expired.', type: 'authentication_error', code: 'token_expired' },
    );
    await expectError(
      ask(client(hsGw, await hs({ org: 'acme', iss: 'https://idp.test' }, 'another-secret-0123456789'))),
      401,
      invalid('The JWT is not valid: its signature does not verify.'),
    );
    await expectError(
      ask(client(hsGw, await hs({ org: 'acme', iss: 'https://evil.test' }))),
      401,
      invalid('The JWT is not valid: claim "iss" is not accepted.'),
    );
    await expectError(ask(client(hsGw, await hs({ sub: 'u', iss: 'https://idp.test' }))), 403, {
      message: 'The JWT has no "org" claim naming a team.',
      type: 'permission_error',
      code: 'token_missing_team',
    });
    await expectError(
      ask(client(hsGw, `sk-sy-${'A'.repeat(43)}`)),
      401,
      invalid('The bearer token is not a JWT.'),
    );
  });

  it('RS256 with a PEM public key; a token signed by another key is refused', async () => {
    const good = await new SignJWT({ team: 'acme' })
      .setProtectedHeader({ alg: 'RS256' })
      .setExpirationTime('5m')
      .sign(rsKey);
    expect((await ask(client(rsGw, good))).choices).toHaveLength(1);
    const other = (await generateKeyPair('RS256')).privateKey;
    const bad = await new SignJWT({ team: 'acme' })
      .setProtectedHeader({ alg: 'RS256' })
      .setExpirationTime('5m')
      .sign(other);
    await expectError(ask(client(rsGw, bad)), 401, {
      message: 'The JWT is not valid: its signature does not verify.',
      type: 'authentication_error',
      code: 'invalid_token',
    });
    // alg confusion: an HS256 token is refused when only RS256/ES256 are allowed.
    await expectError(ask(client(rsGw, await hs({ team: 'acme' }))), 401, {
      message: 'The JWT is not valid: its algorithm is not allowed.',
      type: 'authentication_error',
      code: 'invalid_token',
    });
  });

  it('ES256 from a JWKS file', async () => {
    const token = await new SignJWT({ team: 'acme' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setExpirationTime('5m')
      .sign(esKey);
    expect((await ask(client(esGw, token))).choices).toHaveLength(1);
    const unknownKid = await new SignJWT({ team: 'acme' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k2' })
      .setExpirationTime('5m')
      .sign(esKey);
    await expectError(ask(client(esGw, unknownKid)), 401, {
      message: 'The JWT is not valid: no configured key matches it.',
      type: 'authentication_error',
      code: 'invalid_token',
    });
  });
});

describe('auth modes keys+jwt and none; admin allowlist', () => {
  it('keys+jwt accepts both', async () => {
    const gw = await startGateway(config(`{ mode: keys+jwt, jwt: { secret: ${HS_SECRET} } }`));
    try {
      const { secret } = await createKey(gw.url, ADMIN, 'acme');
      expect((await ask(client(gw, secret))).choices).toHaveLength(1);
      expect((await ask(client(gw, await hs({ team: 'acme' })))).choices).toHaveLength(1);
      await expectError(ask(client(gw, 'garbage')), 401, {
        message: 'The API key is not valid.',
        type: 'authentication_error',
        code: 'invalid_api_key',
      });
    } finally {
      await gw.close();
    }
  });

  it('none needs no key, and warns when bound beyond loopback', async () => {
    const gw = await startGateway(MODELS);
    try {
      expect((await ask(client(gw, 'anything'))).choices).toHaveLength(1);
      expect(gw.logs.some((l) => String(l.msg).startsWith('auth.mode is none'))).toBe(false);
    } finally {
      await gw.close();
    }
    const { stream, logs } = captureLogs();
    const cfg = parseConfig(MODELS, 'test', { SWITCHYARD_DB_PATH: ':memory:', HOST: '0.0.0.0', PORT: '0' });
    const { app } = await buildApp({ config: cfg, logStream: stream });
    await app.close();
    expect(logs.find((l) => String(l.msg).startsWith('auth.mode is none'))).toMatchObject({
      level: 40,
      host: '0.0.0.0',
    });
  });

  it('admin: the IP allowlist refuses other addresses; wrong keys are 401', async () => {
    const denied = await startGateway(`admin: { key: ${ADMIN}, allow_ips: ["10.0.0.0/8"] }\n${MODELS}`);
    try {
      const r = await adminCall(denied.url, ADMIN, 'GET', '/teams');
      expect(r).toEqual({
        status: 403,
        body: {
          error: {
            message: 'The admin API is not reachable from this address.',
            type: 'permission_error',
            code: 'ip_not_allowed',
            param: null,
          },
        },
      });
    } finally {
      await denied.close();
    }
    const allowed = await startGateway(`admin: { key: ${ADMIN}, allow_ips: ["127.0.0.1"] }\n${MODELS}`);
    try {
      expect((await adminCall(allowed.url, ADMIN, 'GET', '/teams')).status).toBe(200);
      expect(await adminCall(allowed.url, 'wrong', 'GET', '/teams')).toEqual({
        status: 401,
        body: {
          error: {
            message: 'The admin key is not valid.',
            type: 'authentication_error',
            code: 'invalid_admin_key',
            param: null,
          },
        },
      });
      expect((await adminCall(allowed.url, undefined, 'GET', '/teams')).status).toBe(401);
    } finally {
      await allowed.close();
    }
  });
});
