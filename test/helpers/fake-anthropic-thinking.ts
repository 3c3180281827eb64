import type { ServerResponse } from 'node:http';
import { type RecordedRequest, sendJson } from './fake-upstream.js';

/**
 * Anthropic Messages answers with extended thinking, as the API reference documents them: a thinking
 * block with its signature (streamed as thinking_delta then signature_delta), a redacted_thinking
 * block, text, a tool_use, and usage with the prompt-cache fields.
 */

export const THINKING_SIGNATURE = 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds=';
export const REDACTED_DATA = 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP';

export const THINKING_MESSAGE = {
  id: 'msg_01Thinking',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5',
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
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: {
    input_tokens: 12,
    cache_creation_input_tokens: 40,
    cache_read_input_tokens: 2000,
    output_tokens: 55,
  },
};

export function thinkingStreamText(): string {
  const ev = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
  return (
    ev('message_start', {
      type: 'message_start',
      message: {
        ...THINKING_MESSAGE,
        content: [],
        stop_reason: null,
        usage: {
          input_tokens: 12,
          cache_creation_input_tokens: 40,
          cache_read_input_tokens: 2000,
          output_tokens: 1,
        },
      },
    }) +
    ev('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'thinking', thinking: '', signature: '' },
    }) +
    ev('ping', { type: 'ping' }) +
    ev('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'thinking_delta', thinking: 'The user wants the weather; ' },
    }) +
    ev('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'thinking_delta', thinking: 'call the tool.' },
    }) +
    ev('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'signature_delta', signature: THINKING_SIGNATURE },
    }) +
    ev('content_block_stop', { type: 'content_block_stop', index: 0 }) +
    ev('content_block_start', {
      type: 'content_block_start',
      index: 1,
      content_block: { type: 'redacted_thinking', data: REDACTED_DATA },
    }) +
    ev('content_block_stop', { type: 'content_block_stop', index: 1 }) +
    ev('content_block_start', {
      type: 'content_block_start',
      index: 2,
      content_block: { type: 'text', text: '' },
    }) +
    ev('content_block_delta', {
      type: 'content_block_delta',
      index: 2,
      delta: { type: 'text_delta', text: 'Let me check.' },
    }) +
    ev('content_block_stop', { type: 'content_block_stop', index: 2 }) +
    ev('content_block_start', {
      type: 'content_block_start',
      index: 3,
      content_block: { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: {} },
    }) +
    ev('content_block_delta', {
      type: 'content_block_delta',
      index: 3,
      delta: { type: 'input_json_delta', partial_json: '{"city":' },
    }) +
    ev('content_block_delta', {
      type: 'content_block_delta',
      index: 3,
      delta: { type: 'input_json_delta', partial_json: '"Paris"}' },
    }) +
    ev('content_block_stop', { type: 'content_block_stop', index: 3 }) +
    ev('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: {
        input_tokens: 12,
        cache_creation_input_tokens: 40,
        cache_read_input_tokens: 2000,
        output_tokens: 55,
      },
    }) +
    ev('message_stop', { type: 'message_stop' })
  );
}

/** Answers POST /v1/messages (JSON or SSE by `stream`) and /v1/messages/count_tokens. */
export function anthropicThinkingHandler(req: RecordedRequest, res: ServerResponse): void {
  if (req.url.endsWith('/count_tokens')) {
    sendJson(res, 200, { input_tokens: 4242 }, { 'request-id': 'req_count' });
    return;
  }
  const body = req.json as { stream?: boolean; model?: string };
  if (body.stream) {
    const text = thinkingStreamText();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_stream' });
    // Two writes, so the gateway's passthrough sees the stream arrive in pieces.
    const cut = Math.floor(text.length / 2);
    res.write(text.slice(0, cut));
    setImmediate(() => res.end(text.slice(cut)));
    return;
  }
  sendJson(res, 200, { ...THINKING_MESSAGE, model: body.model }, { 'request-id': 'req_json' });
}
