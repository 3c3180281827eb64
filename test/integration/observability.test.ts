import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApp } from '../helpers/app-under-test.js';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { chunkJson } from '../helpers/openai-fixtures.js';
import { until } from '../helpers/poll.js';
import { services } from '../helpers/services.js';

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [
    { index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop', logprobs: null },
  ],
  usage: {
    prompt_tokens: 9,
    completion_tokens: 3,
    total_tokens: 12,
    prompt_tokens_details: { cached_tokens: 4 },
  },
};
const chunk = chunkJson;
const stream = [
  chunk({ role: 'assistant', content: '' }),
  chunk({ content: 'hi' }),
  chunk({}, 'stop'),
  JSON.stringify({
    id: 'c',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  }),
  '[DONE]',
];

const UPSTREAM_KEY = 'sk-config-secret-999';
const config = (url: string, extra = '') => `
logging: { level: trace }
providers:
  up: { type: openai, base_url: ${url}/v1, api_key: ${UPSTREAM_KEY} }
  mock: { type: mock }
models:
  chat: { targets: [ { provider: up, model: gpt-4o-mini } ] }
  mock: { targets: [ { provider: mock, model: mock } ] }
${extra}`;

let up: FakeUpstream;
beforeAll(async () => {
  up = await startFakeUpstream((_req, res) => sendJson(res, 200, completion));
});
afterAll(() => up.close());
afterEach(() => {
  up.requests.length = 0;
});

function metricLine(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('metrics', () => {
  it('counters and histograms move with real requests, with bounded labels', async () => {
    const gw = await startApp(config(up.url));
    try {
      const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'k', maxRetries: 0 });
      up.setHandler((_req, res) => sendJson(res, 200, completion));
      await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'a' }] });
      up.setHandler((_req, res) => sendSse(res, { events: stream }));
      for await (const _ of await client.chat.completions.create({
        model: 'chat',
        stream: true,
        messages: [{ role: 'user', content: 'b' }],
      })) {
        // drain
      }
      up.setHandler((_req, res) => sendJson(res, 429, { error: { message: 'slow' } }));
      await client.chat.completions
        .create({ model: 'chat', messages: [{ role: 'user', content: 'c' }] })
        .catch(() => {});
      await client.chat.completions
        .create({ model: 'nope', messages: [{ role: 'user', content: 'd' }] })
        .catch(() => {});
      await request(`${gw.url}/not/a/route`).then((r) => r.body.text());
      await gw.state.events.flush();

      const res = await request(`${gw.url}/metrics`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await res.body.text();
      const chat = 'method="POST",route="/v1/chat/completions"';
      expect(metricLine(text, 'http_requests_total', `${chat},status="200"`)).toBe(2);
      expect(metricLine(text, 'http_requests_total', `${chat},status="429"`)).toBe(1);
      expect(metricLine(text, 'http_requests_total', `${chat},status="404"`)).toBe(1);
      expect(metricLine(text, 'http_requests_total', 'method="GET",route="unmatched",status="404"')).toBe(1);
      expect(metricLine(text, 'http_request_duration_seconds_count', chat)).toBe(4);
      const up_ = 'provider="up",model="chat"';
      expect(metricLine(text, 'ai_response_duration_seconds_count', up_)).toBe(2);
      expect(metricLine(text, 'ai_first_token_latency_seconds_count', up_)).toBe(1);
      expect(metricLine(text, 'ai_tokens_consumed_total', `${up_},team="none",token_type="prompt"`)).toBe(14);
      expect(metricLine(text, 'ai_tokens_consumed_total', `${up_},team="none",token_type="completion"`)).toBe(
        5,
      );
      expect(metricLine(text, 'ai_tokens_consumed_total', `${up_},team="none",token_type="cached"`)).toBe(4);
      expect(metricLine(text, 'ai_errors_total', `${up_},error_type="rate_limit"`)).toBe(1);
      expect(metricLine(text, 'switchyard_overhead_seconds_count', 'stream="false"')).toBe(1);
      expect(metricLine(text, 'switchyard_overhead_seconds_count', 'stream="true"')).toBe(1);
      expect(metricLine(text, 'switchyard_config_reloads_total', 'result="failure"')).toBe(0);
      expect(text).toContain('# TYPE process_resident_memory_bytes gauge');
      expect(text).toContain('# TYPE nodejs_eventloop_lag_p99_seconds gauge');
      // The unknown model never became a label value.
      expect(text).not.toContain('model="nope"');
    } finally {
      await gw.close();
    }
  });

  it('a throwing event subscriber is counted and never breaks a request', async () => {
    const gw = await startApp(config(up.url));
    try {
      gw.state.events.on('ai.response.completed', () => {
        throw new Error('subscriber bug');
      });
      up.setHandler((_req, res) => sendJson(res, 200, completion));
      const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'k', maxRetries: 0 });
      const r = await client.chat.completions.create({
        model: 'chat',
        messages: [{ role: 'user', content: 'a' }],
      });
      expect(r.choices[0]!.message.content).toBe('ok');
      await gw.state.events.flush();
      const text = await (await request(`${gw.url}/metrics`)).body.text();
      expect(
        metricLine(text, 'switchyard_event_listener_errors_total', 'event="ai.response.completed"'),
      ).toBe(1);
      expect(gw.logs.find((l) => l.msg === 'event subscriber failed')).toMatchObject({
        level: 50,
        event: 'ai.response.completed',
      });
    } finally {
      await gw.close();
    }
  });

  it('metrics.enabled: false removes /metrics', async () => {
    const gw = await startApp(config(up.url, 'metrics: { enabled: false }'));
    try {
      expect((await request(`${gw.url}/metrics`)).statusCode).toBe(404);
    } finally {
      await gw.close();
    }
  });
});

