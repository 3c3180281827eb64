import { describe, expect, it } from 'vitest';
import { Cancel, type CancelSource } from '../../src/core/cancel.js';
import { abortError, GatewayError } from '../../src/errors/gateway-error.js';
import { type FlightBody, type FlightOpen, SingleFlight } from '../../src/services/cache/single-flight.js';
import type { ChatCompletion, ChatCompletionChunk } from '../../src/types/openai.js';
import { collect, PushSource, until } from '../helpers/push-source.js';

const completion: ChatCompletion = {
  id: 'c1',
  object: 'chat.completion',
  created: 1,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
};

function chunk(content: string): ChatCompletionChunk {
  return {
    id: 's1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlight', () => {
  it('20 concurrent identical requests make exactly one upstream call and share its answer', async () => {
    const sf = new SingleFlight();
    const gate = deferred<FlightOpen>();
    let calls = 0;
    const stored: FlightBody[] = [];
    const tickets = Array.from({ length: 20 }, (_, i) =>
      sf.join('k', `req-${i}`, new Cancel(), {
        start: () => {
          calls++;
          return gate.promise;
        },
        onComplete: (b) => stored.push(b),
      }),
    );
    expect(tickets.filter((t) => t.leader).length).toBe(1);
    expect(new Set(tickets.map((t) => t.leaderId))).toEqual(new Set(['req-0']));
    gate.resolve({ kind: 'completion', completion });
    const results = await Promise.all(tickets.map((t) => t.shared));
    expect(calls).toBe(1);
    for (const r of results) expect(r).toEqual({ kind: 'completion', completion });
    expect(stored).toEqual([{ kind: 'completion', completion }]);
    // The flight is over: the next identical request starts a new one.
    expect(sf.size).toBe(0);
  });

  it('fans a stream out: a late joiner gets the chunks already sent, then the live ones', async () => {
    const sf = new SingleFlight();
    const src = new PushSource<ChatCompletionChunk>();
    const stored: FlightBody[] = [];
    const handlers = {
      start: async (): Promise<FlightOpen> => ({ kind: 'stream', chunks: src }),
      onComplete: (b: FlightBody) => stored.push(b),
    };
    const first = sf.join('k', 'a', new Cancel(), handlers);
    const s1 = await first.shared;
    if (s1.kind !== 'stream') throw new Error('expected a stream');
    const firstRead = collect(s1.broadcast.subscribe());
    src.push(chunk('one '));
    src.push(chunk('two '));
    await until(() => s1.broadcast.size === 2);

    const late = sf.join('k', 'b', new Cancel(), handlers);
    expect(late.leader).toBe(false);
    const s2 = await late.shared;
    if (s2.kind !== 'stream') throw new Error('expected a stream');
    const lateRead = collect(s2.broadcast.subscribe());
    src.push(chunk('three'));
    src.end();
    const want = [chunk('one '), chunk('two '), chunk('three')];
    expect(await firstRead).toEqual(want);
    expect(await lateRead).toEqual(want);
    await until(() => stored.length === 1);
    expect(stored[0]).toEqual({ kind: 'stream', chunks: want });
    expect(sf.size).toBe(0);
  });

  it('fails every waiter with the same error and stores nothing', async () => {
    const sf = new SingleFlight();
    const gate = deferred<FlightOpen>();
    const stored: FlightBody[] = [];
    const fails: boolean[] = [];
    const handlers = {
      start: () => gate.promise,
      onComplete: (b: FlightBody) => stored.push(b),
      onFail: (_e: unknown, opened: boolean) => fails.push(opened),
    };
    const tickets = Array.from({ length: 5 }, (_, i) => sf.join('k', `r${i}`, new Cancel(), handlers));
    const err = new GatewayError('upstream_server_error', 'boom');
    gate.reject(err);
    const errors = await Promise.all(
      tickets.map((t) =>
        t.shared.then(
          () => undefined,
          (e: unknown) => e,
        ),
      ),
    );
    for (const e of errors) expect(e).toBe(err);
    expect(stored).toEqual([]);
    expect(fails).toEqual([false]);
    expect(sf.size).toBe(0);
  });

  it('a stream cut mid-way fails every subscriber and is never stored', async () => {
    const sf = new SingleFlight();
    const src = new PushSource<ChatCompletionChunk>();
    const stored: FlightBody[] = [];
    const fails: boolean[] = [];
    const handlers = {
      start: async (): Promise<FlightOpen> => ({ kind: 'stream', chunks: src }),
      onComplete: (b: FlightBody) => stored.push(b),
      onFail: (_e: unknown, opened: boolean) => fails.push(opened),
    };
    const a = sf.join('k', 'a', new Cancel(), handlers);
    const b = sf.join('k', 'b', new Cancel(), handlers);
    const reads = [a, b].map(async (t) => {
      const s = await t.shared;
      if (s.kind !== 'stream') throw new Error('expected a stream');
      return collect(s.broadcast.subscribe()).then(
        () => undefined,
        (e: unknown) => e,
      );
    });
    const cut = new Error('stream cut');
    src.push(chunk('x'));
    await new Promise((r) => setImmediate(r));
    src.fail(cut);
    expect(await Promise.all(reads)).toEqual([cut, cut]);
    await until(() => fails.length === 1);
    expect(fails).toEqual([true]);
    expect(stored).toEqual([]);
  });

  it("one waiter's disconnect never aborts the shared upstream; the last one's does", async () => {
    const sf = new SingleFlight();
    let upstream: CancelSource | undefined;
    const gate = deferred<FlightOpen>();
    const handlers = {
      start: (cancel: CancelSource) => {
        upstream = cancel;
        cancel.onAbort(() => gate.reject(abortError(cancel)));
        return gate.promise;
      },
    };
    const clients = [new Cancel(), new Cancel(), new Cancel()];
    const tickets = clients.map((c, i) => sf.join('k', `r${i}`, c, handlers));
    clients[0]!.abort();
    clients[1]!.abort();
    await new Promise((r) => setImmediate(r));
    expect(upstream?.aborted).toBe(false);
    gate.resolve({ kind: 'completion', completion });
    expect(await tickets[2]!.shared).toEqual({ kind: 'completion', completion });

    // Now every waiter leaves a second flight before it answers: its upstream is aborted.
    const gate2 = deferred<FlightOpen>();
    let signal2: AbortSignal | undefined;
    const c2 = [new Cancel(), new Cancel()];
    const t2 = c2.map((c, i) =>
      sf.join('k2', `s${i}`, c, {
        start: (s) => {
          // The flight's AbortSignal, as an upstream call sees it.
          signal2 = s.signal;
          s.signal.addEventListener('abort', () => gate2.reject(abortError(s.signal)));
          return gate2.promise;
        },
      }),
    );
    c2[0]!.abort();
    await new Promise((r) => setImmediate(r));
    expect(signal2?.aborted).toBe(false);
    c2[1]!.abort();
    await until(() => signal2?.aborted === true);
    await expect(t2[1]!.shared).rejects.toMatchObject({ code: 'client_closed_request' });
    // A new arrival does not join the torn-down flight.
    expect(sf.has('k2')).toBe(false);
  });

  it("a streaming waiter's disconnect leaves the stream running for the others", async () => {
    const sf = new SingleFlight();
    const src = new PushSource<ChatCompletionChunk>();
    const handlers = { start: async (): Promise<FlightOpen> => ({ kind: 'stream', chunks: src }) };
    const gone = new Cancel();
    const a = sf.join('k', 'a', gone, handlers);
    const b = sf.join('k', 'b', new Cancel(), handlers);
    const sa = await a.shared;
    const sb = await b.shared;
    if (sa.kind !== 'stream' || sb.kind !== 'stream') throw new Error('expected streams');
    const ia = sa.broadcast.subscribe(gone.signal);
    const rb = collect(sb.broadcast.subscribe());
    src.push(chunk('1'));
    expect((await ia.next()).value).toEqual(chunk('1'));
    gone.abort();
    src.push(chunk('2'));
    src.end();
    expect(await rb).toEqual([chunk('1'), chunk('2')]);
    expect(src.closed).toBe(false);
  });
});
