import { EventBus } from '../core/event-bus.js';
import type { GatewayConfig } from '../types/config.js';
import type { GatewayEventName } from '../types/events.js';
import { UpstreamPools } from '../upstream/pools.js';
import { Runtime } from './runtime.js';

/**
 * The process-wide mutable bits: the current runtime snapshot (swapped whole on reload) and readiness.
 * Upstream pools outlive snapshots so a reload keeps warm connections.
 */
export class GatewayState {
  readonly pools = new UpstreamPools();
  readonly events: EventBus;
  readonly startedAt = Date.now();
  private current: Runtime;
  ready = false;
  shuttingDown = false;

  constructor(
    config: GatewayConfig,
    opts: { onListenerError?: (event: GatewayEventName, err: unknown) => void } = {},
  ) {
    this.current = new Runtime(config, this.pools);
    this.events = new EventBus(opts.onListenerError ? { onListenerError: opts.onListenerError } : {});
  }

  get runtime(): Runtime {
    return this.current;
  }

  swap(config: GatewayConfig): void {
    this.current = new Runtime(config, this.pools);
  }

  async close(): Promise<void> {
    await this.pools.close();
  }
}