describe('tracing', () => {
  it('honours traceparent, builds the span tree, and propagates to the provider', async () => {
    const exporter = new InMemorySpanExporter();
    const gw = await startApp(config(up.url, 'tracing: { enabled: true }'), { spanExporter: exporter });
    try {
      up.setHandler((_req, res) => sendJson(res, 200, completion));
      const parentTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
      const parentSpan = '00f067aa0ba902b7';
      const res = await request(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: `00-${parentTrace}-${parentSpan}-01` },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
      });
      await res.body.text();
      await until(() => exporter.getFinishedSpans().some((s) => s.kind === SpanKind.SERVER), 'server span');
      const spans = exporter.getFinishedSpans();
      const server = spans.find((s) => s.kind === SpanKind.SERVER)!;
      const client = spans.find((s) => s.kind === SpanKind.CLIENT)!;
      const byName = (n: string) => spans.find((s) => s.name === n)!;
      // The request, its stages, and the upstream attempt under the execute stage.
      expect(spans.map((s) => s.name).sort()).toEqual(
        ['POST /v1/chat/completions', 'chat gpt-4o-mini', 'execute', 'resolve'].sort(),
      );
      expect(byName('resolve').parentSpanContext?.spanId).toBe(server.spanContext().spanId);
      expect(byName('resolve').attributes).toEqual({ 'switchyard.model': 'chat' });
      expect(byName('execute').parentSpanContext?.spanId).toBe(server.spanContext().spanId);
      expect(server.name).toBe('POST /v1/chat/completions');
      expect(server.spanContext().traceId).toBe(parentTrace);
      expect(server.parentSpanContext?.spanId).toBe(parentSpan);
      expect(server.attributes).toMatchObject({
        'http.route': '/v1/chat/completions',
        'http.response.status_code': 200,
      });
      expect(client.name).toBe('chat gpt-4o-mini');
      expect(client.parentSpanContext?.spanId).toBe(byName('execute').spanContext().spanId);
      expect(client.attributes).toEqual({
        'gen_ai.system': 'openai',
        'gen_ai.request.model': 'gpt-4o-mini',
        'switchyard.provider': 'up',
        'switchyard.attempt': 1,
        'gen_ai.usage.input_tokens': 9,
        'gen_ai.usage.output_tokens': 3,
      });
      expect(up.requests[0]!.headers.traceparent).toBe(`00-${parentTrace}-${client.spanContext().spanId}-01`);
      const line = gw.logs.find((l) => l.msg === 'request')!;
      expect(line.trace_id).toBe(parentTrace);
    } finally {
      await gw.close();
    }
  });

  it('a failed attempt and a failed request are marked as errors; a stream span ends with the stream', async () => {
    const exporter = new InMemorySpanExporter();
    const gw = await startApp(config(up.url, 'tracing: { enabled: true }'), { spanExporter: exporter });
    try {
      const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'k', maxRetries: 0 });
      up.setHandler((_req, res) => sendJson(res, 500, { error: { message: 'down' } }));
      await client.chat.completions
        .create({ model: 'chat', messages: [{ role: 'user', content: 'a' }] })
        .catch(() => {});
      await until(() => exporter.getFinishedSpans().some((s) => s.kind === SpanKind.SERVER), 'server span');
      const [attempt, server] = [
        exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT)!,
        exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER)!,
      ];
      expect(attempt.status).toEqual({
        code: SpanStatusCode.ERROR,
        message: "provider 'up' returned 500: down",
      });
      expect(attempt.attributes['error.type']).toBe('upstream_server_error');
      expect(server.status.code).toBe(SpanStatusCode.ERROR);
      expect(server.attributes['http.response.status_code']).toBe(502);

      exporter.reset();
      up.setHandler((_req, res) => sendSse(res, { events: stream, delayMs: 5 }));
      for await (const _ of await client.chat.completions.create({
        model: 'chat',
        stream: true,
        messages: [{ role: 'user', content: 'b' }],
      })) {
        // drain
      }
      await until(() => exporter.getFinishedSpans().some((s) => s.kind === SpanKind.CLIENT), 'attempt span');
      const streamAttempt = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT)!;
      expect(streamAttempt.attributes['gen_ai.usage.output_tokens']).toBe(2);
      expect(streamAttempt.status.code).toBe(SpanStatusCode.UNSET);
      // The deliver stage spans the stream after its first chunk, and ends with it.
      const deliver = exporter.getFinishedSpans().find((s) => s.name === 'deliver')!;
      const execute = exporter.getFinishedSpans().find((s) => s.name === 'execute')!;
      expect(deliver.status.code).toBe(SpanStatusCode.UNSET);
      expect(deliver.parentSpanContext?.spanId).toBe(execute.parentSpanContext?.spanId);
      expect(deliver.endTime[0] * 1e9 + deliver.endTime[1]).toBeGreaterThanOrEqual(
        execute.endTime[0] * 1e9 + execute.endTime[1],
      );
    } finally {
      await gw.close();
    }
  });

  it('with tracing off, the caller’s traceparent reaches the provider unchanged, or a fresh unsampled one', async () => {
    const gw = await startApp(config(up.url));
    try {
      up.setHandler((_req, res) => sendJson(res, 200, completion));
      const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const send = (headers: Record<string, string>) =>
        request(`${gw.baseURL}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
        }).then((r) => r.body.text());
      await send({ traceparent: tp, tracestate: 'vendor=1' });
      expect(up.requests[0]!.headers.traceparent).toBe(tp);
      expect(up.requests[0]!.headers.tracestate).toBe('vendor=1');
      await send({ traceparent: 'garbage' });
      const fresh = String(up.requests[1]!.headers.traceparent);
      expect(fresh).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      await until(() => gw.logs.filter((l) => l.msg === 'request').length >= 2, 'two request lines');
      const lines = gw.logs.filter((l) => l.msg === 'request');
      expect(lines.map((l) => l.trace_id)).toEqual(['4bf92f3577b34da6a3ce929d0e0e4736', fresh.slice(3, 35)]);
    } finally {
      await gw.close();
    }
  });
});

describe('logs', () => {
  it('every line carries request and trace ids; no key from any header or the config, no prompt, ever', async () => {
    const gw = await startApp(config(up.url));
    try {
      up.setHandler((_req, res) => sendJson(res, 200, completion));
      const prompt = 'my very private prompt text';
      const secrets = ['Bearer sk-client-aaa', 'x-api-key-bbb', 'goog-ccc', 'custom-ddd'];
      await request(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: secrets[0]!,
          'x-api-key': secrets[1]!,
          'x-goog-api-key': secrets[2]!,
          'x-custom-token': secrets[3]!,
        },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: prompt }] }),
      }).then((r) => r.body.text());
      await request(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: secrets[0]! },
        body: '{"model": "chat", "messages": [{"role": "user", "content": "my very private prompt text"',
      }).then((r) => r.body.text());
      await until(() => gw.logs.filter((l) => l.msg === 'request').length >= 2, 'two request lines');
      const requestLines = gw.logs.filter((l) => l.reqId !== undefined);
      expect(requestLines.length).toBeGreaterThanOrEqual(2);
      for (const l of requestLines) expect(typeof l.trace_id).toBe('string');
      const all = gw.rawLog();
      for (const s of [...secrets, UPSTREAM_KEY, prompt, 'sk-client-aaa']) expect(all).not.toContain(s);
    } finally {
      await gw.close();
    }
  });
});

describe('prompt logging', () => {
  it('is off by default and logs prompt and completion when logging.log_prompts is on', async () => {
    const gw = await startApp(
      config(up.url, 'logging: { level: info, log_prompts: true }').replace(
        'logging: { level: trace }\n',
        '',
      ),
    );
    try {
      up.setHandler((_req, res) => sendJson(res, 200, completion));
      await request(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'log me' }] }),
      }).then((r) => r.body.text());
      await request(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'mock',
          stream: true,
          messages: [{ role: 'user', content: 'stream me' }],
        }),
      }).then((r) => r.body.text());
      await until(() => gw.logs.filter((l) => l.msg === 'request').length >= 2, 'two request lines');
      const lines = gw.logs.filter((l) => l.msg === 'request');
      expect(lines.map((l) => [l.prompt, l.completion])).toEqual([
        [[{ role: 'user', content: 'log me' }], 'ok'],
        [
          [{ role: 'user', content: 'stream me' }],
          `Mock reply to "stream me". This answer comes from Switchyard's built-in mock provider.`,
        ],
      ]);
    } finally {
      await gw.close();
    }
  });
});

