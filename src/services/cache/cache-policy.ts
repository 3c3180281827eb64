import { cacheKey } from '../../core/cache-key.js';
import { parseDuration } from '../../core/units.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { CachePolicy } from '../../types/config.js';

/**
 * What the response cache does for one request: the model's policy (`cache:` and `models.<name>.cache`)
 * with the request's headers on top. Pure: no I/O. docs/cache.md.
 */

export const TTL_HEADER = 'x-switchyard-cache-ttl';
export const NAMESPACE_HEADER = 'x-switchyard-cache-namespace';
/** The longest TTL a request may ask for. */
export const MAX_REQUEST_TTL_MS = 30 * 24 * 3_600_000;
const NAMESPACE_RE = /^[A-Za-z0-9._:@/-]{1,128}$/;

/** Who is calling, as far as the cache cares (the caller identity from the identify stage). */
export interface CacheCaller {
  team: string;
  /** Namespaces this key may choose with `x-switchyard-cache-namespace`; `*` allows any. */
  cacheNamespaces?: readonly string[];
}

export type CacheBypassReason = 'disabled' | 'temperature' | 'no_cache' | 'uncacheable';

export interface CachePlan {
  /** sha256 of the normalized request; undefined when nothing about this request touches the cache. */
  key: string | undefined;
  namespace: string;
  team: string;
  /** The public model. */
  model: string;
  /** Look for a stored answer. */
  lookup: boolean;
  /** Store this answer. */
  store: boolean;
  /** Join (or lead) an identical in-flight request. */
  merge: boolean;
  ttlMs: number;
  staleMs: number;
  /** Why the lookup is skipped, when it is. */
  bypass: CacheBypassReason | undefined;
}

export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

function header(headers: HeaderBag, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

export function cacheControl(headers: HeaderBag): { noCache: boolean; noStore: boolean } {
  const v = header(headers, 'cache-control');
  if (!v) return { noCache: false, noStore: false };
  let noCache = false;
  let noStore = false;
  for (const part of v.split(',')) {
    const d = part.trim().toLowerCase();
    if (d === 'no-cache') noCache = true;
    else if (d === 'no-store') noStore = true;
  }
  return { noCache, noStore };
}

function invalidHeader(name: string, why: string): GatewayError {
  return new GatewayError('invalid_cache_header', `Header '${name}' ${why}.`, { param: name });
}

/** `x-switchyard-cache-ttl`: seconds, or a duration such as `90s`, `5m`, `2h`. */
export function requestTtl(headers: HeaderBag): number | undefined {
  const v = header(headers, TTL_HEADER);
  if (v === undefined) return undefined;
  const t = v.trim();
  const ms = t.length > 32 ? undefined : /^\d+$/.test(t) ? Number(t) * 1000 : parseDuration(t);
  if (ms === undefined || ms <= 0 || ms > MAX_REQUEST_TTL_MS) {
    throw invalidHeader(
      TTL_HEADER,
      'must be a positive number of seconds or a duration such as 5m, at most 30 days',
    );
  }
  return ms;
}

export function requestNamespace(headers: HeaderBag, caller: CacheCaller): string {
  const v = header(headers, NAMESPACE_HEADER);
  if (v === undefined) return caller.team;
  if (!NAMESPACE_RE.test(v)) {
    throw invalidHeader(NAMESPACE_HEADER, 'must be 1 to 128 characters of letters, digits and . _ : @ / -');
  }
  if (v === caller.team) return v;
  const allowed = caller.cacheNamespaces ?? [];
  if (!allowed.includes('*') && !allowed.includes(v)) {
    throw new GatewayError(
      'cache_namespace_forbidden',
      `This key may not use cache namespace '${v}'; it uses its team's namespace unless its key lists others.`,
      { param: NAMESPACE_HEADER },
    );
  }
  return v;
}

/**
 * The plan for one chat request. Throws a 4xx GatewayError for a malformed cache header or a namespace
 * the caller may not use, so a bad header never silently changes what is cached.
 */
export function planCache(
  policy: CachePolicy,
  model: string,
  body: Readonly<Record<string, unknown>>,
  headers: HeaderBag,
  caller: CacheCaller,
): CachePlan {
  const { noCache, noStore } = cacheControl(headers);
  const merging = policy.singleFlight ?? policy.enabled;
  const touched = policy.enabled || merging;
  // Headers are checked whenever the cache is in play, so a client learns about a typo at once.
  const ttl = touched ? requestTtl(headers) : undefined;
  const namespace = touched ? requestNamespace(headers, caller) : caller.team;
  const temperature = body.temperature;
  // A request that sends no temperature is cached: the operator enabled caching for this model.
  const hot = typeof temperature === 'number' && temperature > 0 && !policy.cacheNonzeroTemperature;
  const key = touched && !hot ? cacheKey({ model, namespace, body }) : undefined;
  const bypass: CacheBypassReason | undefined = !policy.enabled
    ? 'disabled'
    : hot
      ? 'temperature'
      : key === undefined
        ? 'uncacheable'
        : noCache
          ? 'no_cache'
          : undefined;
  return {
    key,
    namespace,
    team: caller.team,
    model,
    lookup: bypass === undefined,
    store: policy.enabled && key !== undefined && !noStore,
    merge: merging && key !== undefined && !noCache,
    ttlMs: ttl ?? policy.ttlMs,
    staleMs: policy.staleMs,
    bypass,
  };
}
