import { createOpenAI } from '@ai-sdk/openai';
import { generateObject, generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PASS_THROUGH_STAGES } from '../../src/pipeline/context.js';
import { fakeAnthropic, fakeGemini, fakeOpenAIChat } from '../helpers/fake-dialect-upstreams.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * POST /v1/responses and stored conversations, with the official `openai` SDK and the AI SDK's
 * default `openai()` provider (which speaks the Responses API) as clients, against fake OpenAI,
 * Anthropic and Gemini upstreams.
 */

let oai: FakeUpstream;
let claude: FakeUpstream;
let gemini: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  oai = await startFakeUpstream(fakeOpenAIChat);
  claude = await startFakeUpstream(fakeAnthropic);
  gemini = await startFakeUpstream(fakeGemini);
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
providers:
  oai: { type: openai, base_url: ${oai.url}/v1, api_key: k1 }
  claude: { type: anthropic, base_url: ${claude.url}, api_key: k2 }
  gem: { type: gemini, base_url: ${gemini.url}, api_key: k3 }
models:
  gpt: { targets: [ { provider: oai, model: gpt-4o-mini } ] }
  sonnet: { targets: [ { provider: claude, model: claude-sonnet-4-5 } ] }
  flash: { targets: [ { provider: gem, model: gemini-2.0-flash } ] }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'client', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([oai?.close(), claude?.close(), gemini?.close()]);
});

beforeEach(() => {
  oai.requests.length = 0;
  claude.requests.length = 0;
  gemini.requests.length = 0;
});

describe('openai SDK responses.create', () => {
  it('answers a string input with a response object', async () => {
    const res = await client.responses.create({
      model: 'gpt',
      input: 'hello',
      instructions: 'be brief',
      max_output_tokens: 50,
    });
    expect(res.object).toBe('response');
    expect(res.id).toMatch(/^resp_[0-9a-f]{32}$/);
    expect(res.status).toBe('completed');
    expect(res.output_text).toBe('Echo: hello');
    expect(res.instructions).toBe('be brief');
    expect(res.max_output_tokens).toBe(50);
    expect(res.usage).toEqual({
      input_tokens: 11,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 5,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 16,
    });
    expect(oai.requests[0]!.json).toMatchObject({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hello' },
      ],
      max_completion_tokens: 50,
    });
  });

  it('streams the exact event sequence, byte for byte', async () => {
    const raw = await fetch(`${gw.baseURL}/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer client' },
      body: JSON.stringify({ model: 'gpt', input: 'hi', stream: true, store: false }),
    });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const text = await raw.text();
    const frames = text.split('\n\n').filter(Boolean);
    const events = frames.map((f) => {
      const [ev, data] = f.split('\n');
      const parsed = JSON.parse(data!.slice('data: '.length)) as { type: string; sequence_number: number };
      expect(ev).toBe(`event: ${parsed.type}`);
      return parsed;
    });
    expect(events.map((e) => `${e.sequence_number} ${e.type}`)).toEqual([
      '0 response.created',
      '1 response.in_progress',
      '2 response.output_item.added',
      '3 response.content_part.added',
      '4 response.output_text.delta',
      '5 response.output_text.delta',
      '6 response.output_text.done',
      '7 response.content_part.done',
      '8 response.output_item.done',
      '9 response.completed',
    ]);
    const id = (events[0] as unknown as { response: { id: string } }).response.id;
    const base = id.slice(5);
    expect(frames[4]).toBe(
      `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_${base}","output_index":0,"content_index":0,"delta":"Ech","logprobs":[]}`,
    );
    expect(events[6]).toEqual({
      type: 'response.output_text.done',
      sequence_number: 6,
      item_id: `msg_${base}`,
      output_index: 0,
      content_index: 0,
      text: 'Echo: hi',
      logprobs: [],
    });
  });

  it('streams with the SDK and calls tools, for every provider type', async () => {
    for (const model of ['gpt', 'sonnet', 'flash']) {
      const stream = await client.responses.create({
        model,
        input: [{ role: 'user', content: 'weather?' }],
        tools: [
          {
            type: 'function',
            name: 'get_weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
            strict: false,
          },
        ],
        stream: true,
      });
      const types: string[] = [];
      let final: OpenAI.Responses.Response | undefined;
      for await (const ev of stream) {
        types.push(ev.type);
        if (ev.type === 'response.completed') final = ev.response;
      }
      expect(types).toEqual([
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.function_call_arguments.delta',
        'response.function_call_arguments.done',
        'response.output_item.done',
        'response.completed',
      ]);
      expect(final?.output).toEqual([
        expect.objectContaining({
          type: 'function_call',
          name: 'get_weather',
          arguments: '{"city":"Paris"}',
          status: 'completed',
        }),
      ]);
    }
  });
});

