/**
 * One error model for the whole gateway. Every failure that reaches a client is a GatewayError and is
 * rendered as OpenAI's `{ error: { message, type, code, param } }` by the single error handler.
 * Match on `code`, never on `instanceof` across module copies.
 */

export type ErrorType =
  | 'invalid_request_error'
  | 'not_found_error'
  | 'authentication_error'
  | 'permission_error'
  | 'rate_limit_error'
  | 'upstream_error'
  | 'timeout_error'
  | 'overloaded_error'
  | 'server_error';

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
  | 'stream_interrupted';

export interface GatewayErrorOptions {
  type?: ErrorType;
  param?: string | null;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly code: string;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, opts: GatewayErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    this.status = status;
    this.code = code;
    this.type = opts.type ?? defaultType(status);
    this.param = opts.param ?? null;
    this.headers = opts.headers ?? {};
  }

  toBody(): { error: { message: string; type: string; code: string; param: string | null } } {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}

export interface UpstreamErrorOptions extends GatewayErrorOptions {
  provider: string;
  /** HTTP status the upstream returned; undefined for network failures and timeouts. */
  upstreamStatus?: number;
  errorClass: UpstreamErrorClass;
  retryable: boolean;
  /** Seconds, from Retry-After / retry-after-ms, when the upstream gave one. */
  retryAfter?: number;
  upstreamRequestId?: string;
}

/** A failure of a provider call. Its own status is what the client sees (502/503/504, or 4xx passthrough). */
export class UpstreamError extends GatewayError {
  readonly provider: string;
  readonly upstreamStatus: number | undefined;
  readonly errorClass: UpstreamErrorClass;
  readonly retryable: boolean;
  readonly retryAfter: number | undefined;
  readonly upstreamRequestId: string | undefined;

  constructor(message: string, opts: UpstreamErrorOptions) {
    const status = clientStatusFor(opts.errorClass, opts.upstreamStatus);
    super(status, `upstream_${opts.errorClass}`, message, {
      ...opts,
      type: opts.type ?? upstreamType(opts.errorClass),
    });
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
    super(499, 'client_closed_request', 'client closed the request', { type: 'invalid_request_error' });
    this.name = 'ClientAbortError';
  }
}

/**
 * Why an aborted signal was aborted: the gateway's own reason (a timeout, as an UpstreamError) when it
 * gave one, else the client went away.
 */
export function abortError(signal: AbortSignal): GatewayError {
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

function defaultType(status: number): ErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 504) return 'timeout_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function upstreamType(cls: UpstreamErrorClass): ErrorType {
  switch (cls) {
    case 'rate_limit':
      return 'rate_limit_error';
    case 'timeout':
      return 'timeout_error';
    case 'overloaded':
      return 'overloaded_error';
    case 'bad_request':
    case 'context_length':
    case 'content_policy':
      return 'invalid_request_error';
    default:
      return 'upstream_error';
  }
}

/**
 * What the client sees. The user's own bad request (400/404/413/422 class errors) keeps its status so the
 * client can fix it; the upstream's auth failure is the operator's problem, so it becomes 502 rather than
 * telling the client its (gateway) key is wrong.
 */
function clientStatusFor(cls: UpstreamErrorClass, upstreamStatus: number | undefined): number {
  switch (cls) {
    case 'rate_limit':
      return 429;
    case 'overloaded':
      return 503;
    case 'timeout':
      return 504;
    case 'bad_request':
    case 'context_length':
    case 'content_policy':
      return upstreamStatus !== undefined && upstreamStatus >= 400 && upstreamStatus < 500
        ? upstreamStatus
        : 400;
    default:
      return 502;
  }
}
