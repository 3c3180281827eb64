import { setTimeout as sleep } from 'node:timers/promises';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/poll.js';

/** Security headers, CORS, compression and load shedding, over real HTTP. */

const APP = 'https://app.example';
const LONG_REPLY = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
const MODELS = Array.from({ length: 60 }, (_, i) => `model-${i}`);

const mockYaml = (server: string) => `
server: ${server}
providers:
  mock: { type: mock }
  long: { type: mock, reply: '${LONG_REPLY}' }
  slow: { type: mock, reply: 'one two three four five six', chunk_delay_ms: 60 }
models:
  mock: { targets: [ { provider: mock, model: mock } ] }
  long: { targets: [ { provider: long, model: long } ] }
  slow: { targets: [ { provider: slow, model: slow } ] }
${MODELS.map((m) => `  ${m}: { targets: [ { provider: mock, model: ${m} } ] }`).join('\n')}
`;

const overloaded = {
  error: {
    message: 'Server is under pressure, retry later.',
    type: 'server_error',
    code: 'server_overloaded',
    param: null,
  },
};

const chatBody = (model: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('hardening with a CORS allowlist', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(
      mockYaml(`{ body_limit: 2kb, cors: { origins: [ '${APP}', 'http://localhost:3000' ] } }`),
    );
  });
  afterAll(() => gw.close());

  it('sets the API security headers on API responses, and only those', async () => {
    const res = await request(`${gw.url}/v1/models`);
    await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    for (const pageOnly of [
      'x-frame-options',
      'referrer-policy',
      'cross-origin-opener-policy',
      'x-xss-protection',
    ])
      expect(res.headers[pageOnly]).toBeUndefined();
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it("sets helmet's page headers on the docs page", async () => {
    const res = await request(`${gw.url}/docs/json`);
    await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(res.headers['content-security-policy']).toBe(
      "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';" +
        "frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';" +
        "script-src-attr 'none';style-src 'self' https: 'unsafe-inline'",
    );
  });

  it('allowed origin: reflected, with the exposed headers', async () => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'application/json' },
      body: chatBody('mock'),
    });
    await res.body.json();
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(APP);
    expect(res.headers['access-control-expose-headers']).toBe(
      'x-request-id, x-switchyard-provider, x-switchyard-model, x-upstream-request-id, retry-after, ' +
        'x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, ' +
        'x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens',
    );
    expect(res.headers.vary).toBe('Origin');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('disallowed or missing origin: no CORS headers at all', async () => {
    for (const headers of [{ origin: 'https://evil.example' }, {}]) {
      const res = await request(`${gw.url}/v1/models`, { headers });
      await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      expect(res.headers['access-control-expose-headers']).toBeUndefined();
    }
  });

  it('preflight from an allowed origin: 204 with the SDK headers allowed, unknown ones left out', async () => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:3000',
        'access-control-request-method': 'POST',
        'access-control-request-headers':
          'authorization,content-type,x-request-id,openai-organization,x-stainless-os,X-Stainless-Retry-Count,user-agent,x-evil',
      },
    });
    expect(await res.body.text()).toBe('');
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    expect(res.headers['access-control-allow-methods']).toBe('GET, HEAD, POST');
    expect(res.headers['access-control-allow-headers']).toBe(
      'authorization, content-type, x-request-id, openai-organization, x-stainless-os, x-stainless-retry-count, user-agent',
    );
    expect(res.headers['access-control-max-age']).toBe('600');
  });

  it('preflight from a disallowed origin: our 404, no CORS headers', async () => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(res.statusCode).toBe(404);
    expect(await res.body.json()).toEqual({
      error: {
        message: 'Unknown route: OPTIONS /v1/chat/completions',
        type: 'not_found_error',
        code: 'route_not_found',
        param: null,
      },
    });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-methods']).toBeUndefined();
  });

  it('a body over the limit is still a 413 in our shape, with CORS headers so a browser can read it', async () => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'application/json', 'accept-encoding': 'gzip' },
      body: chatBody('mock', { user: 'x'.repeat(4096) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.headers['access-control-allow-origin']).toBe(APP);
    expect(await res.body.json()).toEqual({
      error: {
        message: 'Request body is larger than the configured limit.',
        type: 'invalid_request_error',
        code: 'request_too_large',
        param: null,
      },
    });
  });
});

