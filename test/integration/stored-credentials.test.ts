import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, eventually } from '../helpers/admin.js';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway } from '../helpers/gateway.js';

/** A provider key stored through the admin API is used for upstream calls, now and after a restart. */

const ADMIN = 'adm-cred-test-0123456789';
const SECRET = 'switchyard-secret-for-cred-tests';
const completion = {
  id: 'c1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [
    { index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop', logprobs: null },
  ],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
};

describe('stored provider credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-cred-'));
  let up: FakeUpstream;
  beforeAll(async () => {
    up = await startFakeUpstream((_req, res) => sendJson(res, 200, completion));
  });
  afterAll(async () => {
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const yaml = () => `
admin: { key: ${ADMIN} }
providers: { up: { type: openai, base_url: "${up.url}/v1" } }
models: { chat: { targets: [{ provider: up, model: gpt-4o-mini }] } }
`;
  const env = { SWITCHYARD_DB_PATH: join(dir, 'sy.db'), SWITCHYARD_SECRET_KEY: SECRET };
  const ask = (baseURL: string) =>
    new OpenAI({ baseURL, apiKey: 'none', maxRetries: 0 }).chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'x' }],
    });

  it('joins the provider key pool at once, and again after a restart; the value never reaches the log', async () => {
    const gw = await startGateway(yaml(), env);
    try {
      await ask(gw.baseURL);
      expect(up.requests.at(-1)!.headers.authorization).toBeUndefined();
      const created = await adminCall(gw.url, ADMIN, 'POST', '/credentials', {
        provider: 'up',
        value: 'sk-stored-upstream-9876',
      });
      expect(created.status).toBe(201);
      await ask(gw.baseURL);
      expect(up.requests.at(-1)!.headers.authorization).toBe('Bearer sk-stored-upstream-9876');
      expect(gw.rawLog()).not.toContain('sk-stored-upstream');
    } finally {
      await gw.close();
    }
    const again = await startGateway(yaml(), env);
    try {
      await ask(again.baseURL);
      expect(up.requests.at(-1)!.headers.authorization).toBe('Bearer sk-stored-upstream-9876');
      // Deleted through the API: gone from the pool at once.
      const id = (await adminCall<{ data: Array<{ id: string }> }>(again.url, ADMIN, 'GET', '/credentials'))
        .body.data[0]!.id;
      expect((await adminCall(again.url, ADMIN, 'DELETE', `/credentials/${id}`)).status).toBe(204);
      await ask(again.baseURL);
      expect(up.requests.at(-1)!.headers.authorization).toBeUndefined();
    } finally {
      await again.close();
    }
  });

  it('without the secret key, stored rows are skipped with an error naming the row, not its value', async () => {
    const gw = await startGateway(yaml(), {
      SWITCHYARD_DB_PATH: join(dir, 'other.db'),
      SWITCHYARD_SECRET_KEY: SECRET,
    });
    await adminCall(gw.url, ADMIN, 'POST', '/credentials', { provider: 'up', value: 'sk-another-5555' });
    await gw.close();
    const wrongKey = await startGateway(yaml(), {
      SWITCHYARD_DB_PATH: join(dir, 'other.db'),
      SWITCHYARD_SECRET_KEY: 'a-different-secret-key-000000',
    });
    try {
      const line = wrongKey.logs.find((l) => l.msg === 'stored credential cannot be decrypted; skipped');
      expect(line).toMatchObject({ level: 50, credential: expect.stringMatching(/^cred_/) });
      expect(wrongKey.rawLog()).not.toContain('sk-another');
      await ask(wrongKey.baseURL);
      expect(up.requests.at(-1)!.headers.authorization).toBeUndefined();
    } finally {
      await wrongKey.close();
    }
  });

  it('a credential added or deleted on one instance reaches another sharing the database', async () => {
    const shared = { SWITCHYARD_DB_PATH: join(dir, 'shared.db'), SWITCHYARD_SECRET_KEY: SECRET };
    const refreshing = `${yaml()}\ndatabase: { credentials_refresh: 100ms }\n`;
    const a = await startGateway(refreshing, shared);
    const b = await startGateway(refreshing, shared);
    // The authorization header B sends upstream, read from the upstream's own record of B's request.
    const viaB = async () => {
      const before = up.requests.length;
      await ask(b.baseURL);
      return up.requests.slice(before).at(-1)!.headers.authorization;
    };
    try {
      expect(await viaB()).toBeUndefined();
      const created = await adminCall<{ id: string }>(a.url, ADMIN, 'POST', '/credentials', {
        provider: 'up',
        value: 'sk-shared-upstream-4321',
      });
      expect(created.status).toBe(201);
      await eventually(async () => ((await viaB()) === 'Bearer sk-shared-upstream-4321' ? true : undefined));
      expect((await adminCall(a.url, ADMIN, 'DELETE', `/credentials/${created.body.id}`)).status).toBe(204);
      await eventually(async () => ((await viaB()) === undefined ? true : undefined));
      expect(b.rawLog()).not.toContain('sk-shared-upstream');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
