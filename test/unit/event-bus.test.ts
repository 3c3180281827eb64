import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/event-bus.js';
import { expectNotInline } from '../helpers/event-bus-checks.js';

const payload = { source: 'f', ok: true, errors: [] };

describe('EventBus', () => {
  it('delivers typed payloads to every subscriber, after the emitting tick', async () => {
    const bus = new EventBus();
    const got: string[] = [];
    bus.on('ai.config.reloaded', (p) => {
      got.push(`a:${p.source}`);
    });
    bus.on('ai.config.reloaded', (p) => {
      got.push(`b:${p.ok}`);
    });
    bus.emit('ai.config.reloaded', payload);
    expect(got).toEqual([]);
    await bus.flush();
    expect(got).toEqual(['a:f', 'b:true']);
  });

  it('a throwing or rejecting subscriber neither breaks the emitter nor the other subscribers', async () => {
    const errors: string[] = [];
    const bus = new EventBus({ onListenerError: (e, err) => errors.push(`${e}:${(err as Error).message}`) });
    let reached = 0;
    bus.on('ai.config.reloaded', () => {
      throw new Error('boom');
    });
    bus.on('ai.config.reloaded', async () => {
      throw new Error('async boom');
    });
    bus.on('ai.config.reloaded', () => {
      reached++;
    });
    expect(() => bus.emit('ai.config.reloaded', payload)).not.toThrow();
    await bus.flush();
    expect(reached).toBe(1);
    expect(errors).toEqual(['ai.config.reloaded:boom', 'ai.config.reloaded:async boom']);
  });

  it('a slow subscriber does not delay the emitter', async () => {
    await expectNotInline(new EventBus());
  });

  it('unsubscribe, and emitting with no subscriber is a no-op', async () => {
    const bus = new EventBus();
    let n = 0;
    const off = bus.on('ai.cache.invalidated', () => {
      n++;
    });
    expect(bus.has('ai.cache.invalidated')).toBe(true);
    off();
    expect(bus.has('ai.cache.invalidated')).toBe(false);
    bus.emit('ai.cache.invalidated', { reason: 'x', keys: 1 });
    await bus.flush();
    expect(n).toBe(0);
  });
});
