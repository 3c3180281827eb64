import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError } from '../helpers/openai-fixtures.js';

/** Issue 8, item 12: `GET /v1/models/{id}` (the openai SDK's models.retrieve) answered 404 route_not_found. */

let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
providers:
  m: { type: mock }
models:
  mock: { targets: [ { provider: m, model: echo } ] }
  team/fast: { targets: [ { provider: m, model: echo } ] }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
});

describe('issue 8-12: GET /v1/models/{id}', () => {
  it('retrieves a configured model with the openai SDK', async () => {
    const m = await client.models.retrieve('mock');
    expect({ id: m.id, object: m.object, owned_by: m.owned_by, created: typeof m.created }).toEqual({
      id: 'mock',
      object: 'model',
      owned_by: 'm',
      created: 'number',
    });
  });

  it('retrieves a model whose id has a slash', async () => {
    const res = await fetch(`${gw.baseURL}/models/team/fast`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe('team/fast');
  });

  it('an unknown model is 404 model_not_found, not route_not_found', async () => {
    const err = await apiError(client.models.retrieve('nope'));
    expect([err.status, (err.error as { code?: string }).code]).toEqual([404, 'model_not_found']);
  });

  it('an over-long id is 400 model_name_invalid', async () => {
    const res = await fetch(`${gw.baseURL}/models/${'x'.repeat(300)}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('model_name_invalid');
  });
});
