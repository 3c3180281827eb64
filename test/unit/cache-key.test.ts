import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CACHE_KEY_VERSION,
  cacheKey,
  canonicalJson,
  MAX_KEY_DEPTH,
  normalizeRequest,
} from '../../src/core/cache-key.js';

const base = {
  model: 'gpt-4o',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hello  there' },
  ],
  temperature: 0,
};

function key(body: Record<string, unknown>, namespace = 'team-a', model = 'gpt-4o') {
  return cacheKey({ model, namespace, body });
}

/** Rebuilds a JSON value with every object's keys in a shuffled order. */
function shuffleKeys(v: unknown, rnd: () => number): unknown {
  if (Array.isArray(v)) return v.map((x) => shuffleKeys(x, rnd));
  if (v === null || typeof v !== 'object') return v;
  const entries = Object.entries(v as Record<string, unknown>);
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  return Object.fromEntries(entries.map(([k, x]) => [k, shuffleKeys(x, rnd)]));
}

describe('cache key', () => {
  it('is the sha256 of the documented normal form', () => {
    expect(normalizeRequest({ model: 'gpt-4o', namespace: 'team-a', body: base })).toBe(
      `{"model":"gpt-4o","ns":"team-a","req":{"messages":[{"content":"Be brief.","role":"system"},{"content":"Hello  there","role":"user"}],"temperature":0},"v":${CACHE_KEY_VERSION}}`,
    );
    expect(key(base)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ignores key order at every depth (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.integer(), (value, seed) => {
        let s = seed;
        const rnd = () => {
          s = (s * 1103515245 + 12345) & 0x7fffffff;
          return s / 0x80000000;
        };
        const body = { messages: [{ role: 'user', content: 'x' }], extra: value };
        expect(key(shuffleKeys(body, rnd) as Record<string, unknown>)).toBe(key(body));
      }),
      { numRuns: 300 },
    );
  });

  it('sorts keys as Array.prototype.sort does, for few and many keys, any names (property)', () => {
    // The oracle: Array.prototype.sort and JSON.stringify per key (an object cannot be the oracle:
    // integer-like keys would come out in numeric order).
    const sortedJson = (v: unknown): string => {
      if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
      if (v === null || typeof v !== 'object') return JSON.stringify(v);
      const o = v as Record<string, unknown>;
      const parts = Object.keys(o)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`);
      return `{${parts.join(',')}}`;
    };
    const manyKeys = fc.dictionary(
      fc.string({ unit: 'binary', maxLength: 6 }),
      fc.jsonValue({ maxDepth: 2 }),
      {
        minKeys: 0,
        maxKeys: 40,
      },
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 5 }), manyKeys), (value) => {
        expect(canonicalJson(value)).toBe(sortedJson(value));
      }),
      { numRuns: 400 },
    );
  });

  it('keeps whitespace inside content: any change to a string changes the key (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), (text, ws) => {
        const a = key({ messages: [{ role: 'user', content: text }] });
        const b = key({ messages: [{ role: 'user', content: text + ws }] });
        expect(a).not.toBe(b);
      }),
    );
    expect(key({ messages: [{ role: 'user', content: 'a b' }] })).not.toBe(
      key({ messages: [{ role: 'user', content: 'a  b' }] }),
    );
    expect(key({ messages: [{ role: 'user', content: 'a' }] })).not.toBe(
      key({ messages: [{ role: 'user', content: 'a\n' }] }),
    );
  });

  it('changes with every output-changing parameter, tools, model and namespace', () => {
    const k = key(base);
    const variants: Array<Record<string, unknown>> = [
      { temperature: 0.1 },
      { top_p: 0.5 },
      { max_tokens: 10 },
      { seed: 1 },
      { stop: ['x'] },
      { n: 2 },
      { presence_penalty: 1 },
      { frequency_penalty: 1 },
      { response_format: { type: 'json_object' } },
      { tools: [{ type: 'function', function: { name: 'f' } }] },
      { tool_choice: 'required' },
      { parallel_tool_calls: false },
      { reasoning_effort: 'high' },
      { messages: [...base.messages].reverse() },
    ];
    const seen = new Set([k]);
    for (const v of variants) {
      const kv = key({ ...base, ...v });
      expect(seen.has(kv!), JSON.stringify(v)).toBe(false);
      seen.add(kv!);
    }
    expect(key(base, 'team-b')).not.toBe(k);
    expect(key(base, 'team-a', 'gpt-4o-mini')).not.toBe(k);
  });

  it('leaves out fields that change delivery only, so streamed and whole requests share an entry', () => {
    const k = key(base);
    expect(key({ ...base, stream: true, stream_options: { include_usage: true } })).toBe(k);
    expect(key({ ...base, user: 'u-1', metadata: { a: '1' }, store: true, service_tier: 'auto' })).toBe(k);
    // The body's model field is ignored; the public model passed in is what counts.
    expect(key({ ...base, model: 'other' })).toBe(k);
  });

  it('drops undefined members but keeps null', () => {
    expect(key({ ...base, seed: undefined })).toBe(key(base));
    expect(key({ ...base, seed: null })).not.toBe(key(base));
    expect(canonicalJson([1, undefined, { a: undefined, b: null }])).toBe('[1,null,{"b":null}]');
  });

  it('makes a too-deeply nested request uncacheable instead of recursing on it', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < MAX_KEY_DEPTH + 5; i++) deep = [deep];
    expect(key({ ...base, extra: deep })).toBeUndefined();
    let deeper: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deeper = { a: deeper };
    expect(key({ ...base, extra: deeper })).toBeUndefined();
  });
});
