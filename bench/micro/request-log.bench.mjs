// Micro-benchmark: what the request log costs per row, on SQLite and PostgreSQL.
// Uses the built gateway in ../../dist (run `npm run build` first; DIST=<dir> for another build, e.g. a
// base build to compare against) and the PostgreSQL at TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test; skipped with a note when unreachable).
//
//   node bench/micro/request-log.bench.mjs      (env N, default 50000 rows per case; BATCH, default 100)
//
// Reported, as µs per row:
// - row: building the row from settle's record (`requestRow`: id, cost, fields), on the request path;
// - write: `Store.insertRequests` in batches of BATCH rows (the writer's batch size), the rows and the
//   daily-usage upsert in one transaction. CPU is user+system of this process (for PostgreSQL: the
//   client's share only; the server's work is in another process), wall includes waiting on the disk
//   (SQLite, WAL + synchronous NORMAL as the gateway opens it) or on the server.
// - main thread: CPU of the main thread alone (/proc/self/task/<pid>/stat, 10 ms ticks), and the
//   longest the event loop was held by one batch's call (p50/p99/max over the batches: the synchronous
//   part of `insertRequests`, which on the main-thread path is the whole transaction and any checkpoint).
// SQLite runs twice when the build has the request-log worker (db/request-log-thread.js): on the main
// connection, and through the worker thread with its own connection, as the gateway does on a file.
// Every case runs ROUNDS times (default 3) on a fresh database; the median round is reported.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIST = process.env.DIST ? resolve(process.env.DIST) : join(REPO, 'dist');
const dist = (p) => join(DIST, p);
if (!existsSync(dist('services/request-log.js'))) {
  process.stderr.write(`${DIST} is missing: run \`npm run build\` in the repository root first\n`);
  process.exit(1);
}
const { openDatabase } = await import(pathToFileURL(dist('db/connect.js')).href);
const { Store } = await import(pathToFileURL(dist('db/store.js')).href);
const { requestRow } = await import(pathToFileURL(dist('services/request-log.js')).href);
const { Pricing } = await import(pathToFileURL(dist('services/pricing.js')).href);
const threadModule = existsSync(dist('db/request-log-thread.js'))
  ? await import(pathToFileURL(dist('db/request-log-thread.js')).href)
  : undefined;

