import type { RateState } from '../../backends/limiter/types.js';

/**
 * OpenAI's reset format, Go's duration style: `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`.
 * Clients (and the openai SDK's retry logic) parse this, so it must match.
 */
export function formatReset(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const totalMs = Math.ceil(ms);
  const h = Math.floor(totalMs / 3_600_000);
  const m = Math.floor((totalMs % 3_600_000) / 60_000);
  const sMs = totalMs % 60_000;
  const s = sMs % 1000 === 0 ? String(sMs / 1000) : (sMs / 1000).toFixed(3).replace(/0+$/, '');
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** Integer micro-dollars as a dollar string with six decimals, without going through a float. */
export function formatMicros(micros: number): string {
  const neg = micros < 0;
  const a = Math.abs(micros);
  return `${neg ? '-' : ''}${Math.floor(a / 1_000_000)}.${String(a % 1_000_000).padStart(6, '0')}`;
}

/** The tightest of several states (least remaining; then the longest reset), or undefined. */
export function tightest(states: readonly RateState[]): RateState | undefined {
  let best: RateState | undefined;
  for (const s of states) {
    if (
      !best ||
      s.remaining < best.remaining ||
      (s.remaining === best.remaining && s.resetMs > best.resetMs)
    ) {
      best = s;
    }
  }
  return best;
}

export function rateHeaders(
  requests: RateState | undefined,
  tokens: RateState | undefined,
  out: Record<string, string>,
): void {
  if (requests) {
    out['x-ratelimit-limit-requests'] = String(requests.limit);
    out['x-ratelimit-remaining-requests'] = String(requests.remaining);
    out['x-ratelimit-reset-requests'] = formatReset(requests.resetMs);
  }
  if (tokens) {
    out['x-ratelimit-limit-tokens'] = String(tokens.limit);
    out['x-ratelimit-remaining-tokens'] = String(tokens.remaining);
    out['x-ratelimit-reset-tokens'] = formatReset(tokens.resetMs);
  }
}
