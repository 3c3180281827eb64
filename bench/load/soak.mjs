// Soak: a target under a steady request rate for SOAK_MINUTES, its memory sampled every
// SOAK_SAMPLE_SECONDS. Bench only, never CI.
//
//   npm --prefix bench run bench:soak                                  # everything on, 10 min at 200 req/s
//   SOAK_CACHE_MAX_BYTES=8388608 npm --prefix bench run bench:soak     # an 8 MiB L1, full before minute 2
//   SOAK_TARGET=forwarder npm --prefix bench run bench:soak            # the baseline forwarder, for reference
//   SOAK_TARGET=leaky-forwarder SOAK_MINUTES=5 npm --prefix bench run bench:soak   # must FAIL
//
// Targets (SOAK_TARGET): `everything-on` (default; the gateway with whatever this build accepts, as in
// overhead.mjs), `forwarder` (baseline-forwarder.mjs) and `leaky-forwarder` (the forwarder keeping
// SOAK_LEAK_BYTES, 1024, per request forever: the proof that the rule below catches a leak).
//
// What is sampled: every SOAK_SAMPLE_SECONDS (2), RSS from /proc/<pid>/status and the V8 figures (heap
// used, heap total, external, per-space sizes) from the gateway's admin /health, or from the forwarders
// over their IPC channel; each minute is reported as min / median / max. At the end of each minute the
// soak also asks the target for a full, synchronous GC (SIGUSR2 to a bench-only hook, soak-gc-hook.mjs,
// loaded with --expose-gc --import; src/ has no such thing) and reads memory 0.3 s later.
//
// The rule: the run fails when **retained memory after the end-of-minute full GC**, for any minute after
// SOAK_SETTLE_MINUTES (2), is more than SOAK_MAX_GROWTH (0.1 = 10%) above the same figure at the end of
// minute SOAK_SETTLE_MINUTES, or when any request failed. Retained = RSS - (heap total - heap used):
// RSS less the V8 heap's committed but empty space. Why not a plain RSS reading: under steady load the
// gateway promotes a few KB of short-lived garbage per request into old space, so the V8 heap saw-tooths
// between major GCs (heap total 90-190 MiB at 200 req/s with a live heap of ~40 MiB), and V8 keeps what
// it committed at the peak until load stops. One RSS reading a minute lands anywhere on that saw-tooth
// (session 4 failed at +20% with a flat live heap), the per-minute minimum is no better (the first
// runs here: the gateway +24% and even the forwarder +19%, whose young generation grew from 8 to 16
// MiB), and RSS right after a full GC still carries the committed peak. What the full GC leaves in
// the heap, plus everything outside the heap (Node, malloc, sqlite, buffers), is what the process
// holds; a JS leak raises the first, a native leak the second, and the leaky forwarder fails on it.
// The per-minute min / median / max RSS and RSS after the full GC are reported, not judged: the maximum
// is what a container limit has to cover. SOAK_FORCE_GC=0 judges the per-minute minimum RSS instead.
//
// Env: SOAK_TARGET, SOAK_MINUTES (10), SOAK_RATE (200 req/s over 10 connections), SOAK_SETTLE_MINUTES (2),
// SOAK_MAX_GROWTH (0.1), SOAK_SAMPLE_SECONDS (2), SOAK_AFTER_SECONDS (60: keep sampling this long after
// the load stops, to see whether RSS comes back), SOAK_CACHE_MAX_BYTES (the gateway's L1 bound),
// SOAK_NODE_ARGS (space-separated node flags for the gateway, e.g. --max-semi-space-size=8),
// SOAK_LEAK_BYTES (1024), SOAK_GC_TRACE (a file for the gateway's --trace-gc-nvp output), SOAK_FORCE_GC
// (1; 0 = no forced GC, judge the per-minute minimum RSS). Environment variables such as MALLOC_ARENA_MAX reach the target process.
// Results: stdout (Markdown) and bench/results/soak-<target>-latest.json (every sample).
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import {
  ADMIN_KEY,
  body,
  check,
  cleanup,
  createKey,
  forkHelper,
  gatewayConfig,
  probeFeatures,
  rssMiB,
  startGateway,
  tmp,
} from './overhead.mjs';

