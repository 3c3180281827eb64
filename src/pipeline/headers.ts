import type { RequestMeta } from '../services/request-meta.js';

/**
 * The headers that say who answered and how hard the gateway tried. Pure, so HTTP delivery and the
 * HTTP error handler write the same ones. Every value here is a configured name or a number, except the
 * upstream's request id, which the upstream chose: it is dropped when it is not valid header text.
 * Model names a client addressed directly (`provider/中文`) are percent-encoded rather than allowed to
 * make Node throw while the response is being written.
 */

/** Who answered: on successful responses. */
export function routeHeaders(m: RequestMeta, out: Record<string, string>): void {
  if (m.provider) out['x-switchyard-provider'] = headerSafe(m.provider);
  if (m.upstreamModel) out['x-switchyard-model'] = headerSafe(m.upstreamModel);
  if (m.upstreamRequestId && HEADER_VALUE.test(m.upstreamRequestId)) {
    out['x-upstream-request-id'] = m.upstreamRequestId;
  }
  resilienceHeaders(m, out);
}

/** How hard the gateway tried: on every response, errors included. */
export function resilienceHeaders(m: RequestMeta, out: Record<string, string>): void {
  if (m.attempts !== undefined) out['x-switchyard-attempts'] = String(m.attempts);
  if (m.fallback) out['x-switchyard-fallback'] = headerSafe(m.fallback);
  if (m.degraded) out['x-switchyard-degraded'] = m.degraded;
}

/** Printable ASCII without CR/LF, bounded: what Node accepts as a header value and a log can hold. */
const HEADER_VALUE = /^[\x20-\x7e]{1,256}$/;

function headerSafe(value: string): string {
  return HEADER_VALUE.test(value) ? value : encodeURIComponent(value).slice(0, 256);
}
