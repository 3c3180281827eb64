import { mkdtemp, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { killCliProcesses, spawnCli } from '../helpers/cli.js';

/** Graceful shutdown of the real `switchyard` process (dist/, built by `pretest`). */

afterEach(killCliProcesses);

/** What the mock says to "hello" (src/providers/mock/reply.ts), streamed one word per chunk. */
const HELLO_REPLY = `Mock reply to "hello". This answer comes from Switchyard's built-in mock provider.`;
const CHAT_BODY = JSON.stringify({
  model: 'slow',
  stream: true,
  messages: [{ role: 'user', content: 'hello' }],
});

async function configFile(yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-shutdown-'));
  const file = join(dir, 'switchyard.yaml');
  await writeFile(file, yaml);
  return file;
}

function startCli(file: string) {
  return spawnCli(['start', '--config', file]);
}

/** Bounded polling for a condition that has no event to await (a log line in another process, a closed port). */
async function until<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Resolves with the connect error's code, or undefined when the connection was accepted (then closed). */
function tryConnect(url: URL): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect(Number(url.port), url.hostname);
    s.once('connect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Parses every HTTP/1.1 response in a connection's bytes. Only what these tests produce: chunked bodies
 * (the SSE stream) and Content-Length bodies (Fastify's 503).
 */
function parseResponses(raw: string): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < raw.length) {
    const headEnd = raw.indexOf('\r\n\r\n', at);
    if (headEnd < 0) throw new Error(`truncated head: ${JSON.stringify(raw.slice(at))}`);
    const [statusLine, ...lines] = raw.slice(at, headEnd).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    at = headEnd + 4;
    let body = '';
    if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', at);
        const size = Number.parseInt(raw.slice(at, lineEnd), 16);
        at = lineEnd + 2;
        if (size === 0) {
          at += 2;
          break;
        }
        body += raw.slice(at, at + size);
        at += size + 2;
      }
    } else {
      const len = Number(headers['content-length']);
      body = raw.slice(at, at + len);
      at += len;
    }
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body });
  }
  return out;
}

/** The concatenated delta text of an SSE body, and its frames. */
function sse(body: string): { text: string; frames: string[] } {
  const frames = body.split('\n\n').filter(Boolean);
  let text = '';
  for (const f of frames) {
    if (f === 'data: [DONE]') continue;
    const chunk = JSON.parse(f.slice('data: '.length)) as {
      choices: Array<{ delta: { content?: string } }>;
    };
    text += chunk.choices[0]?.delta.content ?? '';
  }
  return { text, frames };
}

const SLOW_CONFIG = (extra = '') => `${extra}providers:
  slow: { type: mock, chunk_delay_ms: 100 }
models:
  slow: { targets: [ { provider: slow, model: slow } ] }
`;

