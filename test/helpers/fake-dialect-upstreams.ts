import type { ServerResponse } from 'node:http';
import { type RecordedRequest, sendJson } from './fake-upstream.js';

/**
 * Fake OpenAI (chat completions), Anthropic (Messages) and Gemini (generateContent) upstreams that
 * answer deterministically from what they were sent, in each provider's documented JSON and SSE:
 * - tools offered and no tool result yet: a call to the first tool with {"city":"Paris"};
 * - a JSON schema asked for: {"city":"Paris","temperature":18};
 * - otherwise: "Echo: <last user text>" (after a tool result: "Done: <tool result>").
 * They let the same client test run against every provider type.
 */

interface Decision {
  kind: 'tool' | 'json' | 'text';
  tool?: string;
  text?: string;
}

const TOOL_ARGS = { city: 'Paris' };
const JSON_ANSWER = '{"city":"Paris","temperature":18}';

function sse(res: ServerResponse, frames: string[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const f of frames) res.write(f);
  res.end();
}

// ---- OpenAI chat completions ----

function decideOpenAI(body: Record<string, unknown>): Decision {
  const messages = body.messages as Array<{ role: string; content: unknown }>;
  const last = messages.at(-1);
  const tools = body.tools as Array<{ function: { name: string } }> | undefined;
  if (last?.role === 'tool') return { kind: 'text', text: `Done: ${String(last.content)}` };
  if (tools && tools.length > 0 && body.tool_choice !== 'none')
    return { kind: 'tool', tool: tools[0]!.function.name };
  const rf = body.response_format as { type?: string } | undefined;
  if (rf?.type === 'json_schema' || rf?.type === 'json_object') return { kind: 'json' };
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const text =
    typeof lastUser?.content === 'string'
      ? lastUser.content
      : ((lastUser?.content as Array<{ text?: string }> | undefined)?.map((p) => p.text ?? '').join('') ??
        '');
  return { kind: 'text', text: `Echo: ${text}` };
}

