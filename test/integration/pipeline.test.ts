import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { incomingTrace, PassthroughSpan } from '../../src/core/trace-context.js';
import type { ChunkStream } from '../../src/pipeline/chunk-stream.js';
import {
  type BodyOf,
  createContext,
  type OperationName,
  type RequestContext,
} from '../../src/pipeline/context.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { createMetrics, type GatewayMetrics } from '../../src/plugins/metrics.js';
import { GatewayState } from '../../src/services/gateway-state.js';
import type { GatewayEventName, GatewayEvents } from '../../src/types/events.js';
import type { ChatCompletionChunk } from '../../src/types/openai.js';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { chunkJson } from '../helpers/openai-fixtures.js';

/**
 * The pipeline with no HTTP server, as a job runs it: the same lifecycle events, usage, request record
 * and metrics as a request over HTTP, and settle exactly once however the request ends.
 */

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [
    { index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop', logprobs: null },
  ],
  usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
};
const usageChunk = JSON.stringify({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [],
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
});

let up: FakeUpstream;
let state: GatewayState;
let metrics: GatewayMetrics;
let seen: Array<{ name: GatewayEventName; payload: unknown }>;

beforeAll(async () => {
  up = await startFakeUpstream(async (req, res) => {
    const body = JSON.parse(req.body) as { stream?: boolean; messages: Array<{ content: string }> };
    if (body.messages[0]?.content === 'fail')
      return sendJson(res, 400, { error: { message: 'bad', type: 'invalid_request_error' } });
    if (body.stream) {
      const cut = body.messages[0]?.content === 'cut';
      return sendSse(res, {
        events: cut
          ? [chunkJson({ role: 'assistant', content: 'pa' })]
          : [chunkJson({ role: 'assistant', content: 'hi' }), chunkJson({}, 'stop'), usageChunk, '[DONE]'],
        ...(cut ? { cutAfter: 1, delayMs: 30 } : {}),
      });
    }
    return sendJson(res, 200, completion);
  });
  const config = parseConfig(
    `
logging: { level: error }
providers:
  up: { type: openai, base_url: ${up.url}/v1, api_key: sk-test }
models:
  chat: { targets: [ { provider: up, model: gpt-4o-mini } ], retry: { attempts: 1 } }
`,
    'test',
    {},
  );
  state = new GatewayState(config);
  await state.initBreakers(pino({ level: 'silent' }));
  metrics = createMetrics(state);
  seen = [];
  const names: GatewayEventName[] = [
    'ai.response.started',
    'ai.response.streaming',
    'ai.response.completed',
    'ai.response.error',
    'ai.request.settled',
  ];
  for (const name of names)
    state.events.on(name, (payload) => {
      seen.push({ name, payload });
    });
});
afterAll(async () => {
  await state.close();
  await up.close();
});
afterEach(() => {
  seen.length = 0;
});

function context<Op extends OperationName>(op: Op, body: BodyOf<Op>, signal = new AbortController().signal) {
  return createContext({
    id: `job-${op}-${Math.random().toString(36).slice(2)}`,
    signal,
    span: new PassthroughSpan(incomingTrace({})),
    log: pino({ level: 'silent' }),
    runtime: state.runtime,
    operation: op,
    body,
    ingress: { headers: {}, ip: undefined, path: 'job:chat.completion' },
    deps: state.pipelineDeps,
  });
}

function events<N extends GatewayEventName>(name: N): GatewayEvents[N][] {
  return seen.filter((e) => e.name === name).map((e) => e.payload as GatewayEvents[N]);
}

async function metric(name: string): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith(`${name}{`));
}

