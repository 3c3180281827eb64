import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, createKey } from '../helpers/admin.js';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Shared cache namespaces on real virtual keys: a key's `cache_namespaces` (set through the admin API,
 * stored in the database, put on the caller by identify) lets it choose a namespace with
 * `x-switchyard-cache-namespace`, and so share entries with keys of other teams granted the same one.
 * A key without the grant is refused in our error shape.
 */

const ADMIN = 'adm-cache-ns-0123456789';

let up: FakeUpstream;
let gw: TestGateway;
let alpha: { id: string; secret: string; body: Record<string, unknown> };
let beta: { id: string; secret: string };
let betaPlain: { id: string; secret: string };

beforeAll(async () => {
  up = await startFakeUpstream((_req, res) =>
    sendJson(res, 200, {
      id: `chatcmpl-${up.requests.length}`,
      object: 'chat.completion',
      created: 1700000000,
      model: 'gpt-4o-mini',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'Shared answer' }, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
    }),
  );
  gw = await startGateway(`
admin: { key: ${ADMIN} }
auth: { mode: keys }
routing: { circuit_breaker: { enabled: false }, retry: { attempts: 1 } }
cache: { enabled: true, ttl: 1h }
providers:
  up: { type: openai, base_url: ${up.url}/v1, api_key: sk-x }
models:
  chat: { targets: [ { provider: up, model: gpt-4o-mini } ] }
`);
  alpha = await createKey(gw.url, ADMIN, 'alpha', { cache_namespaces: ['shared', 'shared'] });
  beta = await createKey(gw.url, ADMIN, 'beta', { cache_namespaces: ['org:faq', 'shared'] });
  betaPlain = await createKey(gw.url, ADMIN, 'beta');
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

function chat(secret: string, namespace?: string) {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${secret}`,
      ...(namespace !== undefined ? { 'x-switchyard-cache-namespace': namespace } : {}),
    },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'What are your hours?' }] }),
  });
}

describe('cache namespaces on keys', () => {
  it('the admin API stores and shows them (deduplicated)', async () => {
    expect(alpha.body.cache_namespaces).toEqual(['shared']);
    const got = await adminCall(gw.url, ADMIN, 'GET', `/keys/${beta.id}`);
    expect(got.body.cache_namespaces).toEqual(['org:faq', 'shared']);
    expect((await adminCall(gw.url, ADMIN, 'GET', `/keys/${betaPlain.id}`)).body.cache_namespaces).toBeNull();
  });

  it('keys of two teams granted one namespace share its entries; their teams stay apart', async () => {
    const first = await chat(alpha.secret, 'shared');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    const calls = up.requests.length;
    // Beta's granted key, through the official client, gets alpha's entry from the shared namespace.
    const client = new OpenAI({
      baseURL: `${gw.url}/v1`,
      apiKey: beta.secret,
      maxRetries: 0,
      defaultHeaders: { 'x-switchyard-cache-namespace': 'shared' },
    });
    const { data, response } = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'What are your hours?' }] })
      .withResponse();
    expect(response.headers.get('x-cache')).toBe('HIT');
    expect(data.choices[0]?.message.content).toBe('Shared answer');
    expect(data.id).toBe(((await first.json()) as { id: string }).id);
    expect(up.requests.length).toBe(calls);
    // Without the header each key uses its own team's namespace: no sharing.
    expect((await chat(beta.secret)).headers.get('x-cache')).toBe('MISS');
    expect((await chat(alpha.secret)).headers.get('x-cache')).toBe('MISS');
    expect(up.requests.length).toBe(calls + 2);
  });

  it('a key without the grant is refused with 403 cache_namespace_forbidden, until it is granted', async () => {
    const denied = await chat(betaPlain.secret, 'shared');
    expect(denied.status).toBe(403);
    expect(await denied.json()).toEqual({
      error: {
        message:
          "This key may not use cache namespace 'shared'; it uses its team's namespace unless its key lists others.",
        type: 'permission_error',
        code: 'cache_namespace_forbidden',
        param: 'x-switchyard-cache-namespace',
      },
    });
    // Another key's grant is not this key's: beta's granted 'org:faq' is still refused here.
    expect((await chat(betaPlain.secret, 'org:faq')).status).toBe(403);
    // Its own team's name is always allowed.
    expect((await chat(betaPlain.secret, 'beta')).status).toBe(200);

    const patched = await adminCall(gw.url, ADMIN, 'PATCH', `/keys/${betaPlain.id}`, {
      cache_namespaces: ['shared'],
    });
    expect(patched.status).toBe(200);
    expect(patched.body.cache_namespaces).toEqual(['shared']);
    const now = await chat(betaPlain.secret, 'shared');
    expect(now.status).toBe(200);
    expect(now.headers.get('x-cache')).toBe('HIT');
  });

  it('refuses bad grants with 400 invalid_cache_namespaces naming the field', async () => {
    const bad = await adminCall(gw.url, ADMIN, 'POST', '/keys', {
      team: 'alpha',
      cache_namespaces: ['has space'],
    });
    expect(bad).toEqual({
      status: 400,
      body: {
        error: {
          message:
            'cache_namespaces entries must be "*" or 1 to 128 characters of letters, digits and . _ : @ / - (got "has space").',
          type: 'invalid_request_error',
          code: 'invalid_cache_namespaces',
          param: 'cache_namespaces',
        },
      },
    });
    const many = await adminCall(gw.url, ADMIN, 'PATCH', `/keys/${alpha.id}`, {
      cache_namespaces: Array.from({ length: 33 }, (_, i) => `ns${i}`),
    });
    expect(many).toEqual({
      status: 400,
      body: {
        error: {
          message: 'cache_namespaces may list at most 32 namespaces.',
          type: 'invalid_request_error',
          code: 'invalid_cache_namespaces',
          param: 'cache_namespaces',
        },
      },
    });
    expect(
      (await adminCall(gw.url, ADMIN, 'PATCH', `/keys/${alpha.id}`, { cache_namespaces: ['x'.repeat(129)] }))
        .status,
    ).toBe(400);
    // Nothing changed.
    expect((await adminCall(gw.url, ADMIN, 'GET', `/keys/${alpha.id}`)).body.cache_namespaces).toEqual([
      'shared',
    ]);
  });
});
