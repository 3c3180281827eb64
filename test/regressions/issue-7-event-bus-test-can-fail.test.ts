import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/event-bus.js';
import type { GatewayEventName, GatewayEvents } from '../../src/types/events.js';
import { type BusLike, expectNotInline } from '../helpers/event-bus-checks.js';

/**
 * Issue 7: the event-bus test "a slow subscriber does not delay the emitter" used an async subscriber
 * (a pending promise), so a bus that ran subscribers inline passed it too. The check now used by
 * test/unit/event-bus.test.ts must fail for such a bus.
 */

/** What the bus must not be: subscribers called inside emit(). */
class InlineBus implements BusLike {
  private readonly listeners: Array<(p: unknown) => void> = [];
  on<K extends GatewayEventName>(_event: K, listener: (payload: GatewayEvents[K]) => void): () => void {
    this.listeners.push(listener as (p: unknown) => void);
    return () => {};
  }
  emit<K extends GatewayEventName>(_event: K, payload: GatewayEvents[K]): void {
    for (const l of this.listeners) l(payload);
  }
  async flush(): Promise<void> {}
}

describe('the event bus check', () => {
  it('fails for a bus that runs subscribers inline', async () => {
    await expect(expectNotInline(new InlineBus())).rejects.toThrow();
  });

  it('passes for the real bus', async () => {
    await expectNotInline(new EventBus());
  });
});