const N = Number(process.env.N ?? 50_000);
const BATCH = Number(process.env.BATCH ?? 100);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Settle's record of a typical request: a few keys and models, one in 20 an error, some streams. */
function record(i, t0) {
  const failed = i % 20 === 0;
  const stream = i % 4 === 0;
  return {
    requestId: `req_${i.toString(36).padStart(10, '0')}`,
    receivedAt: t0 + Math.floor(i / 5),
    operation: stream ? 'chat.stream' : 'chat',
    path: '/v1/chat/completions',
    team: i % 3 === 0 ? 'team-b' : 'team-a',
    user: i % 2 === 0 ? 'user-1' : undefined,
    keyId: `key-${i % 8}`,
    model: i % 5 === 0 ? 'gpt-4o' : 'gpt-4o-mini',
    provider: 'openai',
    upstreamModel: i % 5 === 0 ? 'gpt-4o-2024-08-06' : 'gpt-4o-mini',
    upstreamRequestId: undefined,
    stream,
    status: failed ? 502 : 200,
    errorCode: failed ? 'upstream_error' : undefined,
    errorType: undefined,
    midStream: false,
    totalMs: 12.345 + (i % 50),
    upstreamMs: 10.2,
    firstTokenMs: stream ? 3.21 : undefined,
    usage: failed ? undefined : { prompt_tokens: 120 + (i % 7), completion_tokens: 90, total_tokens: 210 },
    usageEstimated: stream && i % 8 === 0,
    attempts: failed ? 2 : 1,
    fallback: undefined,
    degraded: undefined,
    cache: i % 10 === 0 ? 'hit' : 'miss',
    mergedWith: undefined,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const mainCpuMs = () => {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

function buildRows(t0) {
  const pricing = new Pricing();
  const records = Array.from({ length: N }, (_, i) => record(i, t0));
  const rows = new Array(N);
  const c = cpuMs();
  for (let i = 0; i < N; i++) rows[i] = requestRow(records[i], pricing);
  return { rows, cpuUsPerRow: ((cpuMs() - c) * 1000) / N };
}

async function writeRound(spec, onThread) {
  const handle = await openDatabase(spec);
  await handle.migrate();
  const thread = onThread
    ? new threadModule.RequestLogThread(handle.sqlite, {
        path: spec.path,
        busyTimeoutMs: spec.statementTimeoutMs,
        log: { warn() {}, error() {} },
      })
    : undefined;
  const store = new Store(handle, thread ? { requestRows: thread } : {});
  const { rows } = buildRows(Date.now());
  // Warm-up: the first batches prepare statements and JIT-compile the write path.
  const warm = buildRows(Date.now() - 86_400_000).rows.slice(0, 20 * BATCH);
  for (let i = 0; i < warm.length; i += BATCH) await store.insertRequests(warm.slice(i, i + BATCH));
  const c = cpuMs();
  const m = mainCpuMs();
  const w = performance.now();
  const held = [];
  for (let i = 0; i < rows.length; i += BATCH) {
    const batch = rows.slice(i, i + BATCH);
    const t = performance.now();
    const p = store.insertRequests(batch);
    held.push(performance.now() - t);
    await p;
  }
  const cpu = cpuMs() - c;
  const main = mainCpuMs() - m;
  const wall = performance.now() - w;
  // The bench checks what it measured: every row and every request in the daily totals.
  const day = Math.floor(rows[0].createdAt / 86_400_000);
  const [u] = await store.usage({ fromDay: day - 1, toDay: day + 1, groupBy: [] });
  if (u.requests !== rows.length + warm.length) throw new Error(`usage counted ${u.requests} requests`);
  await thread?.close();
  await handle.close();
  return {
    cpu: (cpu * 1000) / N,
    main: (main * 1000) / N,
    wall: (wall * 1000) / N,
    held: [pct(held, 50), pct(held, 99), Math.max(...held)],
  };
}

async function run(name, makeSpec, cleanup, onThread = false) {
  const rowCost = [];
  const cpu = [];
  const main = [];
  const wall = [];
  const held = [];
  for (let r = 0; r < ROUNDS; r++) {
    rowCost.push(buildRows(Date.now()).cpuUsPerRow);
    const spec = makeSpec(r);
    try {
      const res = await writeRound(spec, onThread);
      cpu.push(res.cpu);
      main.push(res.main);
      wall.push(res.wall);
      held.push(res.held);
    } finally {
      await cleanup?.(spec);
    }
  }
  const medianRound = (i) => median(held.map((h) => h[i]));
  return {
    backend: name,
    'row (requestRow) CPU': median(rowCost),
    [`write, batches of ${BATCH}: CPU`]: median(cpu),
    [`write, batches of ${BATCH}: main-thread CPU`]: median(main),
    [`write, batches of ${BATCH}: wall`]: median(wall),
    held: `event loop held per batch: p50 ${medianRound(0).toFixed(3)} p99 ${medianRound(1).toFixed(3)} max ${medianRound(2).toFixed(3)} ms`,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'sy-bench-request-log-'));
const results = [];
try {
  const sqlite = (tag) => (r) => ({
    kind: 'sqlite',
    path: join(dir, `bench-${tag}-${r}.db`),
    schema: 'public',
    poolSize: 1,
    statementTimeoutMs: 5000,
    migrate: true,
  });
  results.push(await run('sqlite', sqlite('main')));
  if (threadModule) results.push(await run('sqlite, worker thread', sqlite('thread'), undefined, true));
  const pg = (await import('pg')).default;
  const dropSchema = async (spec) => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`drop schema if exists "${spec.schema}" cascade`);
    await c.end();
  };
  try {
    results.push(
      await run(
        'postgres',
        (r) => ({
          kind: 'postgres',
          url: PG_URL,
          schema: `sy_bench_rl_${process.pid}_${r}`,
          poolSize: 4,
          statementTimeoutMs: 5000,
          migrate: true,
        }),
        dropSchema,
      ),
    );
  } catch (err) {
    process.stderr.write(`postgres skipped: ${err.message}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`dist: ${DIST}\n`);
for (const r of results) {
  process.stdout.write(`\n${r.backend} (N=${N}, median of ${ROUNDS})\n`);
  for (const [k, v] of Object.entries(r)) {
    if (k === 'held') process.stdout.write(`  ${v}\n`);
    else if (k !== 'backend') process.stdout.write(`  ${k.padEnd(44)} ${v.toFixed(2)} µs/row\n`);
  }
}
