import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DAY_MS, dayOf, decodeCursor, type KeyPatch, type UsageGroup } from '../../db/store.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { publicCredential } from '../../services/credentials.js';
import { type KeyInput, publicKey } from '../../services/keys.js';
import { budgetReport } from '../../services/limits/budget-report.js';
import type { BudgetUsageRow, LimitsService } from '../../services/limits/limits-service.js';
import type { Storage } from '../../services/storage.js';
import { publicTeam } from '../../services/teams.js';
import type { Caller } from '../../types/caller.js';
import type { LimitsSpec } from '../../types/limits.js';
import {
  CreateCredentialBody,
  CreateKeyBody,
  CreateTeamBody,
  IdParams,
  ListKeysQuery,
  ListTeamsQuery,
  RequestsQuery,
  UpdateKeyBody,
  UpdateTeamBody,
  UsageQuery,
} from './schemas.js';

/**
 * /admin/*: thin handlers over the storage services. The master key (SWITCHYARD_ADMIN_KEY) sees every
 * team; a `team_admin` key sees only its own team, and anything of another team answers exactly as if it
 * did not exist (404), or 403 where the caller named the other team itself.
 */

declare module 'fastify' {
  interface FastifyRequest {
    adminCaller: Caller;
  }
}

const MAX_USAGE_DAYS = 3660;

function scope(c: Caller): string | undefined {
  return c.role === 'admin' ? undefined : c.team;
}

function requireMaster(c: Caller): void {
  if (c.role !== 'admin') {
    throw new GatewayError(
      'admin_forbidden',
      'This needs the admin key; a team admin key manages only its team.',
      {},
    );
  }
}

/** A team filter for reads: a team admin naming another team is refused, and no filter means its own. */
function teamFilter(c: Caller, team: string | undefined): string | undefined {
  const own = scope(c);
  if (own === undefined) return team;
  if (team !== undefined && team !== own) {
    throw new GatewayError('team_forbidden', `This key may not access team '${team}'.`, {
      param: 'team',
    });
  }
  return own;
}

function notFound(what: 'key' | 'team' | 'request' | 'credential', id: string): GatewayError {
  const code = `${what}_not_found` as const;
  const messages = {
    key_not_found: `No key '${id}'.`,
    team_not_found: `No team '${id}'.`,
    request_not_found: `No request '${id}'.`,
    credential_not_found: `No credential '${id}'.`,
  };
  switch (code) {
    case 'key_not_found':
      return new GatewayError('key_not_found', messages[code]);
    case 'team_not_found':
      return new GatewayError('team_not_found', messages[code]);
    case 'request_not_found':
      return new GatewayError('request_not_found', messages[code]);
    default:
      return new GatewayError('credential_not_found', messages[code]);
  }
}

function parseExpiry(v: string | null | undefined): number | null | undefined {
  if (v === undefined || v === null) return v;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) {
    throw new GatewayError('invalid_request', 'expires_at must be an ISO 8601 date-time.', {
      param: 'expires_at',
    });
  }
  return ms;
}

type KeyBody = {
  user?: string | null;
  name?: string | null;
  tier?: string;
  role?: 'user' | 'team_admin';
  allowed_models?: string[] | null;
  limits?: KeyInput['limits'];
  budget?: { daily_micro_usd?: number; monthly_micro_usd?: number; total_micro_usd?: number } | null;
  cache_namespaces?: string[] | null;
  require_signature?: boolean;
  metadata?: Record<string, unknown>;
  expires_at?: string | null;
};

function keyPatch(b: KeyBody): KeyPatch {
  const p: KeyPatch = {};
  if (b.user !== undefined) p.userId = b.user;
  if (b.name !== undefined) p.name = b.name;
  if (b.tier !== undefined) p.tier = b.tier;
  if (b.role !== undefined) p.role = b.role;
  if (b.allowed_models !== undefined) p.allowedModels = b.allowed_models;
  if (b.limits !== undefined) p.limits = b.limits;
  if (b.budget !== undefined) p.budget = b.budget === null ? null : budgetFromApi(b.budget);
  if (b.cache_namespaces !== undefined) p.cacheNamespaces = b.cache_namespaces;
  if (b.require_signature !== undefined) p.requireSignature = b.require_signature;
  if (b.metadata !== undefined) p.metadata = b.metadata;
  const exp = parseExpiry(b.expires_at);
  if (exp !== undefined) p.expiresAt = exp;
  return p;
}

