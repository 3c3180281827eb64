import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mockEmbedding } from '../../src/providers/mock/reply.js';
import { startZeroConfigGateway, type TestGateway } from '../helpers/gateway.js';

/** A fresh machine: no config file, no keys, no network. The mock provider serves model `mock`. */

let gw: TestGateway;
let client: OpenAI;
beforeAll(async () => {
  gw = await startZeroConfigGateway();
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'none', maxRetries: 0 });
});
afterAll(() => gw.close());

const REPLY = `Mock reply to "hi". This answer comes from Switchyard's built-in mock provider.`;

describe('zero-config mode', () => {
  it('answers a chat completion with model mock', async () => {
    const res = await client.chat.completions.create({
      model: 'mock',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(res).toEqual({
      id: expect.stringMatching(/^chatcmpl-/),
      object: 'chat.completion',
      system_fingerprint: null,
      created: expect.any(Number),
      model: 'mock',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: REPLY, refusal: null, annotations: [] },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: 7,
        completion_tokens: 18,
        total_tokens: 25,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
    });
  });

  it('streams the same reply in several chunks, with usage when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'mock',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hi' }],
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(REPLY);
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop');
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 18, total_tokens: 25 });
  });

  it('lists the mock model', async () => {
    const res = await request(`${gw.baseURL}/models`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({
      object: 'list',
      data: [{ id: 'mock', object: 'model', created: expect.any(Number), owned_by: 'mock' }],
    });
  });

  it('mock embeddings work through the SDK (base64 by default) and as floats', async () => {
    const viaSdk = await client.embeddings.create({ model: 'mock', input: ['alpha', 'beta'] });
    expect(viaSdk.data.map((d) => d.embedding.map((x) => Number(x.toFixed(5))))).toEqual(
      ['alpha', 'beta'].map((t) => mockEmbedding(t, 16).map((x) => Number(Math.fround(x).toFixed(5)))),
    );
    const floats = await client.embeddings.create({
      model: 'mock',
      input: 'alpha',
      encoding_format: 'float',
    });
    expect(floats.data[0]!.embedding).toEqual(mockEmbedding('alpha', 16));
    expect(floats.usage).toEqual({ prompt_tokens: 1, total_tokens: 1 });
  });

  it('health endpoints', async () => {
    const live = await request(`${gw.url}/health/live`);
    expect([live.statusCode, await live.body.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await request(`${gw.url}/health/ready`);
    expect([ready.statusCode, await ready.body.json()]).toEqual([200, { status: 'ready' }]);
  });
});
