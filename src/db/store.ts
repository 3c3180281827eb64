import { CompiledQuery, type Kysely, sql } from 'kysely';
import type { CallerBudget as KeyBudget, CallerLimits as KeyLimits } from '../types/caller.js';
import type { DbHandle } from './connect.js';
import { DAY_MS, REQUEST_COLUMNS, type RequestValues, sqliteRequestWriter } from './request-log-sqlite.js';
import type { ApiKeysTable, Database, RequestLogTable } from './tables.js';

/**
 * The typed queries behind keys, teams, credentials, the request log and usage. One implementation over
 * Kysely serves SQLite and PostgreSQL; the shared contract suite (test/contract/store.contract.ts) holds
 * both to the same behaviour. No business rules here (hashing, encryption, authorisation live in services).
 */

export { DAY_MS, dayOf } from './request-log-sqlite.js';

export interface TeamRecord {
  id: string;
  name: string;
  metadata: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export type { CallerBudget as KeyBudget, CallerLimits as KeyLimits } from '../types/caller.js';

export interface KeyRecord {
  id: string;
  hash: string;
  prefix: string;
  teamId: string;
  userId: string | null;
  name: string | null;
  tier: string;
  role: 'user' | 'team_admin';
  allowedModels: string[] | null;
  limits: KeyLimits | null;
  budget: KeyBudget | null;
  /** Cache namespaces the key may choose besides its team's (`*`: any); null: none. */
  cacheNamespaces: string[] | null;
  requireSignature: boolean;
  metadata: Record<string, unknown>;
  expiresAt: number | null;
  revokedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export type KeyPatch = Partial<
  Pick<
    KeyRecord,
    | 'name'
    | 'userId'
    | 'tier'
    | 'role'
    | 'allowedModels'
    | 'limits'
    | 'budget'
    | 'cacheNamespaces'
    | 'requireSignature'
    | 'metadata'
    | 'expiresAt'
  >
>;

export interface CredentialRecord {
  id: string;
  provider: string;
  name: string | null;
  ciphertext: string;
  keyId: string;
  last4: string;
  createdAt: number;
  updatedAt: number;
}

export interface RequestRow {
  id: string;
  requestId: string;
  createdAt: number;
  teamId: string;
  keyId: string | null;
  userId: string | null;
  operation: string;
  model: string | null;
  provider: string | null;
  upstreamModel: string | null;
  status: number;
  errorClass: string | null;
  stream: boolean;
  latencyMs: number;
  ttftMs: number | null;
  promptTokens: number;
  completionTokens: number;
  costMicroUsd: number;
  usageEstimated: boolean;
  attempts: number;
  cacheStatus: string | null;
}

export interface RequestFilter {
  teamId?: string;
  keyId?: string;
  model?: string;
  status?: number;
  /** Only failed (status >= 400) or only successful rows. */
  outcome?: 'success' | 'error';
  /** Inclusive, epoch ms. */
  from?: number;
  /** Exclusive, epoch ms. */
  to?: number;
  limit: number;
  cursor?: string;
}

export type UsageGroup = 'team' | 'key' | 'model' | 'day';

export interface UsageQuery {
  /** Inclusive, days since the epoch. */
  fromDay: number;
  /** Inclusive. */
  toDay: number;
  teamId?: string;
  keyId?: string;
  model?: string;
  groupBy: UsageGroup[];
}

export interface UsageRow {
  team?: string;
  key?: string | null;
  model?: string;
  day?: string;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  costMicroUsd: number;
}

const json = (v: unknown): string => JSON.stringify(v);
const parseObj = (s: string | null): Record<string, unknown> =>
  s ? (JSON.parse(s) as Record<string, unknown>) : {};

function toKey(r: ApiKeysTable): KeyRecord {
  return {
    id: r.id,
    hash: r.hash,
    prefix: r.prefix,
    teamId: r.team_id,
    userId: r.user_id,
    name: r.name,
    tier: r.tier,
    role: r.role === 'team_admin' ? 'team_admin' : 'user',
    allowedModels: r.allowed_models === null ? null : (JSON.parse(r.allowed_models) as string[]),
    limits: r.limits === null ? null : (JSON.parse(r.limits) as KeyLimits),
    budget: r.budget === null ? null : (JSON.parse(r.budget) as KeyBudget),
    cacheNamespaces: r.cache_namespaces === null ? null : (JSON.parse(r.cache_namespaces) as string[]),
    requireSignature: r.require_signature === 1,
    metadata: parseObj(r.metadata),
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toRequestRow(r: RequestLogTable): RequestRow {
  return {
    id: r.id,
    requestId: r.request_id,
    createdAt: r.created_at,
    teamId: r.team_id,
    keyId: r.key_id,
    userId: r.user_id,
    operation: r.operation,
    model: r.model,
    provider: r.provider,
    upstreamModel: r.upstream_model,
    status: r.status,
    errorClass: r.error_class,
    stream: r.stream === 1,
    latencyMs: r.latency_ms,
    ttftMs: r.ttft_ms,
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
    costMicroUsd: r.cost_micro_usd,
    usageEstimated: r.usage_estimated === 1,
    attempts: r.attempts,
    cacheStatus: r.cache_status,
  };
}

function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(`${createdAt}:${id}`).toString('base64url');
}

/** undefined for a malformed cursor: the caller answers 400. */
export function decodeCursor(cursor: string): { createdAt: number; id: string } | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const i = text.indexOf(':');
  if (i <= 0) return undefined;
  const createdAt = Number(text.slice(0, i));
  if (!Number.isSafeInteger(createdAt)) return undefined;
  return { createdAt, id: text.slice(i + 1) };
}

export function dayString(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** One request_log row as its SQL values (what the SQLite writer, in either thread, takes). */
export function requestValues(r: RequestRow): RequestValues {
  return [
    r.id,
    r.requestId,
    r.createdAt,
    r.teamId,
    r.keyId,
    r.userId,
    r.operation,
    r.model,
    r.provider,
    r.upstreamModel,
    r.status,
    r.errorClass,
    r.stream ? 1 : 0,
    Math.round(r.latencyMs),
    r.ttftMs === null ? null : Math.round(r.ttftMs),
    r.promptTokens,
    r.completionTokens,
    r.costMicroUsd,
    r.usageEstimated ? 1 : 0,
    r.attempts,
    r.cacheStatus,
  ];
}

/** PostgreSQL's type for each request_log column, in REQUEST_COLUMNS order (the unnest() casts). */
const PG_REQUEST_TYPES = [
  'text',
  'text',
  'int8',
  'text',
  'text',
  'text',
  'text',
  'text',
  'text',
  'text',
  'int4',
  'text',
  'int4',
  'int4',
  'int4',
  'int4',
  'int4',
  'int8',
  'int4',
  'int4',
  'text',
] as const;

/**
 * The request log's write on PostgreSQL: one statement per batch whatever its size. The rows travel as
 * one array per column (21 parameters, not 21 per row: the query builder compiled and the server parsed a
 * 2,100-parameter statement per batch), and the daily rollup is computed from the rows the insert actually
 * wrote (`returning`: a retried batch's rows already there add nothing), so there is no transaction to
 * open and commit around two statements: one round trip instead of four, atomic as one statement.
 */
const PG_REQUEST_INSERT = `with written as (
  insert into request_log (${REQUEST_COLUMNS.join(', ')})
  select * from unnest(${PG_REQUEST_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})
  on conflict (id) do nothing
  returning created_at, team_id, key_id, model, status, prompt_tokens, completion_tokens, cost_micro_usd
)
insert into usage_daily (day, team_id, key_id, model, requests, errors, prompt_tokens, completion_tokens, cost_micro_usd)
select floor(created_at / ${DAY_MS}.0)::int4, team_id, coalesce(key_id, ''), coalesce(model, ''),
  count(*), count(*) filter (where status >= 400), sum(prompt_tokens), sum(completion_tokens), sum(cost_micro_usd)
from written
group by 1, 2, 3, 4
order by 1, 2, 3, 4
on conflict (day, team_id, key_id, model) do update set
  requests = usage_daily.requests + excluded.requests, errors = usage_daily.errors + excluded.errors,
  prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
  completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens,
  cost_micro_usd = usage_daily.cost_micro_usd + excluded.cost_micro_usd`;

const ARRAY_ESCAPE = /[\\"]/g;
const ARRAY_NEEDS_ESCAPE = /[\\"]/;

/** One element of a PostgreSQL array literal: quoted always (so '', 'NULL', spaces, commas stay text). */
function textElement(v: string | null): string {
  if (v === null) return 'NULL';
  return ARRAY_NEEDS_ESCAPE.test(v) ? `"${v.replace(ARRAY_ESCAPE, '\\$&')}"` : `"${v}"`;
}

function numberElement(v: number | null): string {
  return v === null ? 'NULL' : String(v);
}

/**
 * The batch as one PostgreSQL array literal per column, in REQUEST_COLUMNS order. Built here rather than
 * by pg from JS arrays: pg runs two regular-expression replaces and a type dispatch per element, which
 * was most of this path's CPU (2,100 elements per batch).
 */
function requestColumns(rows: readonly RequestRow[]): string[] {
  const c = REQUEST_COLUMNS.map(() => '{');
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const sep = i === 0 ? '' : ',';
    c[0] += sep + textElement(r.id);
    c[1] += sep + textElement(r.requestId);
    c[2] += sep + numberElement(r.createdAt);
    c[3] += sep + textElement(r.teamId);
    c[4] += sep + textElement(r.keyId);
    c[5] += sep + textElement(r.userId);
    c[6] += sep + textElement(r.operation);
    c[7] += sep + textElement(r.model);
    c[8] += sep + textElement(r.provider);
    c[9] += sep + textElement(r.upstreamModel);
    c[10] += sep + numberElement(r.status);
    c[11] += sep + textElement(r.errorClass);
    c[12] += sep + (r.stream ? '1' : '0');
    c[13] += sep + numberElement(Math.round(r.latencyMs));
    c[14] += sep + numberElement(r.ttftMs === null ? null : Math.round(r.ttftMs));
    c[15] += sep + numberElement(r.promptTokens);
    c[16] += sep + numberElement(r.completionTokens);
    c[17] += sep + numberElement(r.costMicroUsd);
    c[18] += sep + (r.usageEstimated ? '1' : '0');
    c[19] += sep + numberElement(r.attempts);
    c[20] += sep + textElement(r.cacheStatus);
  }
  for (let k = 0; k < c.length; k++) c[k] += '}';
  return c;
}

/**
 * Where request-log batches go instead of this connection: on a SQLite file, a worker thread with its
 * own connection (request-log-thread.ts), so the gateway's event loop never runs those inserts.
 */
export interface RequestRowsSink {
  /** Same contract as `Store.insertRequests`: atomic, idempotent on the row id, visible once resolved. */
  insert(rows: readonly RequestRow[]): Promise<void>;
  /** Same contract as `Store.deleteRequestsBefore`. */
  deleteBefore(before: number): Promise<number>;
}

export class Store {
  private sqliteRequestWriter: ((rows: readonly RequestValues[]) => void) | undefined;
  readonly db: Kysely<Database>;
  private readonly read: Kysely<Database>;
  private readonly requestRows: RequestRowsSink | undefined;

  constructor(
    readonly handle: DbHandle,
    opts: { requestRows?: RequestRowsSink } = {},
  ) {
    this.db = handle.db;
    this.read = handle.read;
    this.requestRows = opts.requestRows;
  }

  // ---- teams

  async createTeam(t: { id: string; name: string; metadata?: Record<string, unknown> }): Promise<TeamRecord> {
    const now = Date.now();
    const row = {
      id: t.id,
      name: t.name,
      metadata: json(t.metadata ?? {}),
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto('teams').values(row).execute();
    return { id: t.id, name: t.name, metadata: t.metadata ?? {}, createdAt: now, updatedAt: now };
  }

  async getTeam(id: string): Promise<TeamRecord | undefined> {
    const r = await this.db.selectFrom('teams').selectAll().where('id', '=', id).executeTakeFirst();
    return r && { ...r, metadata: parseObj(r.metadata), createdAt: r.created_at, updatedAt: r.updated_at };
  }

  async listTeams(opts: { limit: number; ids?: string[] }): Promise<TeamRecord[]> {
    let q = this.db.selectFrom('teams').selectAll().orderBy('id').limit(opts.limit);
    if (opts.ids) {
      if (opts.ids.length === 0) return [];
      q = q.where('id', 'in', opts.ids);
    }
    const rows = await q.execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      metadata: parseObj(r.metadata),
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
  }

  async updateTeam(
    id: string,
    patch: { name?: string; metadata?: Record<string, unknown> },
  ): Promise<TeamRecord | undefined> {
    const set: { name?: string; metadata?: string; updated_at: number } = { updated_at: Date.now() };
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.metadata !== undefined) set.metadata = json(patch.metadata);
    await this.db.updateTable('teams').set(set).where('id', '=', id).execute();
    return this.getTeam(id);
  }

  // ---- keys

  async insertKey(k: KeyRecord): Promise<void> {
    await this.db
      .insertInto('api_keys')
      .values({
        id: k.id,
        hash: k.hash,
        prefix: k.prefix,
        team_id: k.teamId,
        user_id: k.userId,
        name: k.name,
        tier: k.tier,
        role: k.role,
        allowed_models: k.allowedModels === null ? null : json(k.allowedModels),
        limits: k.limits === null ? null : json(k.limits),
        budget: k.budget === null ? null : json(k.budget),
        cache_namespaces: k.cacheNamespaces === null ? null : json(k.cacheNamespaces),
        require_signature: k.requireSignature ? 1 : 0,
        metadata: json(k.metadata),
        expires_at: k.expiresAt,
        revoked_at: k.revokedAt,
        created_at: k.createdAt,
        updated_at: k.updatedAt,
      })
      .execute();
  }

  async getKeyByHash(hash: string): Promise<KeyRecord | undefined> {
    const r = await this.db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
    return r && toKey(r);
  }

  /** With `teamId`, a key of another team is not found (as if it did not exist). */
  async getKey(id: string, teamId?: string): Promise<KeyRecord | undefined> {
    let q = this.db.selectFrom('api_keys').selectAll().where('id', '=', id);
    if (teamId !== undefined) q = q.where('team_id', '=', teamId);
    const r = await q.executeTakeFirst();
    return r && toKey(r);
  }

  async listKeys(opts: {
    teamId?: string;
    includeRevoked?: boolean;
    limit: number;
    /** Keys created before this key id's position (created_at, id), newest first. */
    cursor?: string;
  }): Promise<{ keys: KeyRecord[]; nextCursor: string | null }> {
    let q = this.db
      .selectFrom('api_keys')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(opts.limit + 1);
    if (opts.teamId !== undefined) q = q.where('team_id', '=', opts.teamId);
    if (!opts.includeRevoked) q = q.where('revoked_at', 'is', null);
    const c = opts.cursor ? decodeCursor(opts.cursor) : undefined;
    if (c) {
      q = q.where((eb) =>
        eb.or([
          eb('created_at', '<', c.createdAt),
          eb.and([eb('created_at', '=', c.createdAt), eb('id', '<', c.id)]),
        ]),
      );
    }
    const rows = await q.execute();
    const page = rows.slice(0, opts.limit).map(toKey);
    const last = page.at(-1);
    return {
      keys: page,
      nextCursor: rows.length > opts.limit && last ? encodeCursor(last.createdAt, last.id) : null,
    };
  }

  /** Returns the updated key, or undefined when not found (in `teamId`, when given). */
  async updateKey(id: string, patch: KeyPatch, teamId?: string): Promise<KeyRecord | undefined> {
    const set: Partial<ApiKeysTable> = { updated_at: Date.now() };
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.userId !== undefined) set.user_id = patch.userId;
    if (patch.tier !== undefined) set.tier = patch.tier;
    if (patch.role !== undefined) set.role = patch.role;
    if (patch.allowedModels !== undefined)
      set.allowed_models = patch.allowedModels === null ? null : json(patch.allowedModels);
    if (patch.limits !== undefined) set.limits = patch.limits === null ? null : json(patch.limits);
    if (patch.budget !== undefined) set.budget = patch.budget === null ? null : json(patch.budget);
    if (patch.cacheNamespaces !== undefined)
      set.cache_namespaces = patch.cacheNamespaces === null ? null : json(patch.cacheNamespaces);
    if (patch.requireSignature !== undefined) set.require_signature = patch.requireSignature ? 1 : 0;
    if (patch.metadata !== undefined) set.metadata = json(patch.metadata);
    if (patch.expiresAt !== undefined) set.expires_at = patch.expiresAt;
    let q = this.db.updateTable('api_keys').set(set).where('id', '=', id);
    if (teamId !== undefined) q = q.where('team_id', '=', teamId);
    const res = await q.executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return undefined;
    return this.getKey(id);
  }

  /** Idempotent: a revoked key keeps its first revocation time. */
  async revokeKey(id: string, at: number, teamId?: string): Promise<KeyRecord | undefined> {
    let q = this.db
      .updateTable('api_keys')
      .set({ revoked_at: at, updated_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null);
    if (teamId !== undefined) q = q.where('team_id', '=', teamId);
    await q.execute();
    return this.getKey(id, teamId);
  }

  // ---- credentials

  async insertCredential(c: CredentialRecord): Promise<void> {
    await this.db
      .insertInto('credentials')
      .values({
        id: c.id,
        provider: c.provider,
        name: c.name,
        ciphertext: c.ciphertext,
        key_id: c.keyId,
        last4: c.last4,
        created_at: c.createdAt,
        updated_at: c.updatedAt,
      })
      .execute();
  }

  async listCredentials(provider?: string): Promise<CredentialRecord[]> {
    let q = this.db.selectFrom('credentials').selectAll().orderBy('created_at').orderBy('id');
    if (provider !== undefined) q = q.where('provider', '=', provider);
    const rows = await q.execute();
    return rows.map((r) => ({
      id: r.id,
      provider: r.provider,
      name: r.name,
      ciphertext: r.ciphertext,
      keyId: r.key_id,
      last4: r.last4,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
  }

  /** Replaces the ciphertext only if it is still the one that was read (rotation racing an update). */
  async reencryptCredential(id: string, from: string, to: string, keyId: string): Promise<boolean> {
    const res = await this.db
      .updateTable('credentials')
      .set({ ciphertext: to, key_id: keyId, updated_at: Date.now() })
      .where('id', '=', id)
      .where('ciphertext', '=', from)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async deleteCredential(id: string): Promise<boolean> {
    const res = await this.db.deleteFrom('credentials').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  // ---- request log and usage

  /**
   * Atomic: the rows, and the daily rollup they add to (one transaction on SQLite, one statement on
   * PostgreSQL). Through the `requestRows` sink when there is one (a SQLite file in the gateway: the
   * worker thread); else on this connection, where callers keep batches small (<= 100 rows) so one
   * SQLite transaction never blocks the event loop noticeably.
   */
  async insertRequests(rows: readonly RequestRow[]): Promise<void> {
    if (rows.length === 0) return;
    if (this.requestRows) return this.requestRows.insert(rows);
    if (this.handle.sqlite) {
      this.sqliteRequestWriter ??= sqliteRequestWriter(this.handle.sqlite);
      this.sqliteRequestWriter(rows.map(requestValues));
      return;
    }
    // Not a query-builder query: one fixed text, its parameters the column arrays.
    await this.db.executeQuery(CompiledQuery.raw(PG_REQUEST_INSERT, requestColumns(rows)));
  }

  async listRequests(f: RequestFilter): Promise<{ rows: RequestRow[]; nextCursor: string | null }> {
    let q = this.read
      .selectFrom('request_log')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(f.limit + 1);
    if (f.teamId !== undefined) q = q.where('team_id', '=', f.teamId);
    if (f.keyId !== undefined) q = q.where('key_id', '=', f.keyId);
    if (f.model !== undefined) q = q.where('model', '=', f.model);
    if (f.status !== undefined) q = q.where('status', '=', f.status);
    if (f.outcome === 'error') q = q.where('status', '>=', 400);
    if (f.outcome === 'success') q = q.where('status', '<', 400);
    if (f.from !== undefined) q = q.where('created_at', '>=', f.from);
    if (f.to !== undefined) q = q.where('created_at', '<', f.to);
    const c = f.cursor ? decodeCursor(f.cursor) : undefined;
    if (c) {
      q = q.where((eb) =>
        eb.or([
          eb('created_at', '<', c.createdAt),
          eb.and([eb('created_at', '=', c.createdAt), eb('id', '<', c.id)]),
        ]),
      );
    }
    const rows = (await q.execute()).map(toRequestRow);
    const page = rows.slice(0, f.limit);
    const last = page.at(-1);
    return {
      rows: page,
      nextCursor: rows.length > f.limit && last ? encodeCursor(last.createdAt, last.id) : null,
    };
  }

  async getRequest(id: string, teamId?: string): Promise<RequestRow | undefined> {
    let q = this.read.selectFrom('request_log').selectAll().where('id', '=', id);
    if (teamId !== undefined) q = q.where('team_id', '=', teamId);
    const r = await q.executeTakeFirst();
    return r && toRequestRow(r);
  }

  /** Retention: deletes request rows older than `before` (the daily rollup stays). Returns the count. */
  async deleteRequestsBefore(before: number): Promise<number> {
    // The sink deletes in short transactions off the event loop: a first sweep may meet millions of rows.
    if (this.requestRows) return this.requestRows.deleteBefore(before);
    const res = await this.db.deleteFrom('request_log').where('created_at', '<', before).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  async usage(q: UsageQuery): Promise<UsageRow[]> {
    const cols = { team: 'team_id', key: 'key_id', model: 'model', day: 'day' } as const;
    const groups = [...new Set(q.groupBy)].map((g) => cols[g]);
    let query = this.read
      .selectFrom('usage_daily')
      .where('day', '>=', q.fromDay)
      .where('day', '<=', q.toDay)
      .select((eb) => [
        eb.fn.sum<number>('requests').as('requests'),
        eb.fn.sum<number>('errors').as('errors'),
        eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
        eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
        eb.fn.sum<number>('cost_micro_usd').as('cost_micro_usd'),
      ]);
    if (q.teamId !== undefined) query = query.where('team_id', '=', q.teamId);
    if (q.keyId !== undefined) query = query.where('key_id', '=', q.keyId);
    if (q.model !== undefined) query = query.where('model', '=', q.model);
    for (const g of groups) query = query.select(g).groupBy(g).orderBy(g);
    const rows = (await query.execute()) as Array<Record<string, string | number | null>>;
    const out: UsageRow[] = [];
    for (const r of rows) {
      // sum() over no rows is one row of nulls.
      if (r.requests === null) continue;
      const u: UsageRow = {
        requests: Number(r.requests),
        errors: Number(r.errors),
        promptTokens: Number(r.prompt_tokens),
        completionTokens: Number(r.completion_tokens),
        costMicroUsd: Number(r.cost_micro_usd),
      };
      if (groups.includes('team_id')) u.team = String(r.team_id);
      if (groups.includes('key_id')) u.key = r.key_id === '' ? null : String(r.key_id);
      if (groups.includes('model')) u.model = String(r.model);
      if (groups.includes('day')) u.day = dayString(Number(r.day));
      out.push(u);
    }
    return out;
  }

  /** For tests and /health: a trivial round trip. */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }
}
