import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorResponse } from '../../src/routes/v1/schemas.js';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/** The generated OpenAPI document, Swagger UI, and proof that response schemas never reshape bodies. */

interface Operation {
  summary?: string;
  tags?: string[];
  requestBody?: { content: Record<string, { schema: { required?: string[] } }> };
  responses: Record<
    string,
    { description: string; headers?: Record<string, unknown>; content?: Record<string, { schema: unknown }> }
  >;
}
interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
}

let up: FakeUpstream;
let gw: TestGateway;
let doc: OpenApiDoc;

beforeAll(async () => {
  up = await startFakeUpstream((_req, res) => sendJson(res, 500, {}));
  gw = await startGateway(`
providers:
  up: { type: openai, base_url: ${up.url}/v1 }
models:
  chat: { targets: [ { provider: up, model: gpt-4o-mini } ] }
`);
  const res = await request(`${gw.url}/docs/json`);
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  doc = (await res.body.json()) as OpenApiDoc;
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

const ERROR_STATUSES = ['400', '404', '413', '415', '429', '500', '502', '503', '504'];

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 and lists every public endpoint with its method', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('Switchyard');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(ops).toEqual(
      expect.arrayContaining([
        'POST /v1/chat/completions',
        'POST /v1/embeddings',
        'GET /v1/models',
        'GET /health/live',
        'GET /health/ready',
        'GET /health',
        'GET /metrics',
      ]),
    );
    // Swagger UI's own routes and the CORS catch-all are not part of the API.
    expect(ops.filter((op) => op.includes('/docs') || op.startsWith('OPTIONS'))).toEqual([]);
  });

  it('documents chat completions: body, JSON and SSE success, and every error in OpenAI shape', () => {
    const op = doc.paths['/v1/chat/completions']!.post!;
    expect(op.summary).toBe('Create a chat completion');
    expect(op.tags).toEqual(['chat']);
    expect(op.requestBody!.content['application/json']!.schema.required).toEqual(['model', 'messages']);
    expect(Object.keys(op.responses).sort()).toEqual(['200', ...ERROR_STATUSES].sort());
    expect(Object.keys(op.responses['200']!.content!)).toEqual(['application/json', 'text/event-stream']);
    for (const status of ERROR_STATUSES) {
      expect(op.responses[status]!.content).toEqual({ 'application/json': { schema: errorResponse } });
    }
    expect(op.responses['503']!.headers).toEqual({
      'retry-after': {
        schema: { type: 'string' },
        description: 'Seconds to wait before retrying, when known.',
      },
    });
  });

  it('documents embeddings and models', () => {
    const emb = doc.paths['/v1/embeddings']!.post!;
    expect(Object.keys(emb.responses).sort()).toEqual(['200', ...ERROR_STATUSES].sort());
    expect(emb.responses['400']!.content!['application/json']!.schema).toEqual(errorResponse);
    const models = doc.paths['/v1/models']!.get!;
    expect(models.tags).toEqual(['models']);
    expect(Object.keys(models.responses).sort()).toEqual(['200', '500', '503']);
    expect(models.responses['503']!.content!['application/json']!.schema).toEqual(errorResponse);
    expect(doc.paths['/health/live']!.get!.tags).toEqual(['operations']);
  });
});

describe('Swagger UI', () => {
  it('serves the page and its bundled assets from the package (works offline)', async () => {
    const page = await request(`${gw.url}/docs`);
    const html = await page.body.text();
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(html).toContain('<div id="swagger-ui"></div>');
    expect(html).toContain('/docs/static/swagger-ui-bundle.js');
    // Same-origin scripts only, so the global CSP does not have to be loosened for the docs.
    expect(html).not.toMatch(/<script>(?!\s*<\/script>)/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");

    for (const asset of ['swagger-ui-bundle.js', 'swagger-ui.css', 'swagger-initializer.js']) {
      const res = await request(`${gw.url}/docs/static/${asset}`);
      const body = await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(body.length).toBeGreaterThan(100);
    }
  });
});

describe('response schemas never reshape a body', () => {
  it('a provider completion with unknown fields, nulls and floats comes back byte for byte', async () => {
    const completion = {
      id: 'gen-1',
      object: 'chat.completion',
      created: 1700000000.5,
      model: 'gpt-4o-mini',
      provider: 'SomeHost',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: null, refusal: null, reasoning: 'hm', annotations: [] },
          finish_reason: 'stop',
          native_finish_reason: 'STOP',
          logprobs: { content: [] },
        },
      ],
      usage: {
        prompt_tokens: 1,
        completion_tokens: 2,
        total_tokens: 3,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: null },
        cost: 0.0001,
      },
      system_fingerprint: null,
      service_tier: 'default',
    };
    up.setHandler((_req, res) => sendJson(res, 200, completion));
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe(JSON.stringify(completion));
  });

  it('embeddings with extra fields come back unchanged', async () => {
    const body = {
      object: 'list',
      data: [{ object: 'embedding', index: 0, embedding: [0.5, -0.25], extra: { a: 1 } }],
      model: 'text-embedding-3-small',
      usage: { prompt_tokens: 1, total_tokens: 1 },
      id: 'emb-1',
    };
    up.setHandler((_req, res) => sendJson(res, 200, body));
    const res = await request(`${gw.url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', input: 'x', encoding_format: 'float' }),
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual(body);
  });
});
