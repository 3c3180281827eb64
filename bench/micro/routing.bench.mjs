// Micro-benchmark: CPU cost of the routing stage's pure pieces, per call. Uses the built gateway in
// ../../dist (run `npm run build` first):
//   orderTargets (dist/core/routing.js)            1 and 3 targets under every strategy
//   fullJitterDelay, retryDelay (dist/core/backoff.js)
//   TargetStats.begin + its release (dist/services/target-stats.js)
//
//   npm --prefix bench run bench:micro        (env BENCH_TIME_MS, default 500 per task; BATCH, default 1000)
//
// Each of these takes tens of nanoseconds, less than the cost of reading the clock around it, so every
// tinybench task runs its operation BATCH times in a loop and the table divides by BATCH. The calls are
// made as the executor makes them (src/services/executor.ts): Math.random as the RNG, and the load
// callback builds the `provider/model` key from the target and reads TargetStats, as
// `deps.stats.load(keyOf(target))` does. Building the key from the target's fields matters: a key that
// is a string constant has its hash cached by V8 and looks several times cheaper than the real thing.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const dist = (p) => join(REPO, 'dist', p);
for (const f of ['core/routing.js', 'core/backoff.js', 'services/target-stats.js']) {
  if (!existsSync(dist(f))) {
    process.stderr.write(`dist/${f} is missing: run \`npm run build\` in the repository root first\n`);
    process.exit(1);
  }
}
const { orderTargets } = await import(pathToFileURL(dist('core/routing.js')).href);
const { fullJitterDelay, retryDelay } = await import(pathToFileURL(dist('core/backoff.js')).href);
const { TargetStats, targetKey } = await import(pathToFileURL(dist('services/target-stats.js')).href);

const BATCH = Number(process.env.BATCH ?? 1000);
if (!(Number.isInteger(BATCH) && BATCH >= 1)) throw new Error(`BATCH must be an integer >= 1, got ${BATCH}`);
const STRATEGIES = ['ordered', 'weighted', 'least-busy', 'latency'];

// Targets shaped like the executor's RouteTarget, as far as routing reads them. The 3-target set is the
// load benchmark's switchyard-routed model (weights 3/2/1, one upstream).
const target = (model, weight) => ({ provider: { id: 'up' }, upstreamModel: model, weight });
const ONE = [target('gpt-4o-mini', 1)];
const THREE = [target('gpt-4o-mini-a', 3), target('gpt-4o-mini-b', 2), target('gpt-4o-mini-c', 1)];

// Live stats in a steady state: every target measured (EWMA latency and TTFT), nothing in flight, as
// between requests of a warmed-up gateway. Unmeasured targets would short-cut latencyScore().
const stats = new TargetStats();
for (const t of [...ONE, ...THREE]) {
  for (let i = 0; i < 5; i++) {
    stats.begin(targetKey(t.provider.id, t.upstreamModel))({ ok: true, latencyMs: 40 + i, ttftMs: 10 + i });
  }
}
const loadOf = (targets) => (i) => stats.load(targetKey(targets[i].provider.id, targets[i].upstreamModel));
const LOAD_ONE = loadOf(ONE);
const LOAD_THREE = loadOf(THREE);
const RETRY_SPEC = { baseDelayMs: 200, maxDelayMs: 5000 };

let sink = 0; // keeps results observable so the work cannot be optimised away

// ---------------------------------------------------------------------------- correctness first
{
  // every strategy returns a permutation of the targets
  for (const s of STRATEGIES) {
    for (const ts of [ONE, THREE]) {
      const out = orderTargets(ts, s, loadOf(ts), Math.random);
      if (out.length !== ts.length || new Set(out).size !== ts.length || out.some((t) => !ts.includes(t))) {
        throw new Error(`orderTargets(${ts.length} targets, ${s}) did not return a permutation`);
      }
    }
  }
  // weighted 3/2/1: first picks within 1 percentage point of 50/33.3/16.7 over 60,000 draws
  const firsts = new Map(THREE.map((t) => [t, 0]));
  const N = 60_000;
  for (let i = 0; i < N; i++) {
    const first = orderTargets(THREE, 'weighted', LOAD_THREE, Math.random)[0];
    firsts.set(first, firsts.get(first) + 1);
  }
  for (const t of THREE) {
    const share = firsts.get(t) / N;
    if (Math.abs(share - t.weight / 6) > 0.01) {
      throw new Error(`weighted: ${t.upstreamModel} first in ${(share * 100).toFixed(1)}% of draws`);
    }
  }
  // backoff bounds: retry 1 with base 200 ms is uniform in [0, 400]; a Retry-After of 1 s is a floor
  for (let i = 0; i < 1000; i++) {
    const d = fullJitterDelay(1, 200, 5000, Math.random);
    if (!(d >= 0 && d <= 400)) throw new Error(`fullJitterDelay(1, 200, 5000) = ${d}`);
    const r = retryDelay(1, RETRY_SPEC, 1, 600_000, Math.random);
    if (r !== 1000) throw new Error(`retryDelay with Retry-After 1 s = ${r}`);
  }
  // begin/release leaves nothing in flight
  const key = targetKey('up', 'gpt-4o-mini');
  stats.begin(key)({ ok: true, latencyMs: 42 });
  if (stats.load(key).inFlight !== 0) throw new Error('TargetStats: in-flight count did not return to 0');
}

