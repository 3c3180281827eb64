import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, sendSse, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Issue 8, item 11: the second turn of a Gemini 3 tool call failed, because the `thoughtSignature` of the
 * functionCall part was dropped and never sent back. It now rides in the tool call id (which every client
 * echoes) and in `extra_content.google.thought_signature`, and goes back on the functionCall part.
 */

let upstream: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

const SIGNATURE = 'CiQBcsjafD+x/Y2k9ZQ3f1pZk2c3bm9kZV9zaWduYXR1cmU=';

const callResponse = {
  candidates: [
    {
      content: {
        role: 'model',
        parts: [{ functionCall: { name: 'weather', args: { city: 'Paris' } }, thoughtSignature: SIGNATURE }],
      },
      finishReason: 'STOP',
      index: 0,
    },
  ],
  usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 3, totalTokenCount: 8 },
};
const textResponse = {
  candidates: [{ content: { role: 'model', parts: [{ text: '18°C' }] }, finishReason: 'STOP', index: 0 }],
};

/** What Gemini 3 checks on the second turn: the signature is back on the functionCall part. */
function requireSignature(body: unknown): boolean {
  const contents = (body as { contents: Array<{ role: string; parts: Array<Record<string, unknown>> }> })
    .contents;
  const call = contents.find((c) => c.role === 'model')?.parts.find((p) => p.functionCall);
  return call?.thoughtSignature === SIGNATURE;
}

beforeAll(async () => {
  upstream = await startFakeUpstream((req, res) => {
    const body = req.json as { contents: unknown[] };
    if (body.contents.length === 1) {
      if (req.url.includes('streamGenerateContent')) sendSse(res, { events: [JSON.stringify(callResponse)] });
      else sendJson(res, 200, callResponse);
      return;
    }
    if (!requireSignature(body)) {
      sendJson(res, 400, {
        error: {
          code: 400,
          message: 'Function call is missing a thought_signature',
          status: 'INVALID_ARGUMENT',
        },
      });
      return;
    }
    sendJson(res, 200, textResponse);
  });
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
routing: { retry: { attempts: 1 } }
providers:
  gem: { type: gemini, base_url: ${upstream.url}, api_key: k-1234567890 }
models:
  g3: { targets: [ { provider: gem, model: gemini-3-pro-preview } ] }
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

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  },
];
const question = { role: 'user' as const, content: 'Weather in Paris?' };

describe('issue 8-11: Gemini 3 thought signatures survive a tool loop', () => {
  it('the second turn works when the client echoes the assistant message as received', async () => {
    const first = await client.chat.completions.create({ model: 'g3', messages: [question], tools });
    const msg = first.choices[0]!.message;
    const call = msg.tool_calls![0]! as OpenAI.ChatCompletionMessageToolCall & {
      extra_content?: { google?: { thought_signature?: string } };
    };
    expect(call.extra_content).toEqual({ google: { thought_signature: SIGNATURE } });
    expect(call.id).toMatch(/^call_.+_0_sig_[A-Za-z0-9_-]+$/);

    const second = await client.chat.completions.create({
      model: 'g3',
      tools,
      messages: [question, msg, { role: 'tool', tool_call_id: call.id, content: '{"c":18}' }],
    });
    expect(second.choices[0]?.message.content).toBe('18°C');
  });

  it('the id alone carries it: a client that keeps only id, name and arguments (LangChain, the AI SDK)', async () => {
    const first = await client.chat.completions.create({ model: 'g3', messages: [question], tools });
    const call = first.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    const second = await client.chat.completions.create({
      model: 'g3',
      tools,
      messages: [
        question,
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: call.id,
              type: 'function',
              function: { name: call.function.name, arguments: call.function.arguments },
            },
          ],
        },
        { role: 'tool', tool_call_id: call.id, content: '{"c":18}' },
      ],
    });
    expect(second.choices[0]?.message.content).toBe('18°C');
    const sent = upstream.requests[1]!.json as { contents: Array<{ parts: Array<Record<string, unknown>> }> };
    expect(sent.contents[1]!.parts[0]).toEqual({
      functionCall: { name: 'weather', args: { city: 'Paris' } },
      thoughtSignature: SIGNATURE,
    });
  });

  it('streamed tool calls carry it too', async () => {
    const stream = await client.chat.completions.create({
      model: 'g3',
      messages: [question],
      tools,
      stream: true,
    });
    const deltas = [];
    for await (const c of stream) for (const tc of c.choices[0]?.delta.tool_calls ?? []) deltas.push(tc);
    expect(deltas.length).toBe(1);
    expect(deltas[0]!.id).toMatch(/_sig_/);
    expect((deltas[0] as { extra_content?: unknown }).extra_content).toEqual({
      google: { thought_signature: SIGNATURE },
    });
  });
});
