import { Cancel, type CancelSource } from '../../core/cancel.js';
import { ReplayBroadcast } from '../../core/replay-broadcast.js';
import type { ChatCompletion, ChatCompletionChunk } from '../../types/openai.js';

/**
 * Request merging on one instance: identical requests in flight share one upstream call.
 *
 * - A whole answer is shared as one promise; a stream is shared through a {@link ReplayBroadcast}, so a
 *   late joiner receives the chunks already sent, then the live ones.
 * - An error fails every waiter with the same error object, and `onComplete` is not called (nothing is
 *   cached).
 * - The upstream runs on the flight's own cancel source, not on any client's: one waiter's disconnect never
 *   aborts it while others wait. It is aborted when every waiter has left before the end.
 * - `onComplete` runs synchronously before the flight leaves the table, so a request arriving after the
 *   flight finds the cache entry, never a gap between the two.
 */

/** What the upstream call produced once it opened: a whole answer, or a stream (first chunk already read). */
export type FlightOpen =
  | { kind: 'completion'; completion: ChatCompletion }
  | { kind: 'stream'; chunks: AsyncIterable<ChatCompletionChunk> | AsyncIterator<ChatCompletionChunk> };

/** What waiters share. */
export type FlightShared =
  | { kind: 'completion'; completion: ChatCompletion }
  | { kind: 'stream'; broadcast: ReplayBroadcast<ChatCompletionChunk> };

/** A finished answer, as the cache stores it. */
export type FlightBody =
  | { kind: 'completion'; completion: ChatCompletion }
  | { kind: 'stream'; chunks: ChatCompletionChunk[] };

export interface FlightTicket {
  /** This waiter started the upstream call. */
  leader: boolean;
  /** The request id of the flight's leader (for the request log's merged-with). */
  leaderId: string;
  /** Resolves once the upstream opened; rejects with the flight's error. */
  shared: Promise<FlightShared>;
  /** This waiter is done (finished, or gone). Idempotent; the waiter's client aborting also calls it. */
  release(): void;
}

/** How a flight is started, and what happens when it ends. Only the leader's (the first join's) are used. */
export interface FlightHandlers {
  /** Starts the upstream call on the flight's own cancel source. */
  start(cancel: CancelSource): Promise<FlightOpen>;
  /** The flight finished successfully: store it. Runs before the flight leaves the table. */
  onComplete?(body: FlightBody): void;
  /** The flight failed before it opened (`opened` false), or was cut off or left by every waiter after. */
  onFail?(err: unknown, opened: boolean): void;
}

class Flight {
  readonly cancel = new Cancel();
  waiters = 0;
  settled = false;
  shared!: Promise<FlightShared>;
  /** Keeps a stream's broadcast alive while waiters are between joining and subscribing. */
  anchor: AsyncIterator<ChatCompletionChunk> | undefined;
  broadcast: ReplayBroadcast<ChatCompletionChunk> | undefined;

  constructor(
    readonly leaderId: string,
    readonly handlers: FlightHandlers,
  ) {}
}

export class SingleFlight {
  private readonly flights = new Map<string, Flight>();

  /** Flights in progress. */
  get size(): number {
    return this.flights.size;
  }

  /** Requests waiting on a flight in progress, leaders included. */
  get waiting(): number {
    let n = 0;
    for (const f of this.flights.values()) n += f.waiters;
    return n;
  }

  has(key: string): boolean {
    return this.flights.has(key);
  }

  /**
   * Joins the flight for `key`, or starts it with `handlers`. `client` is this waiter's: when it aborts,
   * the waiter leaves.
   */
  join(key: string, requestId: string, client: CancelSource, handlers: FlightHandlers): FlightTicket {
    let flight = this.flights.get(key);
    const leader = flight === undefined;
    if (!flight) {
      flight = new Flight(requestId, handlers);
      this.flights.set(key, flight);
      flight.shared = this.begin(key, flight);
      // Waiters see the rejection through `shared`; the flight itself must not raise an unhandled one.
      flight.shared.catch(() => {});
    }
    const f = flight;
    f.waiters++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      off();
      f.waiters--;
      // A stream whose last chunk the last waiter just read is finished, not abandoned.
      if (f.waiters === 0 && !f.settled && !f.broadcast?.finished) this.abandon(key, f);
    };
    const off = client.aborted ? NOOP : client.onAbort(release);
    if (client.aborted) queueMicrotask(release);
    return { leader, leaderId: f.leaderId, shared: f.shared, release };
  }

  private async begin(key: string, flight: Flight): Promise<FlightShared> {
    let open: FlightOpen;
    try {
      open = await flight.handlers.start(flight.cancel);
    } catch (err) {
      this.finish(key, flight);
      this.failed(flight, err, false);
      throw err;
    }
    if (open.kind === 'completion') {
      this.complete(flight, open);
      this.finish(key, flight);
      return open;
    }
    const broadcast = new ReplayBroadcast<ChatCompletionChunk>(open.chunks, {
      onAbandoned: () => flight.cancel.abort(new Error('every waiter left')),
    });
    flight.broadcast = broadcast;
    flight.anchor = broadcast.subscribe();
    if (flight.waiters === 0) this.abandon(key, flight);
    broadcast.done.then(
      (chunks) => {
        this.complete(flight, { kind: 'stream', chunks: [...chunks] });
        this.finish(key, flight);
      },
      (err: unknown) => {
        this.finish(key, flight);
        this.failed(flight, err, true);
      },
    );
    return { kind: 'stream', broadcast };
  }

  private complete(flight: Flight, body: FlightBody): void {
    try {
      flight.handlers.onComplete?.(body);
    } catch {
      // Storing is best effort; the waiters already have their answer.
    }
  }

  private failed(flight: Flight, err: unknown, opened: boolean): void {
    try {
      flight.handlers.onFail?.(err, opened);
    } catch {
      // Reporting only.
    }
  }

  private finish(key: string, flight: Flight): void {
    flight.settled = true;
    if (this.flights.get(key) === flight) this.flights.delete(key);
  }

  private abandon(key: string, flight: Flight): void {
    // New arrivals must start afresh rather than join a flight that is being torn down.
    if (this.flights.get(key) === flight) this.flights.delete(key);
    flight.cancel.abort(new Error('every waiter left'));
    void flight.anchor?.return?.();
  }
}

const NOOP = (): void => {};
