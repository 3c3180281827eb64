import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError, chunkJson } from '../helpers/openai-fixtures.js';

/**
 * Issue 8, item 7: an upstream 200 whose body is null, [], "x", 42, {} or has choices that are not an
 * array was passed on as a 200 or became a 500, and the breaker counted it as a success. Each is a 502
 * upstream_invalid_response, retried and failed over like a 5xx, and counted against the target.
 */

let upstream: FakeUpstream;
let backup: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

function completion(content: string) {
  return {
    id: 'c',
    object: 'chat.completion',
    created: 1,
    model: 'm',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  };
}

beforeAll(async () => {
  upstream = await startFakeUpstream((_req, res) => sendJson(res, 500, {}));
  backup = await startFakeUpstream((_req, res) => sendJson(res, 200, completion('from backup')));
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
# Breakers off by default here: every case below fails on purpose, and only tripped is about breakers.
routing: { retry: { attempts: 1 }, circuit_breaker: { consecutive_failures: 0, min_requests: 1000 } }
providers:
  up: { type: openai, base_url: ${upstream.url}, api_key: k-1234567890 }
  backup: { type: openai, base_url: ${backup.url}, api_key: k-1234567890 }
  claude: { type: anthropic, base_url: ${upstream.url}, api_key: k-1234567890 }
  gem: { type: gemini, base_url: ${upstream.url}, api_key: k-1234567890 }
models:
  up: { targets: [ { provider: up, model: m } ] }
  retried: { targets: [ { provider: up, model: r } ], retry: { attempts: 2, base_delay: 1ms, max_delay: 1ms } }
  failover: { strategy: ordered, targets: [ { provider: up, model: f }, { provider: backup, model: m } ] }
  claude: { targets: [ { provider: claude, model: c } ] }
  gem: { targets: [ { provider: gem, model: gemini-2.5-flash } ] }
  tripped:
    targets: [ { provider: up, model: t } ]
    circuit_breaker: { min_requests: 3, failure_rate: 0.5, cooldown: 60s }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await backup?.close();
});

beforeEach(() => {
  upstream.requests.length = 0;
  backup.requests.length = 0;
});

const hi = [{ role: 'user' as const, content: 'hi' }];

function sendRaw(text: string) {
  upstream.setHandler((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
}

async function expectInvalid(model: string, stream = false): Promise<void> {
  const err = await apiError(client.chat.completions.create({ model, messages: hi, stream }));
  const body = err.error as { code?: string; type?: string };
  expect([err.status, body.code, body.type]).toEqual([502, 'upstream_invalid_response', 'api_error']);
}

describe('issue 8-7: malformed upstream answers are 502 upstream_invalid_response', () => {
  it.each([
    'null',
    '[]',
    '"x"',
    '42',
    '{}',
    '{"choices":{}}',
    '{"choices":[null]}',
    '{"choices":[{"index":0}]}',
  ])('OpenAI-compatible body %s', async (text) => {
    sendRaw(text);
    await expectInvalid('up');
  });

  it('an Anthropic content array holding null', async () => {
    upstream.setHandler((_req, res) =>
      sendJson(res, 200, {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'c',
        content: [null],
        stop_reason: 'end_turn',
        usage: { input_tokens: 1, output_tokens: 1 },
      }),
    );
    await expectInvalid('claude');
  });

  it('a Gemini candidate that is not an object', async () => {
    upstream.setHandler((_req, res) => sendJson(res, 200, { candidates: [null] }));
    await expectInvalid('gem');
  });

  it.each(['up', 'claude', 'gem'])('a %s stream whose first event is data: 42', async (model) => {
    upstream.setHandler((_req, res) => sendSse(res, { events: ['42'] }));
    await expectInvalid(model, true);
  });

  it("OpenAI's usage-only chunk (no choices) after the finish is valid", async () => {
    upstream.setHandler((_req, res) =>
      sendSse(res, {
        events: [
          chunkJson({ role: 'assistant', content: 'Hi' }),
          chunkJson({}, 'stop'),
          JSON.stringify({
            id: 'c',
            object: 'chat.completion.chunk',
            created: 1,
            model: 'm',
            usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
          }),
          '[DONE]',
        ],
      }),
    );
    const stream = await client.chat.completions.create({
      model: 'up',
      messages: hi,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.map((c) => [c.choices.length, c.usage ?? null])).toEqual([
      [1, null],
      [1, null],
      [0, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }],
    ]);
  });

  it('is retried like a 5xx', async () => {
    let n = 0;
    upstream.setHandler((_req, res) =>
      n++ === 0 ? sendJson(res, 200, {}) : sendJson(res, 200, completion('second')),
    );
    const r = await client.chat.completions.create({ model: 'retried', messages: hi });
    expect(r.choices[0]?.message.content).toBe('second');
    expect(upstream.requests.length).toBe(2);
  });

  it('fails over to the next target', async () => {
    sendRaw('null');
    const r = await client.chat.completions.create({ model: 'failover', messages: hi }).withResponse();
    expect(r.data.choices[0]?.message.content).toBe('from backup');
    expect(r.response.headers.get('x-switchyard-provider')).toBe('backup');
  });

  it('counts against the circuit breaker, which opens', async () => {
    sendRaw('{}');
    for (let i = 0; i < 3; i++) await expectInvalid('tripped');
    const circuit = gw.state.breakers.snapshot().find((c) => c.provider === 'up' && c.model === 't');
    expect(circuit?.state).toBe('open');
    const err = await apiError(client.chat.completions.create({ model: 'tripped', messages: hi }));
    expect((err.error as { code?: string }).code).toBe('circuit_open');
  });
});
