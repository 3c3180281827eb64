import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTextTokens, loadTokenizer, splitForEncoding, WORK_BUDGET } from '../../src/core/tokens.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Issue 8, item 1: token counting was quadratic in a run of one character, and ran on the event loop.
 * 150,000 parts of "a" held the process at 100% CPU for minutes and /health/live waited too.
 */

let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  gw = await startGateway(`
server: { body_limit: 8mb, load_shedding: { enabled: false } }
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

async function liveLatency(until: Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  let done = false;
  void until.finally(() => {
    done = true;
  });
  while (!done) {
    const t = performance.now();
    const res = await fetch(`${gw.url}/health/live`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    samples.push(performance.now() - t);
  }
  return samples;
}

describe('issue 8-1: token counting is linear, bounded and off the event loop', () => {
  it('150,000 text parts of "a" are answered, with usage, while /health/live keeps answering', async () => {
    const parts = Array.from({ length: 150_000 }, () => ({ type: 'text' as const, text: 'a' }));
    // Serialised up front: the test's client shares the gateway's event loop, and its own JSON work is
    // not what is measured.
    const body = JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: parts }] });
    const call = fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    }).then(async (r) => ({
      status: r.status,
      json: (await r.json()) as { usage?: { prompt_tokens: number } },
    }));
    const samples = await liveLatency(call);
    const res = await call;
    expect(res.status).toBe(200);
    // 150,000 a's: 8 per token in cl100k, plus the message overhead.
    expect(res.json.usage?.prompt_tokens).toBeGreaterThan(18_000);
    expect(res.json.usage?.prompt_tokens).toBeLessThan(19_500);
    expect(samples.length).toBeGreaterThan(0);
    // Parsing and validating 3 MB of JSON holds the event loop for a moment (seconds on a loaded
    // machine); the count itself, minutes before, runs on a worker.
    expect(Math.max(...samples)).toBeLessThan(6_000);
  });

  it('1 MB of one repeated letter is counted quickly and /health/live keeps answering', async () => {
    const call = client.chat.completions.create({
      model: 'mock',
      messages: [{ role: 'user', content: 'a'.repeat(1024 * 1024) }],
    });
    const samples = await liveLatency(call);
    const res = await call;
    expect(res.usage?.prompt_tokens).toBe(1024 * 128 + 3 + 3);
    expect(Math.max(...samples)).toBeLessThan(1_000);
  });

  it('counts ordinary prose exactly as the encoder does on the whole text', async () => {
    const enc = await loadTokenizer();
    const text =
      'The quick brown fox jumps over the lazy dog.\n\n  Indented code:\n    const x = 1;   // ok\n' +
      'Ünïcödé, emoji 🎉🎉, numbers 1234567, internationalization and URLs https://example.com/a/b?c=d. '.repeat(
        50,
      );
    expect(countTextTokens(enc, text)).toBe(enc.encode(text).length);
  });

  it('splits every run into pieces the encoder handles in bounded time, in one linear pass', () => {
    const text = `${'a'.repeat(1000)} ${' '.repeat(300)}b${'!'.repeat(500)}`;
    const pieces: string[] = [];
    splitForEncoding(text, Number.POSITIVE_INFINITY, (s, e) => pieces.push(text.slice(s, e)));
    expect(pieces.join('')).toBe(text);
    const longest = (re: RegExp) =>
      Math.max(...pieces.flatMap((p) => (p.match(re) ?? ['']).map((r) => r.length)));
    expect([longest(/a+/g), longest(/!+/g), longest(/\s+/g)]).toEqual([32, 32, 64]);
  });

  it('beyond the work budget the rest is estimated from the part counted', async () => {
    const enc = await loadTokenizer();
    // About 16 units of merge work per letter: well past the budget, and 32 a's are 4 tokens.
    const text = 'a'.repeat(WORK_BUDGET);
    expect(countTextTokens(enc, text)).toBe(WORK_BUDGET / 8);
  });
});