// Each test starts a CLI process: seconds on a loaded two-core machine, so more than the default timeout.
describe('graceful shutdown (SIGTERM/SIGINT)', { timeout: 60_000 }, () => {
  it('lets an in-flight stream finish, answers 503 on its kept-alive connection, refuses new connections, exits 0', async () => {
    const p = startCli(await configFile(SLOW_CONFIG()));
    const url = await p.listening;

    // A raw connection so that a second request can be pipelined onto it while the stream is in flight:
    // that is the only way to be sure it travels on a connection the server already holds.
    const sock: Socket = connect(Number(url.port), url.hostname);
    let raw = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      raw += d;
    });
    const sockClosed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    sock.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(CHAT_BODY)}\r\n\r\n${CHAT_BODY}`,
    );
    await until(() => (raw.includes('data: ') ? true : undefined), 'the first chunk');

    p.child.kill('SIGTERM');
    expect(await until(() => tryConnect(url), 'the listener to close')).toBe('ECONNREFUSED');
    // A new request on a new connection: refused at TCP level, not answered.
    await expect(
      request(`${url.origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: CHAT_BODY,
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    expect(raw).not.toContain('[DONE]');
    sock.write(`GET /health/ready HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    await sockClosed;

    const [stream, ready, ...rest] = parseResponses(raw);
    expect(rest).toEqual([]);
    expect(stream!.status).toBe(200);
    const { text, frames } = sse(stream!.body);
    expect(text).toBe(HELLO_REPLY);
    expect(frames.at(-1)).toBe('data: [DONE]');
    // Readiness on a kept-alive connection answers from the health route itself, and the connection
    // is closed so the client goes elsewhere.
    expect(ready!.status).toBe(503);
    expect(ready!.headers.connection).toBe('close');
    expect(JSON.parse(ready!.body)).toEqual({ status: 'shutting_down' });

    expect(await p.exited).toBe(0);
    const logs = p.logs();
    expect(logs.find((l) => l.msg === 'shutting down')).toMatchObject({
      signal: 'SIGTERM',
      timeout_ms: 30000,
    });
    expect(logs.find((l) => l.msg === 'shutdown complete')).toMatchObject({
      timed_out: false,
      cut_responses: 0,
    });
    expect(logs.filter((l) => l.msg === 'shutdown deadline passed; closing remaining connections')).toEqual(
      [],
    );
  });

  it('past server.shutdown_timeout cuts the stream (no [DONE]) and exits 0 long before the stream would end', async () => {
    const p = startCli(
      await configFile(`server: { shutdown_timeout: 300ms }
providers:
  slow: { type: mock, chunk_delay_ms: 10000 }
models:
  slow: { targets: [ { provider: slow, model: slow } ] }
`),
    );
    const url = await p.listening;
    // A non-streaming reply counts tokens, so this waits for the tokenizer warm-up (about half a second
    // of synchronous work after listen) that would otherwise land inside the timed window.
    const warm = await request(`${url.origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow', messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(warm.statusCode).toBe(200);
    await warm.body.dump();
    const res = await request(`${url.origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: CHAT_BODY,
    });
    expect(res.statusCode).toBe(200);
    let received = '';
    const ended = new Promise<string>((resolve) => {
      res.body.on('data', (d: Buffer) => {
        received += d.toString();
      });
      res.body.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      res.body.on('end', () => resolve('end'));
    });
    await until(() => (received.includes('data: ') ? true : undefined), 'the first chunk');

    const t0 = performance.now();
    p.child.kill('SIGTERM');
    const code = await p.exited;
    const elapsed = performance.now() - t0;
    expect(code).toBe(0);
    // Cut at the 300 ms shutdown_timeout, not after the 10 s chunk: the margin is for a starved machine.
    expect(elapsed).toBeLessThan(5000);
    // The socket was closed mid-body: undici reports the missing terminating chunk as a socket error.
    expect(await ended).toBe('UND_ERR_SOCKET');
    expect(received).not.toContain('[DONE]');
    expect(sse(received).text).toBe('');

    const logs = p.logs();
    expect(
      logs.find((l) => l.msg === 'shutdown deadline passed; closing remaining connections'),
    ).toMatchObject({
      level: 40,
      timeout_ms: 300,
      cut_responses: 1,
    });
    expect(logs.find((l) => l.msg === 'shutdown complete')).toMatchObject({
      timed_out: true,
      cut_responses: 1,
    });
  });

  it('a second signal during shutdown exits 1 at once', async () => {
    const p = startCli(await configFile(SLOW_CONFIG('server: { shutdown_timeout: 30s }\n')));
    const url = await p.listening;
    const res = await request(`${url.origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: CHAT_BODY,
    });
    let received = '';
    res.body.on('data', (d: Buffer) => {
      received += d.toString();
    });
    res.body.on('error', () => {});
    await until(() => (received.includes('data: ') ? true : undefined), 'the first chunk');

    p.child.kill('SIGTERM');
    await until(() => p.logs().find((l) => l.msg === 'shutting down'), 'the shutting down line');
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(1);
    // The stream (about 1.1s long) was still running: the exit did not wait for it.
    expect(received).not.toContain('[DONE]');
    expect(p.logs().find((l) => l.msg === 'second signal during shutdown; exiting now')).toMatchObject({
      signal: 'SIGINT',
    });
  });
});
