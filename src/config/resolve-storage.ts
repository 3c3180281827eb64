import { isIP } from 'node:net';
import { parseDuration } from '../core/units.js';
import type { AuthSpec, DatabaseSpec, PriceSpec, RequestLogSpec, StorageConfig } from '../types/config.js';
import type { Env } from './env.js';
import type { RawConfig } from './schema.js';

export const DEFAULT_DB_PATH = './data/switchyard.db';
export const MAX_KEY_CACHE_TTL_MS = 5_000;
const DAY_MS = 86_400_000;

/** Storage, auth, request log and pricing: defaults, durations, env (DATABASE_URL, SWITCHYARD_SECRET_KEY). */
export function resolveStorage(
  raw: RawConfig,
  env: Env,
  issues: string[],
  /** The tiers defined under `tiers:` (built-ins included): the names keys and tokens may carry. */
  tierNames: readonly string[],
): StorageConfig {
  return {
    database: resolveDatabase(raw, env, issues),
    requestLog: resolveRequestLog(raw, issues),
    auth: resolveAuth(raw, issues, tierNames),
    pricing: new Map<string, PriceSpec>(
      Object.entries(raw.pricing ?? {}).map(([m, p]) => [m, { input: p.input, output: p.output ?? 0 }]),
    ),
    secretKeys: [
      env.SWITCHYARD_SECRET_KEY,
      ...(env.SWITCHYARD_SECRET_KEY_PREVIOUS ?? '').split(',').map((s) => s.trim()),
    ].filter((k): k is string => k !== undefined && k !== ''),
    adminAllowIps: resolveAllowIps(raw, issues),
  };
}

function dur(v: string | number | undefined, at: string, dflt: number, issues: string[]): number {
  if (v === undefined) return dflt;
  // Retention reads naturally in days; the shared parser stops at hours.
  if (typeof v === 'string') {
    const days = /^(\d+(?:\.\d+)?)\s*d$/.exec(v.trim());
    if (days) return Math.round(Number(days[1]) * DAY_MS);
  }
  const ms = parseDuration(v);
  if (ms === undefined) issues.push(`${at}: must be a duration such as '5s'`);
  return ms ?? dflt;
}

function resolveDatabase(raw: RawConfig, env: Env, issues: string[]): DatabaseSpec {
  const d = raw.database ?? {};
  const url = d.url || env.DATABASE_URL || undefined;
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
    issues.push(`database.url: must be a postgres:// URL`);
  }
  if (d.read_url && !/^postgres(ql)?:\/\//.test(d.read_url)) {
    issues.push(`database.read_url: must be a postgres:// URL`);
  }
  if (d.read_url && url === undefined) issues.push(`database.read_url: needs database.url`);
  return {
    kind: url === undefined ? 'sqlite' : 'postgres',
    path: env.SWITCHYARD_DB_PATH || d.path || DEFAULT_DB_PATH,
    url,
    readUrl: d.read_url || undefined,
    schema: d.schema ?? 'public',
    poolSize: d.pool_size ?? 10,
    statementTimeoutMs: dur(d.statement_timeout, 'database.statement_timeout', 5_000, issues),
    migrate: d.migrate ?? true,
    credentialsRefreshMs: dur(d.credentials_refresh, 'database.credentials_refresh', 10_000, issues),
  };
}

function resolveRequestLog(raw: RawConfig, issues: string[]): RequestLogSpec {
  const r = raw.request_log ?? {};
  return {
    enabled: r.enabled ?? true,
    bufferSize: r.buffer_size ?? 10_000,
    batchSize: r.batch_size ?? 100,
    flushIntervalMs: dur(r.flush_interval, 'request_log.flush_interval', 200, issues),
    retentionMs: dur(r.retention, 'request_log.retention', 30 * DAY_MS, issues),
  };
}

function resolveAuth(raw: RawConfig, issues: string[], tierNames: readonly string[]): AuthSpec {
  const a = raw.auth ?? {};
  const mode = a.mode ?? 'none';
  // Refused rather than migrated: a name listed here but not defined under `tiers:` had no limits of
  // its own (its keys were limited as the anonymous tier), so no migration could keep what it meant.
  if (a.tiers !== undefined) {
    issues.push(
      'auth.tiers: no longer supported. Tiers are defined once, under the top-level `tiers:` map ' +
        '(e.g. `tiers: { gold: { rpm: 100, tpm: 50000 } }`; free, pro, enterprise and unlimited are built in), ' +
        'and keys and tokens name one of them. Move each tier there and remove auth.tiers',
    );
  }
  const tiers = [...tierNames];
  const defaultTier = a.default_tier ?? (tiers.includes('free') ? 'free' : tiers[0]!);
  if (!tiers.includes(defaultTier)) {
    issues.push(`auth.default_tier: unknown tier '${defaultTier}' (tiers: ${tiers.join(', ')})`);
  }
  const ttl = dur(a.key_cache_ttl, 'auth.key_cache_ttl', MAX_KEY_CACHE_TTL_MS, issues);
  if (ttl > MAX_KEY_CACHE_TTL_MS)
    issues.push(`auth.key_cache_ttl: must be at most 5s (the revocation bound)`);
  let jwt: AuthSpec['jwt'];
  if (a.jwt) {
    const j = a.jwt;
    const sources = [j.secret, j.public_key, j.jwks_file].filter((s) => s !== undefined).length;
    if (sources !== 1) issues.push(`auth.jwt: give exactly one of secret, public_key, jwks_file`);
    jwt = {
      secret: j.secret,
      publicKey: j.public_key,
      jwksFile: j.jwks_file,
      algorithms: j.algorithms ?? (j.secret !== undefined ? ['HS256'] : ['RS256', 'ES256']),
      issuer: j.issuer,
      audience: j.audience,
      claims: {
        team: j.claims?.team ?? 'team',
        user: j.claims?.user ?? 'sub',
        tier: j.claims?.tier ?? 'tier',
      },
      defaultTeam: j.default_team,
      clockToleranceS: Math.round(dur(j.clock_tolerance, 'auth.jwt.clock_tolerance', 5_000, issues) / 1000),
    };
  }
  if ((mode === 'jwt' || mode === 'keys+jwt') && !jwt) issues.push(`auth.jwt: is required for mode ${mode}`);
  return {
    mode,
    keyCacheTtlMs: Math.min(ttl, MAX_KEY_CACHE_TTL_MS),
    tiers,
    defaultTier,
    jwt,
    signatureWindowMs: dur(a.signature_window, 'auth.signature_window', 300_000, issues),
  };
}

function resolveAllowIps(raw: RawConfig, issues: string[]): string[] {
  const list = raw.admin?.allow_ips ?? [];
  list.forEach((entry, i) => {
    const [addr, bits] = entry.split('/');
    const family = isIP(addr ?? '');
    const maxBits = family === 6 ? 128 : 32;
    const okBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
    if (family === 0 || !okBits) issues.push(`admin.allow_ips.${i}: '${entry}' is not an IP address or CIDR`);
  });
  return list;
}