async function drain<C>(stream: ChunkStream<C>): Promise<C[]> {
  const out: C[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

describe('the pipeline without an HTTP server', () => {
  it('runs a chat and emits started, completed and the request record with usage', async () => {
    const ctx = context('chat', { model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
    const result = await runPipeline(ctx);
    expect(result.choices[0]?.message.content).toBe('ok');
    expect(ctx.settled).toBe(true);
    await state.events.flush();
    expect(events('ai.response.started')).toEqual([
      {
        requestId: ctx.id,
        model: 'chat',
        provider: 'up',
        upstreamModel: 'gpt-4o-mini',
        stream: false,
        team: 'none',
      },
    ]);
    const [done] = events('ai.response.completed');
    expect(done).toMatchObject({
      requestId: ctx.id,
      model: 'chat',
      provider: 'up',
      stream: false,
      team: 'none',
      usage: completion.usage,
    });
    const [rec] = events('ai.request.settled');
    expect(rec).toMatchObject({
      requestId: ctx.id,
      operation: 'chat',
      path: 'job:chat.completion',
      status: 200,
      attempts: 1,
      usage: completion.usage,
      errorCode: undefined,
    });
    expect(await metric('ai_tokens_consumed_total')).toContain(
      'ai_tokens_consumed_total{provider="up",model="chat",team="none",token_type="prompt"} 9',
    );
  });

  it('runs a stream: chunks, then settle once at the end with the usage chunk counted', async () => {
    const ctx = context('chat.stream', {
      model: 'chat',
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const stream = await runPipeline(ctx);
    // Nothing settles before the stream ends: a job reading slowly still gets its record at the end.
    expect(ctx.settled).toBe(false);
    const chunks = await drain(stream);
    expect(chunks.map((c: ChatCompletionChunk) => c.choices[0]?.delta.content ?? null)).toEqual([
      'hi',
      null,
      null,
    ]);
    expect(await stream.end).toEqual({ ok: true });
    expect(ctx.settled).toBe(true);
    await state.events.flush();
    expect(events('ai.response.streaming')).toHaveLength(1);
    expect(events('ai.response.completed')[0]).toMatchObject({
      stream: true,
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    });
    expect(events('ai.request.settled')).toHaveLength(1);
    expect(events('ai.request.settled')[0]).toMatchObject({
      operation: 'chat.stream',
      status: 200,
      stream: true,
    });
  });

  it('a stream cut mid-way settles once as a mid-stream error', async () => {
    const ctx = context('chat.stream', {
      model: 'chat',
      stream: true,
      messages: [{ role: 'user', content: 'cut' }],
    });
    const stream = await runPipeline(ctx);
    await expect(drain(stream)).rejects.toMatchObject({ code: 'upstream_stream_interrupted' });
    const end = await stream.end;
    expect(end.ok).toBe(false);
    await state.events.flush();
    const [err] = events('ai.response.error');
    expect(err).toMatchObject({ requestId: ctx.id, midStream: true, errorType: 'stream_interrupted' });
    expect(events('ai.response.completed')).toEqual([]);
    expect(events('ai.request.settled')).toHaveLength(1);
  });

  it('a stream abandoned before its first read settles on the abort, as aborted', async () => {
    const controller = new AbortController();
    const ctx = context(
      'chat.stream',
      { model: 'chat', stream: true, messages: [{ role: 'user', content: 'hi' }] },
      controller.signal,
    );
    const stream = await runPipeline(ctx);
    controller.abort();
    expect(await stream.end).toEqual({ ok: false, aborted: true });
    expect(ctx.settled).toBe(true);
    expect(ctx.meta.clientAborted).toBe(true);
    await state.events.flush();
    expect(events('ai.response.error')).toEqual([]);
    expect(events('ai.response.completed')).toEqual([]);
    expect(events('ai.request.settled')[0]).toMatchObject({ status: 499 });
  });

  it('an upstream error settles once with the error and counts in ai_errors_total', async () => {
    const ctx = context('chat', { model: 'chat', messages: [{ role: 'user', content: 'fail' }] });
    await expect(runPipeline(ctx)).rejects.toMatchObject({ status: 400 });
    await state.events.flush();
    expect(events('ai.response.error')).toHaveLength(1);
    expect(events('ai.request.settled')[0]).toMatchObject({ status: 400, attempts: 1 });
  });

  it('a failure before any upstream attempt (unknown model) still settles and is counted', async () => {
    const ctx = context('chat', { model: 'nope', messages: [{ role: 'user', content: 'hi' }] });
    await expect(runPipeline(ctx)).rejects.toMatchObject({ status: 404 });
    await state.events.flush();
    expect(events('ai.response.error')).toEqual([
      {
        requestId: ctx.id,
        model: '',
        provider: '',
        upstreamModel: '',
        stream: false,
        team: 'none',
        code: 'model_not_found',
        errorType: 'model_not_found',
        status: 404,
        midStream: false,
        upstreamMs: undefined,
      },
    ]);
    expect(await metric('ai_errors_total')).toContain(
      'ai_errors_total{provider="none",model="none",error_type="model_not_found"} 1',
    );
  });

  it('runs embeddings through the same stages', async () => {
    const ctx: RequestContext<'embeddings'> = context('embeddings', { model: 'chat', input: 'x' });
    // The fake answers embeddings with a chat completion: the adapter rejects it, and settle still runs.
    await expect(runPipeline(ctx)).rejects.toBeDefined();
    expect(ctx.settled).toBe(true);
  });
});