describe('provider outage event', () => {
  it('fires once when a provider turns degraded', async () => {
    const gw = await startApp(
      config(up.url, 'routing: { retry: { attempts: 1 }, circuit_breaker: { enabled: false } }'),
    );
    try {
      const outages: Array<{ provider: string; errorType: string }> = [];
      gw.state.events.on('ai.provider.outage', (e) => {
        outages.push({ provider: e.provider, errorType: e.errorType });
      });
      up.setHandler((_req, res) => sendJson(res, 500, { error: { message: 'down' } }));
      const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'k', maxRetries: 0 });
      for (let i = 0; i < 8; i++) {
        await client.chat.completions
          .create({ model: 'chat', messages: [{ role: 'user', content: 'a' }] })
          .catch(() => {});
      }
      await gw.state.events.flush();
      await gw.state.events.flush();
      expect(outages).toEqual([{ provider: 'up', errorType: 'upstream_server_error' }]);
    } finally {
      await gw.close();
    }
  });
});

describe('/health', () => {
  it.skipIf(!services.redis)(
    'reports Redis as a dependency with its latency, and as down when it is unreachable',
    async () => {
      const ok = await startApp(
        config(up.url, 'health: { expose_details: true }\nredis: { url: "redis://127.0.0.1:6379" }'),
      );
      try {
        const body = (await (await request(`${ok.url}/health`)).body.json()) as {
          dependencies: Record<string, unknown>;
        };
        expect(body.dependencies).toEqual({
          database: { status: 'ok', latency_ms: expect.any(Number) },
          redis: { status: 'ok', latency_ms: expect.any(Number) },
        });
      } finally {
        await ok.close();
      }
      const down = await startApp(
        config(up.url, 'health: { expose_details: true }\nredis: { url: "redis://127.0.0.1:1" }'),
      );
      try {
        const body = (await (await request(`${down.url}/health`)).body.json()) as {
          dependencies: Record<string, unknown>;
        };
        expect(body.dependencies).toEqual({
          database: { status: 'ok', latency_ms: expect.any(Number) },
          redis: { status: 'down', latency_ms: null, error: expect.any(String) },
        });
        // Informational only: the gateway still serves.
        expect((await request(`${down.url}/health/ready`)).statusCode).toBe(200);
      } finally {
        await down.close();
      }
    },
  );

  it('summary only by default; details with expose_details', async () => {
    const closed = await startApp(config(up.url));
    try {
      const r = await request(`${closed.url}/health`);
      expect([r.statusCode, await r.body.json()]).toEqual([
        200,
        { status: 'ok', version: '0.1.0', uptime_s: expect.any(Number) },
      ]);
    } finally {
      await closed.close();
    }
    const open = await startApp(config(up.url, 'health: { expose_details: true }'));
    try {
      up.setHandler((_req, res) => sendJson(res, 200, completion));
      const client = new OpenAI({ baseURL: open.baseURL, apiKey: 'k', maxRetries: 0 });
      await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'a' }] });
      up.setHandler((_req, res) => sendJson(res, 503, { error: { message: 'busy' } }));
      await client.chat.completions
        .create({ model: 'chat', messages: [{ role: 'user', content: 'a' }] })
        .catch(() => {});
      await open.state.events.flush();
      const body = (await (await request(`${open.url}/health`)).body.json()) as Record<string, unknown>;
      expect(body).toEqual({
        status: 'ok',
        version: '0.1.0',
        uptime_s: expect.any(Number),
        started_at: expect.any(String),
        config: { source: 'test', models: 2, providers: 2 },
        memory: {
          rss: expect.any(Number),
          heap_used: expect.any(Number),
          heap_total: expect.any(Number),
          external: expect.any(Number),
          // Which spaces exist depends on the V8 version; these two are in every one we run on.
          heap_spaces: expect.objectContaining({
            new_space: { size: expect.any(Number), used: expect.any(Number) },
            old_space: { size: expect.any(Number), used: expect.any(Number) },
          }),
        },
        dependencies: { database: { status: 'ok', latency_ms: expect.any(Number) } },
        providers: {
          up: {
            type: 'openai',
            status: 'ok',
            // One success, then a 503 that was retried once: three attempts, two failures.
            requests: 3,
            errors: 2,
            error_rate: 0.667,
            avg_latency_ms: expect.any(Number),
            last_success_at: expect.any(String),
            last_error: { at: expect.any(String), code: 'upstream_overloaded' },
          },
          mock: {
            type: 'mock',
            status: 'unknown',
            requests: 0,
            errors: 0,
            error_rate: 0,
            avg_latency_ms: null,
            last_success_at: null,
            last_error: null,
          },
        },
        targets: {
          'up/gpt-4o-mini': {
            circuit: 'closed',
            opened_at: null,
            requests: 3,
            failures: 2,
            error_rate: 0.667,
            in_flight: 0,
            latency_ms: expect.any(Number),
            ttft_ms: null,
          },
        },
        // gpt-4o-mini is in the built-in price table, so nothing is flagged.
        pricing: { unpriced_models: [] },
        request_log: {
          buffered: expect.any(Number),
          written: expect.any(Number),
          dropped: 0,
          writeErrors: 0,
        },
      });
    } finally {
      await open.close();
    }
  });

  it('with an admin key, details need it', async () => {
    const gw = await startApp(config(up.url, 'admin: { key: adm-123 }\nhealth: { expose_details: true }'));
    try {
      const none = (await (await request(`${gw.url}/health`)).body.json()) as Record<string, unknown>;
      expect(Object.keys(none)).toEqual(['status', 'version', 'uptime_s']);
      const wrong = await request(`${gw.url}/health`, { headers: { authorization: 'Bearer nope' } });
      expect([wrong.statusCode, await wrong.body.json()]).toEqual([
        401,
        {
          error: {
            message: 'The admin key is not valid.',
            type: 'authentication_error',
            code: 'invalid_admin_key',
            param: null,
          },
        },
      ]);
      const right = (await (
        await request(`${gw.url}/health`, { headers: { authorization: 'Bearer adm-123' } })
      ).body.json()) as Record<string, unknown>;
      expect(Object.keys(right)).toContain('providers');
      expect(gw.rawLog()).not.toContain('adm-123');
    } finally {
      await gw.close();
    }
  });
});

describe('during shutdown', () => {
  it('refuses API requests in the OpenAI error shape and closes the connection; readiness says why', async () => {
    const gw = await startApp(config(up.url));
    try {
      gw.state.shuttingDown = true;
      const api = await request(`${gw.baseURL}/models`);
      expect([
        api.statusCode,
        api.headers.connection,
        api.headers['retry-after'],
        await api.body.json(),
      ]).toEqual([
        503,
        'close',
        '1',
        {
          error: {
            message: 'The gateway is shutting down; retry the request.',
            type: 'server_error',
            code: 'shutting_down',
            param: null,
          },
        },
      ]);
      const ready = await request(`${gw.url}/health/ready`);
      expect([ready.statusCode, await ready.body.json()]).toEqual([503, { status: 'shutting_down' }]);
    } finally {
      gw.state.shuttingDown = false;
      await gw.close();
    }
  });
});
