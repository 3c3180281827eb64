// Switchyard load benchmark: direct upstream vs a minimal Fastify+undici forwarder vs Switchyard.
// See bench/README.md for what it measures and how to read it.
//
//   npm --prefix bench install && npm --prefix bench run bench
//
// Env knobs: CONNECTIONS (50), DURATION (10 s), WARMUP (2 s), TTFB_N (200), UPSTREAM_CHUNK_DELAY_MS (0),
// TARGETS (direct,baseline,switchyard), BUILD (1 = run `npm run build` first even if dist/ exists),
// BENCH_TIMEOUT (s; hard limit for the whole run, default derived from the above).
import { execFileSync, fork, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCH_DIR = join(HERE, '..');
const REPO = join(BENCH_DIR, '..');
const rootRequire = createRequire(join(REPO, 'package.json'));
const { Client } = rootRequire('undici');

// ---------------------------------------------------------------------------------------------- knobs
const int = (name, def, min = 0) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min}, got ${raw}`);
  return n;
};
const CONNECTIONS = int('CONNECTIONS', 50, 1);
const DURATION = int('DURATION', 10, 1);
const WARMUP = int('WARMUP', 2, 0);
const TTFB_N = int('TTFB_N', 200, 1);
const CHUNK_DELAY = int('UPSTREAM_CHUNK_DELAY_MS', 0, 0);
const TARGETS = (process.env.TARGETS ?? 'direct,baseline,switchyard')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const t of TARGETS) {
  if (!['direct', 'baseline', 'switchyard'].includes(t)) throw new Error(`TARGETS: unknown target ${t}`);
}
if (!TARGETS.includes('direct')) TARGETS.unshift('direct'); // every ratio is relative to direct
const CONN_LEVELS = [...new Set([CONNECTIONS, 1])];
const BUDGET_S = int(
  'BENCH_TIMEOUT',
  // load runs + streams (generous per-request allowance incl. chunk delays) + start-up/slack
  CONN_LEVELS.length * TARGETS.length * (WARMUP + DURATION + 3) +
    (TARGETS.length * (TTFB_N + 20) * (25 + 24 * CHUNK_DELAY)) / 1000 +
    90,
  10,
);

// ------------------------------------------------------------------------------- child-process care
const children = new Set(); // { name, proc, tail }
let cleaningUp = false;
let tmpDir; // holds the generated Switchyard config

function track(name, proc) {
  const entry = { name, proc, tail: [] };
  children.add(entry);
  proc.on('exit', (code, signal) => {
    children.delete(entry);
    if (!cleaningUp) {
      const tail = entry.tail.length ? `\n--- last output of ${name} ---\n${entry.tail.join('')}` : '';
      void fatal(`${name} exited unexpectedly (code ${code}, signal ${signal})${tail}`);
    }
  });
  return entry;
}

function keepTail(entry, stream) {
  stream?.setEncoding('utf8');
  stream?.on('data', (s) => {
    entry.tail.push(s);
    if (entry.tail.length > 40) entry.tail.shift();
  });
}

async function cleanup() {
  if (cleaningUp) return;
  cleaningUp = true;
  const alive = [...children];
  for (const { proc } of alive) proc.kill('SIGTERM');
  const deadline = Date.now() + 5000;
  while (children.size > 0 && Date.now() < deadline) await sleep(50);
  for (const { proc } of children) proc.kill('SIGKILL');
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
}

let fatalCalled = false;
async function fatal(message) {
  if (fatalCalled) return;
  fatalCalled = true;
  process.stderr.write(`\nbench: ${message}\n`);
  await cleanup();
  process.exit(1);
}

// Last resort: synchronous kill of anything still running, whatever path leads to exit.
process.on('exit', () => {
  for (const { proc } of children) proc.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping child processes\n`);
    cleanup().finally(() => process.exit(130));
  });
}
process.on('uncaughtException', (err) => void fatal(err?.stack ?? String(err)));
process.on('unhandledRejection', (err) => void fatal(err?.stack ?? String(err)));
setTimeout(
  () => void fatal(`took longer than BENCH_TIMEOUT=${Math.round(BUDGET_S)}s; aborted`),
  BUDGET_S * 1000,
).unref();