// ---------------------------------------------------------------------------------------- tasks
const bench = new Bench({ time: Number(process.env.BENCH_TIME_MS ?? 500), warmupTime: 200 });
const batched = (fn) => () => {
  for (let i = 0; i < BATCH; i++) fn();
};

bench.add(
  'Math.random() (the RNG every strategy but ordered calls)',
  batched(() => {
    sink += Math.random();
  }),
);
for (const [label, ts, load] of [
  ['1 target', ONE, LOAD_ONE],
  ['3 targets', THREE, LOAD_THREE],
]) {
  for (const s of STRATEGIES) {
    bench.add(
      `orderTargets, ${label}, ${s}`,
      batched(() => {
        sink += orderTargets(ts, s, load, Math.random).length;
      }),
    );
  }
}
bench.add(
  'fullJitterDelay(retry 1, 200 ms, 5 s)',
  batched(() => {
    sink += fullJitterDelay(1, 200, 5000, Math.random);
  }),
);
bench.add(
  'retryDelay(retry 1, no Retry-After, 600 s budget)',
  batched(() => {
    sink += retryDelay(1, RETRY_SPEC, undefined, 600_000, Math.random) ?? 0;
  }),
);
bench.add(
  'retryDelay(retry 1, Retry-After 1 s, 600 s budget)',
  batched(() => {
    sink += retryDelay(1, RETRY_SPEC, 1, 600_000, Math.random) ?? 0;
  }),
);
{
  // As the executor calls them: the key is built from the target on every call (keyOf(target)), a fresh
  // string that the Map must hash. The "precomputed key" rows reuse one string per target, whose hash
  // V8 caches: the difference is what building and hashing the key costs.
  const keys = THREE.map((t) => targetKey(t.provider.id, t.upstreamModel));
  let n = 0;
  const next = () => {
    n = n === 2 ? 0 : n + 1;
    return n;
  };
  const keyOf = (t) => targetKey(t.provider.id, t.upstreamModel);
  bench.add(
    'TargetStats.begin + release (ok, latency sample)',
    batched(() => {
      stats.begin(keyOf(THREE[next()]))({ ok: true, latencyMs: 42 });
    }),
  );
  bench.add(
    'TargetStats.begin + release (failed attempt)',
    batched(() => {
      stats.begin(keyOf(THREE[next()]))({ ok: false });
    }),
  );
  bench.add(
    'TargetStats.begin + release (ok), precomputed key',
    batched(() => {
      stats.begin(keys[next()])({ ok: true, latencyMs: 42 });
    }),
  );
  bench.add(
    'TargetStats.load',
    batched(() => {
      sink += stats.load(keyOf(THREE[next()])).inFlight;
    }),
  );
  bench.add(
    'TargetStats.load, precomputed key',
    batched(() => {
      sink += stats.load(keys[next()]).inFlight;
    }),
  );
}

await bench.run();

const rows = bench.tasks.map((task) => {
  const r = task.result;
  if (r.state !== 'completed') return `| ${task.name} | ${r.state} | | |`;
  const nsPerOp = (r.latency.mean * 1e6) / BATCH;
  const p99 = r.latency.p99 ? ((r.latency.p99 * 1e6) / BATCH).toFixed(1) : '-';
  const opsPerS = Math.round(r.throughput.mean * BATCH).toLocaleString('en-US');
  return `| ${task.name} | ${opsPerS} | ${nsPerOp.toFixed(1)} | ${p99} |`;
});
process.stdout.write(
  [
    `\n## Routing micro-benchmark (node ${process.version}, ${BATCH} calls per sample)`,
    '',
    '| operation | ops/s | ns/op (mean) | ns/op (p99 of samples) |',
    '|:--|--:|--:|--:|',
    ...rows,
    '',
    `(sink ${Number.isFinite(sink) && sink !== 0 ? 'ok' : String(sink)})`,
    '',
  ].join('\n'),
);
