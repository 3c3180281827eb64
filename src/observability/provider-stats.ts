import { CLIENT_ERROR_CLASSES } from '../core/classify.js';
import type { EventBus } from '../core/event-bus.js';

/**
 * Recent outcomes per provider, from lifecycle events, for /health. A fixed ring per provider keeps
 * memory constant however much traffic flows.
 */

const WINDOW = 100;
const MAX_AGE_MS = 5 * 60_000;
const DEGRADED_ERROR_RATE = 0.5;
const MIN_SAMPLES = 5;

interface Outcome {
  at: number;
  ok: boolean;
  latencyMs: number;
}

interface Entry {
  /** Set while the provider is degraded, so one outage emits one event. */
  outageSince: number | undefined;
  ring: Outcome[];
  next: number;
  lastSuccessAt: number | undefined;
  lastError: { at: number; code: string } | undefined;
}

export interface ProviderHealth {
  status: 'ok' | 'degraded' | 'unknown';
  /** Outcomes in the window (last 100, at most 5 minutes old). */
  requests: number;
  errors: number;
  error_rate: number;
  avg_latency_ms: number | null;
  last_success_at: string | null;
  last_error: { at: string; code: string } | null;
}

export class ProviderStats {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly events: EventBus,
    private readonly now: () => number = Date.now,
  ) {
    events.on('ai.response.completed', (e) => this.record(e.provider, true, e.upstreamMs, undefined));
    // Every failed attempt, so a provider that fails and is then saved by a retry still shows it.
    events.on('ai.attempt.failed', (e) => {
      // The client's own bad request says nothing about the provider's health.
      if (!CLIENT_ERROR_CLASSES.has(e.errorType)) this.record(e.provider, false, 0, e.code);
    });
    // A stream that broke after its first byte was not an attempt failure; it counts here.
    events.on('ai.response.error', (e) => {
      if (e.midStream && e.provider) this.record(e.provider, false, e.upstreamMs ?? 0, e.code);
    });
  }

  record(provider: string, ok: boolean, latencyMs: number, code: string | undefined): void {
    if (!provider) return;
    let entry = this.entries.get(provider);
    if (!entry) {
      entry = { outageSince: undefined, ring: [], next: 0, lastSuccessAt: undefined, lastError: undefined };
      this.entries.set(provider, entry);
    }
    const at = this.now();
    const outcome = { at, ok, latencyMs };
    if (entry.ring.length < WINDOW) entry.ring.push(outcome);
    else entry.ring[entry.next] = outcome;
    entry.next = (entry.next + 1) % WINDOW;
    if (ok) entry.lastSuccessAt = at;
    else entry.lastError = { at, code: code ?? 'unknown' };
    // Only a failure can start an outage and only a success can end one; checking just those keeps
    // the ring scan off the happy path.
    if (!ok && entry.outageSince === undefined && this.snapshot(provider).status === 'degraded') {
      entry.outageSince = at;
      this.events.emit('ai.provider.outage', { provider, since: at, errorType: code ?? 'unknown' });
    } else if (ok && entry.outageSince !== undefined && this.snapshot(provider).status !== 'degraded') {
      entry.outageSince = undefined;
    }
  }

  snapshot(provider: string): ProviderHealth {
    const entry = this.entries.get(provider);
    const cutoff = this.now() - MAX_AGE_MS;
    const recent = entry ? entry.ring.filter((o) => o.at >= cutoff) : [];
    const errors = recent.filter((o) => !o.ok).length;
    const successes = recent.filter((o) => o.ok);
    const rate = recent.length === 0 ? 0 : errors / recent.length;
    return {
      status:
        recent.length === 0
          ? 'unknown'
          : recent.length >= MIN_SAMPLES && rate >= DEGRADED_ERROR_RATE
            ? 'degraded'
            : 'ok',
      requests: recent.length,
      errors,
      error_rate: Math.round(rate * 1000) / 1000,
      avg_latency_ms:
        successes.length === 0
          ? null
          : Math.round((successes.reduce((s, o) => s + o.latencyMs, 0) / successes.length) * 100) / 100,
      last_success_at: entry?.lastSuccessAt ? new Date(entry.lastSuccessAt).toISOString() : null,
      last_error: entry?.lastError
        ? { at: new Date(entry.lastError.at).toISOString(), code: entry.lastError.code }
        : null,
    };
  }
}