// ----------------------------------------------------------------------------------------- helpers
const log = (s) => process.stderr.write(`${s}\n`); // progress on stderr; results on stdout

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Forks one of our own helper scripts and waits for its { type: 'listening', port } message. */
function forkHelper(name, script, args, env = {}) {
  const proc = fork(join(HERE, script), args, {
    env: { ...process.env, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const entry = track(name, proc);
  keepTail(entry, proc.stdout);
  keepTail(entry, proc.stderr);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 15s`)), 15_000);
    proc.on('message', function onMsg(m) {
      if (m?.type !== 'listening') return;
      clearTimeout(timer);
      proc.off('message', onMsg);
      resolve({ proc, port: m.port, url: `http://127.0.0.1:${m.port}` });
    });
  });
}

async function waitReady(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`);
}

/** VmRSS / VmHWM of a process in MiB (Linux only; null elsewhere). */
function memOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    return { rssMiB: round(kib('VmRSS') / 1024, 1), peakRssMiB: round(kib('VmHWM') / 1024, 1) };
  } catch {
    return null;
  }
}

const round = (n, d = 2) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : null);

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

function summarize(values) {
  const s = Float64Array.from(values).sort();
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return {
    n: s.length,
    mean: round(mean, 3),
    p50: round(percentile(s, 50), 3),
    p90: round(percentile(s, 90), 3),
    p99: round(percentile(s, 99), 3),
    max: round(s[s.length - 1], 3),
  };
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function gitCommit() {
  try {
    // read-only
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------- the workload
const MESSAGES = [
  { role: 'system', content: 'You are a concise assistant. Answer in at most two sentences.' },
  { role: 'user', content: 'In plain words, what does an AI gateway do, and why would a team run one?' },
];
const requestBody = (model, stream = false) =>
  JSON.stringify({
    model,
    messages: MESSAGES,
    max_tokens: 128,
    temperature: 0.2,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
const HEADERS = { 'content-type': 'application/json', authorization: 'Bearer bench' };

/** One autocannon run; latencies are recorded here with sub-millisecond resolution (autocannon's own
 *  histogram has 1 ms resolution, which hides the difference we are after at low concurrency). */
async function loadRun(target, connections, duration) {
  const latencies = [];
  const instance = autocannon({
    url: `${target.url}/v1/chat/completions`,
    method: 'POST',
    headers: HEADERS,
    body: requestBody(target.model),
    connections,
    pipelining: 1,
    duration,
    timeout: 10,
  });
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const r = await instance;
  const ok = r['2xx'];
  return {
    target: target.name,
    connections,
    durationS: round(r.duration, 2),
    requests: r.requests.total,
    ok2xx: ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    rps: round(ok / r.duration, 1),
    latencyMs: summarize(latencies),
  };
}

/** Sequential streaming requests on one keep-alive connection: time to first body byte and to last. */
async function ttfbRun(target, n, warm) {
  const client = new Client(target.url, { keepAliveTimeout: 30_000, pipelining: 1 });
  const ttfb = [];
  const total = [];
  const body = requestBody(target.model, true);
  try {
    for (let i = 0; i < warm + n; i++) {
      const t0 = performance.now();
      const res = await client.request({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: HEADERS,
        body,
      });
      let first = 0;
      let text = '';
      for await (const chunk of res.body) {
        if (first === 0) first = performance.now();
        text += chunk;
      }
      const t1 = performance.now();
      if (res.statusCode !== 200 || !text.includes('data: [DONE]')) {
        throw new Error(`${target.name}: bad stream (HTTP ${res.statusCode}): ${text.slice(0, 300)}`);
      }
      if (i >= warm) {
        ttfb.push(first - t0);
        total.push(t1 - t0);
      }
    }
  } finally {
    await client.close();
  }
  return { target: target.name, n, ttfbMs: summarize(ttfb), totalMs: summarize(total) };
}

/** One request of each kind, checked, so that a misconfigured target cannot produce pretty numbers. */
async function sanityCheck(target) {
  const res = await fetch(`${target.url}/v1/chat/completions`, {
    method: 'POST',
    headers: HEADERS,
    body: requestBody(target.model),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  if (res.status !== 200 || json?.object !== 'chat.completion' || !json.choices?.[0]?.message?.content) {
    throw new Error(
      `${target.name}: unexpected non-stream answer (HTTP ${res.status}): ${text.slice(0, 300)}`,
    );
  }
  const sres = await fetch(`${target.url}/v1/chat/completions`, {
    method: 'POST',
    headers: HEADERS,
    body: requestBody(target.model, true),
  });
  const stext = await sres.text();
  const events = stext.split('\n\n').filter((e) => e.startsWith('data: '));
  const content = events
    .filter((e) => e !== 'data: [DONE]')
    .map((e) => JSON.parse(e.slice(6)).choices?.[0]?.delta?.content ?? '')
    .join('');
  if (
    sres.status !== 200 ||
    events.at(-1) !== 'data: [DONE]' ||
    content !== json.choices[0].message.content
  ) {
    throw new Error(`${target.name}: unexpected stream (HTTP ${sres.status}): ${stext.slice(0, 300)}`);
  }
  return { streamEvents: events.length, responseBytes: Buffer.byteLength(text) };
}

// ------------------------------------------------------------------------------------------ output
function fmt(n, d = 2) {
  return n === null || n === undefined ? '-' : Number(n).toFixed(d);
}
function signed(n, d = 2) {
  return n === null || n === undefined ? '-' : `${n >= 0 ? '+' : ''}${Number(n).toFixed(d)}`;
}
function table(header, rows) {
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_h, i) => (i === 0 ? ':--' : '--:')).join('|')}|`,
  ];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