describe('CORS modes', () => {
  it("'*' allows any origin", async () => {
    const gw = await startGateway(mockYaml(`{ cors: { origins: [ '*' ] } }`));
    try {
      const res = await request(`${gw.url}/v1/models`, { headers: { origin: 'https://anything.example' } });
      await res.body.text();
      expect(res.headers['access-control-allow-origin']).toBe('*');
      const pre = await request(`${gw.url}/v1/embeddings`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://anything.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
      await pre.body.text();
      expect(pre.statusCode).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe('*');
      expect(pre.headers['access-control-allow-headers']).toBe('authorization, content-type');
    } finally {
      await gw.close();
    }
  });

  it('no origins configured: no CORS headers, and OPTIONS is an unknown route', async () => {
    const gw = await startGateway(mockYaml('{}'));
    try {
      const res = await request(`${gw.url}/v1/models`, { headers: { origin: APP } });
      await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      expect(res.headers.vary).toBeUndefined();
      const pre = await request(`${gw.url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin: APP, 'access-control-request-method': 'POST' },
      });
      expect(pre.statusCode).toBe(404);
      expect(((await pre.body.json()) as { error: { code: string } }).error.code).toBe('route_not_found');
    } finally {
      await gw.close();
    }
  });
});

describe('compression', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(mockYaml('{}'));
  });
  afterAll(() => gw.close());

  it('a large JSON response is gzip or br encoded and decodes to the exact bytes', async () => {
    const plain = await request(`${gw.url}/v1/models`);
    const plainText = await plain.body.text();
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(Buffer.byteLength(plainText)).toBeGreaterThan(1024);
    const listed = JSON.parse(plainText) as { data: Array<{ id: string }> };
    expect(listed.data.map((m) => m.id)).toEqual(['mock', 'long', 'slow', ...MODELS]);

    for (const [encoding, decode] of [
      ['gzip', gunzipSync],
      ['br', brotliDecompressSync],
    ] as const) {
      const res = await request(`${gw.url}/v1/models`, { headers: { 'accept-encoding': encoding } });
      const raw = Buffer.from(await res.body.arrayBuffer());
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-encoding']).toBe(encoding);
      expect(res.headers.vary).toBe('accept-encoding');
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(raw.length).toBeLessThan(Buffer.byteLength(plainText));
      expect(decode(raw).toString('utf8')).toBe(plainText);
    }
  });

  it('a long non-streamed chat completion is compressed and decodes to the completion', async () => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip', 'x-request-id': 'cmp-1' },
      body: chatBody('long'),
    });
    const raw = Buffer.from(await res.body.arrayBuffer());
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['x-switchyard-provider']).toBe('long');
    const completion = JSON.parse(gunzipSync(raw).toString('utf8')) as Record<string, unknown>;
    expect(completion).toEqual({
      id: 'chatcmpl-cmp-1',
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'long',
      system_fingerprint: null,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: LONG_REPLY, refusal: null, annotations: [] },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: expect.objectContaining({ prompt_tokens: expect.any(Number) }),
    });
  });

  it('a small response is not compressed', async () => {
    const res = await request(`${gw.url}/health/live`, { headers: { 'accept-encoding': 'gzip, br' } });
    expect(await res.body.json()).toEqual({ status: 'ok' });
    expect(res.headers['content-encoding']).toBeUndefined();
  });

  it('SSE is never compressed and arrives chunk by chunk', async () => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip, deflate, br' },
      body: chatBody('slow', { stream: true }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['content-encoding']).toBeUndefined();
    const reads: Array<{ at: number; text: string }> = [];
    for await (const chunk of res.body) reads.push({ at: performance.now(), text: chunk.toString('utf8') });

    const text = reads.map((r) => r.text).join('');
    const events = text
      .split('\n\n')
      .filter(Boolean)
      .map((e) => e.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const content = events
      .slice(0, -1)
      .map(
        (e) =>
          (JSON.parse(e) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content,
      )
      .join('');
    expect(content).toBe('one two three four five six');
    // Six words 60 ms apart: a buffering compressor would deliver them in one or two reads at the end.
    const withWords = reads.filter((r) => /"content":"[a-z ]+"/.test(r.text));
    expect(withWords.length).toBeGreaterThanOrEqual(5);
    expect(withWords.at(-1)!.at - withWords[0]!.at).toBeGreaterThan(200);
  });
});

describe('load shedding', () => {
  it('over max_heap_used: 503 with Retry-After and our error, before the body is read; health stays up', async () => {
    const gw = await startGateway(
      `
server: { load_shedding: { max_heap_used: 1kb, retry_after: 7s } }
providers: { mock: { type: mock } }
models: { mock: { targets: [ { provider: mock, model: mock } ] } }
`,
    );
    try {
      // Sampled once a second from listen, and the first sample is not acted on: poll until shed.
      let res = await request(`${gw.url}/v1/models`, { headers: { 'x-request-id': 'shed-1' } });
      for (let i = 0; i < 100 && res.statusCode !== 503; i++) {
        await res.body.text();
        await sleep(100);
        res = await request(`${gw.url}/v1/models`, { headers: { 'x-request-id': 'shed-1' } });
      }
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('7');
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.headers['x-request-id']).toBe('shed-1');
      expect(await res.body.json()).toEqual(overloaded);

      // Refused before parsing: an invalid body still gets the 503, not a 400.
      const chat = await request(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{not json',
      });
      expect(chat.statusCode).toBe(503);
      expect(chat.headers['retry-after']).toBe('7');
      expect(await chat.body.json()).toEqual(overloaded);

      const live = await request(`${gw.url}/health/live`);
      expect(live.statusCode).toBe(200);
      expect(await live.body.json()).toEqual({ status: 'ok' });
      const ready = await request(`${gw.url}/health/ready`);
      expect(ready.statusCode).toBe(200);
      await ready.body.text();

      // The shed request still gets its log line.
      const line = gw.logs.find((l) => l.msg === 'request' && l.reqId === 'shed-1' && l.status === 503);
      expect(line).toMatchObject({ method: 'GET', url: '/v1/models', status: 503 });
      expect(gw.logs.filter((l) => l.msg === 'shedding load: server under pressure')).toEqual([
        expect.objectContaining({ level: 40, pressure: 'heapUsedBytes', value: expect.any(Number) }),
      ]);
    } finally {
      await gw.close();
    }
  });

  it('over max_rss with load shedding disabled: nothing is shed', async () => {
    const limits = 'max_rss: 1kb, max_heap_used: 1kb';
    const models = `
providers: { mock: { type: mock } }
models: { mock: { targets: [ { provider: mock, model: mock } ] } }
`;
    const off = await startGateway(`server: { load_shedding: { enabled: false, ${limits} } }${models}`);
    // The same limits with shedding on, started after: once it sheds, the disabled one has had as long.
    const on = await startGateway(`server: { load_shedding: { ${limits} } }${models}`);
    try {
      await until(async () => {
        const res = await request(`${on.url}/v1/models`);
        await res.body.text();
        return res.statusCode === 503;
      }, 'the enabled gateway to shed');
      const res = await request(`${off.url}/v1/models`);
      expect(res.statusCode).toBe(200);
      await res.body.text();
    } finally {
      await Promise.all([off.close(), on.close()]);
    }
  });

  it('over max_rss: shed', async () => {
    const gw = await startGateway(
      `
server: { load_shedding: { max_rss: 1kb } }
providers: { mock: { type: mock } }
models: { mock: { targets: [ { provider: mock, model: mock } ] } }
`,
    );
    try {
      let res = await request(`${gw.url}/v1/models`);
      for (let i = 0; i < 100 && res.statusCode !== 503; i++) {
        await res.body.text();
        await sleep(100);
        res = await request(`${gw.url}/v1/models`);
      }
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('10');
      expect(await res.body.json()).toEqual(overloaded);
    } finally {
      await gw.close();
    }
  });
});
