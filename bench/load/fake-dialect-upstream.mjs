// Fake upstream for bench/load/dialects.mjs: OpenAI chat completions (the shared fixtures) and
// Anthropic Messages of the same size (JSON, and an SSE stream of 20 text deltas). Bodies are
// serialised once. Reports its port over IPC and exits with the parent.
import http from 'node:http';
import { completion, REPLY, streamFrames } from './openai-fixtures.mjs';

const openaiJson = Buffer.from(JSON.stringify(completion('gpt-4o-mini')));
const openaiSse = Buffer.from(streamFrames('gpt-4o-mini').join(''));
const usage = {
  input_tokens: 42,
  output_tokens: 31,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
};
const message = {
  id: 'msg_bench0000000000000001',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5',
  content: [{ type: 'text', text: REPLY }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage,
};
const anthropicJson = Buffer.from(JSON.stringify(message));
const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
const words = REPLY.split(/(?<= )/);
const pieces = Array.from({ length: 20 }, (_, i) =>
  words.slice(Math.floor((i * words.length) / 20), Math.floor(((i + 1) * words.length) / 20)).join(''),
);
const anthropicSse = Buffer.from(
  ev('message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null } }) +
    ev('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    }) +
    ev('ping', { type: 'ping' }) +
    pieces
      .map((text) =>
        ev('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text },
        }),
      )
      .join('') +
    ev('content_block_stop', { type: 'content_block_stop', index: 0 }) +
    ev('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 31 },
    }) +
    ev('message_stop', { type: 'message_stop' }),
);

const server = http.createServer((req, res) => {
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    const stream = Buffer.concat(parts).includes('"stream":true');
    const anthropic = req.url === '/v1/messages';
    const body = anthropic ? (stream ? anthropicSse : anthropicJson) : stream ? openaiSse : openaiJson;
    res.writeHead(200, {
      'content-type': stream ? 'text/event-stream' : 'application/json',
      'content-length': body.length,
    });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
