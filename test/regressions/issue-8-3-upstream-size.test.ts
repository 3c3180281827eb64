import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError, chunkJson } from '../helpers/openai-fixtures.js';

/**
 * Issue 8, item 3: upstream bodies were buffered without limit (one 100 MB answer peaked the gateway at
 * about 1 GB). Answers are capped by `max_response_size` (502 upstream_response_too_large past it) and
 * error bodies are read only up to 64 KB.
 */

let upstream: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

const MB = 1024 * 1024;

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
  upstream = await startFakeUpstream((_req, res) => sendJson(res, 500, { error: 'no handler set' }));
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
providers:
  small: { type: openai, base_url: ${upstream.url}, api_key: k-small-123456, max_response_size: 1mb }
  big: { type: openai, base_url: ${upstream.url}, api_key: k-big-123456 }
models:
  small: { targets: [ { provider: small, model: m } ], retry: { attempts: 1 } }
  big: { targets: [ { provider: big, model: m } ], retry: { attempts: 1 } }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

beforeEach(() => {
  upstream.requests.length = 0;
});

const hi = [{ role: 'user' as const, content: 'hi' }];

function expectTooLarge(err: { status?: number | undefined; error?: unknown }): void {
  const body = err.error as { code?: string; type?: string; message?: string };
  expect([err.status, body.code]).toEqual([502, 'upstream_response_too_large']);
  expect(body.message).toContain('max_response_size');
}

describe('issue 8-3: upstream answers are read up to a limit', () => {
  it('an answer under the limit passes', async () => {
    upstream.setHandler((_req, res) => sendJson(res, 200, completion('x'.repeat(512 * 1024))));
    const r = await client.chat.completions.create({ model: 'small', messages: hi });
    expect(r.choices[0]?.message.content?.length).toBe(512 * 1024);
  });

  it('a 2 MB answer with a Content-Length over a 1 MB limit is a 502', async () => {
    upstream.setHandler((_req, res) => sendJson(res, 200, completion('x'.repeat(2 * MB))));
    expectTooLarge(await apiError(client.chat.completions.create({ model: 'small', messages: hi })));
  });

  it('a chunked answer that grows past the limit is a 502, and the rest is not read', async () => {
    upstream.setHandler(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(
        '{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"',
      );
      for (let i = 0; i < 64 && !res.destroyed; i++) {
        res.write('x'.repeat(64 * 1024));
        await new Promise((r) => setImmediate(r));
      }
      res.end('"}}]}');
    });
    expectTooLarge(await apiError(client.chat.completions.create({ model: 'small', messages: hi })));
    await upstream.requests[0]!.aborted;
  });

  it('one stream event larger than the limit fails the stream instead of buffering it', async () => {
    upstream.setHandler(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${chunkJson({ role: 'assistant', content: '' })}\n\n`);
      res.write('data: {"choices":[{"index":0,"delta":{"content":"');
      for (let i = 0; i < 64 && !res.destroyed; i++) {
        res.write('y'.repeat(64 * 1024));
        await new Promise((r) => setImmediate(r));
      }
      res.end('"}}]}\n\n');
    });
    const stream = await client.chat.completions.create({ model: 'small', messages: hi, stream: true });
    const err = await apiError(
      (async () => {
        for await (const _ of stream) {
          // drain
        }
      })(),
    );
    expect((err.error as { code?: string }).code ?? (err as { code?: string }).code).toBe(
      'upstream_response_too_large',
    );
    await upstream.requests[0]!.aborted;
  });

  it('the default limit is 32 MB: a 100 MB Content-Length fails at once', async () => {
    upstream.setHandler((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(100 * MB) });
      res.write('{"id":"c",');
    });
    const err = await apiError(client.chat.completions.create({ model: 'big', messages: hi }));
    expectTooLarge(err);
    expect((err.error as { message: string }).message).toContain(String(32 * MB));
    await upstream.requests[0]!.aborted;
  });

  it('an error body is read only up to 64 KB', async () => {
    upstream.setHandler(async (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      for (let i = 0; i < 256 && !res.destroyed; i++) {
        res.write('e'.repeat(64 * 1024));
        await new Promise((r) => setImmediate(r));
      }
      res.end();
    });
    const err = await apiError(client.chat.completions.create({ model: 'big', messages: hi }));
    expect([err.status, (err.error as { code?: string }).code]).toEqual([502, 'upstream_server_error']);
    // The gateway stopped reading: the upstream never finished writing its 16 MB.
    await upstream.requests[0]!.aborted;
  });
});
