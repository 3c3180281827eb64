import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Cache hits are delivered from shared, frozen entries: a whole answer as bytes serialized once, a
 * stream as events built once per shape. Delivery must never change a shared chunk (a client without
 * `include_usage` has usage dropped, one with it gets `"usage": null` on content chunks), so every
 * client sees exactly what it would have seen from the upstream, however many hits came before.
 */

const completion = {
  id: 'chatcmpl-w1',
  object: 'chat.completion',
  created: 1700000000,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Whole é answer' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
};

// OpenAI with include_usage: `"usage": null` on every content chunk, then a usage-only chunk.
const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-s1',
  object: 'chat.completion.chunk',
  created: 1700000000,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, delta, finish_reason: finish }],
  usage: null,
});
const stream = [
  chunk({ role: 'assistant', content: '' }),
  chunk({ content: 'Hello' }),
  chunk({ content: ' there' }),
  chunk({}, 'stop'),
  { ...chunk({}), choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } },
];

/** An answer as an upstream may format it: spacing, escapes, a field no schema knows, key order its own. */
const RAW =
  '{ "object": "chat.completion", "id": "chatcmpl-raw",\n  "created": 1700000000, "model": "gpt-raw",\n' +
  '  "choices": [ { "index": 0, "message": { "role": "assistant", "content": "caf\\u00e9 \\"ok\\"" },' +
  ' "finish_reason": "stop" } ],\n  "usage": { "prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6 },' +
  ' "provider_extra": { "n": 1.50 } }\n';

/** Stream events as an upstream may format them (a space after a comma, an escape). */
const RAW_EVENTS = [
  '{"id":"c1", "object":"chat.completion.chunk","created":1,"model":"gpt-raw","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}',
  '{"id":"c1", "object":"chat.completion.chunk","created":1,"model":"gpt-raw","choices":[{"index":0,"delta":{"content":"caf\\u00e9"},"finish_reason":"stop"}],"usage":null}',
  '{"id":"c1", "object":"chat.completion.chunk","created":1,"model":"gpt-raw","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}',
];

let up: FakeUpstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startFakeUpstream(async (req, res) => {
    if ((req.json as { model?: string }).model === 'gpt-raw') {
      if ((req.json as { stream?: boolean }).stream) {
        return sendSse(res, { events: [...RAW_EVENTS, '[DONE]'] });
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(RAW);
      return;
    }
    if ((req.json as { stream?: boolean }).stream) {
      return sendSse(res, { events: [...stream.map((c) => JSON.stringify(c)), '[DONE]'] });
    }
    return sendJson(res, 200, completion);
  });
  gw = await startGateway(`
routing: { circuit_breaker: { enabled: false }, retry: { attempts: 1 } }
cache: { enabled: true, ttl: 1h }
providers:
  up: { type: openai, base_url: ${up.url}/v1, api_key: sk-x }
models:
  chat: { targets: [ { provider: up, model: gpt-4o-mini } ] }
  raw: { targets: [ { provider: up, model: gpt-raw } ] }
`);
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
});

async function post(body: Record<string, unknown>) {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat', temperature: 0, ...body }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function events(sse: string): string[] {
  return sse
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
}

describe('cache hits from shared entries', () => {
  it('a whole answer is the same bytes on every hit, with the JSON content type and length', async () => {
    const messages = [{ role: 'user', content: 'whole' }];
    const miss = await post({ messages });
    expect(miss.headers.get('x-cache')).toBe('MISS');
    const hits = [await post({ messages }), await post({ messages }), await post({ messages })];
    for (const hit of hits) {
      expect(hit.status).toBe(200);
      expect(hit.headers.get('x-cache')).toBe('HIT');
      expect(hit.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(hit.headers.get('content-length')).toBe(String(Buffer.byteLength(hit.text)));
      expect(hit.text).toBe(JSON.stringify(completion));
    }
    expect(JSON.parse(miss.text)).toEqual(completion);
  });

  it('stream hits with and without include_usage each get their own shape, and never change the entry', async () => {
    const messages = [{ role: 'user', content: 'stream' }];
    const withUsage = { messages, stream: true, stream_options: { include_usage: true } };
    const first = await post(withUsage);
    expect(first.headers.get('x-cache')).toBe('MISS');
    const live = events(first.text);
    expect(live).toEqual([...stream.map((c) => JSON.stringify(c)), '[DONE]']);

    // Alternate the two shapes so that a change one delivery made to a shared chunk would show in the next.
    for (let round = 0; round < 2; round++) {
      const plain = await post({ messages, stream: true });
      expect(plain.headers.get('x-cache')).toBe('HIT');
      expect(events(plain.text)).toEqual([
        ...stream.slice(0, 4).map((c) => JSON.stringify({ ...c, usage: undefined })),
        '[DONE]',
      ]);
      const usage = await post(withUsage);
      expect(usage.headers.get('x-cache')).toBe('HIT');
      expect(usage.text).toBe(first.text);
    }

    // The same entry answers a whole-answer request: the assembled completion, usage not reported again.
    const whole = await post({ messages });
    expect(whole.headers.get('x-cache')).toBe('HIT');
    const body = JSON.parse(whole.text) as { choices: Array<{ message: { content: string } }> };
    expect(body.choices[0]?.message.content).toBe('Hello there');
  });
});

describe('OpenAI-compatible answers pass through', () => {
  it('a whole answer reaches the client as the upstream sent it, and a hit carries the same answer', async () => {
    const messages = [{ role: 'user', content: 'raw' }];
    const miss = await post({ model: 'raw', messages });
    expect(miss.status).toBe(200);
    expect(miss.headers.get('x-cache')).toBe('MISS');
    expect(miss.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(miss.text).toBe(RAW);
    const hit = await post({ model: 'raw', messages });
    expect(hit.headers.get('x-cache')).toBe('HIT');
    expect(JSON.parse(hit.text)).toEqual(JSON.parse(RAW));
    expect(
      (JSON.parse(hit.text) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message
        .content,
    ).toBe('café "ok"');
  });
});

describe('OpenAI-compatible stream events pass through', () => {
  it('each event is the upstream text; without include_usage the trailing "usage":null is cut and the usage chunk dropped', async () => {
    const withUsage = await post({
      model: 'raw',
      messages: [{ role: 'user', content: 'raw stream 1' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(withUsage.status).toBe(200);
    expect(events(withUsage.text)).toEqual([...RAW_EVENTS, '[DONE]']);

    const plain = await post({
      model: 'raw',
      messages: [{ role: 'user', content: 'raw stream 2' }],
      stream: true,
    });
    expect(events(plain.text)).toEqual([
      `${RAW_EVENTS[0]!.slice(0, -',"usage":null}'.length)}}`,
      `${RAW_EVENTS[1]!.slice(0, -',"usage":null}'.length)}}`,
      '[DONE]',
    ]);
    for (const e of events(plain.text).slice(0, 2)) expect(JSON.parse(e)).not.toHaveProperty('usage');
  });
});
