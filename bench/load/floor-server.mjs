// The floor a cache hit could reach on this stack: a server that does only what no hit can skip.
// For each POST /v1/chat/completions it reads the body, parses it as JSON, hashes the body and the
// Authorization header (SHA-256, as key auth and the cache key do), looks the hash up in a Map, and
// answers the stored response: the same status, headers and bytes the gateway's own hit answers with
// (given in a JSON file: { headers, body }). No auth check, no limits, no log, no metrics, no pipeline.
//
//   node floor-server.mjs node|fastify <response.json>
//
// `node` is bare node:http; `fastify` is a Fastify route on the same Fastify as Switchyard (its JSON body
// parser, reply.headers, reply.send). Reports its port over IPC ({ type: 'listening', port }) when forked.
import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';

const [mode, file] = process.argv.slice(2);
if ((mode !== 'node' && mode !== 'fastify') || !file)
  throw new Error('usage: floor-server.mjs node|fastify <response.json>');
const stored = JSON.parse(readFileSync(file, 'utf8'));
const storedBody = Buffer.from(stored.body);
const storedHeaders = stored.headers;
// Every hash answers the stored entry: the point is the lookup's cost, not a cache's hit rate.
const entries = new Map();
const lookup = (key) => {
  let e = entries.get(key);
  if (e === undefined && entries.size < 10_000) {
    e = storedBody;
    entries.set(key, e);
  }
  return e ?? storedBody;
};
const keyOf = (text, auth) => {
  hash('sha256', auth ?? '', 'hex');
  return hash('sha256', text, 'hex');
};

let server;
if (mode === 'node') {
  const nodeHeaders = { ...storedHeaders, 'content-length': String(storedBody.length) };
  server = http.createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready"}');
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      JSON.parse(text);
      const bytes = lookup(keyOf(text, req.headers.authorization));
      res.writeHead(200, nodeHeaders);
      res.end(bytes);
    });
  });
  await new Promise((r) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', r));
} else {
  const rootRequire = createRequire(new URL('../../package.json', import.meta.url));
  const Fastify = rootRequire('fastify');
  const app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024 });
  // The parsed body and its text: the cache key hashes a canonical text, which the gateway builds.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    try {
      done(null, { text, json: JSON.parse(text) });
    } catch (err) {
      done(err);
    }
  });
  app.post('/v1/chat/completions', (request, reply) => {
    const bytes = lookup(keyOf(request.body.text, request.headers.authorization));
    reply.code(200).headers(storedHeaders);
    return reply.send(bytes);
  });
  app.get('/health/ready', async () => ({ status: 'ready' }));
  await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
  server = app.server;
}
const { port } = server.address();
if (process.send) process.send({ type: 'listening', port });
else process.stdout.write(`floor (${mode}) on http://127.0.0.1:${port}\n`);
const stop = () => {
  server.close();
  setTimeout(() => process.exit(0), 500).unref();
};
process.on('disconnect', stop);
process.on('SIGTERM', stop);
