// Jobs per second through each queue backend, with a loss and duplicate check.
// Usage: npm run build && node bench/jobs/throughput.mjs [jobs=20000] [concurrency=50]
// Needs Redis on REDIS_URL (default redis://127.0.0.1:6379) for the BullMQ run.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { BullQueue } from '../../dist/backends/queue/bullmq-queue.js';
import { SqliteQueue } from '../../dist/backends/queue/sqlite-queue.js';

const N = Number(process.argv[2] ?? 20_000);
const CONCURRENCY = Number(process.argv[3] ?? 50);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const backoff = { baseMs: 100, maxMs: 1000 };

async function run(name, backend) {
  const seen = new Map();
  let settled = 0;
  let done;
  const finished = new Promise((r) => {
    done = r;
  });
  // Enqueue with bounded parallelism, as many API instances would.
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < N) {
        const i = next++;
        await backend.enqueue({ type: 'noop', team: 'bench', input: { i } });
      }
    }),
  );
  const enqueueS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const worker = backend.work(
    async (job) => {
      seen.set(job.input.i, (seen.get(job.input.i) ?? 0) + 1);
      return null;
    },
    {
      types: { noop: { concurrency: CONCURRENCY } },
      onSettled: () => {
        settled++;
        if (settled === N) done();
      },
    },
  );
  await finished;
  const processS = (performance.now() - t1) / 1000;
  await worker.close({ timeoutMs: 5000 });
  const counts = (await backend.counts(['noop']))[0];
  const duplicates = [...seen.values()].filter((n) => n > 1).length;
  const lost = N - seen.size;
  console.log(
    JSON.stringify({
      backend: name,
      jobs: N,
      concurrency: CONCURRENCY,
      enqueue_per_s: Math.round(N / enqueueS),
      process_per_s: Math.round(N / processS),
      completed: counts.completed,
      lost,
      ran_twice: duplicates,
    }),
  );
}

const dir = mkdtempSync(join(tmpdir(), 'sy-bench-jobs-'));
const sqlite = new SqliteQueue({ path: join(dir, 'jobs.db'), backoff, pollMs: 50 });
await run('sqlite', sqlite);
await sqlite.close();
rmSync(dir, { recursive: true, force: true });

const prefix = `sybench:${randomBytes(4).toString('hex')}:`;
const bull = new BullQueue({ url: REDIS_URL, prefix, backoff });
await run('bullmq', bull);
await bull.close();
const r = new Redis(REDIS_URL);
let cursor = '0';
do {
  const [c, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
  cursor = c;
  if (keys.length) await r.del(...keys);
} while (cursor !== '0');
r.disconnect();
