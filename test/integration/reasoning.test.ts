import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  anthropicThinkingHandler,
  REDACTED_DATA,
  THINKING_SIGNATURE,
} from '../helpers/fake-anthropic-thinking.js';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Reasoning across providers: chat completions' reasoning_effort and the Responses API's reasoning map
 * to Anthropic's thinking budget and Gemini's thinkingConfig; reasoning comes back as reasoning_content
 * (chat) or reasoning items (Responses), and Anthropic's signatures survive a tool-use round trip.
 */

let claude: FakeUpstream;
let gemini: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  claude = await startFakeUpstream(anthropicThinkingHandler);
  gemini = await startFakeUpstream((_req, res) =>
    sendJson(res, 200, {
      candidates: [
        {
          content: {
            parts: [{ text: 'Considering the sky.', thought: true }, { text: 'Blue.' }],
            role: 'model',
          },
          finishReason: 'STOP',
          index: 0,
        },
      ],
      usageMetadata: {
        promptTokenCount: 5,
        candidatesTokenCount: 2,
        thoughtsTokenCount: 7,
        totalTokenCount: 14,
      },
      responseId: 'g1',
    }),
  );
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
providers:
  claude: { type: anthropic, base_url: ${claude.url}, api_key: k }
  gem: { type: gemini, base_url: ${gemini.url}, api_key: g }
models:
  sonnet: { targets: [ { provider: claude, model: claude-sonnet-4-5 } ] }
  flash: { targets: [ { provider: gem, model: gemini-2.5-flash } ] }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'client', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await claude?.close();
  await gemini?.close();
});

beforeEach(() => {
  claude.requests.length = 0;
  gemini.requests.length = 0;
});

const weatherTool = {
  type: 'function' as const,
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};

describe('chat completions', () => {
  it('maps reasoning_effort to a thinking budget and returns reasoning with its signature', async () => {
    const res = await client.chat.completions.create({
      model: 'sonnet',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weatherTool],
      reasoning_effort: 'high',
      max_tokens: 1000,
    });
    expect(claude.requests[0]!.json).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 24576 },
      max_tokens: 25576,
    });
    const msg = res.choices[0]!.message as (typeof res.choices)[0]['message'] & {
      reasoning_content?: string;
      thinking_blocks?: unknown[];
    };
    expect(msg.reasoning_content).toBe('The user wants the weather; call the tool.');
    expect(msg.thinking_blocks).toEqual([
      {
        type: 'thinking',
        thinking: 'The user wants the weather; call the tool.',
        signature: THINKING_SIGNATURE,
      },
      { type: 'redacted_thinking', data: REDACTED_DATA },
    ]);

    // The next turn sends the assistant message back as received: the signed blocks lead the turn.
    await client.chat.completions.create({
      model: 'sonnet',
      reasoning_effort: 'high',
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        msg as OpenAI.Chat.ChatCompletionAssistantMessageParam,
        { role: 'tool', tool_call_id: msg.tool_calls![0]!.id, content: '18C' },
      ],
    });
    const sent = claude.requests[1]!.json as { messages: Array<{ role: string; content: unknown }> };
    expect(sent.messages[1]).toEqual({
      role: 'assistant',
      content: [
        {
          type: 'thinking',
          thinking: 'The user wants the weather; call the tool.',
          signature: THINKING_SIGNATURE,
        },
        { type: 'redacted_thinking', data: REDACTED_DATA },
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
      ],
    });
  });

  it('streams thinking as reasoning_content deltas, then the signature', async () => {
    const stream = await client.chat.completions.create({
      model: 'sonnet',
      messages: [{ role: 'user', content: 'hi' }],
      reasoning_effort: 'low',
      stream: true,
    });
    let reasoning = '';
    const blocks: unknown[] = [];
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta as
        | { reasoning_content?: string; thinking_blocks?: unknown[] }
        | undefined;
      if (d?.reasoning_content) reasoning += d.reasoning_content;
      if (d?.thinking_blocks) blocks.push(...d.thinking_blocks);
    }
    expect(reasoning).toBe('The user wants the weather; call the tool.');
    expect(blocks).toEqual([
      { type: 'thinking', thinking: '', signature: THINKING_SIGNATURE },
      { type: 'redacted_thinking', data: REDACTED_DATA },
    ]);
  });

  it('maps reasoning_effort to Gemini thinkingConfig and thoughts to reasoning_content', async () => {
    const res = await client.chat.completions.create({
      model: 'flash',
      messages: [{ role: 'user', content: 'Why is the sky blue?' }],
      reasoning_effort: 'medium',
    });
    expect((gemini.requests[0]!.json as { generationConfig: unknown }).generationConfig).toEqual({
      thinkingConfig: { thinkingBudget: 8192, includeThoughts: true },
    });
    expect(res.choices[0]!.message.content).toBe('Blue.');
    expect((res.choices[0]!.message as { reasoning_content?: string }).reasoning_content).toBe(
      'Considering the sky.',
    );
    expect(res.usage?.completion_tokens_details?.reasoning_tokens).toBe(7);
  });
});

describe('Responses API', () => {
  it('returns reasoning items whose signatures survive the next tool-use turn', async () => {
    const r1 = await client.responses.create({
      model: 'sonnet',
      input: 'Weather in Paris?',
      reasoning: { effort: 'low' },
      tools: [
        { type: 'function', name: 'get_weather', parameters: weatherTool.function.parameters, strict: false },
      ],
      store: false,
    });
    expect(claude.requests[0]!.json).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 2048 } });
    expect(r1.output.map((o) => o.type)).toEqual(['reasoning', 'reasoning', 'message', 'function_call']);
    expect(r1.output[0]).toMatchObject({
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: 'The user wants the weather; call the tool.' }],
      encrypted_content: `anthropic:${THINKING_SIGNATURE}`,
    });
    const call = r1.output[3] as OpenAI.Responses.ResponseFunctionToolCall;

    // Stateless continuation, as clients do with store: false: the output items go back as input.
    await client.responses.create({
      model: 'sonnet',
      reasoning: { effort: 'low' },
      store: false,
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        ...(r1.output as OpenAI.Responses.ResponseInputItem[]),
        { type: 'function_call_output', call_id: call.call_id, output: '18C' },
      ],
    });
    const sent = claude.requests[1]!.json as { messages: Array<{ role: string; content: unknown }> };
    expect(sent.messages[1]).toEqual({
      role: 'assistant',
      content: [
        {
          type: 'thinking',
          thinking: 'The user wants the weather; call the tool.',
          signature: THINKING_SIGNATURE,
        },
        { type: 'redacted_thinking', data: REDACTED_DATA },
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
      ],
    });
    expect(sent.messages[2]).toEqual({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: 'toolu_01A', content: '18C' }],
    });
  });
});
