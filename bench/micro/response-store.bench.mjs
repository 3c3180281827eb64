// Micro-benchmark: what storing a Responses API response costs, on SQLite and PostgreSQL.
// Uses the built gateway in ../../dist (run `npm run build` first) and the PostgreSQL at
// TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; skipped with a note when unreachable).
//
//   node bench/micro/response-store.bench.mjs      (env N, default 5000 responses per case)
//
// Reported per backend:
// - put (request path): the synchronous time `put` takes before it returns its promise (the JSON and
//   the queue), which is all a SQLite-backed request pays;
// - put -> committed: on PostgreSQL the answer waits for the row's batch to commit; sequential, and with
//   16 requests storing at once (group commit);
// - writes/s and the longest event-loop block while a backlog of N responses is written (SQLite
//   statements are synchronous: one batch of 100 rows is the longest the loop is held);
// - get (a `previous_response_id` lookup from the database, after the queue is written).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const dist = (p) => join(REPO, 'dist', p);
if (!existsSync(dist('services/response-store.js'))) {
  process.stderr.write('dist/ is missing: run `npm run build` in the repository root first\n');
  process.exit(1);
}
const { openDatabase } = await import(pathToFileURL(dist('db/connect.js')).href);
const { ResponseRows } = await import(pathToFileURL(dist('db/response-rows.js')).href);
const { DbResponseStore } = await import(pathToFileURL(dist('services/response-store.js')).href);

const N = Number(process.env.N ?? 5000);
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const silent = { info() {}, warn() {}, error() {} };

/** A typical short turn: one user message in, one assistant message out (about 1.5 KB of JSON). */
function record(i) {
  const id = `resp_${i.toString(16).padStart(32, '0')}`;
  return {
    id,
    team: 'bench',
    createdAt: Date.now(),
    input: [
      { type: 'message', id: `msg_in_${i}`, role: 'user', content: 'Summarise this paragraph. '.repeat(20) },
    ],
    response: {
      id,
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      status: 'completed',
      model: 'gpt',
      previous_response_id: null,
      output: [
        {
          type: 'message',
          id: `msg_out_${i}`,
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'A short summary of it. '.repeat(20), annotations: [] }],
        },
      ],
      usage: { input_tokens: 120, output_tokens: 90, total_tokens: 210 },
      metadata: {},
    },
  };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const us = (ms) => `${(ms * 1000).toFixed(1)} µs`;
const msf = (ms) => `${ms.toFixed(2)} ms`;

async function run(name, spec, awaitCommitMs) {
  const handle = await openDatabase(spec);
  await handle.migrate();
  const store = new DbResponseStore(new ResponseRows(handle), {
    retentionMs: 30 * 86_400_000,
    maxBytes: 16 * 1024 * 1024,
    log: silent,
    sweepEveryMs: 0,
    awaitCommitMs,
  });
  const out = { backend: name };

  // A backlog: N puts in one go, then the writer drains it while the loop delay is sampled.
  const sync = [];
  const puts = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const a = performance.now();
    puts.push(store.put(record(i)));
    sync.push(performance.now() - a);
  }
  // The writer starts once this loop yields: from here on, the loop is held only by the writes.
  h.enable();
  await Promise.all(puts);
  await store.flush();
  const elapsed = performance.now() - t0;
  h.disable();
  out['put (request path) p50'] = us(pct(sync, 50));
  out['put (request path) p99'] = us(pct(sync, 99));
  out['writes/s (backlog)'] = Math.round(N / (elapsed / 1000));
  out['longest loop block while writing'] = msf(h.max / 1e6);

  if (awaitCommitMs > 0) {
    const seq = [];
    for (let i = 0; i < Math.min(N, 1000); i++) {
      const a = performance.now();
      await store.put(record(N + i));
      seq.push(performance.now() - a);
    }
    out['put -> committed p50 (one at a time)'] = msf(pct(seq, 50));
    out['put -> committed p99 (one at a time)'] = msf(pct(seq, 99));
    const conc = [];
    let next = 2 * N;
    const worker = async () => {
      for (let j = 0; j < Math.min(N, 1000) / 16; j++) {
        const a = performance.now();
        await store.put(record(next++));
        conc.push(performance.now() - a);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    out['put -> committed p50 (16 at once)'] = msf(pct(conc, 50));
    out['put -> committed p99 (16 at once)'] = msf(pct(conc, 99));
  }

  const gets = [];
  for (let i = 0; i < Math.min(N, 2000); i++) {
    const id = `resp_${((i * 7919) % N).toString(16).padStart(32, '0')}`;
    const a = performance.now();
    const r = await store.get('bench', id);
    gets.push(performance.now() - a);
    if (!r) throw new Error(`missing ${id}`);
  }
  out['get from the database p50'] = us(pct(gets, 50));
  out['get from the database p99'] = us(pct(gets, 99));
  await store.close();
  await handle.close();
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'sy-bench-responses-'));
const results = [];
try {
  results.push(
    await run(
      'sqlite',
      {
        kind: 'sqlite',
        path: join(dir, 'bench.db'),
        schema: 'public',
        poolSize: 1,
        statementTimeoutMs: 5000,
        migrate: true,
      },
      0,
    ),
  );
  const schema = `sy_bench_${process.pid}`;
  try {
    results.push(
      await run(
        'postgres',
        { kind: 'postgres', url: PG_URL, schema, poolSize: 10, statementTimeoutMs: 5000, migrate: true },
        2000,
      ),
    );
  } catch (err) {
    process.stderr.write(`postgres skipped: ${err.message}\n`);
  } finally {
    try {
      const pg = (await import('pg')).default;
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop schema if exists "${schema}" cascade`);
      await c.end();
    } catch {
      // Unreachable: nothing was created.
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
for (const r of results) {
  process.stdout.write(`\n${r.backend} (N=${N})\n`);
  for (const [k, v] of Object.entries(r))
    if (k !== 'backend') process.stdout.write(`  ${k.padEnd(40)} ${v}\n`);
}
