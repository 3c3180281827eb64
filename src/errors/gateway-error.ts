/**
 * One error model for the whole gateway. Every failure that reaches a client is a GatewayError and is
 * rendered as OpenAI's `{ error: { message, type, code, param } }` by the single error handler.
 * Match on `code`, never on `instanceof` across module copies.
 */

import { type ErrorCode, type ErrorType, statusAndType } from './codes.js';

export type { ErrorCode, ErrorType } from './codes.js';

/** Classes of upstream failure; the resilience layer decides retries and failover from these. */
export type UpstreamErrorClass =
  | 'rate_limit'
  | 'server_error'
  | 'overloaded'
  | 'timeout'
  | 'connection'
  | 'context_length'
  | 'content_policy'
  | 'auth'
  | 'bad_request'
  | 'stream_interrupted'
  /** A 2xx whose body is not what the provider's API defines (null, [], a number, choices not an array). */
  | 'invalid_response'
  /** The answer was larger than the provider's `max_response_size`. */
  | 'response_too_large';

export interface GatewayErrorOptions {
  /**
   * A status other than the table's, honoured only where the table allows it (see `statusAndType`),
   * e.g. 429 for `all_targets_failed` when every target was rate limited.
   */
  status?: number;
  param?: string | null;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, opts: GatewayErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    const { status, type } = statusAndType(code, opts.status);
    this.status = status;
    this.code = code;
    this.type = type;
    this.param = opts.param ?? null;
    this.headers = opts.headers ?? {};
  }

  toBody(): { error: { message: string; type: string; code: string; param: string | null } } {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}

export interface UpstreamErrorOptions extends Omit<GatewayErrorOptions, 'status'> {
  provider: string;
  /** HTTP status the upstream returned; undefined for network failures and timeouts. */
  upstreamStatus?: number;
  errorClass: UpstreamErrorClass;
  retryable: boolean;
  /** Seconds, from Retry-After / retry-after-ms, when the upstream gave one. */
  retryAfter?: number;
  upstreamRequestId?: string;
}

/**
 * A failure of a provider call, with code `upstream_<class>`. Status and type come from the table; for the
 * caller's own mistakes (bad request, context length, content policy) the provider's 4xx passes through.
 */
export class UpstreamError extends GatewayError {
  readonly provider: string;
  readonly upstreamStatus: number | undefined;
  readonly errorClass: UpstreamErrorClass;
  readonly retryable: boolean;
  readonly retryAfter: number | undefined;
  readonly upstreamRequestId: string | undefined;

  constructor(message: string, opts: UpstreamErrorOptions) {
    super(`upstream_${opts.errorClass}`, message, { ...opts, status: opts.upstreamStatus });
    this.name = 'UpstreamError';
    this.provider = opts.provider;
    this.upstreamStatus = opts.upstreamStatus;
    this.errorClass = opts.errorClass;
    this.retryable = opts.retryable;
    this.retryAfter = opts.retryAfter;
    this.upstreamRequestId = opts.upstreamRequestId;
  }
}

/**
 * The client went away. Never sent (there is nobody to send it to); it only unwinds the request
 * quietly and is logged as status 499 by the settle step.
 */
export class ClientAbortError extends GatewayError {
  constructor() {
    super('client_closed_request', 'client closed the request');
    this.name = 'ClientAbortError';
  }
}

/**
 * Why an aborted signal was aborted: the gateway's own reason (a timeout, as an UpstreamError) when it
 * gave one, else the client went away.
 */
export function abortError(signal: { readonly reason?: unknown }): GatewayError {
  return isGatewayError(signal.reason) ? signal.reason : new ClientAbortError();
}

export function isClientAbort(err: unknown): boolean {
  return isGatewayError(err) && err.code === 'client_closed_request';
}

export function isGatewayError(err: unknown): err is GatewayError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as GatewayError).status === 'number' &&
    typeof (err as GatewayError).code === 'string' &&
    typeof (err as GatewayError).toBody === 'function'
  );
}

export function isUpstreamError(err: unknown): err is UpstreamError {
  return isGatewayError(err) && typeof (err as UpstreamError).errorClass === 'string';
}
