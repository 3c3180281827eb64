// Fake OpenAI upstream for the load benchmark. Runs in its own process (forked by run.mjs) so that it
// does not share an event loop with the load generator.
//
//   POST /v1/chat/completions            -> a fixed chat.completion JSON
//   POST /v1/chat/completions stream:true -> role chunk, 20 content chunks, finish chunk, usage chunk, [DONE]
//
// Any model name is answered: the response echoes the requested `model` (switchyard-routed uses three
// upstream model names on this one server). Bodies are serialised once per model name, on its first
// request, so the upstream costs as little CPU as possible; requests are counted per model name so the
// harness can show how a weighted model's traffic was split.
// Env: UPSTREAM_CHUNK_DELAY_MS (default 0) - pause between stream events; 0 writes them back-to-back.
// Reports its port to the parent over IPC ({ type: 'listening', port }) and exits when the parent goes.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { completion, streamFrames } from './openai-fixtures.mjs';

const CHUNK_DELAY_MS = Number(process.env.UPSTREAM_CHUNK_DELAY_MS ?? 0);

// Pre-serialised bodies and a request counter per requested model name. The harness uses a handful of
// names; past MAX_MODELS distinct names (a stray client) bodies are built per request and not cached,
// and those requests are counted under '(other)', so the map cannot grow without bound.
const MAX_MODELS = 32;
const cache = new Map();
const serialise = (model) => ({
  json: Buffer.from(JSON.stringify(completion(model))),
  sse: streamFrames(model).map((f) => Buffer.from(f)),
  requests: 0,
});
let otherModels = null;
function bodiesFor(model) {
  let b = cache.get(model);
  if (b) return b;
  if (cache.size < MAX_MODELS) {
    b = serialise(model);
    cache.set(model, b);
    return b;
  }
  b = serialise(model);
  otherModels ??= { requests: 0 };
  b.counter = otherModels;
  return b;
}

let requests = 0;

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
    return;
  }
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    requests++;
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"invalid JSON","type":"invalid_request_error"}}');
      return;
    }
    const model = typeof body.model === 'string' ? body.model : 'gpt-4o-mini';
    const bodies = bodiesFor(model);
    const { json, sse } = bodies;
    if (bodies.counter) bodies.counter.requests++;
    else bodies.requests++;
    const id = `req_bench_${requests}`;
    if (body.stream !== true) {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': json.length,
        'x-request-id': id,
      });
      res.end(json);
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': id,
    });
    if (CHUNK_DELAY_MS <= 0) {
      for (const ev of sse) res.write(ev);
      res.end();
      return;
    }
    void (async () => {
      for (const ev of sse) {
        if (res.destroyed) return;
        res.write(ev);
        await sleep(CHUNK_DELAY_MS);
      }
      res.end();
    })();
  });
});

// Longer than the clients' keep-alive so that pooled sockets are not closed under them mid-run.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.requestTimeout = 0;

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  if (process.send) process.send({ type: 'listening', port });
  else process.stdout.write(`fake upstream on http://127.0.0.1:${port}/v1\n`);
});

process.on('message', (m) => {
  if (m?.type !== 'stats') return;
  const byModel = {};
  for (const [name, b] of cache) byModel[name] = b.requests;
  if (otherModels) byModel['(other)'] = otherModels.requests;
  process.send?.({ type: 'stats', requests, byModel });
});
// Never outlive the harness.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