describe('stored responses', () => {
  it('continues a conversation across three turns with previous_response_id', async () => {
    const r1 = await client.responses.create({ model: 'gpt', input: 'one' });
    const r2 = await client.responses.create({ model: 'gpt', input: 'two', previous_response_id: r1.id });
    const r3 = await client.responses.create({
      model: 'gpt',
      input: 'three',
      previous_response_id: r2.id,
      instructions: 'sys',
    });
    expect(r3.output_text).toBe('Echo: three');
    expect(r3.previous_response_id).toBe(r2.id);
    expect(oai.requests[2]!.json).toMatchObject({
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'one' },
        { role: 'assistant', content: 'Echo: one' },
        { role: 'user', content: 'two' },
        { role: 'assistant', content: 'Echo: two' },
        { role: 'user', content: 'three' },
      ],
    });

    const got = await client.responses.retrieve(r2.id);
    expect(got.id).toBe(r2.id);
    expect(got.output_text).toBe('Echo: two');
    const items = await client.responses.inputItems.list(r2.id);
    expect(items.data).toEqual([
      expect.objectContaining({ role: 'user', content: 'two', id: expect.stringMatching(/^msg_/) }),
    ]);

    const del = await fetch(`${gw.baseURL}/responses/${r1.id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ id: r1.id, object: 'response', deleted: true });
    const again = await fetch(`${gw.baseURL}/responses/${r1.id}`);
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({
      error: {
        message: `Response with id '${r1.id}' not found.`,
        type: 'not_found_error',
        code: 'response_not_found',
        param: 'id',
      },
    });
    const broken = await fetch(`${gw.baseURL}/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt', input: 'x', previous_response_id: r1.id }),
    });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: { code: string } }).error.code).toBe(
      'previous_response_not_found',
    );
  });

  it("isolates teams: another team's response is not found, not continued, not referenced", async () => {
    // Keys do not exist yet; an identify stage that reads the team from a header stands in for them.
    gw.state.stages = {
      ...PASS_THROUGH_STAGES,
      identify(ctx) {
        const team = ctx.ingress.headers['x-team'];
        if (typeof team === 'string') ctx.caller = { team };
      },
    };
    try {
      const teamA = new OpenAI({
        baseURL: gw.baseURL,
        apiKey: 'a',
        maxRetries: 0,
        defaultHeaders: { 'x-team': 'a' },
      });
      const r = await teamA.responses.create({ model: 'gpt', input: 'secret' });
      const itemId = r.output[0]!.id!;
      expect((await teamA.responses.retrieve(r.id)).id).toBe(r.id);

      const asB = (path: string, init: RequestInit = {}) =>
        fetch(`${gw.baseURL}${path}`, {
          ...init,
          headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), 'x-team': 'b' },
        });
      expect((await asB(`/responses/${r.id}`)).status).toBe(404);
      expect((await asB(`/responses/${r.id}/input_items`)).status).toBe(404);
      expect((await asB(`/responses/${r.id}`, { method: 'DELETE' })).status).toBe(404);
      const cont = await asB('/responses', {
        method: 'POST',
        body: JSON.stringify({ model: 'gpt', input: 'x', previous_response_id: r.id }),
      });
      expect(cont.status).toBe(400);
      expect(((await cont.json()) as { error: { code: string } }).error.code).toBe(
        'previous_response_not_found',
      );
      const ref = await asB('/responses', {
        method: 'POST',
        body: JSON.stringify({ model: 'gpt', input: [{ type: 'item_reference', id: itemId }] }),
      });
      expect(ref.status).toBe(404);
      expect(((await ref.json()) as { error: { code: string } }).error.code).toBe('item_not_found');
      // Still there for its own team.
      expect((await teamA.responses.retrieve(r.id)).output_text).toBe('Echo: secret');
    } finally {
      gw.state.stages = PASS_THROUGH_STAGES;
    }
  });

  it('does not store with store: false', async () => {
    const r = await client.responses.create({ model: 'gpt', input: 'x', store: false });
    const res = await fetch(`${gw.baseURL}/responses/${r.id}`);
    expect(res.status).toBe(404);
  });
});

describe('AI SDK default openai() provider (Responses API)', () => {
  const provider = () => createOpenAI({ baseURL: gw.baseURL, apiKey: 'client' });

  for (const model of ['gpt', 'sonnet', 'flash']) {
    it(`generateText and streamText with tools through ${model}`, async () => {
      const openai = provider();
      const text = await generateText({ model: openai(model), prompt: 'hello there' });
      expect(text.text).toBe('Echo: hello there');
      expect(text.usage.inputTokens).toBe(11);

      const result = streamText({
        model: openai(model),
        prompt: 'weather in Paris?',
        tools: {
          get_weather: tool({
            description: 'weather by city',
            inputSchema: jsonSchema<{ city: string }>({
              type: 'object',
              properties: { city: { type: 'string' } },
              required: ['city'],
            }),
            execute: async ({ city }) => `18C in ${city}`,
          }),
        },
        stopWhen: stepCountIs(3),
      });
      const out = await result.text;
      const steps = await result.steps;
      expect(steps[0]!.toolCalls).toEqual([
        expect.objectContaining({ toolName: 'get_weather', input: { city: 'Paris' } }),
      ]);
      expect(out).toMatch(/^Done: /);
      expect(out).toContain('18C in Paris');
    });
  }

  for (const model of ['gpt', 'flash']) {
    it(`generateObject through ${model}`, async () => {
      const { object } = await generateObject({
        model: provider()(model),
        schema: jsonSchema<{ city: string; temperature: number }>({
          type: 'object',
          properties: { city: { type: 'string' }, temperature: { type: 'number' } },
          required: ['city', 'temperature'],
          additionalProperties: false,
        }),
        prompt: 'weather',
      });
      expect(object).toEqual({ city: 'Paris', temperature: 18 });
    });
  }
});
