import { expect } from 'vitest';
import type { GatewayEventName, GatewayEvents } from '../../src/types/events.js';

/** The part of EventBus these checks use, so they can also be run against a bus built to fail them. */
export interface BusLike {
  on<K extends GatewayEventName>(event: K, listener: (payload: GatewayEvents[K]) => void): () => void;
  emit<K extends GatewayEventName>(event: K, payload: GatewayEvents[K]): void;
  flush(): Promise<void>;
}

/**
 * A subscriber that blocks for 50ms must neither run inside emit() nor make it slow. A bus that ran
 * subscribers inline fails both assertions, whatever the machine's load: `ran` is set inside the
 * subscriber, and an inline call cannot return before the subscriber's 50ms have passed.
 */
export async function expectNotInline(bus: BusLike): Promise<void> {
  let ran = false;
  bus.on('ai.config.reloaded', () => {
    const until = performance.now() + 50;
    while (performance.now() < until) {
      // Deliberately synchronous: a subscriber doing CPU work.
    }
    ran = true;
  });
  const t0 = performance.now();
  bus.emit('ai.config.reloaded', { source: 'f', ok: true, errors: [] });
  const took = performance.now() - t0;
  expect(ran).toBe(false);
  expect(took).toBeLessThan(50);
  await bus.flush();
  expect(ran).toBe(true);
}