function budgetFromApi(b: {
  daily_micro_usd?: number;
  monthly_micro_usd?: number;
  total_micro_usd?: number;
}) {
  const out: NonNullable<KeyPatch['budget']> = {};
  if (b.daily_micro_usd !== undefined) out.dailyMicros = b.daily_micro_usd;
  if (b.monthly_micro_usd !== undefined) out.monthlyMicros = b.monthly_micro_usd;
  if (b.total_micro_usd !== undefined) out.totalMicros = b.total_micro_usd;
  return out;
}

function parseTime(v: string | undefined, param: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) {
    throw new GatewayError('invalid_request', `${param} must be an ISO 8601 date or date-time.`, {
      param,
    });
  }
  return ms;
}

function checkCursor(cursor: string | undefined): void {
  if (cursor !== undefined && !decodeCursor(cursor)) {
    throw new GatewayError('invalid_cursor', 'cursor is not one this API returned.', {
      param: 'cursor',
    });
  }
}

const tags = ['admin'];

export interface AdminRouteOptions {
  storage: Storage;
  /** Called after a stored credential is added or deleted. */
  onCredentialsChanged?: () => Promise<void>;
  /** Spend caps for /admin/usage: the service that enforces them and the current limits config. */
  limits?: { service: LimitsService; spec: () => LimitsSpec; anonymous: () => boolean };
}

