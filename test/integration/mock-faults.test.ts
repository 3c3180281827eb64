import OpenAI, { APIError } from 'openai';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRng, malformedIndex, planFaults } from '../../src/providers/mock/faults.js';
import type { MockFaults } from '../../src/types/config.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Mock-provider faults through the real gateway and the official SDK: each one must reach the client
 * exactly as the same failure of a real provider would. One attempt per request and no breaker, so
 * the assertions do not depend on the resilience layer's policy.
 */

const REPLY = 'one two three four five';
// role + five words + finish + usage: the chunks the mock sends for REPLY.
const REPLY_CHUNKS = 8;
const MALFORMED_SEED = 9;

const CONFIG = `
providers:
  limited: { type: mock, faults: { errors: [ { status: 429, probability: 1, message: slow down, retry_after: 2s } ] } }
  broken: { type: mock, faults: { errors: [ { status: 500, probability: 1 } ] } }
  toolong: { type: mock, faults: { errors: [ { status: 400, probability: 1, message: "maximum context length is 8192 tokens" } ] } }
  resetting: { type: mock, faults: { reset_probability: 1 } }
  garbled: { type: mock, reply: "${REPLY}", faults: { seed: ${MALFORMED_SEED}, malformed_probability: 1 } }
  cutting: { type: mock, reply: "${REPLY}", faults: { stream_cut_after: 3 } }
  hanging: { type: mock, faults: { hang_probability: 1 } }
  slow: { type: mock, latency_ms: 50, faults: { latency: { distribution: fixed, mean: 150ms } } }
routing:
  retry: { attempts: 1 }
  circuit_breaker: { enabled: false }
models:
  limited: { targets: [ { provider: limited, model: m } ] }
  broken: { targets: [ { provider: broken, model: m } ] }
  toolong: { targets: [ { provider: toolong, model: m } ] }
  resetting: { targets: [ { provider: resetting, model: m } ] }
  garbled: { targets: [ { provider: garbled, model: m } ] }
  cutting: { targets: [ { provider: cutting, model: m } ] }
  hanging: { targets: [ { provider: hanging, model: m } ] }
  slow: { targets: [ { provider: slow, model: m } ] }
`;

let gw: TestGateway;
let client: OpenAI;
beforeAll(async () => {
  gw = await startGateway(CONFIG);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'none', maxRetries: 0 });
});
afterAll(() => gw.close());

const messages = [{ role: 'user' as const, content: 'hi' }];

async function chatError(model: string, stream = false): Promise<APIError> {
  const e: unknown = await client.chat.completions.create({ model, messages, stream }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(APIError);
  return e as APIError;
}

/** A raw streaming request: the exact SSE frames, which the SDK would hide. */
async function streamFrames(model: string): Promise<{ status: number; frames: string[] }> {
  const res = await request(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: true, stream_options: { include_usage: true }, messages }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, frames: text.split('\n\n').filter((f) => f !== '') };
}

function data(frame: string): unknown {
  expect(frame.startsWith('data: ')).toBe(true);
  return JSON.parse(frame.slice('data: '.length));
}

const DELTAS = [
  { role: 'assistant', content: '' },
  { content: 'one ' },
  { content: 'two ' },
  { content: 'three ' },
  { content: 'four ' },
  { content: 'five' },
];

function interrupted(provider: string, detail: string) {
  return {
    error: {
      message: `stream from provider '${provider}' was interrupted: ${detail}`,
      type: 'api_error',
      code: 'upstream_stream_interrupted',
      param: null,
    },
  };
}

