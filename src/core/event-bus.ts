import type { GatewayEventName, GatewayEvents } from '../types/events.js';

type Listener<K extends GatewayEventName> = (payload: GatewayEvents[K]) => void | Promise<void>;

export interface EventBusOptions {
  /** Called when a subscriber throws or rejects; it must not throw itself. */
  onListenerError?: (event: GatewayEventName, err: unknown) => void;
}

/**
 * A typed in-process event bus. Emitting never runs subscribers inline: they are dispatched after the
 * current tick, so a slow or throwing subscriber can neither delay nor break the request that emitted.
 * Async subscribers are not awaited; their rejections are reported like throws.
 */
export class EventBus {
  private readonly listeners = new Map<GatewayEventName, Array<Listener<GatewayEventName>>>();
  private readonly queue: Array<[GatewayEventName, unknown]> = [];
  private scheduled = false;
  private readonly onListenerError: (event: GatewayEventName, err: unknown) => void;

  constructor(opts: EventBusOptions = {}) {
    this.onListenerError = opts.onListenerError ?? (() => {});
  }

  on<K extends GatewayEventName>(event: K, listener: Listener<K>): () => void {
    const list = this.listeners.get(event) ?? [];
    list.push(listener as Listener<GatewayEventName>);
    this.listeners.set(event, list);
    return () => {
      const l = this.listeners.get(event);
      if (l)
        this.listeners.set(
          event,
          l.filter((x) => x !== listener),
        );
    };
  }

  /** True when anyone listens; lets emitters skip building payloads nobody reads. */
  has(event: GatewayEventName): boolean {
    return (this.listeners.get(event)?.length ?? 0) > 0;
  }

  emit<K extends GatewayEventName>(event: K, payload: GatewayEvents[K]): void {
    if (!this.has(event)) return;
    this.queue.push([event, payload]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  /** Resolves once every event emitted so far has been dispatched (tests, shutdown). */
  flush(): Promise<void> {
    return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const batch = this.queue.splice(0);
    for (const [event, payload] of batch) {
      const list = this.listeners.get(event);
      if (!list) continue;
      for (const listener of list) {
        try {
          const r = listener(payload as GatewayEvents[GatewayEventName]);
          if (r && typeof (r as Promise<void>).catch === 'function') {
            (r as Promise<void>).catch((err: unknown) => this.report(event, err));
          }
        } catch (err) {
          this.report(event, err);
        }
      }
    }
  };

  private report(event: GatewayEventName, err: unknown): void {
    try {
      this.onListenerError(event, err);
    } catch {
      // The error reporter itself failed; nothing sensible is left to do with it.
    }
  }
}