export default async function adminRoutes(app: FastifyInstance, opts: AdminRouteOptions): Promise<void> {
  const { storage } = opts;
  const { keys, teams, credentials, store } = storage;
  app.decorateRequest('adminCaller', null as unknown as Caller);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    request.adminCaller = await storage.adminGuard.identify({ headers: request.headers, ip: request.ip });
  });

  // ---- teams

  app.post(
    '/teams',
    { schema: { tags, summary: 'Create a team', body: CreateTeamBody } },
    async (req, reply) => {
      requireMaster(req.adminCaller);
      const b = req.body as { id: string; name?: string; metadata?: Record<string, unknown> };
      return reply.code(201).send(publicTeam(await teams.create(b)));
    },
  );

  app.get('/teams', { schema: { tags, summary: 'List teams', querystring: ListTeamsQuery } }, async (req) => {
    const q = req.query as { limit?: string };
    const list = await teams.list(Number(q.limit ?? 100), scope(req.adminCaller));
    return { object: 'list', data: list.map(publicTeam) };
  });

  app.get('/teams/:id', { schema: { tags, summary: 'Get a team', params: IdParams } }, async (req) => {
    const { id } = req.params as { id: string };
    const t = await teams.get(id, scope(req.adminCaller));
    if (!t) throw notFound('team', id);
    return publicTeam(t);
  });

  app.patch(
    '/teams/:id',
    { schema: { tags, summary: 'Update a team', params: IdParams, body: UpdateTeamBody } },
    async (req) => {
      const { id } = req.params as { id: string };
      const t = await teams.update(id, req.body as { name?: string }, scope(req.adminCaller));
      if (!t) throw notFound('team', id);
      return publicTeam(t);
    },
  );

  // ---- keys

  app.post(
    '/keys',
    {
      schema: {
        tags,
        summary: 'Create a virtual key (the secret is shown once)',
        body: CreateKeyBody,
      },
    },
    async (req, reply) => {
      const b = req.body as KeyBody & { team: string };
      teamFilter(req.adminCaller, b.team);
      const p = keyPatch(b);
      const { key, secret } = await keys.create({
        teamId: b.team,
        ...(p.userId !== undefined ? { userId: p.userId } : {}),
        ...(p.name !== undefined ? { name: p.name } : {}),
        ...(p.tier !== undefined ? { tier: p.tier } : {}),
        ...(p.role !== undefined ? { role: p.role } : {}),
        ...(p.allowedModels !== undefined ? { allowedModels: p.allowedModels } : {}),
        ...(p.limits !== undefined ? { limits: p.limits } : {}),
        ...(p.budget !== undefined ? { budget: p.budget } : {}),
        ...(p.cacheNamespaces !== undefined ? { cacheNamespaces: p.cacheNamespaces } : {}),
        ...(p.requireSignature !== undefined ? { requireSignature: p.requireSignature } : {}),
        ...(p.metadata !== undefined ? { metadata: p.metadata } : {}),
        ...(p.expiresAt !== undefined ? { expiresAt: p.expiresAt } : {}),
      });
      return reply.code(201).send({ ...publicKey(key), secret });
    },
  );

  app.get(
    '/keys',
    { schema: { tags, summary: 'List keys, newest first', querystring: ListKeysQuery } },
    async (req) => {
      const q = req.query as { team?: string; include_revoked?: string; limit?: string; cursor?: string };
      checkCursor(q.cursor);
      const team = teamFilter(req.adminCaller, q.team);
      const page = await keys.list({
        ...(team !== undefined ? { teamId: team } : {}),
        includeRevoked: q.include_revoked === 'true',
        limit: Number(q.limit ?? 100),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      return { object: 'list', data: page.keys.map(publicKey), next_cursor: page.nextCursor };
    },
  );

  app.get('/keys/:id', { schema: { tags, summary: 'Get a key', params: IdParams } }, async (req) => {
    const { id } = req.params as { id: string };
    const k = await keys.get(id, scope(req.adminCaller));
    if (!k) throw notFound('key', id);
    return publicKey(k);
  });

  app.patch(
    '/keys/:id',
    { schema: { tags, summary: 'Update a key', params: IdParams, body: UpdateKeyBody } },
    async (req) => {
      const { id } = req.params as { id: string };
      const k = await keys.update(id, keyPatch(req.body as KeyBody), scope(req.adminCaller));
      if (!k) throw notFound('key', id);
      return publicKey(k);
    },
  );

  const revoke = async (req: FastifyRequest) => {
    const { id } = req.params as { id: string };
    const k = await keys.revoke(id, scope(req.adminCaller));
    if (!k) throw notFound('key', id);
    return publicKey(k);
  };
  app.post('/keys/:id/revoke', { schema: { tags, summary: 'Revoke a key', params: IdParams } }, revoke);
  app.delete('/keys/:id', { schema: { tags, summary: 'Revoke a key', params: IdParams } }, revoke);

  // ---- usage and the request log

  app.get(
    '/usage',
    { schema: { tags, summary: 'Usage and cost aggregates', querystring: UsageQuery } },
    async (req) => {
      const q = req.query as {
        from?: string;
        to?: string;
        team?: string;
        key?: string;
        model?: string;
        group_by?: string;
      };
      const team = teamFilter(req.adminCaller, q.team);
      const toDay = q.to ? dayOf(parseTime(q.to, 'to')!) : dayOf(Date.now());
      const fromDay = q.from ? dayOf(parseTime(q.from, 'from')!) : toDay - 29;
      if (fromDay > toDay || toDay - fromDay > MAX_USAGE_DAYS) {
        throw new GatewayError(
          'invalid_request',
          `from must be on or before to, at most ${MAX_USAGE_DAYS} days apart.`,
          {
            param: 'from',
          },
        );
      }
      const groupBy = (q.group_by ? q.group_by.split(',') : []) as UsageGroup[];
      const [rows, budgets] = await Promise.all([
        store.usage({
          fromDay,
          toDay,
          groupBy,
          ...(team !== undefined ? { teamId: team } : {}),
          ...(q.key !== undefined ? { keyId: q.key } : {}),
          ...(q.model !== undefined ? { model: q.model } : {}),
        }),
        opts.limits
          ? budgetReport(
              opts.limits.service,
              opts.limits.spec(),
              store,
              { team, key: q.key },
              opts.limits.anonymous(),
            )
          : { rows: [], truncated: false },
      ]);
      return {
        object: 'usage',
        from: new Date(fromDay * DAY_MS).toISOString().slice(0, 10),
        to: new Date(toDay * DAY_MS).toISOString().slice(0, 10),
        group_by: groupBy,
        data: rows.map((r) => ({
          ...(r.team !== undefined ? { team: r.team } : {}),
          ...(r.key !== undefined ? { key: r.key } : {}),
          ...(r.model !== undefined ? { model: r.model } : {}),
          ...(r.day !== undefined ? { day: r.day } : {}),
          requests: r.requests,
          errors: r.errors,
          prompt_tokens: r.promptTokens,
          completion_tokens: r.completionTokens,
          cost_micro_usd: r.costMicroUsd,
          cost_usd: r.costMicroUsd / 1e6,
        })),
        budgets: budgets.rows.map(publicBudget),
        ...(budgets.truncated ? { budgets_truncated: true } : {}),
      };
    },
  );

  app.get(
    '/requests',
    { schema: { tags, summary: 'The request log, newest first', querystring: RequestsQuery } },
    async (req) => {
      const q = req.query as {
        from?: string;
        to?: string;
        team?: string;
        key?: string;
        model?: string;
        status?: string;
        outcome?: 'success' | 'error';
        limit?: string;
        cursor?: string;
      };
      checkCursor(q.cursor);
      const team = teamFilter(req.adminCaller, q.team);
      const from = parseTime(q.from, 'from');
      const to = parseTime(q.to, 'to');
      const page = await store.listRequests({
        limit: Number(q.limit ?? 50),
        ...(team !== undefined ? { teamId: team } : {}),
        ...(q.key !== undefined ? { keyId: q.key } : {}),
        ...(q.model !== undefined ? { model: q.model } : {}),
        ...(q.status !== undefined ? { status: Number(q.status) } : {}),
        ...(q.outcome !== undefined ? { outcome: q.outcome } : {}),
        ...(from !== undefined ? { from } : {}),
        ...(to !== undefined ? { to } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      return { object: 'list', data: page.rows.map(publicRequest), next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/requests/:id',
    { schema: { tags, summary: 'One request-log row', params: IdParams } },
    async (req) => {
      const { id } = req.params as { id: string };
      const r = await store.getRequest(id, scope(req.adminCaller));
      if (!r) throw notFound('request', id);
      return publicRequest(r);
    },
  );

  // ---- provider credentials (master key only: they are the operator's, not a team's)

  app.post(
    '/credentials',
    {
      schema: { tags, summary: 'Store a provider API key (encrypted)', body: CreateCredentialBody },
    },
    async (req, reply) => {
      requireMaster(req.adminCaller);
      const b = req.body as { provider: string; name?: string; value: string };
      const created = await credentials.create(b);
      await opts.onCredentialsChanged?.();
      return reply.code(201).send(publicCredential(created));
    },
  );

  app.get(
    '/credentials',
    { schema: { tags, summary: 'List stored provider keys (masked)' } },
    async (req) => {
      requireMaster(req.adminCaller);
      return { object: 'list', data: (await credentials.list()).map(publicCredential) };
    },
  );

  app.delete(
    '/credentials/:id',
    { schema: { tags, summary: 'Delete a stored provider key', params: IdParams } },
    async (req, reply) => {
      requireMaster(req.adminCaller);
      const { id } = req.params as { id: string };
      if (!(await credentials.delete(id))) throw notFound('credential', id);
      await opts.onCredentialsChanged?.();
      return reply.code(204).send();
    },
  );
}

function publicBudget(b: BudgetUsageRow) {
  return {
    limit: b.limit,
    scope: b.scope,
    window: b.window,
    team: b.team,
    ...(b.key !== undefined ? { key: b.key } : {}),
    ...(b.user !== undefined ? { user: b.user } : {}),
    cap_micro_usd: b.capMicros,
    spent_micro_usd: b.spentMicros,
    reserved_micro_usd: b.reservedMicros,
    remaining_micro_usd: b.remainingMicros,
    resets_at: b.resetsAt === undefined ? null : new Date(b.resetsAt).toISOString(),
    source: b.backend,
  };
}

function publicRequest(r: Awaited<ReturnType<Storage['store']['getRequest']>> & object) {
  return {
    id: r.id,
    request_id: r.requestId,
    created_at: new Date(r.createdAt).toISOString(),
    team: r.teamId,
    key: r.keyId,
    user: r.userId,
    operation: r.operation,
    model: r.model,
    provider: r.provider,
    upstream_model: r.upstreamModel,
    status: r.status,
    error: r.errorClass,
    stream: r.stream,
    latency_ms: r.latencyMs,
    ttft_ms: r.ttftMs,
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    cost_micro_usd: r.costMicroUsd,
    usage_estimated: r.usageEstimated,
    attempts: r.attempts,
    cache: r.cacheStatus,
  };
}
