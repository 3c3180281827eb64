import type { Generated } from 'kysely';

/**
 * Table shapes for Kysely, the same on SQLite and PostgreSQL. Times are epoch milliseconds (bigint on
 * PostgreSQL, parsed to number by the pool) so that ranges, ordering and day buckets are plain integer
 * arithmetic in both dialects. JSON fields are text. Flags are 0/1 integers (SQLite has no boolean).
 */

export interface TeamsTable {
  id: string;
  name: string;
  /** JSON object; free-form for operators. */
  metadata: string;
  created_at: number;
  updated_at: number;
}

export interface ApiKeysTable {
  id: string;
  /** sha256 of the secret, hex; the secret itself is never stored. */
  hash: string;
  /** The first characters of the secret, to recognise a key in lists and logs. */
  prefix: string;
  team_id: string;
  user_id: string | null;
  name: string | null;
  tier: string;
  /** 'user' or 'team_admin' (may manage its own team through /admin). */
  role: string;
  /** JSON array of public model names, or null for every model. */
  allowed_models: string | null;
  /** JSON: rate-limit fields, enforced by the limits feature. */
  limits: string | null;
  /** JSON: budget fields, enforced by the budgets feature. */
  budget: string | null;
  /** JSON array of cache namespaces the key may choose (`*`: any), or null for none but its team's. */
  cache_namespaces: string | null;
  require_signature: number;
  metadata: string;
  expires_at: number | null;
  revoked_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface CredentialsTable {
  id: string;
  provider: string;
  name: string | null;
  /** base64(iv | tag | ciphertext), AES-256-GCM. */
  ciphertext: string;
  /** Which secret key encrypted it (a fingerprint, not the key). */
  key_id: string;
  /** The last 4 characters, for the masked form. */
  last4: string;
  created_at: number;
  updated_at: number;
}

export interface RequestLogTable {
  id: string;
  request_id: string;
  created_at: number;
  team_id: string;
  key_id: string | null;
  user_id: string | null;
  operation: string;
  model: string | null;
  provider: string | null;
  upstream_model: string | null;
  status: number;
  error_class: string | null;
  stream: number;
  latency_ms: number;
  ttft_ms: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  /** Integer micro-dollars. */
  cost_micro_usd: number;
  /** 1 when tokens were counted by us (a stream without usage). */
  usage_estimated: number;
  attempts: number;
  cache_status: string | null;
}

/** Daily rollup, upserted with each request-log batch: usage queries never scan request rows. */
export interface UsageDailyTable {
  /** Days since the epoch (UTC). */
  day: number;
  team_id: string;
  /** '' for requests without a key. */
  key_id: string;
  model: string;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micro_usd: number;
}

export interface Database {
  teams: TeamsTable;
  api_keys: ApiKeysTable;
  credentials: CredentialsTable;
  request_log: RequestLogTable;
  usage_daily: UsageDailyTable;
}

/** Kept for other features' tables, which extend Database in their own files. */
export type { Generated };
