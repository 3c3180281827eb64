import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, createKey, eventually } from '../helpers/admin.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The admin API's team isolation, endpoint by endpoint: a team admin key of team alpha can never read,
 * list or change anything of team beta, and gets exactly the answer it would get if beta's things did
 * not exist (404), or 403 where it named beta itself.
 */

const ADMIN = 'adm-iso-test-0123456789';
const SECRET_KEY = 'switchyard-test-secret-key-0123456789';

describe('admin API: team isolation', () => {
  let gw: TestGateway;
  let alphaAdmin: string;
  let alphaUser: { id: string; secret: string };
  let betaUser: { id: string; secret: string };
  let betaRequestId: string;

  beforeAll(async () => {
    gw = await startGateway(
      `admin: { key: ${ADMIN} }
auth: { mode: keys }
server: { load_shedding: { enabled: false } }
request_log: { flush_interval: 20ms }
providers: { mock: { type: mock } }
models: { mock: { targets: [{ provider: mock, model: mock }] } }`,
      { SWITCHYARD_SECRET_KEY: SECRET_KEY },
    );
    alphaAdmin = (await createKey(gw.url, ADMIN, 'alpha', { role: 'team_admin', name: 'alpha admin' }))
      .secret;
    alphaUser = await createKey(gw.url, ADMIN, 'alpha');
    betaUser = await createKey(gw.url, ADMIN, 'beta');
    for (const k of [alphaUser, betaUser]) {
      await new OpenAI({ baseURL: gw.baseURL, apiKey: k.secret, maxRetries: 0 }).chat.completions.create({
        model: 'mock',
        messages: [{ role: 'user', content: 'hi' }],
      });
    }
    betaRequestId = await eventually(async () => {
      const r = await adminCall<{ data: Array<{ id: string; team: string }> }>(
        gw.url,
        ADMIN,
        'GET',
        '/requests',
      );
      return r.body.data.find((x) => x.team === 'beta')?.id;
    });
  });
  afterAll(() => gw.close());

  const as = (method: string, path: string, body?: unknown) =>
    adminCall(gw.url, alphaAdmin, method, path, body);
  const err = (status: number, code: string, message: string, type: string, param: string | null = null) => ({
    status,
    body: { error: { message, type, code, param } },
  });
  const masterOnly = err(
    403,
    'admin_forbidden',
    'This needs the admin key; a team admin key manages only its team.',
    'permission_error',
  );
  const forbiddenTeam = err(
    403,
    'team_forbidden',
    "This key may not access team 'beta'.",
    'permission_error',
    'team',
  );

  it('teams: create is master-only; list, get and update see only the own team', async () => {
    expect(await as('POST', '/teams', { id: 'gamma' })).toEqual(masterOnly);
    const list = await as('GET', '/teams');
    expect((list.body as { data: Array<{ id: string }> }).data.map((t) => t.id)).toEqual(['alpha']);
    expect(await as('GET', '/teams/beta')).toEqual(
      err(404, 'team_not_found', "No team 'beta'.", 'not_found_error'),
    );
    expect(await as('PATCH', '/teams/beta', { name: 'pwned' })).toEqual(
      err(404, 'team_not_found', "No team 'beta'.", 'not_found_error'),
    );
    expect((await as('PATCH', '/teams/alpha', { name: 'Alpha Inc' })).body).toMatchObject({
      name: 'Alpha Inc',
    });
    expect((await adminCall(gw.url, ADMIN, 'GET', '/teams/beta')).body).toMatchObject({
      id: 'beta',
      name: 'beta',
    });
  });

  it('keys: create, list, get, update and revoke never reach team beta', async () => {
    expect(await as('POST', '/keys', { team: 'beta' })).toEqual(forbiddenTeam);
    expect(await as('GET', '/keys?team=beta')).toEqual(forbiddenTeam);
    const own = await as('GET', '/keys');
    const teamsListed = new Set((own.body as { data: Array<{ team: string }> }).data.map((k) => k.team));
    expect([...teamsListed]).toEqual(['alpha']);
    const notFound = err(404, 'key_not_found', `No key '${betaUser.id}'.`, 'not_found_error');
    expect(await as('GET', `/keys/${betaUser.id}`)).toEqual(notFound);
    expect(await as('PATCH', `/keys/${betaUser.id}`, { name: 'x' })).toEqual(notFound);
    expect(await as('POST', `/keys/${betaUser.id}/revoke`)).toEqual(notFound);
    expect(await as('DELETE', `/keys/${betaUser.id}`)).toEqual(notFound);
    // Beta's key is untouched and still works.
    const beta = await adminCall(gw.url, ADMIN, 'GET', `/keys/${betaUser.id}`);
    expect(beta.body).toMatchObject({ name: null, revoked_at: null });
    // Its own team's keys it can manage.
    const created = await as('POST', '/keys', { team: 'alpha', name: 'made by team admin' });
    expect(created.status).toBe(201);
    expect((await as('POST', `/keys/${created.body.id}/revoke`)).status).toBe(200);
  });

  it('usage and the request log: only the own team', async () => {
    expect(await as('GET', '/usage?team=beta')).toEqual(forbiddenTeam);
    const usage = await as('GET', '/usage?group_by=team');
    expect((usage.body as { data: Array<{ team: string }> }).data.map((u) => u.team)).toEqual(['alpha']);
    expect(await as('GET', '/requests?team=beta')).toEqual(forbiddenTeam);
    const rows = await as('GET', '/requests');
    const rowTeams = new Set((rows.body as { data: Array<{ team: string }> }).data.map((r) => r.team));
    expect([...rowTeams]).toEqual(['alpha']);
    expect(await as('GET', `/requests/${betaRequestId}`)).toEqual(
      err(404, 'request_not_found', `No request '${betaRequestId}'.`, 'not_found_error'),
    );
    expect((await adminCall(gw.url, ADMIN, 'GET', `/requests/${betaRequestId}`)).body).toMatchObject({
      team: 'beta',
    });
  });

  it('credentials are master-only; values are stored encrypted, shown masked and never logged', async () => {
    expect(await as('GET', '/credentials')).toEqual(masterOnly);
    expect(await as('POST', '/credentials', { provider: 'openai', value: 'sk-live-abcdef123456' })).toEqual(
      masterOnly,
    );
    const created = await adminCall(gw.url, ADMIN, 'POST', '/credentials', {
      provider: 'openai',
      name: 'prod',
      value: 'sk-live-abcdef123456',
    });
    expect(created).toEqual({
      status: 201,
      body: {
        id: expect.stringMatching(/^cred_/),
        provider: 'openai',
        name: 'prod',
        value: '****3456',
        created_at: expect.any(String),
        updated_at: expect.any(String),
      },
    });
    expect(await as('DELETE', `/credentials/${created.body.id}`)).toEqual(masterOnly);
    const listed = await adminCall<{ data: Array<Record<string, unknown>> }>(
      gw.url,
      ADMIN,
      'GET',
      '/credentials',
    );
    expect(listed.body.data.map((c) => c.value)).toEqual(['****3456']);
    const stored = await gw.state.storage!.store.listCredentials();
    expect(stored[0]!.ciphertext).not.toContain('sk-live');
    expect(Buffer.from(stored[0]!.ciphertext, 'base64').toString('latin1')).not.toContain('abcdef123456');
    expect(gw.rawLog()).not.toContain('abcdef123456');
    expect(await gw.state.storage!.credentials.decryptAll()).toEqual(
      new Map([['openai', ['sk-live-abcdef123456']]]),
    );
    expect((await adminCall(gw.url, ADMIN, 'DELETE', `/credentials/${created.body.id}`)).status).toBe(204);
    expect((await adminCall(gw.url, ADMIN, 'DELETE', `/credentials/${created.body.id}`)).status).toBe(404);
  });

  it('a plain user key is refused by the admin API; secrets never appear in key listings', async () => {
    expect(await adminCall(gw.url, alphaUser.secret, 'GET', '/keys')).toEqual(
      err(403, 'admin_forbidden', 'This API key may not use the admin API.', 'permission_error'),
    );
    const all = await adminCall(gw.url, ADMIN, 'GET', '/keys?include_revoked=true');
    const text = JSON.stringify(all.body);
    expect(text).not.toContain(alphaUser.secret);
    expect(text).not.toContain('hash');
    expect(gw.rawLog()).not.toContain(alphaUser.secret);
  });

  it('every admin endpoint is in the OpenAPI document, tagged admin', async () => {
    const res = await fetch(`${gw.url}/docs/json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, Record<string, { tags?: string[] }>> };
    const admin = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/admin'))
      .flatMap(([path, ops]) =>
        Object.entries(ops).map(([m, op]) => `${m.toUpperCase()} ${path} ${op.tags?.join()}`),
      )
      // Other features (cache, queues) add their own /admin routes.
      .filter((op) => /^\S+ \/admin\/(keys|teams|usage|requests|credentials)/.test(op))
      .sort();
    expect(admin).toEqual([
      'DELETE /admin/credentials/{id} admin',
      'DELETE /admin/keys/{id} admin',
      'GET /admin/credentials admin',
      'GET /admin/keys admin',
      'GET /admin/keys/{id} admin',
      'GET /admin/requests admin',
      'GET /admin/requests/{id} admin',
      'GET /admin/teams admin',
      'GET /admin/teams/{id} admin',
      'GET /admin/usage admin',
      'PATCH /admin/keys/{id} admin',
      'PATCH /admin/teams/{id} admin',
      'POST /admin/credentials admin',
      'POST /admin/keys admin',
      'POST /admin/keys/{id}/revoke admin',
      'POST /admin/teams admin',
    ]);
  });

  it('bad input is a 400 naming the field', async () => {
    const bad = await adminCall(gw.url, ADMIN, 'POST', '/keys', { team: 'alpha', tier: 'platinum' });
    expect(bad).toEqual(
      err(
        400,
        'invalid_tier',
        "Unknown tier 'platinum'; tiers: free, pro, enterprise, unlimited.",
        'invalid_request_error',
        'tier',
      ),
    );
    expect((await adminCall(gw.url, ADMIN, 'POST', '/keys', { team: 'nope' })).status).toBe(404);
    expect((await adminCall(gw.url, ADMIN, 'POST', '/keys', { team: 'alpha', extra: 1 })).status).toBe(400);
    expect((await adminCall(gw.url, ADMIN, 'POST', '/teams', { id: 'Bad Id' })).body).toMatchObject({
      error: { code: 'invalid_team_id', param: 'id' },
    });
    expect((await adminCall(gw.url, ADMIN, 'POST', '/teams', { id: 'alpha' })).status).toBe(409);
    expect((await adminCall(gw.url, ADMIN, 'GET', '/usage?from=2026-02-01&to=2026-01-01')).status).toBe(400);
  });
});