// -------------------------------------------------------------------------------------------- main
async function main() {
  const startedAt = new Date();
  const loadavgStart = os.loadavg();
  log(
    `bench: connections=${CONNECTIONS} duration=${DURATION}s warmup=${WARMUP}s ttfb_n=${TTFB_N} ` +
      `chunk_delay=${CHUNK_DELAY}ms targets=${TARGETS.join(',')} (limit ${Math.round(BUDGET_S)}s)`,
  );

  // 0. build if needed
  const cli = join(REPO, 'dist', 'cli.js');
  if (TARGETS.includes('switchyard')) {
    if (!existsSync(cli) || process.env.BUILD === '1') {
      log('bench: building the gateway (npm run build)...');
      execFileSync('npm', ['run', 'build'], {
        cwd: REPO,
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: 300_000,
      });
    } else if (newestMtime(join(REPO, 'src')) > statSync(cli).mtimeMs) {
      log('bench: WARNING dist/ is older than src/; measuring the old build (BUILD=1 to rebuild first)');
    }
  }

  // 1. fake upstream
  const up = await forkHelper('fake-upstream', 'fake-upstream.mjs', [], {
    UPSTREAM_CHUNK_DELAY_MS: String(CHUNK_DELAY),
  });
  log(`bench: fake upstream on ${up.url}`);
  const targets = [{ name: 'direct', url: up.url, model: 'gpt-4o-mini', pid: up.proc.pid }];

  // 2. baseline forwarder
  if (TARGETS.includes('baseline')) {
    const bl = await forkHelper('baseline', 'baseline-forwarder.mjs', [up.url]);
    await waitReady(`${bl.url}/health/ready`, 10_000);
    targets.push({ name: 'baseline', url: bl.url, model: 'gpt-4o-mini', pid: bl.proc.pid });
    log(`bench: baseline forwarder on ${bl.url}`);
  }

  // 3. Switchyard
  if (TARGETS.includes('switchyard')) {
    tmpDir = mkdtempSync(join(os.tmpdir(), 'switchyard-bench-'));
    const configPath = join(tmpDir, 'switchyard.yaml');
    writeFileSync(
      configPath,
      [
        'server: { port: 0 }',
        'logging: { level: warn }',
        'providers:',
        `  up: { type: openai, base_url: ${up.url}/v1, api_key: bench }`,
        'models:',
        '  bench: { targets: [ { provider: up, model: gpt-4o-mini } ] }',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const proc = spawn(process.execPath, [cli, 'start', '--config', configPath], {
      cwd: REPO,
      env: { ...process.env, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const entry = track('switchyard', proc);
    keepTail(entry, proc.stdout);
    keepTail(entry, proc.stderr);
    const url = `http://127.0.0.1:${port}`;
    await waitReady(`${url}/health/ready`, 30_000);
    targets.push({ name: 'switchyard', url, model: 'bench', pid: proc.pid });
    log(`bench: switchyard on ${url} (pid ${proc.pid})`);
  }
  const gw = targets.find((t) => t.name === 'switchyard');
  const bl = targets.find((t) => t.name === 'baseline');

  // Memory before any traffic, once start-up work (e.g. the tokenizer Switchyard loads after listen)
  // has settled: RSS unchanged within 0.5 MiB over 500 ms, or 10 s at most.
  const settle = async (pid) => {
    let prev = memOf(pid);
    for (let i = 0; i < 20 && prev; i++) {
      await sleep(500);
      const cur = memOf(pid);
      if (Math.abs(cur.rssMiB - prev.rssMiB) < 0.5) return cur;
      prev = cur;
    }
    return prev;
  };
  const memBefore = {
    switchyard: gw ? await settle(gw.pid) : null,
    baseline: bl ? await settle(bl.pid) : null,
  };

  // 4. correctness, then load
  for (const t of targets) t.sanity = await sanityCheck(t);
  log(
    `bench: sanity checks passed (${targets.map((t) => `${t.name}: ${t.sanity.streamEvents} SSE events`).join(', ')})`,
  );

  const load = [];
  for (const connections of CONN_LEVELS) {
    for (const t of targets) {
      if (WARMUP > 0) await loadRun(t, connections, WARMUP);
      log(`bench: load ${t.name} c=${connections} ${DURATION}s...`);
      const r = await loadRun(t, connections, DURATION);
      load.push(r);
      log(
        `bench:   ${fmt(r.rps, 0)} req/s, p50 ${fmt(r.latencyMs.p50)} ms, p99 ${fmt(r.latencyMs.p99)} ms` +
          (r.non2xx || r.errors || r.timeouts
            ? `  (non2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts})`
            : ''),
      );
    }
  }
  for (const r of load) {
    const d = load.find((x) => x.target === 'direct' && x.connections === r.connections);
    r.vsDirect =
      r.target === 'direct'
        ? null
        : {
            rpsRatio: round(r.rps / d.rps, 3),
            addedP50Ms: round(r.latencyMs.p50 - d.latencyMs.p50, 3),
            addedP99Ms: round(r.latencyMs.p99 - d.latencyMs.p99, 3),
          };
  }

  // Switchyard relative to the baseline isolates the gateway's own work from the cost of any Node hop.
  for (const r of load.filter((x) => x.target === 'switchyard')) {
    const b = load.find((x) => x.target === 'baseline' && x.connections === r.connections);
    if (b) {
      r.vsBaseline = {
        rpsRatio: round(r.rps / b.rps, 3),
        addedP50Ms: round(r.latencyMs.p50 - b.latencyMs.p50, 3),
        addedP99Ms: round(r.latencyMs.p99 - b.latencyMs.p99, 3),
      };
    }
  }

  // 5. streaming time to first byte
  const ttfb = [];
  for (const t of targets) {
    log(`bench: ${TTFB_N} sequential streams against ${t.name}...`);
    ttfb.push(await ttfbRun(t, TTFB_N, Math.min(20, TTFB_N)));
  }
  const dT = ttfb.find((x) => x.target === 'direct');
  for (const r of ttfb) {
    r.vsDirect =
      r.target === 'direct'
        ? null
        : {
            addedTtfbP50Ms: round(r.ttfbMs.p50 - dT.ttfbMs.p50, 3),
            addedTtfbP99Ms: round(r.ttfbMs.p99 - dT.ttfbMs.p99, 3),
          };
  }

  const tB = ttfb.find((x) => x.target === 'baseline');
  const tS = ttfb.find((x) => x.target === 'switchyard');
  if (tB && tS) {
    tS.vsBaseline = {
      addedTtfbP50Ms: round(tS.ttfbMs.p50 - tB.ttfbMs.p50, 3),
      addedTtfbP99Ms: round(tS.ttfbMs.p99 - tB.ttfbMs.p99, 3),
    };
  }

  const memAfter = { switchyard: gw ? memOf(gw.pid) : null, baseline: bl ? memOf(bl.pid) : null };
  const loadavgEnd = os.loadavg();

  // 6. report
  const results = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    env: {
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      loadavgStart: loadavgStart.map((x) => round(x)),
      loadavgEnd: loadavgEnd.map((x) => round(x)),
      commit: gitCommit(),
    },
    config: {
      connections: CONN_LEVELS,
      durationS: DURATION,
      warmupS: WARMUP,
      ttfbN: TTFB_N,
      upstreamChunkDelayMs: CHUNK_DELAY,
      targets: targets.map(({ name, url, model }) => ({ name, url, model })),
    },
    load,
    ttfb,
    memory: { before: memBefore, after: memAfter },
  };
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  const out = join(BENCH_DIR, 'results', 'latest.json');
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);

  const md = [];
  md.push(
    `## Switchyard load benchmark (${results.env.commit ?? 'unknown commit'}, node ${process.version}, ${results.env.cpus} CPUs)`,
  );
  md.push('');
  md.push(
    `Non-streaming POST /v1/chat/completions, ${DURATION}s per run after ${WARMUP}s warm-up. ` +
      `Latency in ms; "+p50/+p99" = target minus direct; "rps ratio" = target / direct.`,
  );
  md.push('');
  md.push(
    table(
      ['target', 'conns', 'req/s', 'p50', 'p99', 'rps ratio', '+p50', '+p99', 'errors'],
      load.map((r) => [
        r.target,
        r.connections,
        fmt(r.rps, 0),
        fmt(r.latencyMs.p50),
        fmt(r.latencyMs.p99),
        r.vsDirect ? fmt(r.vsDirect.rpsRatio) : '1.00',
        r.vsDirect ? signed(r.vsDirect.addedP50Ms) : '-',
        r.vsDirect ? signed(r.vsDirect.addedP99Ms) : '-',
        r.non2xx + r.errors + r.timeouts,
      ]),
    ),
  );
  const vsB = load.filter((r) => r.vsBaseline);
  if (vsB.length > 0) {
    md.push('');
    md.push(
      `Switchyard vs baseline: ${vsB
        .map(
          (r) =>
            `c=${r.connections}: rps x${fmt(r.vsBaseline.rpsRatio)}, p50 ${signed(r.vsBaseline.addedP50Ms)} ms, ` +
            `p99 ${signed(r.vsBaseline.addedP99Ms)} ms`,
        )
        .join('; ')}` +
        (tS?.vsBaseline
          ? `; streaming TTFB p50 ${signed(tS.vsBaseline.addedTtfbP50Ms)} ms, p99 ${signed(tS.vsBaseline.addedTtfbP99Ms)} ms`
          : ''),
    );
  }
  md.push('');
  md.push(
    `Streaming: ${TTFB_N} sequential requests (stream: true, upstream chunk delay ${CHUNK_DELAY} ms); ` +
      `TTFB = first response body byte.`,
  );
  md.push('');
  md.push(
    table(
      ['target', 'TTFB p50', 'TTFB p99', '+TTFB p50', '+TTFB p99', 'total p50', 'total p99'],
      ttfb.map((r) => [
        r.target,
        fmt(r.ttfbMs.p50),
        fmt(r.ttfbMs.p99),
        r.vsDirect ? signed(r.vsDirect.addedTtfbP50Ms) : '-',
        r.vsDirect ? signed(r.vsDirect.addedTtfbP99Ms) : '-',
        fmt(r.totalMs.p50),
        fmt(r.totalMs.p99),
      ]),
    ),
  );
  md.push('');
  const memRow = (name) => {
    const b = memBefore[name];
    const a = memAfter[name];
    return [
      name,
      fmt(b?.rssMiB, 1),
      fmt(a?.rssMiB, 1),
      signed(a && b ? a.rssMiB - b.rssMiB : null, 1),
      fmt(a?.peakRssMiB, 1),
    ];
  };
  md.push(
    table(
      ['process', 'RSS before (MiB)', 'RSS after (MiB)', 'delta', 'peak (VmHWM)'],
      ['switchyard', 'baseline'].filter((n) => memBefore[n]).map(memRow),
    ),
  );
  md.push('');
  md.push(
    `Load average ${loadavgStart.map((x) => x.toFixed(2)).join(' ')} -> ${loadavgEnd.map((x) => x.toFixed(2)).join(' ')} ` +
      `(load generator, upstream and target share this machine's CPUs). JSON: ${out}`,
  );
  process.stdout.write(`\n${md.join('\n')}\n`);

  const failed = load.some((r) => r.non2xx || r.errors || r.timeouts);
  if (failed) log('bench: WARNING some requests failed; see the errors column');
}

main()
  .then(async () => {
    await cleanup();
    process.exit(0);
  })
  .catch((err) => fatal(err?.stack ?? String(err)));