const num = (name, def, { zero = false } = {}) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isFinite(v) || v < 0 || (!zero && v === 0))
    throw new Error(`${name} must be a positive number`);
  return v;
};
const TARGET = process.env.SOAK_TARGET ?? 'everything-on';
const TARGETS = ['everything-on', 'forwarder', 'leaky-forwarder'];
if (!TARGETS.includes(TARGET)) throw new Error(`SOAK_TARGET must be one of ${TARGETS.join(', ')}`);
const MINUTES = num('SOAK_MINUTES', 10);
const RATE = num('SOAK_RATE', 200);
const SETTLE = num('SOAK_SETTLE_MINUTES', 2);
const MAX_GROWTH = num('SOAK_MAX_GROWTH', 0.1);
const SAMPLE_S = num('SOAK_SAMPLE_SECONDS', 2);
const AFTER_S = num('SOAK_AFTER_SECONDS', 60, { zero: true });
// A smaller L1 fills within the settle minutes, so growth after them is not the cache filling.
const CACHE_MAX_BYTES = process.env.SOAK_CACHE_MAX_BYTES;
const NODE_ARGS = (process.env.SOAK_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const FORCE_GC = process.env.SOAK_FORCE_GC !== '0';
const GC_SETTLE_MS = 300;
const HERE = dirname(fileURLToPath(import.meta.url));
// The bench-only hook that lets the soak ask the target for a full GC (soak-gc-hook.mjs).
const GC_ARGS = FORCE_GC
  ? ['--expose-gc', '--import', pathToFileURL(join(HERE, 'soak-gc-hook.mjs')).href]
  : [];
const log = (s) => process.stderr.write(`${s}\n`);
const MiB = (b) => (typeof b === 'number' ? +(b / 2 ** 20).toFixed(1) : null);

/** RSS and its anonymous part (heap, malloc; the rest is mapped files: code, shared libraries) from /proc. */
function procRss(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st)?.[1]);
    return { rss: +(kb('VmRSS') / 1024).toFixed(1), anon: +(kb('RssAnon') / 1024).toFixed(1) };
  } catch {
    return { rss: rssMiB(pid) };
  }
}

/** User + system CPU seconds of a process, from /proc (forced GCs included, about 0.1 s a minute). */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // clock ticks: USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** A memory reading from whatever the target exposes, in MiB; RSS always from /proc. */
function memoryReader(target) {
  const fromUsage = (m) => ({
    heapUsed: MiB(m.heapUsed),
    heapTotal: MiB(m.heapTotal),
    external: MiB(m.external),
    oldSpace: MiB(m.spaces?.old_space?.size),
    oldUsed: MiB(m.spaces?.old_space?.used),
    newSpace: MiB(m.spaces?.new_space?.size),
    lo: MiB(m.spaces?.large_object_space?.size),
    code: MiB(m.spaces?.code_space?.size),
  });
  if (target.proc?.send) {
    // The forwarders answer { type: 'memory' } over IPC.
    let pending = null;
    target.proc.on('message', (m) => {
      if (m?.type === 'memory' && pending) {
        pending(m);
        pending = null;
      }
    });
    return async () => {
      const m = await Promise.race([
        new Promise((resolve) => {
          pending = resolve;
          target.proc.send({ type: 'memory' });
        }),
        sleep(1000).then(() => null),
      ]);
      return { ...procRss(target.pid), ...(m ? fromUsage(m) : {}) };
    };
  }
  return async () => {
    const rss = procRss(target.pid);
    try {
      const r = await fetch(`${target.url}/health`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
        signal: AbortSignal.timeout(1000),
      });
      const m = (await r.json()).memory;
      if (!m) return rss;
      return {
        ...rss,
        ...fromUsage({
          heapUsed: m.heap_used,
          heapTotal: m.heap_total,
          external: m.external,
          spaces: m.heap_spaces,
        }),
      };
    } catch {
      return rss;
    }
  };
}

async function startTarget(up) {
  if (TARGET !== 'everything-on') {
    const script = TARGET === 'forwarder' ? 'baseline-forwarder.mjs' : 'leaky-forwarder.mjs';
    const f = await forkHelper(script, [up.url], { execArgv: GC_ARGS });
    return {
      ...f,
      name: TARGET,
      model: 'bench',
      headers: { 'content-type': 'application/json' },
      features: [],
    };
  }
  const probe = await probeFeatures(up.url);
  let config = gatewayConfig(up.url, probe.on, {});
  if (CACHE_MAX_BYTES && probe.on.includes('cache'))
    config = config.replace(
      'cache: { enabled: true,',
      `cache: { enabled: true, max_bytes: ${Number(CACHE_MAX_BYTES)},`,
    );
  // SOAK_GC_TRACE=<file>: V8's own trace of every GC (--trace-gc-nvp: kind, pause, promoted bytes) there.
  const trace = process.env.SOAK_GC_TRACE;
  const g = await startGateway('soak', config, {
    nodeArgs: [...GC_ARGS, ...(trace ? ['--trace-gc', '--trace-gc-nvp'] : []), ...NODE_ARGS],
    stdout: trace ? openSync(trace, 'w') : 'ignore',
  });
  const headers = { 'content-type': 'application/json' };
  if (probe.on.includes('auth')) headers.authorization = `Bearer ${await createKey(g)}`;
  return { ...g, name: TARGET, model: 'bench', headers, features: probe.on };
}

