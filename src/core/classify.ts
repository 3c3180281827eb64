import { UpstreamError, type UpstreamErrorClass } from '../errors/gateway-error.js';
import { redactSecrets } from './redact.js';

/**
 * The one place that maps an upstream HTTP failure to an error class. Adapters extract the provider's
 * message and type from its error body and hand them here, so every provider is classified the same way.
 */

export interface HttpFailure {
  provider: string;
  status: number;
  /** The provider's own error message, if any. */
  message: string | undefined;
  /** The provider's own error type or code, e.g. `overloaded_error`, `context_length_exceeded`. */
  providerType: string | undefined;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  requestIdHeader: string;
}

const RETRYABLE: ReadonlySet<UpstreamErrorClass> = new Set([
  'rate_limit',
  'server_error',
  'overloaded',
  'timeout',
  'connection',
  'invalid_response',
]);

/**
 * Classes that say the request itself is wrong, not the provider: never retried, never counted against
 * a target's health, and never a reason to fail over (another target would refuse it too).
 */
export const CLIENT_ERROR_CLASSES: ReadonlySet<string> = new Set([
  'bad_request',
  'context_length',
  'content_policy',
]);

export function isRetryableClass(cls: UpstreamErrorClass): boolean {
  return RETRYABLE.has(cls);
}

const CONTEXT_RE =
  /context[_ ]length|context window|too many tokens|maximum context|prompt is too long|token limit/i;
const POLICY_RE = /content[_ ]policy|content[_ ]filter|safety|blocked/i;

export function classifyStatus(status: number, providerType = '', message = ''): UpstreamErrorClass {
  const hint = `${providerType} ${message}`;
  if (status === 429) return 'rate_limit';
  if (status === 529 || /overloaded/i.test(providerType)) return 'overloaded';
  if (status === 503) return 'overloaded';
  if (status === 408 || status === 504) return 'timeout';
  if (status === 401 || status === 403) return 'auth';
  if (status >= 500) return 'server_error';
  if (CONTEXT_RE.test(hint)) return 'context_length';
  if (POLICY_RE.test(providerType)) return 'content_policy';
  return 'bad_request';
}

export function upstreamErrorFromHttp(f: HttpFailure): UpstreamError {
  const errorClass = classifyStatus(f.status, f.providerType, f.message);
  const retryAfter = retryAfterSeconds(f.headers);
  const upstreamRequestId = header(f.headers, f.requestIdHeader);
  // The provider's message is safe to relay for the user's own request errors; for operator-side
  // failures (auth, server) keep it too, but never anything from the request headers.
  const detail = f.message ? `: ${redactSecrets(f.message)}` : '';
  return new UpstreamError(`provider '${f.provider}' returned ${f.status}${detail}`, {
    provider: f.provider,
    upstreamStatus: f.status,
    errorClass,
    retryable: isRetryableClass(errorClass),
    retryAfter,
    upstreamRequestId,
    headers: retryAfter !== undefined ? { 'retry-after': String(Math.ceil(retryAfter)) } : {},
  });
}

export function header(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Seconds to wait, from `retry-after-ms` (OpenAI) or `retry-after` (seconds or an HTTP date). */
export function retryAfterSeconds(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  now: number = Date.now(),
): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && ms !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms) / 1000);
  const ra = header(headers, 'retry-after');
  if (ra === undefined || ra === '') return undefined;
  if (Number.isFinite(Number(ra))) return Math.max(0, Number(ra));
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000);
}

/** Parse a JSON error body leniently: providers sometimes answer errors in HTML or plain text. */
export function parseJsonLenient(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

export function streamInterrupted(provider: string, detail: string): UpstreamError {
  return new UpstreamError(`stream from provider '${provider}' was interrupted: ${detail}`, {
    provider,
    errorClass: 'stream_interrupted',
    retryable: false,
  });
}

/**
 * A 2xx whose body is not the provider's documented shape: the upstream is misbehaving, so it is a
 * retryable failure that counts against the target (retries, failover, breakers), never a 200 or a 500.
 */
export function invalidResponse(provider: string, detail: string): UpstreamError {
  return new UpstreamError(`provider '${provider}' returned an invalid response: ${detail}`, {
    provider,
    upstreamStatus: 200,
    errorClass: 'invalid_response',
    retryable: true,
  });
}
