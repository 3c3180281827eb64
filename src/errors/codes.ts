/**
 * The one table of error codes. Every error a client can receive has its code here, with the HTTP status
 * and OpenAI error `type` it carries; `GatewayError` reads both from this table, and a test checks
 * docs/errors.md against it in both directions.
 *
 * Types are OpenAI's vocabulary only, because OpenAI-compatible clients are what we speak to:
 * - `invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`,
 *   `rate_limit_error`: the caller can act on it;
 * - `api_error`: a provider behind the gateway failed (or every target is unusable); the detail is in `code`;
 * - `server_error`: the gateway itself failed or is refusing work (a bug, load shedding, shutdown).
 */

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error'
  | 'server_error';

export interface ErrorSpec {
  /** The status the code normally carries. */
  readonly status: number;
  readonly type: ErrorType;
  /** Other statuses this code may carry, each with the type it implies. */
  readonly variants?: Readonly<Record<number, ErrorType>>;
  /** The provider's own 4xx passes through (the caller's request was at fault); `status` applies otherwise. */
  readonly upstream4xx?: true;
}

/** Keeps the keys as a literal union while every entry reads as a plain ErrorSpec. */
const spec = <K extends string>(t: Record<K, ErrorSpec>): Readonly<Record<K, ErrorSpec>> => t;

