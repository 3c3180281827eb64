import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError } from '../helpers/openai-fixtures.js';

/**
 * Issue 8, item 5: mock embeddings `dimensions` had no maximum; a 50-byte request for 10,000,000
 * dimensions returned 94 MB. Every numeric parameter that multiplies the size of an answer is bounded.
 */

let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
providers:
  m: { type: mock }
models:
  mock: { targets: [ { provider: m, model: echo } ] }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
});

async function post(
  body: unknown,
): Promise<{ status: number; body: { error?: { code: string; param: string } }; size: number }> {
  const res = await fetch(`${gw.baseURL}/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), size: text.length };
}

describe('issue 8-5: no parameter amplifies an answer without bound', () => {
  it('dimensions: 10,000,000 is a 400 naming dimensions, answered in a few hundred bytes', async () => {
    const r = await post({ model: 'mock', input: 'hi', dimensions: 10_000_000 });
    expect([r.status, r.body.error?.code, r.body.error?.param]).toEqual([
      400,
      'invalid_request',
      'dimensions',
    ]);
    expect(r.size).toBeLessThan(500);
  });

  it('dimensions up to 8,192 work', async () => {
    const r = await client.embeddings.create({
      model: 'mock',
      input: 'hi',
      dimensions: 8192,
      encoding_format: 'float',
    });
    expect(r.data[0]?.embedding.length).toBe(8192);
  });

  it('more than 2,048 inputs is a 400 naming input', async () => {
    const r = await post({ model: 'mock', input: Array.from({ length: 2049 }, () => '') });
    expect([r.status, r.body.error?.code]).toEqual([400, 'invalid_request']);
    expect(r.body.error?.param).toMatch(/^input/);
  });

  it('inputs x dimensions past the mock budget is a 400, not a 100 MB answer', async () => {
    const err = await apiError(
      client.embeddings.create({
        model: 'mock',
        input: Array.from({ length: 2048 }, () => 'x'),
        dimensions: 8192,
      }),
    );
    expect([
      err.status,
      (err.error as { code?: string; param?: string }).code,
      (err.error as { param?: string }).param,
    ]).toEqual([400, 'unsupported_parameter', 'dimensions']);
  });

  it.each([
    [{ n: 1000 }, 'n'],
    [{ max_tokens: 0 }, 'max_tokens'],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
  ])('chat %j is a 400 naming %s', async (extra, param) => {
    const err = await apiError(
      client.chat.completions.create({
        model: 'mock',
        messages: [{ role: 'user', content: 'hi' }],
        ...(extra as object),
      }),
    );
    expect([err.status, (err.error as { param?: string }).param]).toEqual([400, param]);
  });

  it('a huge max_tokens does not make the mock answer bigger', async () => {
    const r = await client.chat.completions.create({
      model: 'mock',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 1_000_000_000,
    });
    expect(r.choices[0]?.message.content?.length).toBeLessThan(400);
  });
});
