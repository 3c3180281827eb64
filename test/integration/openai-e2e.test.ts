import OpenAI, { APIError } from 'openai';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError } from '../helpers/openai-fixtures.js';
import { until } from '../helpers/poll.js';

/** The `openai` provider type: passthrough to OpenAI and OpenAI-compatible servers, driven by the SDK. */

const SECRET = 'sk-upstream-secret-123';
const PROMPT = 'tell me the secret plan';

const completion = {
  id: 'chatcmpl-up1',
  object: 'chat.completion',
  created: 1700000000,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'Hi there!', refusal: null },
      finish_reason: 'stop',
      logprobs: null,
    },
  ],
  usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
  system_fingerprint: 'fp_1',
};

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-up2',
  object: 'chat.completion.chunk',
  created: 1700000000,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
});
const usageChunk = {
  ...chunk({}),
  choices: [],
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
};
const textStream = [
  JSON.stringify(chunk({ role: 'assistant', content: '' })),
  JSON.stringify(chunk({ content: 'Hel' })),
  JSON.stringify(chunk({ content: 'lo' })),
  JSON.stringify(chunk({}, 'stop')),
  JSON.stringify(usageChunk),
  '[DONE]',
];

let up: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  up = await startFakeUpstream((_req, res) => sendJson(res, 200, completion));
  // Error mapping is what this file tests; breakers and retries have their own suites, so one shared
  // gateway taking many failures must not trip a circuit here.
  gw = await startGateway(
    `
routing: { circuit_breaker: { enabled: false } }
providers:
  up: { type: openai, base_url: ${up.url}/v1, api_key: ${SECRET}, headers: { x-title: switchyard-test }, timeouts: { headers: 300ms } }
  dead: { type: openai, base_url: http://127.0.0.1:1/v1 }
models:
  chat: { targets: [ { provider: up, model: gpt-4o-mini } ] }
`,
  );
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'client-key-ignored', maxRetries: 0 });
});
afterAll(async () => {
  await gw.close();
  await up.close();
});
afterEach(() => {
  up.requests.length = 0;
});

