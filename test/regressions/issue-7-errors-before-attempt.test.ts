import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Issue 7: a request refused before any upstream attempt (here an open circuit) was answered 503 but
 * never counted in ai_errors_total nor emitted as ai.response.error, and the error-rate alert divides by
 * that metric. Settle now runs for every request, whether or not a provider was reached.
 */

let up: FakeUpstream;
let gw: TestGateway;
beforeAll(async () => {
  up = await startFakeUpstream((_req, res) =>
    sendJson(res, 500, { error: { message: 'down', type: 'server_error' } }),
  );
  gw = await startGateway(`
logging: { level: error }
providers:
  up: { type: openai, base_url: ${up.url}/v1, api_key: sk-test }
models:
  chat:
    targets: [ { provider: up, model: m } ]
    retry: { attempts: 1 }
    circuit_breaker: { failure_rate: 0.5, min_requests: 2, cooldown: 60s, window: 60s }
`);
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

async function chat() {
  const res = await request(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: res.statusCode, body: (await res.body.json()) as { error: { code: string } } };
}

it('counts 503 circuit_open answers in ai_errors_total and emits ai.response.error', async () => {
  const errors: string[] = [];
  gw.state.events.on('ai.response.error', (e) => {
    errors.push(e.code);
  });
  expect((await chat()).status).toBe(502);
  expect((await chat()).status).toBe(502);
  for (let i = 0; i < 4; i++) {
    const r = await chat();
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('circuit_open');
  }
  expect(up.requests).toHaveLength(2);
  await gw.state.events.flush();
  expect(errors.filter((c) => c === 'circuit_open')).toHaveLength(4);
  const metrics = await (await request(`${gw.url}/metrics`)).body.text();
  expect(metrics).toContain('ai_errors_total{provider="none",model="chat",error_type="circuit_open"} 4');
});
