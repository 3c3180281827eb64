import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from '../helpers/admin.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError } from '../helpers/openai-fixtures.js';

/**
 * GET /v1/models answered anyone, and listed every model, even on a gateway that requires keys. It now runs
 * the identify stage: no key is a 401, and a key with a model allowlist sees only its own models.
 */

const ADMIN = 'adm-test-key-0123456789';

describe('GET /v1/models with keys on', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`
admin: { key: ${ADMIN} }
auth: { mode: keys }
server: { load_shedding: { enabled: false } }
providers: { mock: { type: mock, reply: "pong" } }
models:
  alpha: { targets: [{ provider: mock, model: mock }] }
  beta: { targets: [{ provider: mock, model: mock }] }
`);
  });
  afterAll(() => gw.close());

  it('no key: 401 for the list and for one model', async () => {
    for (const path of ['/models', '/models/alpha']) {
      const res = await fetch(`${gw.baseURL}${path}`);
      const body = (await res.json()) as { error: { code: string } };
      expect([res.status, body.error.code]).toEqual([401, 'missing_api_key']);
    }
  });

  it('a key without an allowlist sees every model', async () => {
    const { secret } = await createKey(gw.url, ADMIN, 'acme');
    const c = new OpenAI({ baseURL: gw.baseURL, apiKey: secret, maxRetries: 0 });
    const ids: string[] = [];
    for await (const m of c.models.list()) ids.push(m.id);
    expect(ids).toEqual(['alpha', 'beta']);
  });

  it('a key with an allowlist lists and retrieves only its models; the others are not found', async () => {
    const { secret } = await createKey(gw.url, ADMIN, 'acme', { allowed_models: ['beta'] });
    const c = new OpenAI({ baseURL: gw.baseURL, apiKey: secret, maxRetries: 0 });
    const ids: string[] = [];
    for await (const m of c.models.list()) ids.push(m.id);
    expect(ids).toEqual(['beta']);
    expect((await c.models.retrieve('beta')).id).toBe('beta');
    const err = await apiError(c.models.retrieve('alpha'));
    expect([err.status, err.error]).toEqual([
      404,
      {
        message: "The model 'alpha' does not exist.",
        type: 'not_found_error',
        code: 'model_not_found',
        param: 'model',
      },
    ]);
  });
});
