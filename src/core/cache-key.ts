import { hash } from 'node:crypto';

/**
 * The response cache's key: sha256 over a canonical form of everything that changes a response.
 *
 * Normalization (docs/cache.md):
 * - object keys are sorted at every depth, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request;
 * - array order is kept (messages, tools, stop sequences, content parts are ordered);
 * - strings are kept byte for byte: whitespace inside content is part of the prompt;
 * - `undefined` members are dropped (JSON has no such value); `null` is kept;
 * - fields that change delivery but not the answer are left out: `stream`, `stream_options`, `user`,
 *   `metadata`, `store`, `service_tier`, `prompt_cache_key`, `safety_identifier`. A streamed answer and a
 *   whole one therefore share an entry, and each is served from the other;
 * - every other field is in, including ones Switchyard does not know: an unknown parameter may change
 *   the answer, and a miss is cheaper than a wrong hit;
 * - the public model name as requested, and the namespace (the caller's team unless overridden).
 *
 * Nesting deeper than {@link MAX_KEY_DEPTH} makes the request uncacheable instead of costing a deep
 * recursion on client-controlled input.
 */

export const CACHE_KEY_VERSION = 1;
export const MAX_KEY_DEPTH = 64;

/** Request fields that never change the answer's content. */
export const KEY_EXCLUDED_FIELDS: ReadonlySet<string> = new Set([
  'model',
  'stream',
  'stream_options',
  'user',
  'metadata',
  'store',
  'service_tier',
  'prompt_cache_key',
  'safety_identifier',
]);

export interface CacheKeyInput {
  /** The public model name the client asked for. */
  model: string;
  namespace: string;
  /** The request body (OpenAI chat shape). */
  body: Readonly<Record<string, unknown>>;
}

class TooDeep extends Error {}

/** The canonical JSON text of a value: sorted keys, no whitespace, undefined members dropped. */
export function canonicalJson(value: unknown, depth = 0): string {
  if (depth > MAX_KEY_DEPTH) throw new TooDeep();
  if (value === null || typeof value !== 'object') {
    // JSON.stringify gives numbers and strings their one canonical spelling (1.0 -> 1, escapes).
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const v = value[i];
      out += v === undefined ? 'null' : canonicalJson(v, depth + 1);
    }
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  sortKeys(keys);
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined || typeof v === 'function') continue;
    if (!first) out += ',';
    first = false;
    out += `${quotedKey(k)}:${canonicalJson(v, depth + 1)}`;
  }
  return `${out}}`;
}

/**
 * Array.prototype.sort's order (UTF-16 code units), by insertion for the few keys a request's objects
 * have: V8's sort copies the array into a work area first, which was the largest allocation of a cache
 * hit's key (1.7 KB per request).
 */
function sortKeys(keys: string[]): void {
  if (keys.length > 16) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > k) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = k;
  }
}

/** JSON text of an object key; requests reuse a few dozen names, so those are quoted once. */
const quoted = new Map<string, string>();
const MAX_QUOTED = 1024;

function quotedKey(k: string): string {
  let q = quoted.get(k);
  if (q === undefined) {
    q = JSON.stringify(k);
    // Bounded: a client sending endless new key names only misses the memo.
    if (quoted.size < MAX_QUOTED && k.length <= 64) quoted.set(k, q);
  }
  return q;
}

/** The normalized request text the key hashes; undefined when the request cannot be keyed. */
export function normalizeRequest(input: CacheKeyInput): string | undefined {
  const rest: Record<string, unknown> = {};
  for (const k of Object.keys(input.body)) {
    if (!KEY_EXCLUDED_FIELDS.has(k)) rest[k] = input.body[k];
  }
  try {
    return canonicalJson({ v: CACHE_KEY_VERSION, ns: input.namespace, model: input.model, req: rest });
  } catch (err) {
    if (err instanceof TooDeep) return undefined;
    throw err;
  }
}

/** sha256 (hex) of the normalized request; undefined when the request cannot be keyed (too deep). */
export function cacheKey(input: CacheKeyInput): string | undefined {
  const text = normalizeRequest(input);
  return text === undefined ? undefined : hash('sha256', text, 'hex');
}
