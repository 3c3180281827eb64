/**
 * Run with `node --expose-gc --import tsx test/helpers/l1-heap-probe.ts [hit|nohit]`: fills an L1 store
 * with ten times its byte bound of realistic streamed answers and prints, as JSON on the last line, what
 * the store accounted and how much the heap really grew after a full GC.
 *
 * The entries are what a streamed chat answer looks like when cached: many small chunks (one to three
 * words each, as providers send them), with OpenAI's envelope in every chunk (id, object, created,
 * model, system_fingerprint, logprobs), some with tool-call argument fragments, some with Latin-1 accents
 * or CJK text (two bytes per character in V8), a finish chunk and a usage chunk. With `hit`, every entry
 * is read once after it is written, so each also holds its parsed form: the worst case for the bound.
 */
import { MemoryCacheStore } from '../../src/backends/cache/memory-store.js';
import type { CacheEntry } from '../../src/backends/cache/types.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const hit = process.argv[2] !== 'nohit';
const maxBytes = 8 * 1024 * 1024;

const WORDS = [' the', ' answer', ' is', ',', ' and', ' then', ' 42', '.', ' model', ' tokens', '\n\n', ' a'];
const ACCENTS = [' café', ' naïve', ' Übermaß', ' señor'];
const CJK = ['你好', '世界', '，', '模型', '。'];

function chunk(i: number, delta: Record<string, unknown>, finish: string | null = null) {
  return {
    id: `chatcmpl-${i.toString(36).padStart(12, '0')}`,
    object: 'chat.completion.chunk' as const,
    created: 1_700_000_000 + i,
    model: 'gpt-4o-mini-2024-07-18',
    system_fingerprint: 'fp_0ba0d124f1',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  };
}

function streamedEntry(i: number): CacheEntry {
  const now = Date.now();
  const n = 20 + ((i * 7919) % 600);
  const style = i % 4;
  const chunks: Array<ReturnType<typeof chunk> | Record<string, unknown>> = [
    chunk(i, { role: 'assistant', content: '' }),
  ];
  if (style === 3) {
    chunks.push(
      chunk(i, {
        tool_calls: [
          { index: 0, id: `call_${i}`, type: 'function', function: { name: 'get_weather', arguments: '' } },
        ],
      }),
    );
  }
  for (let c = 0; c < n; c++) {
    const w =
      style === 1
        ? (ACCENTS[(i + c) % ACCENTS.length] as string)
        : style === 2
          ? (CJK[(i + c) % CJK.length] as string)
          : (WORDS[(i + c) % WORDS.length] as string);
    // A number now and then keeps each entry's text distinct, as real answers are.
    const text = c % 9 === 0 ? `${w}${i}` : w;
    chunks.push(
      style === 3
        ? chunk(i, { tool_calls: [{ index: 0, function: { arguments: text } }] })
        : chunk(i, { content: text }),
    );
  }
  chunks.push(chunk(i, {}, style === 3 ? 'tool_calls' : 'stop'));
  chunks.push({
    ...chunk(i, {}),
    choices: [],
    usage: { prompt_tokens: 40 + (i % 50), completion_tokens: n, total_tokens: 40 + (i % 50) + n },
  });
  return {
    key: `${i.toString(16).padStart(8, '0')}${'f'.repeat(56)}`,
    namespace: `team-${i % 7}`,
    team: `team-${i % 7}`,
    model: 'chat',
    createdAt: now,
    expiresAt: now + 600_000,
    staleUntil: now + 1_200_000,
    body: { kind: 'stream', chunks: chunks as never },
  };
}

gc();
gc();
const before = process.memoryUsage();
const store = new MemoryCacheStore({ maxBytes });
let written = 0;
let i = 0;
let maxAccounted = 0;
while (written < 10 * maxBytes) {
  const e = streamedEntry(i);
  const json = JSON.stringify(e);
  written += json.length;
  store.put(e, json);
  if (hit) void store.get(e.key);
  maxAccounted = Math.max(maxAccounted, store.bytes);
  i++;
}
gc();
gc();
const after = process.memoryUsage();
console.log(
  JSON.stringify({
    maxBytes,
    written,
    writes: i,
    accounted: store.bytes,
    maxAccounted,
    heapGrowth: after.heapUsed - before.heapUsed,
    // Informational: what V8 reserved for the heap, live or not.
    heapTotalGrowth: after.heapTotal - before.heapTotal,
    // Informational: RSS also holds V8's free pages and everything else the process allocated.
    rssGrowth: after.rss - before.rss,
    entries: store.stats().entries,
    evictions: store.stats().evictions,
  }),
);
