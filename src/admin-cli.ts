import { dayOf, dayString, type UsageGroup } from './db/store.js';
import { isGatewayError } from './errors/gateway-error.js';
import { publicCredential } from './services/credentials.js';
import { publicKey } from './services/keys.js';
import { openStorage, type Storage } from './services/storage.js';
import { publicTeam } from './services/teams.js';
import type { GatewayConfig } from './types/config.js';

export { ADMIN_COMMANDS, ADMIN_USAGE } from './admin-cli-usage.js';

import { ADMIN_USAGE } from './admin-cli-usage.js';

/**
 * `switchyard keys|teams|usage|migrate|secrets`: the admin API's services, from a shell. Output is JSON
 * on stdout (one document), errors on stderr with exit code 1 (2 for usage errors).
 */

export interface AdminArgs {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

class UsageError extends Error {}

const stderrLog = {
  info(obj: object, msg: string) {
    process.stderr.write(`${msg} ${JSON.stringify(obj)}\n`);
  },
  warn(obj: object, msg: string) {
    process.stderr.write(`warning: ${msg} ${JSON.stringify(obj)}\n`);
  },
  error(obj: object, msg: string) {
    process.stderr.write(`error: ${msg} ${JSON.stringify(obj)}\n`);
  },
};

function str(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function need(v: string | undefined, what: string): string {
  if (v === undefined || v === '') throw new UsageError(`missing ${what}`);
  return v;
}

export async function runAdminCommand(config: GatewayConfig, args: AdminArgs): Promise<number> {
  const [command, sub, arg] = args.positionals;
  let storage: Storage | undefined;
  try {
    storage = await openStorage(config, { log: stderrLog, role: 'cli', migrate: true });
    const out = await dispatch(storage, command!, sub, arg, args.values);
    // Indented for a person at a terminal; one line for pipes (jq, scripts).
    process.stdout.write(`${JSON.stringify(out, null, process.stdout.isTTY ? 2 : undefined)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`switchyard ${command}: ${err.message}\n\n${ADMIN_USAGE}`);
      return 2;
    }
    const msg = isGatewayError(err) ? `${err.message} (${err.code})` : (err as Error).message;
    process.stderr.write(`switchyard ${command}: ${msg}\n`);
    return 1;
  } finally {
    await storage?.close();
  }
}

async function dispatch(
  s: Storage,
  command: string,
  sub: string | undefined,
  arg: string | undefined,
  v: AdminArgs['values'],
): Promise<unknown> {
  switch (command) {
    case 'migrate':
      // openStorage migrated; report what is there.
      return { migrated: true, database: s.handle.kind };
    case 'teams':
      if (sub === 'create') {
        const name = str(v.name);
        return publicTeam(await s.teams.create({ id: need(arg, 'team id'), ...(name ? { name } : {}) }));
      }
      if (sub === 'list') return (await s.teams.list(1000)).map(publicTeam);
      throw new UsageError(`unknown teams command: ${sub ?? '(none)'}`);
    case 'keys':
      return keys(s, sub, arg, v);
    case 'usage': {
      const to = str(v.to) ? dayOf(Date.parse(str(v.to)!)) : dayOf(Date.now());
      const from = str(v.from) ? dayOf(Date.parse(str(v.from)!)) : to - 29;
      if (Number.isNaN(from) || Number.isNaN(to)) throw new UsageError('--from and --to take YYYY-MM-DD');
      const groupBy = (str(v['group-by'])?.split(',') ?? ['team']) as UsageGroup[];
      for (const g of groupBy) {
        if (!['team', 'key', 'model', 'day'].includes(g)) throw new UsageError(`unknown --group-by ${g}`);
      }
      const rows = await s.store.usage({
        fromDay: from,
        toDay: to,
        groupBy,
        ...(str(v.team) ? { teamId: str(v.team)! } : {}),
        ...(str(v.key) ? { keyId: str(v.key)! } : {}),
        ...(str(v.model) ? { model: str(v.model)! } : {}),
      });
      return { from: dayString(from), to: dayString(to), group_by: groupBy, data: rows };
    }
    case 'secrets':
      if (sub === 'rotate') return s.credentials.rotate();
      if (sub === 'list') return (await s.credentials.list()).map(publicCredential);
      if (sub === 'add') {
        const name = str(v.name);
        const c = await s.credentials.create({
          provider: need(str(v.provider), '--provider'),
          value: need(str(v.value), '--value'),
          ...(name ? { name } : {}),
        });
        return publicCredential(c);
      }
      throw new UsageError(`unknown secrets command: ${sub ?? '(none)'}`);
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

async function keys(
  s: Storage,
  sub: string | undefined,
  arg: string | undefined,
  v: AdminArgs['values'],
): Promise<unknown> {
  switch (sub) {
    case 'create': {
      const expires = str(v.expires);
      const expiresAt = expires === undefined ? undefined : Date.parse(expires);
      if (expiresAt !== undefined && Number.isNaN(expiresAt))
        throw new UsageError('--expires takes an ISO 8601 time');
      const role = str(v.role);
      if (role !== undefined && role !== 'user' && role !== 'team_admin') {
        throw new UsageError('--role is user or team_admin');
      }
      const { key, secret } = await s.keys.create({
        teamId: need(str(v.team), '--team'),
        ...(str(v.name) ? { name: str(v.name)! } : {}),
        ...(str(v.user) ? { userId: str(v.user)! } : {}),
        ...(str(v.tier) ? { tier: str(v.tier)! } : {}),
        ...(role ? { role } : {}),
        ...(str(v.models) ? { allowedModels: str(v.models)!.split(',') } : {}),
        ...(str(v['cache-namespaces']) ? { cacheNamespaces: str(v['cache-namespaces'])!.split(',') } : {}),
        ...(expiresAt !== undefined ? { expiresAt } : {}),
        ...(v['require-signature'] === true ? { requireSignature: true } : {}),
      });
      return { ...publicKey(key), secret };
    }
    case 'list': {
      const team = str(v.team);
      const page = await s.keys.list({
        limit: 500,
        includeRevoked: v['include-revoked'] === true,
        ...(team ? { teamId: team } : {}),
      });
      return page.keys.map(publicKey);
    }
    case 'get': {
      const k = await s.keys.get(need(arg, 'key id'));
      if (!k) throw new Error(`no key ${arg}`);
      return publicKey(k);
    }
    case 'revoke': {
      const k = await s.keys.revoke(need(arg, 'key id'));
      if (!k) throw new Error(`no key ${arg}`);
      return publicKey(k);
    }
    default:
      throw new UsageError(`unknown keys command: ${sub ?? '(none)'}`);
  }
}
