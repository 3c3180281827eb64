/**
 * Run with `node --expose-gc --import tsx`: fills an L1 store with ten times its byte bound and prints
 * the heap growth after a full GC, as JSON on the last line.
 */
import { MemoryCacheStore } from '../../src/backends/cache/memory-store.js';
import { entry } from './cache-fixtures.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const maxBytes = 8 * 1024 * 1024;
gc();
gc();
const before = process.memoryUsage().heapUsed;
const store = new MemoryCacheStore({ maxBytes });
let written = 0;
let i = 0;
while (written < 10 * maxBytes) {
  // Distinct strings of mixed sizes (2 KiB to 34 KiB), as real answers are.
  const content = `${i} `.padEnd(2_048 + ((i * 7919) % 32_768), String.fromCharCode(97 + (i % 26)));
  const e = entry(`k${i}`, { content });
  written += JSON.stringify(e).length;
  store.put(e);
  // Every entry is hit once, so each also holds its parsed copy: the worst case for the bound.
  void store.get(e.key);
  i++;
}
gc();
gc();
const heapGrowth = process.memoryUsage().heapUsed - before;
console.log(
  JSON.stringify({ maxBytes, written, accounted: store.bytes, heapGrowth, entries: store.stats().entries }),
);
