import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { OpenAIStreamTranslator } from '../../src/providers/openai/index.js';
import type { ProviderSpec } from '../../src/types/config.js';
import { SseChunkReader } from '../../src/upstream/http-client.js';

const spec = { id: 'up', apiKeys: ['sk-secret'] } as unknown as ProviderSpec;
const ev = (content: string) =>
  `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;
const finish =
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n';

function reader(reads: (string | Error)[]) {
  const body = new Readable({ read() {} });
  let i = 0;
  // One read per tick, like a socket's.
  const pushNext = () => {
    const r = reads[i++];
    if (r === undefined) body.push(null);
    else if (r instanceof Error) body.destroy(r);
    else {
      body.push(Buffer.from(r));
      setImmediate(pushNext);
    }
  };
  setImmediate(pushNext);
  const bodyArg = body as unknown as ConstructorParameters<typeof SseChunkReader>[0];
  return {
    body,
    it: new SseChunkReader(bodyArg, new OpenAIStreamTranslator('up'), spec, new AbortController().signal),
  };
}

const content = (r: IteratorResult<unknown> | undefined) =>
  (r?.value as { choices: { delta: { content?: string } }[] } | undefined)?.choices[0]?.delta.content;

describe('SseChunkReader', () => {
  it('hands out the rest of a read without I/O, then needs the next read', async () => {
    const { it: r } = reader([ev('a') + ev('b') + ev('c'), `${finish}data: [DONE]\n\n`]);
    expect(r.nextBuffered()).toBeUndefined();
    expect(content(await r.next())).toBe('a');
    expect(content(r.nextBuffered())).toBe('b');
    expect(content(r.nextBuffered())).toBe('c');
    expect(r.nextBuffered()).toBeUndefined();
    const f = await r.next();
    expect(f.done).toBe(false);
    expect(r.nextBuffered()).toBeUndefined();
    expect((await r.next()).done).toBe(true);
    expect(r.nextBuffered()?.done).toBe(true);
  });

  it('gives the chunks of a read before the error in it, whichever way they are taken', async () => {
    const { it: r, body } = reader([`${ev('a')}data: {not json}\n\n${ev('b')}`]);
    expect(content(await r.next())).toBe('a');
    expect(() => r.nextBuffered()).toThrow(/malformed JSON/);
    expect(body.destroyed).toBe(true);
    expect((await r.next()).done).toBe(true);
  });

  it('a body cut without [DONE] or a finish is an interrupted stream', async () => {
    const { it: r } = reader([ev('a'), new Error('socket hang up')]);
    expect(content(await r.next())).toBe('a');
    await expect(r.next()).rejects.toThrow(/interrupted: connection lost/);
  });

  it('return() stops reading and frees the body', async () => {
    const { it: r, body } = reader([ev('a'), ev('b')]);
    expect(content(await r.next())).toBe('a');
    await r.return();
    expect(body.destroyed).toBe(true);
    expect((await r.next()).done).toBe(true);
  });
});
