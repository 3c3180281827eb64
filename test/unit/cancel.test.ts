import { describe, expect, it } from 'vitest';
import { Cancel, cancelOf } from '../../src/core/cancel.js';

describe('Cancel', () => {
  it('runs each listener once, in order, and forgets those that unsubscribed', () => {
    const c = new Cancel();
    const calls: string[] = [];
    c.onAbort(() => calls.push('a'));
    const offB = c.onAbort(() => calls.push('b'));
    c.onAbort(() => calls.push('c'));
    offB();
    c.abort('why');
    c.abort('again');
    expect(calls).toEqual(['a', 'c']);
    expect(c.aborted).toBe(true);
    expect(c.reason).toBe('why');
  });

  it('unsubscribing the only listener leaves nothing to run', () => {
    const c = new Cancel();
    let n = 0;
    const off = c.onAbort(() => n++);
    off();
    c.onAbort(() => (n += 10));
    c.abort();
    expect(n).toBe(10);
  });

  it('a listener added after the abort never runs', () => {
    const c = new Cancel();
    c.abort();
    let ran = false;
    c.onAbort(() => {
      ran = true;
    });
    expect(ran).toBe(false);
  });

  it('without a reason, aborts with an AbortError, as AbortController does', () => {
    const c = new Cancel();
    c.abort();
    expect(c.reason).toBeInstanceOf(DOMException);
    expect((c.reason as DOMException).name).toBe('AbortError');
  });

  it('makes no AbortSignal until asked, and the one it makes follows the abort', () => {
    const before = new Cancel();
    const s = before.signal;
    expect(before.signal).toBe(s);
    expect(s.aborted).toBe(false);
    let heard: unknown;
    s.addEventListener('abort', () => {
      heard = s.reason;
    });
    before.abort('gone');
    expect(s.aborted).toBe(true);
    expect(heard).toBe('gone');

    const after = new Cancel();
    after.abort('late');
    expect(after.signal.aborted).toBe(true);
    expect(after.signal.reason).toBe('late');
  });
});

describe('cancelOf', () => {
  it('reads and follows an AbortSignal', () => {
    const ac = new AbortController();
    const c = cancelOf(ac.signal);
    const calls: number[] = [];
    c.onAbort(() => calls.push(1));
    const off = c.onAbort(() => calls.push(2));
    off();
    expect(c.aborted).toBe(false);
    expect(c.signal).toBe(ac.signal);
    ac.abort('stop');
    expect(calls).toEqual([1]);
    expect(c.aborted).toBe(true);
    expect(c.reason).toBe('stop');
    let late = false;
    c.onAbort(() => {
      late = true;
    });
    expect(late).toBe(false);
  });
});