describe('mock provider faults', () => {
  it('an injected 429 with retry_after reaches the client as a 429 with retry-after', async () => {
    const e = await chatError('limited');
    expect([e.status, e.headers?.get('retry-after'), e.error]).toEqual([
      429,
      '2',
      {
        message: "provider 'limited' returned 429: slow down",
        type: 'rate_limit_error',
        code: 'upstream_rate_limit',
        param: null,
      },
    ]);
  });

  it('an injected 500 is a 502 upstream_server_error, streaming or not', async () => {
    const body = {
      message: "provider 'broken' returned 500: mock provider fault: HTTP 500",
      type: 'api_error',
      code: 'upstream_server_error',
      param: null,
    };
    const e = await chatError('broken');
    expect([e.status, e.error]).toEqual([502, body]);
    const s = await chatError('broken', true);
    expect([s.status, s.error]).toEqual([502, body]);
  });

  it('a 400 is classified by its message like a real one (context length)', async () => {
    const e = await chatError('toolong');
    expect([e.status, e.error]).toEqual([
      400,
      {
        message: "provider 'toolong' returned 400: maximum context length is 8192 tokens",
        type: 'invalid_request_error',
        code: 'upstream_context_length',
        param: null,
      },
    ]);
  });

  it('a reset is a 502 upstream_connection, for chat and embeddings', async () => {
    const body = {
      message: "cannot reach provider 'resetting': ECONNRESET",
      type: 'api_error',
      code: 'upstream_connection',
      param: null,
    };
    const e = await chatError('resetting');
    expect([e.status, e.error]).toEqual([502, body]);
    const emb: unknown = await client.embeddings.create({ model: 'resetting', input: 'x' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(emb).toBeInstanceOf(APIError);
    expect([(emb as APIError).status, (emb as APIError).error]).toEqual([502, body]);
  });

  it('a malformed non-streaming body is a 502 "not valid JSON", for chat and embeddings', async () => {
    const body = {
      message: "provider 'garbled' returned a response that is not valid JSON",
      type: 'api_error',
      code: 'upstream_server_error',
      param: null,
    };
    const e = await chatError('garbled');
    expect([e.status, e.error]).toEqual([502, body]);
    const emb = await request(`${gw.baseURL}/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'garbled', input: 'x' }),
    });
    expect([emb.statusCode, await emb.body.json()]).toEqual([502, { error: body }]);
  });

  it('a malformed stream event ends the stream with an error event after the chunks before it', async () => {
    // The third request to the seeded provider (two above), the first streaming one.
    const f: MockFaults = {
      seed: MALFORMED_SEED,
      errors: [],
      latency: undefined,
      resetProbability: 0,
      hangProbability: 0,
      malformedProbability: 1,
      streamCutAfter: undefined,
      streamCutProbability: 0,
    };
    const rng = createRng(MALFORMED_SEED);
    planFaults(f, rng, false);
    planFaults(f, rng, false);
    const plan = planFaults(f, rng, true);
    if (plan.outcome.kind !== 'malformed') throw new Error('expected a malformed plan');
    const at = malformedIndex(plan.outcome.atFraction, REPLY_CHUNKS);
    // The seed is chosen so the bad event lands mid-stream, after the response was committed.
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThan(DELTAS.length);

    const { status, frames } = await streamFrames('garbled');
    expect(status).toBe(200);
    expect(frames.map(data)).toEqual([
      ...DELTAS.slice(0, at).map((delta) =>
        expect.objectContaining({ choices: [{ index: 0, delta, finish_reason: null, logprobs: null }] }),
      ),
      interrupted('garbled', 'malformed JSON in stream event'),
    ]);
  });

  it('stream_cut_after: 3 delivers exactly three chunks, then the error event and no [DONE]', async () => {
    const { status, frames } = await streamFrames('cutting');
    expect(status).toBe(200);
    expect(frames).toHaveLength(4);
    expect(frames.map(data)).toEqual([
      ...DELTAS.slice(0, 3).map((delta) => ({
        id: expect.stringMatching(/^chatcmpl-/),
        object: 'chat.completion.chunk',
        created: expect.any(Number),
        model: 'm',
        choices: [{ index: 0, delta, finish_reason: null, logprobs: null }],
        usage: null,
      })),
      interrupted('cutting', 'connection lost'),
    ]);

    // The SDK raises it rather than ending cleanly.
    const stream = await client.chat.completions.create({ model: 'cutting', stream: true, messages });
    const seen: string[] = [];
    const err: unknown = await (async () => {
      for await (const c of stream) seen.push(c.choices[0]?.delta.content ?? '');
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(seen).toEqual(['', 'one ', 'two ']);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).message).toBe("stream from provider 'cutting' was interrupted: connection lost");
  });

  it('a hang lasts until the client gives up; the request is logged as 499 and nothing is left behind', async () => {
    const timersBefore = activeTimers();
    const before = gw.logs.length;
    // A connection of its own, closed afterwards: the global pool would keep the aborted socket
    // around and hold the gateway's shutdown open, hiding whether the gateway itself let go.
    const agent = new Agent();
    const controller = new AbortController();
    const started = performance.now();
    // The client's own timeout: the thing that ends a hang.
    const clientTimeout = setTimeout(() => controller.abort(), 200);
    const err: unknown = await request(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'hanging', messages }),
      signal: controller.signal,
      dispatcher: agent,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    clearTimeout(clientTimeout);
    await agent.destroy();
    expect((err as Error).name).toBe('AbortError');
    expect(performance.now() - started).toBeGreaterThanOrEqual(199);

    const line = await vi.waitFor(() => {
      const l = gw.logs.slice(before).find((x) => x.msg === 'request');
      if (!l) throw new Error('no request log line yet');
      return l;
    });
    expect([line.status, line.client_aborted, line.model, line.provider, line.error_code]).toEqual([
      499,
      true,
      'hanging',
      'hanging',
      undefined,
    ]);
    expect(activeTimers()).toBeLessThanOrEqual(timersBefore);
  });

  it('latency is added before the response (on top of latency_ms)', async () => {
    const started = performance.now();
    const res = await client.chat.completions.create({ model: 'slow', messages });
    expect(performance.now() - started).toBeGreaterThanOrEqual(199);
    expect(res.choices[0]!.finish_reason).toBe('stop');
  });
});

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('seeded faults', () => {
  const seeded = `
providers:
  dice: { type: mock, faults: { seed: 1234, errors: [ { status: 500, probability: 0.5 } ] } }
routing:
  retry: { attempts: 1 }
  circuit_breaker: { enabled: false }
models:
  dice: { targets: [ { provider: dice, model: m } ] }
`;

  async function statuses(): Promise<number[]> {
    const g = await startGateway(seeded);
    try {
      const out: number[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await request(`${g.baseURL}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'dice', messages }),
        });
        await res.body.dump();
        out.push(res.statusCode);
      }
      return out;
    } finally {
      await g.close();
    }
  }

  it('replay the same sequence of statuses on two fresh gateways', async () => {
    const expected = [502, 502, 200, 502, 200, 502, 502, 200, 200, 502];
    expect(await statuses()).toEqual(expected);
    expect(await statuses()).toEqual(expected);
  });
});
