// Preloaded with `node --import ./mem-probe.mjs` by rss-breakdown.mjs: on SIGUSR2 the process writes its
// own memory figures (process.memoryUsage, V8 heap spaces and code statistics, thread count) to
// $MEM_PROBE_DIR/<pid>.json. It reads, never changes, the process it runs in (no GC, no flags).
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';

const dir = process.env.MEM_PROBE_DIR;
if (dir) {
  process.on('SIGUSR2', () => {
    const spaces = {};
    for (const s of v8.getHeapSpaceStatistics())
      spaces[s.space_name] = { committed: s.physical_space_size, used: s.space_used_size };
    const heap = v8.getHeapStatistics();
    writeFileSync(
      join(dir, `${process.pid}.json`),
      JSON.stringify({
        mu: process.memoryUsage(),
        spaces,
        code: v8.getHeapCodeStatistics(),
        heapPhysical: heap.total_physical_size,
        mallocedByV8: heap.malloced_memory,
        threads: readdirSync('/proc/self/task').length,
      }),
    );
  });
}