export function fakeOpenAIChat(req: RecordedRequest, res: ServerResponse): void {
  const body = req.json as Record<string, unknown>;
  const d = decideOpenAI(body);
  const usage = { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 };
  const base = { id: 'chatcmpl-fake', created: 1, model: String(body.model) };
  if (body.stream) {
    const chunk = (delta: unknown, finish: string | null = null) =>
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const frames = [chunk({ role: 'assistant', content: '' })];
    if (d.kind === 'tool') {
      frames.push(
        chunk({
          tool_calls: [
            { index: 0, id: 'call_fake1', type: 'function', function: { name: d.tool, arguments: '' } },
          ],
        }),
      );
      frames.push(chunk({ tool_calls: [{ index: 0, function: { arguments: JSON.stringify(TOOL_ARGS) } }] }));
      frames.push(chunk({}, 'tool_calls'));
    } else {
      const text = d.kind === 'json' ? JSON_ANSWER : d.text!;
      frames.push(chunk({ content: text.slice(0, 3) }), chunk({ content: text.slice(3) }), chunk({}, 'stop'));
    }
    frames.push(
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\n`,
      'data: [DONE]\n\n',
    );
    sse(res, frames);
    return;
  }
  const message =
    d.kind === 'tool'
      ? {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_fake1',
              type: 'function',
              function: { name: d.tool, arguments: JSON.stringify(TOOL_ARGS) },
            },
          ],
        }
      : { role: 'assistant', content: d.kind === 'json' ? JSON_ANSWER : d.text };
  sendJson(res, 200, {
    ...base,
    object: 'chat.completion',
    choices: [{ index: 0, message, finish_reason: d.kind === 'tool' ? 'tool_calls' : 'stop' }],
    usage,
  });
}

// ---- Anthropic Messages ----

function decideAnthropic(body: Record<string, unknown>): Decision {
  const messages = body.messages as Array<{ role: string; content: unknown }>;
  const last = messages.at(-1);
  const blocks = Array.isArray(last?.content) ? (last.content as Array<Record<string, unknown>>) : [];
  const result = blocks.find((b) => b.type === 'tool_result');
  if (result) return { kind: 'text', text: `Done: ${String(result.content)}` };
  const tools = body.tools as Array<{ name: string }> | undefined;
  if (tools && tools.length > 0) return { kind: 'tool', tool: tools[0]!.name };
  const text =
    typeof last?.content === 'string'
      ? last.content
      : blocks.map((b) => (typeof b.text === 'string' ? b.text : '')).join('');
  // The adapter has no structured output for Anthropic; a prompt asking for JSON gets JSON.
  const system = typeof body.system === 'string' ? body.system : '';
  if (/json/i.test(system) || /json/i.test(text)) return { kind: 'json' };
  return { kind: 'text', text: `Echo: ${text}` };
}

export function fakeAnthropic(req: RecordedRequest, res: ServerResponse): void {
  const body = req.json as Record<string, unknown>;
  const d = decideAnthropic(body);
  const usage = {
    input_tokens: 11,
    output_tokens: 5,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  };
  const content =
    d.kind === 'tool'
      ? [{ type: 'tool_use', id: 'toolu_fake1', name: d.tool, input: TOOL_ARGS }]
      : [{ type: 'text', text: d.kind === 'json' ? JSON_ANSWER : d.text }];
  const message = {
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model: String(body.model),
    content,
    stop_reason: d.kind === 'tool' ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage,
  };
  if (!body.stream) {
    sendJson(res, 200, message);
    return;
  }
  const ev = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
  const frames = [
    ev('message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null } }),
  ];
  if (d.kind === 'tool') {
    frames.push(
      ev('content_block_start', {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'tool_use', id: 'toolu_fake1', name: d.tool, input: {} },
      }),
      ev('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'input_json_delta', partial_json: JSON.stringify(TOOL_ARGS) },
      }),
    );
  } else {
    const text = d.kind === 'json' ? JSON_ANSWER : d.text!;
    frames.push(
      ev('content_block_start', {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'text', text: '' },
      }),
      ev('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text },
      }),
    );
  }
  frames.push(
    ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
    ev('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: message.stop_reason, stop_sequence: null },
      usage: { output_tokens: 5 },
    }),
    ev('message_stop', { type: 'message_stop' }),
  );
  sse(res, frames);
}

// ---- Gemini generateContent ----

function decideGemini(body: Record<string, unknown>): Decision {
  const contents = body.contents as Array<{ role: string; parts: Array<Record<string, unknown>> }>;
  const last = contents.at(-1);
  const fr = last?.parts.find((p) => p.functionResponse) as
    | { functionResponse?: { response?: unknown } }
    | undefined;
  if (fr) return { kind: 'text', text: `Done: ${JSON.stringify(fr.functionResponse?.response)}` };
  const tools = body.tools as Array<{ functionDeclarations?: Array<{ name: string }> }> | undefined;
  const decl = tools?.[0]?.functionDeclarations?.[0];
  if (decl) return { kind: 'tool', tool: decl.name };
  const gc = body.generationConfig as { responseMimeType?: string } | undefined;
  if (gc?.responseMimeType === 'application/json') return { kind: 'json' };
  return {
    kind: 'text',
    text: `Echo: ${last?.parts.map((p) => (typeof p.text === 'string' ? p.text : '')).join('')}`,
  };
}

export function fakeGemini(req: RecordedRequest, res: ServerResponse): void {
  const body = req.json as Record<string, unknown>;
  const d = decideGemini(body);
  const parts =
    d.kind === 'tool'
      ? [{ functionCall: { name: d.tool, args: TOOL_ARGS } }]
      : [{ text: d.kind === 'json' ? JSON_ANSWER : d.text }];
  const answer = {
    candidates: [{ content: { parts, role: 'model' }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 11, candidatesTokenCount: 5, totalTokenCount: 16 },
    modelVersion: 'gemini-fake',
    responseId: 'gem-fake',
  };
  if (req.url.includes(':streamGenerateContent')) {
    sse(res, [`data: ${JSON.stringify(answer)}\n\n`]);
    return;
  }
  sendJson(res, 200, answer);
}