const sorted = (xs) => xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
const stats = (xs) => {
  const s = sorted(xs);
  if (s.length === 0) return null;
  return { min: s[0], med: s[Math.floor((s.length - 1) / 2)], max: s.at(-1) };
};
const fmt = (st, which = ['min', 'med', 'max']) => (st ? which.map((k) => st[k]).join(' / ') : '-');

async function main() {
  const up = await forkHelper('fake-upstream.mjs', []);
  const t = await startTarget(up);
  await check(t, t.features);
  const read = memoryReader(t);
  const describe =
    TARGET === 'everything-on'
      ? `everything-on (${t.features.join(', ') || 'defaults only'}${CACHE_MAX_BYTES ? `, cache.max_bytes ${CACHE_MAX_BYTES}` : ''}${NODE_ARGS.length ? `, node ${NODE_ARGS.join(' ')}` : ''})`
      : TARGET === 'leaky-forwarder'
        ? `leaky-forwarder (${process.env.SOAK_LEAK_BYTES ?? 1024} B kept per request)`
        : 'forwarder';
  const env = process.env.MALLOC_ARENA_MAX ? `, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX}` : '';
  log(
    `soak: ${MINUTES} min at ${RATE} req/s against ${describe}${env}, load avg ${os.loadavg()[0].toFixed(1)}`,
  );

  // Samples: { s (seconds since load start), phase ('load' | 'after'), rss, heapUsed, ..., load }; the
  // forced-GC readings (one per minute, and one at the end of the idle period) go to gcReads.
  const samples = [];
  const gcReads = [];
  const idle = await read();
  const t0 = Date.now();
  let phase = 'load';
  let sampling = true;
  let logged = 0;
  let quietUntil = 0;
  const forcedGc = async (minute) => {
    process.kill(t.pid, 'SIGUSR2');
    // Read at once (the handler runs on the next turn of the target's loop): new space refills at
    // ~12 MB/s at 200 req/s, which would count as heap in use. Pages the GC freed but the OS has not
    // got back yet still count in both RSS and heap total, so the retained figure is not fooled by them.
    await sleep(GC_SETTLE_MS);
    const r = { minute, s: (Date.now() - t0) / 1000, ...(await read()) };
    // Retained: RSS less the V8 heap's committed-but-empty space (heap total - heap used right after a
    // full GC), which V8 keeps at its high-water mark while the load lasts and would hand back, not hold.
    r.retained =
      typeof r.heapTotal === 'number' && typeof r.heapUsed === 'number'
        ? +(r.rss - r.heapTotal + r.heapUsed).toFixed(1)
        : r.rss;
    gcReads.push(r);
    // The saw-tooth right after a forced GC is not the gateway's own: keep it out of min/med/max.
    quietUntil = Date.now() + 10_000;
    return r;
  };
  const sampler = (async () => {
    let next = t0 + SAMPLE_S * 1000;
    while (sampling) {
      await sleep(Math.max(0, next - Date.now()));
      next += SAMPLE_S * 1000;
      if (!sampling) break;
      const s = { s: (Date.now() - t0) / 1000, phase, load: os.loadavg()[0], ...(await read()) };
      if (Date.now() - (SAMPLE_S * 1000) / 2 < quietUntil) s.postGc = true;
      samples.push(s);
      const done = Math.floor(s.s / 60); // minutes completed
      if (phase === 'load' && done > logged && done <= MINUTES) {
        logged = done;
        const m = samples.filter(
          (x) => x.phase === 'load' && !x.postGc && x.s > (done - 1) * 60 && x.s <= done * 60 + 0.5,
        );
        const r = stats(m.map((x) => x.rss));
        const h = stats(m.map((x) => x.heapTotal));
        const g = FORCE_GC ? await forcedGc(done) : null;
        log(
          `soak: minute ${done}: RSS min/med/max ${fmt(r)} MiB, heap total ${fmt(h, ['min', 'max'])}${g ? `; after a full GC RSS ${g.rss}, heap used ${g.heapUsed ?? '?'}` : ''} (load avg ${s.load.toFixed(1)})`,
        );
      }
    }
  })();
  // Distinct bodies (a cache can only miss, so its memory is bounded by its own limits, not by the
  // bench), at a fixed overall rate spread over 10 connections.
  const cpu0 = cpuSeconds(t.pid);
  const result = await autocannon({
    url: `${t.url}/v1/chat/completions`,
    connections: 10,
    overallRate: RATE,
    duration: MINUTES * 60,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/v1/chat/completions',
        headers: t.headers,
        setupRequest: (req) => ({ ...req, body: body(t.model) }),
      },
    ],
  });
  const cpu1 = cpuSeconds(t.pid);
  const loadEnd = (Date.now() - t0) / 1000;
  phase = 'after';
  await sleep(AFTER_S * 1000);
  sampling = false;
  await sampler;
  const afterGc = FORCE_GC && AFTER_S > 0 ? await forcedGc('after') : null;

  // Minute m holds the load samples taken in ((m-1)*60, m*60] seconds.
  const minutes = [];
  for (let m = 1; m <= MINUTES; m++) {
    const ss = samples.filter(
      (x) => x.phase === 'load' && !x.postGc && x.s > (m - 1) * 60 && x.s <= m * 60 + 0.5,
    );
    if (ss.length === 0) continue;
    // A major GC shows as heap total shrinking between two samples (V8 releases old-space pages after
    // a mark-compact); a minute with none has a trough that may be no trough.
    let gcs = 0;
    for (let i = 1; i < ss.length; i++) if (ss[i].heapTotal < ss[i - 1].heapTotal - 0.5) gcs++;
    minutes.push({
      minute: m,
      n: ss.length,
      gcDrops: ss[0].heapTotal === undefined ? null : gcs,
      load: stats(ss.map((x) => x.load)).max,
      rss: stats(ss.map((x) => x.rss)),
      heapUsed: stats(ss.map((x) => x.heapUsed)),
      heapTotal: stats(ss.map((x) => x.heapTotal)),
      external: stats(ss.map((x) => x.external)),
      // What is not V8's heap: Node and its libraries, malloc (sqlite, buffers, parsers), pooled pages.
      nonHeap: stats(
        ss.map((x) => (x.heapTotal === undefined ? undefined : +(x.rss - x.heapTotal).toFixed(1))),
      ),
      oldSpace: stats(ss.map((x) => x.oldSpace)),
      newSpace: stats(ss.map((x) => x.newSpace)),
      gc: gcReads.find((g) => g.minute === m) ?? null,
    });
  }
  const afterSamples = samples.filter((x) => x.phase === 'after' && !x.postGc);
  const after = afterSamples.length
    ? {
        rss: stats(afterSamples.map((x) => x.rss)),
        heapUsed: stats(afterSamples.map((x) => x.heapUsed)),
        heapTotal: stats(afterSamples.map((x) => x.heapTotal)),
        gc: afterGc,
      }
    : null;

  // The judged figure: RSS after a full GC at the end of each minute (SOAK_FORCE_GC=0: the minute's
  // lowest sample instead).
  const judged = (m) => (FORCE_GC ? m.gc?.retained : m.rss?.min);
  const base = judged(minutes.find((m) => m.minute === SETTLE) ?? {});
  const later = minutes.filter((m) => m.minute > SETTLE && typeof judged(m) === 'number');
  const worst = later.reduce((w, m) => (w === null || judged(m) > judged(w) ? m : w), null);
  const growth = base && worst ? judged(worst) / base - 1 : Number.NaN;
  const lastGrowth = base && later.length ? judged(later.at(-1)) / base - 1 : Number.NaN;
  const peakBase = minutes.find((m) => m.minute === SETTLE)?.rss?.max;
  const peakGrowth =
    peakBase && later.length ? Math.max(...later.map((m) => m.rss.max)) / peakBase - 1 : Number.NaN;
  const heapBase = minutes.find((m) => m.minute === SETTLE)?.gc?.heapUsed;
  const heapWorst = Math.max(...later.map((m) => m.gc?.heapUsed ?? Number.NaN));
  const heapGrowth = heapBase ? heapWorst / heapBase - 1 : Number.NaN;
  const rssGcBase = minutes.find((m) => m.minute === SETTLE)?.gc?.rss;
  const rssGcGrowth = rssGcBase
    ? Math.max(...later.map((m) => m.gc?.rss ?? Number.NaN)) / rssGcBase - 1
    : Number.NaN;
  const bad = result.non2xx + result.errors + result.timeouts;
  const cpuUs = cpu0 !== null && cpu1 !== null ? ((cpu1 - cpu0) * 1e6) / result.requests.total : null;
  const pctS = (g) => (Number.isFinite(g) ? `${g >= 0 ? '+' : ''}${(g * 100).toFixed(1)}%` : 'n/a');
  const noGc = minutes.filter((m) => m.gcDrops === 0).map((m) => m.minute);
  const verdict = !Number.isFinite(growth)
    ? 'FAIL (too short to judge)'
    : growth > MAX_GROWTH
      ? 'FAIL (RSS grew)'
      : bad > 0
        ? 'FAIL (requests failed)'
        : 'PASS';
  const loads = stats(samples.map((x) => x.load));
  const what = FORCE_GC
    ? 'retained memory (RSS less the empty committed V8 heap) after a full GC at the end of each minute'
    : "the minute's lowest RSS";

  const out = [
    `## Soak: ${describe}${env} (${new Date(t0).toISOString().slice(0, 16)}Z)`,
    '',
    `${MINUTES} min at ${RATE} req/s (${(result.requests.total / result.duration).toFixed(0)} req/s achieved, ${bad} non-2xx/errors/timeouts), target CPU ${cpuUs === null ? '?' : cpuUs.toFixed(0)} µs/req, a sample every ${SAMPLE_S} s; load avg (1 min) ${loads?.min.toFixed(1)}-${loads?.max.toFixed(1)}`,
    '',
    `Idle before load: RSS ${idle.rss} MiB, heap used ${idle.heapUsed ?? '-'} / total ${idle.heapTotal ?? '-'} MiB.`,
    '',
    '| minute | RSS min / med / max MiB | heap total min / max | heap used min / max | RSS - heap total med | heap-total drops | after a full GC: RSS / heap used / heap total | retained | load avg |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...minutes.map(
      (m) =>
        `| ${m.minute} | ${fmt(m.rss)} | ${fmt(m.heapTotal, ['min', 'max'])} | ${fmt(m.heapUsed, ['min', 'max'])} | ${m.nonHeap?.med ?? '-'} | ${m.gcDrops ?? '-'} | ${m.gc ? `${m.gc.rss} / ${m.gc.heapUsed ?? '-'} / ${m.gc.heapTotal ?? '-'}` : '-'} | ${m.gc?.retained ?? '-'} | ${m.load.toFixed(1)} |`,
    ),
    ...(after
      ? [
          `| after (${AFTER_S} s idle) | ${fmt(after.rss)} | ${fmt(after.heapTotal, ['min', 'max'])} | ${fmt(after.heapUsed, ['min', 'max'])} | | | ${after.gc ? `${after.gc.rss} / ${after.gc.heapUsed ?? '-'} / ${after.gc.heapTotal ?? '-'}` : '-'} | ${after.gc?.retained ?? '-'} | |`,
        ]
      : []),
    '',
    `Judged on ${what}: minute ${SETTLE} ${base ?? '?'} MiB, highest later ${worst ? judged(worst) : '?'} MiB (minute ${worst?.minute ?? '?'}): **${pctS(growth)}** (limit +${(MAX_GROWTH * 100).toFixed(0)}%); last minute ${pctS(lastGrowth)}. Reported, not judged: RSS after a full GC ${pctS(rssGcGrowth)}, heap used after it ${pctS(heapGrowth)}; highest per-minute maximum RSS ${pctS(peakGrowth)} over minute ${SETTLE}'s.${noGc.length ? ` Minutes with no heap-total drop between samples: ${noGc.join(', ')}.` : ''} **${verdict}**`,
    '',
  ];
  process.stdout.write(out.join('\n'));
  const resultsDir = join(HERE, '..', 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, `soak-${TARGET}-latest.json`),
    `${JSON.stringify({ target: TARGET, describe, minutesRun: MINUTES, rate: RATE, forceGc: FORCE_GC, cpuUs, loadEnd, idle, minutes, after, growth, lastGrowth, heapGrowth, peakGrowth, verdict, samples, gcReads }, null, 1)}\n`,
  );
  if (verdict !== 'PASS') {
    log(`soak: ${verdict}`);
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (err) {
  log(`soak: ${err.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
  rmSync(tmp, { recursive: true, force: true });
}