export const ERROR_CODES = spec({
  // Request errors: the caller can fix these.
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_encoding: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  invalid_value: { status: 400, type: 'invalid_request_error' },
  missing_required_parameter: { status: 400, type: 'invalid_request_error' },
  unknown_tool_call_id: { status: 400, type: 'invalid_request_error' },
  invalid_tool_call_arguments: { status: 400, type: 'invalid_request_error' },
  invalid_image_url: { status: 400, type: 'invalid_request_error' },
  unsupported_content: { status: 400, type: 'invalid_request_error' },
  unsupported_parameter: { status: 400, type: 'invalid_request_error' },
  embeddings_not_supported: { status: 400, type: 'invalid_request_error' },
  unsupported_tool: { status: 400, type: 'invalid_request_error' },
  invalid_event: { status: 400, type: 'invalid_request_error' },
  previous_response_not_found: { status: 400, type: 'invalid_request_error' },
  conversation_too_long: { status: 400, type: 'invalid_request_error' },
  audio_not_supported: { status: 400, type: 'invalid_request_error' },
  model_name_invalid: { status: 400, type: 'invalid_request_error' },
  model_not_found: { status: 404, type: 'not_found_error' },
  response_not_found: { status: 404, type: 'not_found_error' },
  item_not_found: { status: 404, type: 'not_found_error' },
  file_too_large: { status: 413, type: 'invalid_request_error' },
  too_many_form_parts: { status: 413, type: 'invalid_request_error' },
  unsupported_audio_type: { status: 415, type: 'invalid_request_error' },
  route_not_found: { status: 404, type: 'not_found_error' },
  request_timeout: { status: 408, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  headers_too_large: { status: 431, type: 'invalid_request_error' },
  invalid_cache_header: { status: 400, type: 'invalid_request_error' },
  cache_namespace_forbidden: { status: 403, type: 'permission_error' },

  // Upstream errors: a provider failed. The code is `upstream_<class>` (see UpstreamErrorClass).
  upstream_rate_limit: { status: 429, type: 'rate_limit_error' },
  upstream_overloaded: { status: 503, type: 'api_error' },
  upstream_server_error: { status: 502, type: 'api_error' },
  upstream_timeout: { status: 504, type: 'api_error' },
  upstream_connection: { status: 502, type: 'api_error' },
  upstream_auth: { status: 502, type: 'api_error' },
  upstream_bad_request: { status: 400, type: 'invalid_request_error', upstream4xx: true },
  upstream_context_length: { status: 400, type: 'invalid_request_error', upstream4xx: true },
  upstream_content_policy: { status: 400, type: 'invalid_request_error', upstream4xx: true },
  upstream_stream_interrupted: { status: 502, type: 'api_error' },
  upstream_invalid_response: { status: 502, type: 'api_error' },
  upstream_response_too_large: { status: 502, type: 'api_error' },

  // Gateway errors.
  internal_error: { status: 500, type: 'server_error' },
  server_overloaded: { status: 503, type: 'server_error' },
  shutting_down: { status: 503, type: 'server_error' },
  invalid_admin_key: { status: 401, type: 'authentication_error' },
  admin_disabled: { status: 403, type: 'permission_error' },
  circuit_open: { status: 503, type: 'api_error' },
  all_targets_failed: { status: 502, type: 'api_error', variants: { 429: 'rate_limit_error' } },
  service_degraded: { status: 503, type: 'api_error' },
  budget_exhausted: { status: 504, type: 'api_error' },
  // Authentication and administration (docs/auth.md, docs/admin-api.md).
  missing_api_key: { status: 401, type: 'authentication_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  api_key_revoked: { status: 401, type: 'authentication_error' },
  api_key_expired: { status: 401, type: 'authentication_error' },
  invalid_token: { status: 401, type: 'authentication_error' },
  token_expired: { status: 401, type: 'authentication_error' },
  token_missing_team: { status: 403, type: 'permission_error' },
  signature_required: { status: 401, type: 'authentication_error' },
  signature_expired: { status: 401, type: 'authentication_error' },
  invalid_signature: { status: 401, type: 'authentication_error' },
  signature_replayed: { status: 401, type: 'authentication_error' },
  model_not_allowed: { status: 403, type: 'permission_error' },
  ip_not_allowed: { status: 403, type: 'permission_error' },
  admin_forbidden: { status: 403, type: 'permission_error' },
  team_forbidden: { status: 403, type: 'permission_error' },
  team_not_found: { status: 404, type: 'not_found_error' },
  key_not_found: { status: 404, type: 'not_found_error' },
  request_not_found: { status: 404, type: 'not_found_error' },
  credential_not_found: { status: 404, type: 'not_found_error' },
  team_exists: { status: 409, type: 'invalid_request_error' },
  invalid_team_id: { status: 400, type: 'invalid_request_error' },
  invalid_tier: { status: 400, type: 'invalid_request_error' },
  invalid_cache_namespaces: { status: 400, type: 'invalid_request_error' },
  invalid_cursor: { status: 400, type: 'invalid_request_error' },
  secret_key_missing: { status: 400, type: 'invalid_request_error' },
  // Limits and budgets (docs/limits.md).
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  budget_exceeded: { status: 429, type: 'rate_limit_error', variants: { 402: 'permission_error' } },
  limits_unavailable: { status: 503, type: 'server_error' },
  response_store_unavailable: { status: 503, type: 'server_error' },

  // Jobs (docs/jobs.md).
  unknown_job_type: { status: 400, type: 'invalid_request_error' },
  invalid_job_input: { status: 400, type: 'invalid_request_error' },
  job_input_too_large: { status: 413, type: 'invalid_request_error' },
  webhooks_not_configured: { status: 400, type: 'invalid_request_error' },
  job_not_found: { status: 404, type: 'not_found_error' },

  // Files, uploads and batches.
  file_not_found: { status: 404, type: 'not_found_error' },
  upload_not_found: { status: 404, type: 'not_found_error' },
  batch_not_found: { status: 404, type: 'not_found_error' },
  upload_not_pending: { status: 400, type: 'invalid_request_error' },
  too_many_parts: { status: 400, type: 'invalid_request_error' },
  upload_size_mismatch: { status: 400, type: 'invalid_request_error' },
  checksum_mismatch: { status: 400, type: 'invalid_request_error' },
  batch_not_cancellable: { status: 400, type: 'invalid_request_error' },

  /** Never sent: the client went away. Logged with status 499. */
  client_closed_request: { status: 499, type: 'invalid_request_error' },
});

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/**
 * The status and type a code carries. `wanted` is honoured only where the table allows it (a variant,
 * or the provider's 4xx for an `upstream4xx` code); anything else falls back to the table's status, so a
 * call site cannot invent a status the docs do not promise.
 */
export function statusAndType(code: ErrorCode, wanted?: number): { status: number; type: ErrorType } {
  const s = ERROR_CODES[code];
  if (wanted !== undefined && wanted !== s.status) {
    const variant = s.variants?.[wanted];
    if (variant !== undefined) return { status: wanted, type: variant };
    if (s.upstream4xx && wanted >= 400 && wanted < 500) return { status: wanted, type: s.type };
  }
  return { status: s.status, type: s.type };
}
