// Baseline: the thinnest reasonable Fastify + undici proxy, on the same Fastify and undici versions as
// Switchyard (resolved from the root project's node_modules). It forwards POST /v1/chat/completions to
// the upstream byte-for-byte (no JSON parse, no validation, no model rewrite) and pipes the response
// back, SSE included. Whatever Switchyard costs on top of this is the gateway's own work.
//
// Usage: node baseline-forwarder.mjs <upstream origin, e.g. http://127.0.0.1:1234>
// Reports its port over IPC ({ type: 'listening', port }) when forked, and exits with its parent. Over the
// same channel it answers { type: 'memory' } with its process.memoryUsage() and V8 heap spaces (soak.mjs),
// so it needs no extra HTTP route.
import { createRequire } from 'node:module';
import { getHeapSpaceStatistics } from 'node:v8';

const rootRequire = createRequire(new URL('../../package.json', import.meta.url));
const Fastify = rootRequire('fastify');
const { Pool } = rootRequire('undici');

const upstream = process.argv[2] ?? process.env.UPSTREAM_ORIGIN;
if (!upstream) throw new Error('usage: baseline-forwarder.mjs <upstream origin>');

// Same pool settings as Switchyard's UpstreamPools.
const pool = new Pool(upstream, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
const app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024 });

// Keep the request body as raw bytes: a pass-through proxy has no reason to parse it.
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

app.post('/v1/chat/completions', async (request, reply) => {
  const res = await pool.request({
    method: 'POST',
    path: '/v1/chat/completions',
    headers: {
      'content-type': 'application/json',
      ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}),
    },
    body: request.body,
  });
  reply.code(res.statusCode);
  const ct = res.headers['content-type'];
  if (ct) reply.header('content-type', ct);
  return reply.send(res.body); // a Readable: Fastify pipes it, chunk by chunk for SSE
});

app.get('/health/ready', async () => ({ status: 'ready' }));

const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
const { port } = app.server.address();
if (process.send) process.send({ type: 'listening', port });
else process.stdout.write(`baseline forwarder on ${address}\n`);

const stop = () => {
  app.close().finally(() => pool.close().finally(() => process.exit(0)));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('disconnect', stop);
process.on('message', (m) => {
  if (m?.type !== 'memory' || !process.send) return;
  const spaces = {};
  for (const s of getHeapSpaceStatistics())
    spaces[s.space_name] = { size: s.space_size, used: s.space_used_size };
  process.send({ type: 'memory', ...process.memoryUsage(), spaces });
});
process.on('SIGTERM', stop);
