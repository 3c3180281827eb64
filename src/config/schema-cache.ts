import { type Static, Type as T } from '@sinclair/typebox';
import { parseDuration, parseSize } from '../core/units.js';
import type { CachePolicy, CacheSpec } from '../types/config.js';

/**
 * The response cache's config: a top-level `cache:` section (the defaults, L1 size, cross-instance
 * lock, warming) and `models.<name>.cache` to override the policy per model. docs/cache.md.
 */

const Duration = T.Union([T.String(), T.Number({ minimum: 0 })], {
  description: "duration: '30s', '200ms', or ms",
});
const Size = T.Union([T.String(), T.Integer({ minimum: 0 })], { description: "size: '10mb', or bytes" });

const policyFields = {
  enabled: T.Optional(T.Boolean()),
  ttl: T.Optional(Duration),
  /** How long after expiry an entry may still answer when every target fails (stale-if-error). */
  stale_grace: T.Optional(Duration),
  /** Cache requests that ask for `temperature > 0` too. */
  cache_nonzero_temperature: T.Optional(T.Boolean()),
  /** Merge identical in-flight requests (also when caching itself is off for the model). */
  single_flight: T.Optional(T.Boolean()),
};

export const ModelCacheSchema = T.Object(policyFields, { additionalProperties: false });

export const CacheSchema = T.Object(
  {
    ...policyFields,
    /** L1 (in-process) bound in bytes. */
    max_bytes: T.Optional(Size),
    /** Cross-instance merging: how long the first instance holds the lock, and how long others wait. */
    lock_ttl: T.Optional(Duration),
    warm: T.Optional(
      T.Object(
        {
          /** Re-run the list on this interval; unset: at start only. */
          interval: T.Optional(Duration),
          requests: T.Array(
            T.Object(
              {
                model: T.String({ minLength: 1 }),
                messages: T.Array(T.Record(T.String(), T.Unknown()), { minItems: 1 }),
                /** The namespace to warm (default: the team `none`, which callers without keys use). */
                namespace: T.Optional(T.String({ minLength: 1, maxLength: 128 })),
                params: T.Optional(T.Record(T.String(), T.Unknown())),
              },
              { additionalProperties: false },
            ),
            { maxItems: 1000 },
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type RawCache = Static<typeof CacheSchema>;
export type RawModelCache = Static<typeof ModelCacheSchema>;

export const DEFAULT_CACHE_POLICY: CachePolicy = {
  enabled: false,
  ttlMs: 3_600_000,
  staleMs: 0,
  cacheNonzeroTemperature: false,
  singleFlight: undefined,
};
export const DEFAULT_CACHE_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CACHE_LOCK_TTL_MS = 30_000;

function dur(v: string | number | undefined, at: string, issues: string[]): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined) issues.push(`${at}: '${v}' is not a duration`);
  return ms;
}

/** A model's own keys over the section's; only the keys given. */
export function resolveModelCache(
  raw: RawModelCache | undefined,
  at: string,
  issues: string[],
): Partial<CachePolicy> | undefined {
  if (!raw) return undefined;
  const out: Partial<CachePolicy> = {};
  if (raw.enabled !== undefined) out.enabled = raw.enabled;
  const ttl = dur(raw.ttl, `${at}.ttl`, issues);
  if (ttl !== undefined) out.ttlMs = ttl;
  const stale = dur(raw.stale_grace, `${at}.stale_grace`, issues);
  if (stale !== undefined) out.staleMs = stale;
  if (raw.cache_nonzero_temperature !== undefined)
    out.cacheNonzeroTemperature = raw.cache_nonzero_temperature;
  if (raw.single_flight !== undefined) out.singleFlight = raw.single_flight;
  return out;
}

export function resolveCache(raw: RawCache | undefined, issues: string[]): CacheSpec {
  const r = raw ?? {};
  const defaults = { ...DEFAULT_CACHE_POLICY, ...resolveModelCache(r, 'cache', issues) };
  let maxBytes = DEFAULT_CACHE_MAX_BYTES;
  if (r.max_bytes !== undefined) {
    const b = parseSize(r.max_bytes);
    if (b === undefined || b < 1024)
      issues.push(`cache.max_bytes: '${r.max_bytes}' is not a size of at least 1kb`);
    else maxBytes = b;
  }
  return {
    defaults,
    maxBytes,
    lockTtlMs: dur(r.lock_ttl, 'cache.lock_ttl', issues) ?? DEFAULT_CACHE_LOCK_TTL_MS,
    warm: r.warm
      ? {
          intervalMs: dur(r.warm.interval, 'cache.warm.interval', issues),
          requests: r.warm.requests.map((w) => ({
            model: w.model,
            namespace: w.namespace ?? 'none',
            body: { ...(w.params ?? {}), model: w.model, messages: w.messages },
          })),
        }
      : undefined,
  };
}
