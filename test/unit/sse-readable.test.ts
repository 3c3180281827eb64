import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameReadable } from '../../src/routes/sse-readable.js';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Serves `frames` through a FrameReadable and records each write that reaches the socket. */
async function serve(frames: () => AsyncGenerator<string>) {
  const socketWrites: string[] = [];
  const server = http.createServer((_req, res) => {
    const sock = res.socket as Socket & {
      _write(c: Buffer, e: string, cb: () => void): void;
      _writev(cs: { chunk: Buffer | string }[], cb: () => void): void;
    };
    const write = sock._write;
    const writev = sock._writev;
    sock._write = function (c, e, cb) {
      socketWrites.push(String(c));
      write.call(this, c, e, cb);
    };
    sock._writev = function (cs, cb) {
      socketWrites.push(cs.map((c) => String(c.chunk)).join(''));
      writev.call(this, cs, cb);
    };
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    new FrameReadable(frames()).pipe(res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  return { text: await res.text(), socketWrites };
}

describe('FrameReadable', () => {
  it('writes the first frame to the socket on its own, then the frames ready together in one write', async () => {
    // Every frame is ready at once, as when one upstream read held many events.
    const { text, socketWrites } = await serve(async function* () {
      yield 'data: a\n\n';
      yield 'data: b\n\n';
      yield '';
      yield 'data: c\n\n';
    });
    expect(text).toBe('data: a\n\ndata: b\n\ndata: c\n\n');
    const bodyWrites = socketWrites.filter((w) => w.includes('data: '));
    expect(bodyWrites[0]).toContain('data: a');
    expect(bodyWrites[0]).not.toContain('data: b');
    expect(bodyWrites[1]).toContain('data: b\n\ndata: c\n\n');
  });

  it('writes frames that arrive apart as they arrive', async () => {
    const { text, socketWrites } = await serve(async function* () {
      yield 'data: a\n\n';
      await sleep(5);
      yield 'data: b\n\n';
      await sleep(5);
      yield 'data: c\n\n';
    });
    expect(text).toBe('data: a\n\ndata: b\n\ndata: c\n\n');
    expect(socketWrites.filter((w) => w.includes('data: '))).toHaveLength(3);
  });

  it('is destroyed with the error an iterator throws, after the frames before it', async () => {
    const r = new FrameReadable(
      (async function* () {
        yield 'data: a\n\n';
        throw new Error('boom');
      })(),
    );
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const b of r) got.push(String(b));
      })(),
    ).rejects.toThrow('boom');
    expect(got.join('')).toBe('data: a\n\n');
  });

  it('returns the iterator when destroyed early, so its finally runs', async () => {
    let finished = false;
    let afterB = false;
    const r = new FrameReadable(
      (async function* () {
        try {
          yield 'data: a\n\n';
          await sleep(20);
          yield 'data: b\n\n';
          afterB = true;
          yield 'data: c\n\n';
        } finally {
          finished = true;
        }
      })(),
    );
    await new Promise<void>((resolve) => r.once('data', () => resolve()));
    r.destroy();
    await new Promise((resolve) => r.once('close', resolve));
    expect(finished).toBe(true);
    expect(afterB).toBe(false);
  });
});