describe('openai passthrough', () => {
  it('non-streaming: exact body back, model replaced and key added upstream', async () => {
    up.setHandler((_req, res) => sendJson(res, 200, completion, { 'x-request-id': 'req_up_1' }));
    const { data, response } = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: PROMPT }], temperature: 0.2, seed: 7 })
      .withResponse();
    expect(data).toEqual(completion);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-switchyard-provider')).toBe('up');
    expect(response.headers.get('x-switchyard-model')).toBe('gpt-4o-mini');
    expect(response.headers.get('x-upstream-request-id')).toBe('req_up_1');
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const sent = up.requests[0]!;
    expect(sent.method).toBe('POST');
    expect(sent.url).toBe('/v1/chat/completions');
    expect(sent.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(sent.headers['x-title']).toBe('switchyard-test');
    expect(sent.json).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: PROMPT }],
      temperature: 0.2,
      seed: 7,
      stream: false,
    });
  });

  it('provider/model addresses a provider directly', async () => {
    up.setHandler((_req, res) => sendJson(res, 200, completion));
    await client.chat.completions.create({
      model: 'up/gpt-4.1-nano',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect((up.requests[0]!.json as { model: string }).model).toBe('gpt-4.1-nano');
  });

  it('echoes a given x-request-id', async () => {
    up.setHandler((_req, res) => sendJson(res, 200, completion));
    const res = await request(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace-abc.123' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
    });
    await res.body.text();
    expect(res.headers['x-request-id']).toBe('trace-abc.123');
  });

  it('streaming without include_usage: chunks in order, no usage chunk, usage still requested upstream', async () => {
    up.setHandler((_req, res) => sendSse(res, { events: textStream }));
    const stream = await client.chat.completions.create({
      model: 'chat',
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const got = [];
    for await (const c of stream) got.push(c);
    expect(got).toEqual([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hel' }),
      chunk({ content: 'lo' }),
      chunk({}, 'stop'),
    ]);
    expect((up.requests[0]!.json as Record<string, unknown>).stream_options).toEqual({ include_usage: true });
  });

  it('streaming with include_usage: the usage chunk is delivered', async () => {
    up.setHandler((_req, res) => sendSse(res, { events: textStream }));
    const stream = await client.chat.completions.create({
      model: 'chat',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hi' }],
    });
    const got = [];
    for await (const c of stream) got.push(c);
    expect(got.at(-1)).toEqual(usageChunk);
    expect(got).toHaveLength(5);
  });

  it('raw SSE framing: content type, data lines, [DONE]', async () => {
    up.setHandler((_req, res) => sendSse(res, { events: textStream }));
    const res = await request(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    const text = await res.body.text();
    expect(text).toBe(
      `${[textStream[0], textStream[1], textStream[2], textStream[3]].map((d) => `data: ${d}\n\n`).join('')}data: [DONE]\n\n`,
    );
  });

  it('streamed tool calls pass through and accumulate', async () => {
    const tc = (i: number, extra: Record<string, unknown>) => chunk({ tool_calls: [{ index: i, ...extra }] });
    up.setHandler((_req, res) =>
      sendSse(res, {
        events: [
          JSON.stringify(chunk({ role: 'assistant', content: null })),
          JSON.stringify(
            tc(0, { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }),
          ),
          JSON.stringify(tc(0, { function: { arguments: '{"city":' } })),
          JSON.stringify(tc(0, { function: { arguments: '"Paris"}' } })),
          JSON.stringify(chunk({}, 'tool_calls')),
          '[DONE]',
        ],
      }),
    );
    const stream = await client.chat.completions.create({
      model: 'chat',
      stream: true,
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
    });
    let name = '';
    let args = '';
    let finish: string | null = null;
    for await (const c of stream) {
      const d = c.choices[0]?.delta.tool_calls?.[0];
      if (d?.function?.name) name += d.function.name;
      if (d?.function?.arguments) args += d.function.arguments;
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect({ name, args: JSON.parse(args), finish }).toEqual({
      name: 'get_weather',
      args: { city: 'Paris' },
      finish: 'tool_calls',
    });
  });
});

describe('upstream failures', () => {
  async function failWith(status: number, body: unknown, headers: Record<string, string> = {}) {
    up.setHandler((_req, res) => sendJson(res, status, body, headers));
    return apiError(
      client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
    );
  }

  it('429 keeps its status and Retry-After', async () => {
    const e = await failWith(
      429,
      { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } },
      { 'retry-after': '7' },
    );
    expect(e.status).toBe(429);
    expect(e.headers?.get('retry-after')).toBe('7');
    expect(e.error).toEqual({
      message: "provider 'up' returned 429: Rate limit reached",
      type: 'rate_limit_error',
      code: 'upstream_rate_limit',
      param: null,
    });
  });

  it("the user's own 400 stays a 400 with the upstream message", async () => {
    const e = await failWith(400, {
      error: { message: "Invalid value for 'n'", type: 'invalid_request_error', code: null },
    });
    expect(e.status).toBe(400);
    expect(e.error).toEqual({
      message: "provider 'up' returned 400: Invalid value for 'n'",
      type: 'invalid_request_error',
      code: 'upstream_bad_request',
      param: null,
    });
  });

  it('an upstream 500 becomes a 502', async () => {
    const e = await failWith(500, { error: { message: 'The server had an error' } });
    expect([e.status, (e.error as { code: string }).code]).toEqual([502, 'upstream_server_error']);
  });

  it("an upstream 401 is the operator's problem: 502, not 401", async () => {
    const e = await failWith(401, {
      error: { message: 'Incorrect API key provided', code: 'invalid_api_key' },
    });
    expect([e.status, (e.error as { code: string }).code]).toEqual([502, 'upstream_auth']);
  });

  it('an upstream 503 becomes 503 overloaded', async () => {
    up.setHandler((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('Service Unavailable');
    });
    const e = await apiError(
      client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(e.status).toBe(503);
    expect(e.error).toEqual({
      message: "provider 'up' returned 503: Service Unavailable",
      type: 'api_error',
      code: 'upstream_overloaded',
      param: null,
    });
  });

  it('a connection failure is a 502', async () => {
    const e = await apiError(
      client.chat.completions.create({ model: 'dead/gpt', messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(e.status).toBe(502);
    expect(e.error).toEqual({
      message: "cannot reach provider 'dead': ECONNREFUSED",
      type: 'api_error',
      code: 'upstream_connection',
      param: null,
    });
  });

  it('a headers timeout is a 504', async () => {
    up.setHandler(async (_req, res) => {
      // Far past the 300 ms headers timeout, so a loaded machine cannot close the gap.
      await new Promise((r) => setTimeout(r, 5000));
      if (!res.destroyed) sendJson(res, 200, completion);
    });
    const e = await apiError(
      client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(e.status).toBe(504);
    expect(e.error).toEqual({
      message: "provider 'up' timed out (headers timeout)",
      type: 'api_error',
      code: 'upstream_timeout',
      param: null,
    });
  });

  it('an upstream error before the first chunk of a stream is a plain HTTP error', async () => {
    up.setHandler((_req, res) => sendJson(res, 429, { error: { message: 'slow down' } }));
    const e = await apiError(
      client.chat.completions.create({
        model: 'chat',
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
      }),
    );
    expect(e.status).toBe(429);
  });

  it('a stream cut mid-way ends in an explicit error event and no [DONE]', async () => {
    // The delay lets the two events reach the gateway before the reset, as on a real network.
    up.setHandler((_req, res) => sendSse(res, { events: textStream, cutAfter: 2, delayMs: 20 }));
    const res = await request(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.statusCode).toBe(200);
    const text = await res.body.text();
    expect(text).toBe(
      `data: ${textStream[0]}\n\ndata: ${textStream[1]}\n\n` +
        `data: ${JSON.stringify({
          error: {
            message: "stream from provider 'up' was interrupted: connection lost",
            type: 'api_error',
            code: 'upstream_stream_interrupted',
            param: null,
          },
        })}\n\n`,
    );

    // The SDK surfaces it as an error, not as a clean end.
    const stream = await client.chat.completions.create({
      model: 'chat',
      stream: true,
      messages: [{ role: 'user', content: 'x' }],
    });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const c of stream) seen.push(c.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['', 'Hel']);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).message).toContain("stream from provider 'up' was interrupted");
  });

  it('a stream that ends without [DONE] or a finish reason is an error, not success', async () => {
    up.setHandler((_req, res) => sendSse(res, { events: textStream.slice(0, 3) }));
    const res = await request(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    const text = await res.body.text();
    expect(text).not.toContain('data: [DONE]');
    expect(text.trim().split('\n\n').at(-1)).toBe(
      `data: ${JSON.stringify({
        error: {
          message: "stream from provider 'up' was interrupted: stream ended before [DONE]",
          type: 'api_error',
          code: 'upstream_stream_interrupted',
          param: null,
        },
      })}`,
    );
  });

  it('a client disconnect aborts the upstream request within milliseconds', async () => {
    up.setHandler((_req, res) =>
      sendSse(res, {
        events: Array.from({ length: 50 }, () => JSON.stringify(chunk({ content: 'x' }))),
        delayMs: 200,
      }),
    );
    const controller = new AbortController();
    const res = await request(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'x' }] }),
      signal: controller.signal,
    });
    const reader = res.body[Symbol.asyncIterator]();
    await reader.next();
    const abortedAt = performance.now();
    controller.abort();
    await up.requests[0]!.aborted;
    const lag = performance.now() - abortedAt;
    // Well under one upstream chunk interval (200 ms): the gateway did not wait for the next chunk.
    expect(lag).toBeLessThan(150);
    const line = await until(
      () => gw.logs.find((l) => l.msg === 'request' && l.status === 499),
      'the aborted request log line',
    );
    expect([line.status, line.client_aborted]).toEqual([499, true]);
  });
});

describe('logging', () => {
  it('one line per request; never the upstream key, the client key or the prompt', async () => {
    const before = gw.logs.length;
    up.setHandler((_req, res) => sendJson(res, 200, completion));
    await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: PROMPT }] });
    await until(() => gw.logs.length > before, 'the request log line');
    const lines = gw.logs.slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      msg: 'request',
      method: 'POST',
      url: '/v1/chat/completions',
      status: 200,
      model: 'chat',
      provider: 'up',
      upstream_model: 'gpt-4o-mini',
      prompt_tokens: 9,
      completion_tokens: 3,
      stream: false,
    });
    expect(typeof lines[0]!.reqId).toBe('string');
    const all = gw.rawLog();
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain('client-key-ignored');
    expect(all).not.toContain(PROMPT);
  });
});
