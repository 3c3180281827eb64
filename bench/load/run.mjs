// Switchyard load benchmark: direct upstream vs a minimal Fastify+undici forwarder vs Switchyard, the
// latter in several variants (a 3-target weighted model for the routing stage; metrics / tracing /
// request logging on and off), each its own gateway process, started one after the other. See
// bench/README.md for what it measures.
//
//   npm --prefix bench install && npm --prefix bench run bench
//
// Env knobs: CONNECTIONS (50), DURATION (10 s), WARMUP (2 s), TTFB_N (200), UPSTREAM_CHUNK_DELAY_MS (0),
// TARGETS (direct,baseline,switchyard,switchyard-routed,switchyard-bare,switchyard-traced,switchyard-logged,
// switchyard-limited,switchyard-limited-redis),
// VARIANTS (which switchyard* variants to run; overrides those in TARGETS), SWITCHYARD_CLI (path to the
// gateway's cli.js; default <repo>/dist/cli.js), BUILD (1 = run `npm run build` first even if dist/
// exists), BENCH_TIMEOUT (s; hard limit for the whole run, default derived from the above).
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
// The Switchyard variants: each is a separate gateway process with these config overrides. `routed`
// swaps the bench model's single target for ROUTED_TARGETS (see gatewayConfig).
const VARIANT_SPECS = {
  switchyard: {
    label: 'defaults: metrics on, tracing off, logging warn; 1 target, strategy ordered',
    metrics: null,
    tracing: false,
    level: 'warn',
  },
  'switchyard-routed': {
    label: 'defaults + 3 targets, strategy weighted 3/2/1, retry attempts 2, breakers on, params on one',
    metrics: null,
    tracing: false,
    level: 'warn',
    routed: true,
  },
  'switchyard-bare': {
    label: 'metrics off, tracing off, logging warn',
    metrics: false,
    tracing: false,
    level: 'warn',
  },
  'switchyard-traced': {
    label: 'metrics on, tracing on (sample_ratio 1, OTLP to the sink), logging warn',
    metrics: true,
    tracing: true,
    level: 'warn',
  },
  'switchyard-logged': {
    label: 'defaults + logging info (one JSON line per request to the piped stdout)',
    metrics: null,
    tracing: false,
    level: 'info',
  },
  // Storage: the request log is on by default (SQLite); these two isolate it and key auth.
  'switchyard-nolog': {
    label: 'defaults, request_log off, auth none: the gateway before storage',
    metrics: null,
    tracing: false,
    level: 'warn',
    requestLog: false,
  },
  'switchyard-keys': {
    label: 'defaults + auth mode keys (a virtual key, cached lookups) + request log (SQLite, batched)',
    metrics: null,
    tracing: false,
    level: 'warn',
    keys: true,
  },
  'switchyard-limited': {
    label: 'defaults + limits on, in memory: caller rpm + tpm, IP rpm, a daily budget (never reached)',
    metrics: null,
    tracing: false,
    level: 'warn',
    limits: 'memory',
  },
  'switchyard-limited-redis': {
    label: 'as switchyard-limited, with every decision and reconciliation in Redis (REDIS_URL)',
    metrics: null,
    tracing: false,
    level: 'warn',
    limits: 'redis',
  },
};
// Limits high enough never to reject, so every request pays for a full decision and reconciliation.
const LIMITS_CONFIG = [
  'tiers: { bench: { rpm: 1000000000, tpm: 1000000000000, budget: { daily: 1000000 } } }',
  'limits: { anonymous_tier: bench, ip: { rpm: 1000000000 } }',
];
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const VARIANT_NAMES = Object.keys(VARIANT_SPECS);
// The variants compared with switchyard-bare in the observability section (not the routing one).
const OBS_VARIANTS = ['switchyard', 'switchyard-traced', 'switchyard-logged'];
// switchyard-routed's bench model: three targets on the same fake upstream (so the same undici pool),
// told apart by upstream model name. Names of equal length keep the response bodies the same size.
const ROUTED_TARGETS = [
  { model: 'gpt-4o-mini-a', weight: 3, params: '{ temperature: 0.2 }' },
  { model: 'gpt-4o-mini-b', weight: 2 },
  { model: 'gpt-4o-mini-c', weight: 1 },
];
const list = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const TARGETS = list(process.env.TARGETS ?? ['direct', 'baseline', ...VARIANT_NAMES].join(','));
for (const t of TARGETS) {
  if (!['direct', 'baseline', ...VARIANT_NAMES].includes(t)) throw new Error(`TARGETS: unknown target ${t}`);
}
if (process.env.VARIANTS !== undefined && process.env.VARIANTS !== '') {
  const vs = process.env.VARIANTS === 'none' ? [] : list(process.env.VARIANTS);
  for (const v of vs) {
    if (!VARIANT_NAMES.includes(v))
      throw new Error(`VARIANTS: unknown variant ${v} (${VARIANT_NAMES.join(', ')})`);
  }
  for (let i = TARGETS.length - 1; i >= 0; i--) if (VARIANT_NAMES.includes(TARGETS[i])) TARGETS.splice(i, 1);
  TARGETS.push(...vs);
}
if (!TARGETS.includes('direct')) TARGETS.unshift('direct'); // every ratio is relative to direct
const VARIANTS = VARIANT_NAMES.filter((v) => TARGETS.includes(v)); // always in this order
const CONN_LEVELS = [...new Set([CONNECTIONS, 1])];
const TTFB_TARGETS = ['direct', 'baseline', 'switchyard'].filter((t) => TARGETS.includes(t));
const BUDGET_S = int(
  'BENCH_TIMEOUT',
  // load runs + streams (generous per-request allowance incl. chunk delays) + gateway start/settle/stop
  // per variant + slack
  CONN_LEVELS.length * TARGETS.length * (WARMUP + DURATION + 3) +
    (TTFB_TARGETS.length * (TTFB_N + 20) * (25 + 24 * CHUNK_DELAY)) / 1000 +
    VARIANTS.length * 30 +
    90,
  10,
);

// ------------------------------------------------------------------------------- child-process care
const children = new Set(); // { name, proc, tail }
let cleaningUp = false;
let tmpDir; // holds the generated Switchyard config

function track(name, proc) {
  const entry = { name, proc, tail: [], stopping: false, exit: null };
  entry.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      entry.exit = { code, signal };
      resolve(entry.exit);
    });
  });
  children.add(entry);
  proc.on('exit', (code, signal) => {
    children.delete(entry);
    if (!cleaningUp && !entry.stopping) {
      const out = entry.tail.join('') + (entry.stdoutTail?.() ?? '');
      const tail = out ? `\n--- last output of ${name} ---\n${out}` : '';
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

/** Deliberate stop of one child (SIGTERM, then SIGKILL after timeoutMs); resolves with its exit. */
async function stopChild(entry, timeoutMs = 10_000) {
  entry.stopping = true;
  if (entry.exit) return entry.exit;
  entry.proc.kill('SIGTERM');
  const timer = setTimeout(() => entry.proc.kill('SIGKILL'), timeoutMs);
  const exit = await entry.exited;
  clearTimeout(timer);
  return exit;
}

/** Reads a child's stdout without decoding it: counts bytes and lines and keeps only the last chunk
 *  (for the error report). Cheap enough for one JSON log line per request, and it keeps the pipe
 *  drained so that the child's synchronous log writes never block on a full pipe. */
function drainCounting(entry, stream) {
  const counter = { bytes: 0, lines: 0 };
  let last = null;
  stream.on('data', (buf) => {
    counter.bytes += buf.length;
    for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) counter.lines++;
    last = buf;
  });
  entry.stdoutTail = () => (last ? last.subarray(Math.max(0, last.length - 2000)).toString('utf8') : '');
  return counter;
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

/** Asks a forked helper for its counters ({ type: 'stats' } over IPC). */
function helperStats(proc) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('helper did not answer a stats request')), 5000);
    proc.on('message', function onMsg(m) {
      if (m?.type !== 'stats') return;
      clearTimeout(timer);
      proc.off('message', onMsg);
      const { type: _t, ...rest } = m;
      resolve(rest);
    });
    proc.send({ type: 'stats' });
  });
}

/** Sum of every sample of one Prometheus counter in a /metrics text (0 when absent). */
function counterSum(metricsText, name) {
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

/** Requests per upstream model name between two fake-upstream stats snapshots (zeros left out). */
function modelSplit(before, after) {
  const out = {};
  for (const [m, n] of Object.entries(after.byModel ?? {})) {
    const d = n - (before.byModel?.[m] ?? 0);
    if (d > 0) out[m] = d;
  }
  return out;
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

/** User+system CPU seconds a process has used so far (Linux only; null elsewhere). */
let clkTck = null;
function cpuSecondsOf(pid) {
  try {
    if (clkTck === null) {
      try {
        clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
      } catch {
        clkTck = 100;
      }
    }
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    return (Number(f[11]) + Number(f[12])) / clkTck; // utime (14) + stime (15)
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
    headers: target.headers ?? HEADERS,
    body: requestBody(target.model),
    connections,
    pipelining: 1,
    duration,
    timeout: 10,
  });
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const cpu0 = target.pid ? cpuSecondsOf(target.pid) : null;
  const r = await instance;
  const cpu1 = target.pid ? cpuSecondsOf(target.pid) : null;
  const ok = r['2xx'];
  const cpuS = cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null;
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
    // CPU the target process burnt during the measured run, per request. Far less sensitive to other
    // load on the machine than req/s or latency (10 ms tick resolution; thousands of requests per run).
    cpuS: round(cpuS, 2),
    cpuUsPerReq: cpuS !== null && r.requests.total > 0 ? round((cpuS * 1e6) / r.requests.total, 1) : null,
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
        headers: target.headers ?? HEADERS,
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
    headers: target.headers ?? HEADERS,
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
    headers: target.headers ?? HEADERS,
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
/** "gpt-4o-mini-a 50.1%, gpt-4o-mini-b 33.3%, ..." from a { model: requests } map. */
function splitText(byModel) {
  const entries = Object.entries(byModel ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const total = entries.reduce((a, [, n]) => a + n, 0);
  if (total === 0) return '-';
  return entries.map(([m, n]) => `${m} ${((100 * n) / total).toFixed(1)}%`).join(', ');
}
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
/** Settled memory before any traffic, once start-up work (e.g. the tokenizer Switchyard loads after
 *  listen) is done: RSS unchanged within 0.5 MiB over 500 ms, or 10 s at most. */
async function settle(pid) {
  let prev = memOf(pid);
  for (let i = 0; i < 20 && prev; i++) {
    await sleep(500);
    const cur = memOf(pid);
    if (!cur) return prev;
    if (Math.abs(cur.rssMiB - prev.rssMiB) < 0.5) return cur;
    prev = cur;
  }
  return prev;
}

function logLoad(r) {
  log(
    `bench:   ${fmt(r.rps, 0)} req/s, p50 ${fmt(r.latencyMs.p50)} ms, p99 ${fmt(r.latencyMs.p99)} ms` +
      (r.non2xx || r.errors || r.timeouts
        ? `  (non2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts})`
        : ''),
  );
}

/** Warm-up then a measured run at every concurrency level. `afterFirstWarmup` runs once, after the
 *  first warm-up (or the first measured run with WARMUP=0): a cheap place to check a variant's wiring. */
async function measure(t, afterFirstWarmup) {
  const out = [];
  for (const connections of CONN_LEVELS) {
    if (WARMUP > 0) await loadRun(t, connections, WARMUP);
    if (WARMUP > 0 && afterFirstWarmup) {
      await afterFirstWarmup();
      afterFirstWarmup = null;
    }
    log(`bench: load ${t.name} c=${connections} ${DURATION}s (load avg ${os.loadavg()[0].toFixed(2)})...`);
    const r = await loadRun(t, connections, DURATION);
    logLoad(r);
    out.push(r);
    if (afterFirstWarmup) {
      await afterFirstWarmup();
      afterFirstWarmup = null;
    }
  }
  return out;
}

function gatewayConfig(variant, upUrl, sinkUrl) {
  const spec = VARIANT_SPECS[variant];
  // Load shedding off: on a shared, loaded machine an event-loop stall would answer 503s mid-measurement.
  const lines = [
    'server: { port: 0, shutdown_timeout: 5s, load_shedding: { enabled: false } }',
    `logging: { level: ${spec.level} }`,
  ];
  // Each variant its own SQLite file, in the run's temp dir.
  lines.push(`database: { path: ${join(tmpDir, `${variant}.db`)} }`);
  if (spec.requestLog === false) lines.push('request_log: { enabled: false }');
  if (spec.keys) lines.push('auth: { mode: keys }');
  if (spec.metrics !== null) lines.push(`metrics: { enabled: ${spec.metrics} }`);
  if (spec.tracing) lines.push(`tracing: { enabled: true, endpoint: ${sinkUrl}/v1/traces, sample_ratio: 1 }`);
  if (spec.limits) lines.push(...LIMITS_CONFIG);
  if (spec.limits === 'redis')
    lines.push(`redis: { url: ${REDIS_URL}, key_prefix: "bench:${process.pid}:" }`);
  lines.push('providers:', `  up: { type: openai, base_url: ${upUrl}/v1, api_key: bench }`, 'models:');
  if (spec.routed) {
    // Everything explicit, including what is already the default (retry attempts 2, breakers on), so
    // that the config in results/latest.json says what was measured whatever the defaults become.
    lines.push(
      '  bench:',
      '    strategy: weighted',
      '    retry: { attempts: 2 }',
      '    circuit_breaker: { enabled: true }',
      '    targets:',
      ...ROUTED_TARGETS.map(
        (t) =>
          `      - { provider: up, model: ${t.model}, weight: ${t.weight}${t.params ? `, params: ${t.params}` : ''} }`,
      ),
    );
  } else {
    lines.push('  bench: { targets: [ { provider: up, model: gpt-4o-mini } ] }');
  }
  lines.push('');
  return lines.join('\n');
}

async function startGateway(variant, cli, upUrl, sinkUrl) {
  const configPath = join(tmpDir, `${variant}.yaml`);
  const configText = gatewayConfig(variant, upUrl, sinkUrl);
  writeFileSync(configPath, configText);
  let headers;
  if (VARIANT_SPECS[variant].keys) {
    // A real virtual key, made with the CLI against the variant's database before the gateway starts.
    const run = (args) =>
      execFileSync(process.execPath, [cli, ...args, '--config', configPath], { cwd: REPO, encoding: 'utf8' });
    run(['teams', 'create', 'bench']);
    const key = JSON.parse(run(['keys', 'create', '--team', 'bench']));
    headers = { ...HEADERS, authorization: `Bearer ${key.secret}` };
  }
  const port = await freePort();
  const proc = spawn(process.execPath, [cli, 'start', '--config', configPath], {
    cwd: REPO,
    env: { ...process.env, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const entry = track(variant, proc);
  const stdout = drainCounting(entry, proc.stdout);
  keepTail(entry, proc.stderr);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/health/ready`, 30_000);
  log(`bench: ${variant} on ${url} (pid ${proc.pid}; ${VARIANT_SPECS[variant].label})`);
  return {
    entry,
    stdout,
    target: { name: variant, url, model: 'bench', pid: proc.pid, ...(headers ? { headers } : {}) },
    configText,
  };
}

async function main() {
  const startedAt = new Date();
  const loadavgStart = os.loadavg();
  log(
    `bench: connections=${CONNECTIONS} duration=${DURATION}s warmup=${WARMUP}s ttfb_n=${TTFB_N} ` +
      `chunk_delay=${CHUNK_DELAY}ms targets=${TARGETS.join(',')} (limit ${Math.round(BUDGET_S)}s)`,
  );

  // 0. build if needed (only for the default dist/; SWITCHYARD_CLI points at a build made elsewhere)
  const cli = process.env.SWITCHYARD_CLI || join(REPO, 'dist', 'cli.js');
  if (VARIANTS.length > 0) {
    if (process.env.SWITCHYARD_CLI) {
      if (!existsSync(cli)) throw new Error(`SWITCHYARD_CLI=${cli} does not exist`);
      log(`bench: gateway from SWITCHYARD_CLI=${cli}`);
    } else if (!existsSync(cli) || process.env.BUILD === '1') {
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

  // 1. fake upstream (and the OTLP sink if a variant traces)
  const up = await forkHelper('fake-upstream', 'fake-upstream.mjs', [], {
    UPSTREAM_CHUNK_DELAY_MS: String(CHUNK_DELAY),
  });
  log(`bench: fake upstream on ${up.url}`);
  let sink = null;
  if (VARIANTS.some((v) => VARIANT_SPECS[v].tracing)) {
    sink = await forkHelper('otlp-sink', 'otlp-sink.mjs', []);
    log(`bench: OTLP sink on ${sink.url}/v1/traces`);
  }
  const targets = [{ name: 'direct', url: up.url, model: 'gpt-4o-mini', pid: up.proc.pid }];

  // 2. baseline forwarder
  const memBefore = {};
  const memAfter = {};
  if (TARGETS.includes('baseline')) {
    const bl = await forkHelper('baseline', 'baseline-forwarder.mjs', [up.url]);
    await waitReady(`${bl.url}/health/ready`, 10_000);
    targets.push({ name: 'baseline', url: bl.url, model: 'gpt-4o-mini', pid: bl.proc.pid });
    log(`bench: baseline forwarder on ${bl.url}`);
    memBefore.baseline = await settle(bl.proc.pid);
  }

  // 3. direct and baseline: correctness, load, streams
  for (const t of targets) t.sanity = await sanityCheck(t);
  log(
    `bench: sanity checks passed (${targets.map((t) => `${t.name}: ${t.sanity.streamEvents} SSE events`).join(', ')})`,
  );
  const load = [];
  const ttfb = [];
  for (const t of targets) load.push(...(await measure(t)));
  for (const t of targets) {
    log(`bench: ${TTFB_N} sequential streams against ${t.name}...`);
    ttfb.push(await ttfbRun(t, TTFB_N, Math.min(20, TTFB_N)));
  }
  const blT = targets.find((t) => t.name === 'baseline');
  if (blT) memAfter.baseline = memOf(blT.pid);

  // 4. the Switchyard variants, one gateway process at a time
  if (VARIANTS.length > 0) tmpDir = mkdtempSync(join(os.tmpdir(), 'switchyard-bench-'));
  const variants = [];
  for (const variant of VARIANTS) {
    const spec = VARIANT_SPECS[variant];
    const upBefore = await helperStats(up.proc);
    const sinkBefore = sink ? await helperStats(sink.proc) : null;
    const gw = await startGateway(variant, cli, up.url, sink?.url);
    const t = gw.target;
    targets.push(t);
    memBefore[variant] = await settle(t.pid);
    const linesAtStart = gw.stdout.lines;

    // correctness, and proof that the variant is what its name says
    t.sanity = await sanityCheck(t);
    const metricsRes = await fetch(`${t.url}/metrics`);
    const metricsBody = await metricsRes.text();
    const metricsOn = metricsRes.status === 200 && metricsBody.includes('# HELP');
    const wantMetrics = spec.metrics !== false;
    if (metricsOn !== wantMetrics) {
      throw new Error(
        `${variant}: GET /metrics answered ${metricsRes.status}; expected metrics ${wantMetrics ? 'on' : 'off'}`,
      );
    }
    const check = async () => {
      if (spec.routed) {
        // Every target must be in use, else the variant measures less routing than its name says.
        const split = modelSplit(upBefore, await helperStats(up.proc));
        const missing = ROUTED_TARGETS.filter((rt) => !(split[rt.model] > 0)).map((rt) => rt.model);
        if (missing.length > 0) {
          throw new Error(`${variant}: upstream model(s) ${missing.join(', ')} got no requests`);
        }
        log(
          `bench:   routing check: ${ROUTED_TARGETS.map((rt) => `${rt.model} ${split[rt.model]}`).join(', ')}`,
        );
      }
      if (spec.tracing) {
        // The warm-up has queued far more than one 512-span batch, so the BatchSpanProcessor is exporting.
        const deadline = Date.now() + 10_000;
        let st = await helperStats(sink.proc);
        while (st.spans <= sinkBefore.spans && Date.now() < deadline) {
          await sleep(200);
          st = await helperStats(sink.proc);
        }
        if (st.spans <= sinkBefore.spans) throw new Error(`${variant}: the OTLP sink received no spans`);
        log(`bench:   tracing check: ${st.spans - sinkBefore.spans} spans received so far`);
      }
      if (spec.limits) {
        // Limits really decided: the headers are there, and (for Redis) the counters moved.
        const res = await fetch(`${t.url}/v1/chat/completions`, {
          method: 'POST',
          headers: HEADERS,
          body: requestBody(t.model),
        });
        await res.text();
        const left = res.headers.get('x-ratelimit-remaining-requests');
        if (res.status !== 200 || !left)
          throw new Error(`${variant}: no x-ratelimit headers (HTTP ${res.status})`);
        const decisions = /switchyard_limit_decisions_total\{outcome="admitted",limit="all"\} (\d+)/.exec(
          await (await fetch(`${t.url}/metrics`)).text(),
        );
        const failOpen = /switchyard_limit_decisions_total\{outcome="fail_open"/.test(
          await (await fetch(`${t.url}/metrics`)).text(),
        );
        if (failOpen) throw new Error(`${variant}: limits fell back to memory: is Redis at ${REDIS_URL} up?`);
        log(`bench:   limits check: ${decisions?.[1] ?? 0} admitted so far, remaining-requests ${left}`);
      }
      if (spec.level === 'info' && gw.stdout.lines <= linesAtStart) {
        throw new Error(`${variant}: logging info but no request log lines on stdout`);
      }
      if (spec.level !== 'info' && gw.stdout.lines > linesAtStart) {
        log(
          `bench:   WARNING ${variant} wrote ${gw.stdout.lines - linesAtStart} stdout lines at level ${spec.level}`,
        );
      }
    };

    const rows = await measure(t, check);
    load.push(...rows);
    if (variant === 'switchyard') {
      log(`bench: ${TTFB_N} sequential streams against ${variant}...`);
      ttfb.push(await ttfbRun(t, TTFB_N, Math.min(20, TTFB_N)));
    }
    memAfter[variant] = memOf(t.pid);
    const loadavg = os.loadavg();
    // Failed upstream attempts over the variant's life (retries and failovers start with one). The
    // routing comparison assumes none: every request served by its first attempt.
    let failedAttempts = null;
    if (wantMetrics) {
      const m = await fetch(`${t.url}/metrics`);
      if (m.status === 200) failedAttempts = counterSum(await m.text(), 'switchyard_attempt_failures_total');
      if (failedAttempts > 0) {
        log(
          `bench:   WARNING ${variant}: ${failedAttempts} failed upstream attempts (retried or failed over)`,
        );
      }
    }

    // Stop it (a graceful shutdown flushes the span queue), then read the counters.
    const exit = await stopChild(gw.entry);
    const upAfter = await helperStats(up.proc);
    const sinkAfter = sink ? await helperStats(sink.proc) : null;
    const upstreamRequests = upAfter.requests - upBefore.requests;
    const evidence = {
      metricsEndpoint: metricsRes.status,
      upstreamRequests,
      upstreamByModel: modelSplit(upBefore, upAfter),
      failedAttempts,
      stdoutLines: gw.stdout.lines,
      stdoutMiB: round(gw.stdout.bytes / 2 ** 20, 2),
      exit,
    };
    if (sink) {
      const spans = sinkAfter.spans - sinkBefore.spans;
      Object.assign(evidence, {
        spansExported: spans,
        otlpExports: sinkAfter.exports - sinkBefore.exports,
        otlpMiB: round((sinkAfter.bytes - sinkBefore.bytes) / 2 ** 20, 2),
        otlpUnparsed: sinkAfter.bad - sinkBefore.bad,
        spansPerUpstreamRequest: upstreamRequests ? round(spans / upstreamRequests, 3) : null,
      });
    }
    if (spec.tracing && !(evidence.spansExported > 0)) throw new Error(`${variant}: no spans exported`);
    variants.push({
      name: variant,
      description: spec.label,
      config: gw.configText,
      loadavg: loadavg.map((x) => round(x)),
      evidence,
    });
    log(
      `bench: ${variant} stopped (exit ${exit.code ?? exit.signal}); upstream requests ${upstreamRequests}, ` +
        `stdout lines ${gw.stdout.lines}` +
        (spec.tracing ? `, spans exported ${evidence.spansExported} in ${evidence.otlpExports} exports` : ''),
    );
  }

  // 5. ratios
  const find = (target, connections) =>
    load.find((x) => x.target === target && x.connections === connections);
  const rel = (r, ref) =>
    ref
      ? {
          rpsRatio: round(r.rps / ref.rps, 3),
          addedP50Ms: round(r.latencyMs.p50 - ref.latencyMs.p50, 3),
          addedP99Ms: round(r.latencyMs.p99 - ref.latencyMs.p99, 3),
        }
      : null;
  const relCpu = (r, ref) => {
    const out = rel(r, ref);
    if (out && r.cpuUsPerReq !== null && ref.cpuUsPerReq) {
      out.cpuRatio = round(r.cpuUsPerReq / ref.cpuUsPerReq, 3);
      out.addedCpuUsPerReq = round(r.cpuUsPerReq - ref.cpuUsPerReq, 1);
    }
    return out;
  };
  for (const r of load) {
    r.vsDirect = r.target === 'direct' ? null : rel(r, find('direct', r.connections));
    // A variant relative to the baseline isolates the gateway's own work from the cost of any Node hop.
    if (VARIANT_NAMES.includes(r.target)) {
      r.vsBaseline = rel(r, find('baseline', r.connections));
      // ... relative to switchyard-bare, what metrics, tracing and request logging cost ...
      if (OBS_VARIANTS.includes(r.target)) r.vsBare = relCpu(r, find('switchyard-bare', r.connections));
      // ... and relative to switchyard (one target, ordered), what the routing stage costs.
      if (r.target === 'switchyard-routed') r.vsSwitchyard = relCpu(r, find('switchyard', r.connections));
      // ... and what limits cost, in memory and in Redis, relative to switchyard (limits off).
      if (r.target.startsWith('switchyard-limited'))
        r.vsUnlimited = relCpu(r, find('switchyard', r.connections));
    }
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
      switchyardCli: VARIANTS.length > 0 ? cli : null,
    },
    config: {
      connections: CONN_LEVELS,
      durationS: DURATION,
      warmupS: WARMUP,
      ttfbN: TTFB_N,
      upstreamChunkDelayMs: CHUNK_DELAY,
      targets: targets.map(({ name, url, model }) => ({ name, url, model })),
    },
    variants,
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
  if (process.env.SWITCHYARD_CLI && VARIANTS.length > 0) {
    md.push('');
    md.push(`Gateway: \`${cli}\` (SWITCHYARD_CLI), not the repository's dist/.`);
  }
  md.push('');
  md.push(
    `Non-streaming POST /v1/chat/completions, ${DURATION}s per run after ${WARMUP}s warm-up. ` +
      `Latency in ms; "+p50/+p99" = target minus direct; "rps ratio" = target / direct; ` +
      `"vs baseline" columns = target / baseline (rps) and target minus baseline (ms).`,
  );
  md.push('');
  md.push(
    table(
      [
        'target',
        'conns',
        'req/s',
        'p50',
        'p99',
        'rps ratio',
        '+p50',
        '+p99',
        'rps vs bl',
        '+p50 vs bl',
        '+p99 vs bl',
        'CPU µs/req',
        'errors',
      ],
      load.map((r) => [
        r.target,
        r.connections,
        fmt(r.rps, 0),
        fmt(r.latencyMs.p50),
        fmt(r.latencyMs.p99),
        r.vsDirect ? fmt(r.vsDirect.rpsRatio) : '1.00',
        r.vsDirect ? signed(r.vsDirect.addedP50Ms) : '-',
        r.vsDirect ? signed(r.vsDirect.addedP99Ms) : '-',
        r.vsBaseline ? fmt(r.vsBaseline.rpsRatio) : '-',
        r.vsBaseline ? signed(r.vsBaseline.addedP50Ms) : '-',
        r.vsBaseline ? signed(r.vsBaseline.addedP99Ms) : '-',
        fmt(r.cpuUsPerReq, 0),
        r.non2xx + r.errors + r.timeouts,
      ]),
    ),
  );
  const vsB = load.filter((r) => r.target === 'switchyard' && r.vsBaseline);
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

  // A comparison table: `ref` (the reference variant) and the rows carrying `key` (relative to it), at
  // each concurrency, reference first.
  const overheadTable = (ref, key) => {
    const rows = load.filter((r) => r[key]);
    const refRows = load.filter((r) => r.target === ref);
    return table(
      [
        'variant',
        'conns',
        'req/s',
        `rps vs ${ref === 'switchyard-bare' ? 'bare' : ref}`,
        'p50',
        'Δp50',
        'p99',
        'Δp99',
        'CPU µs/req',
        'ΔCPU µs/req',
      ],
      CONN_LEVELS.flatMap((c) => [
        ...refRows.filter((r) => r.connections === c),
        ...rows.filter((r) => r.connections === c),
      ]).map((r) => {
        const v = r[key];
        return [
          r.target,
          r.connections,
          fmt(r.rps, 0),
          v ? `${fmt(v.rpsRatio, 3)} (${signed((v.rpsRatio - 1) * 100, 1)}%)` : '1.000',
          fmt(r.latencyMs.p50),
          v ? signed(v.addedP50Ms) : '-',
          fmt(r.latencyMs.p99),
          v ? signed(v.addedP99Ms) : '-',
          fmt(r.cpuUsPerReq, 0),
          v?.addedCpuUsPerReq !== undefined
            ? `${signed(v.addedCpuUsPerReq, 0)} (${signed((v.cpuRatio - 1) * 100, 1)}%)`
            : '-',
        ];
      }),
    );
  };
  // One line per comparison, at every concurrency: what the headline of each overhead section says.
  const overheadLine = (key) =>
    load
      .filter((r) => r[key])
      .map(
        (r) =>
          `c=${r.connections}: rps x${fmt(r[key].rpsRatio, 3)} (${signed((r[key].rpsRatio - 1) * 100, 1)}%), ` +
          `p50 ${signed(r[key].addedP50Ms)} ms, p99 ${signed(r[key].addedP99Ms)} ms` +
          (r[key].addedCpuUsPerReq !== undefined ? `, CPU ${signed(r[key].addedCpuUsPerReq, 1)} µs/req` : ''),
      )
      .join('; ');

  // Observability overhead: every observability variant relative to switchyard-bare, at each concurrency.
  if (load.some((r) => r.vsBare)) {
    md.push('');
    md.push('### Observability overhead');
    md.push('');
    md.push(
      'Each variant relative to `switchyard-bare` (metrics off, tracing off, logging warn), same concurrency. ' +
        '"rps vs bare" = variant / bare; "Δ" = variant minus bare, in ms. Differences under ~5-10% are ' +
        'within run-to-run noise on a shared machine. "CPU µs/req" = user+system CPU of the gateway ' +
        'process during the measured run ÷ requests. It is less sensitive to other load than req/s and ' +
        'latency, not immune: when the gateway is starved, fixed costs (GC, timers, event-loop turns) ' +
        'are spread over fewer requests and it rises too.',
    );
    md.push('');
    md.push(overheadTable('switchyard-bare', 'vsBare'));
  }

  // Routing overhead: switchyard-routed (3 targets, weighted, ...) relative to switchyard (1 target, ordered).
  if (load.some((r) => r.vsSwitchyard)) {
    md.push('');
    md.push('### Routing overhead');
    md.push('');
    md.push(
      '`switchyard-routed` (bench model with 3 targets on the same upstream, `strategy: weighted` 3/2/1, ' +
        'retry attempts 2, circuit breakers on, `params` on one target) relative to `switchyard` ' +
        '(1 target, `ordered`), same concurrency. Every request succeeds on its first attempt (see ' +
        '"failed attempts" below), so the difference is the routing stage: the weighted order of 3 targets, ' +
        'breaker and stats bookkeeping spread over 3 targets instead of 1, and the params merge. Same ' +
        'columns and noise caveats as above; "Δ" = routed minus switchyard.',
    );
    md.push('');
    md.push(overheadTable('switchyard', 'vsSwitchyard'));
    md.push('');
    md.push(`Routing overhead (switchyard-routed vs switchyard): ${overheadLine('vsSwitchyard')}`);
  }

  // Limits overhead: switchyard-limited(-redis) relative to switchyard (limits off), same run.
  if (load.some((r) => r.vsUnlimited)) {
    md.push('');
    md.push('### Limits overhead');
    md.push('');
    md.push(
      "`switchyard-limited` (limits on in memory: the caller's rpm and tpm, the IP's rpm and a daily " +
        'budget, all far above the load so nothing is rejected) and `switchyard-limited-redis` (the same, ' +
        'decided and reconciled in Redis: one script call each per request) relative to `switchyard` ' +
        '(limits off), same concurrency. Same columns and noise caveats as above.',
    );
    md.push('');
    md.push(overheadTable('switchyard', 'vsUnlimited'));
    md.push('');
    md.push(`Limits overhead (vs switchyard): ${overheadLine('vsUnlimited')}`);
  }
  if (variants.length > 0) {
    md.push('');
    md.push(
      'What each variant did (counted over its whole life: sanity checks, warm-ups, measured runs' +
        (VARIANTS.includes('switchyard') ? ', and for `switchyard` the streams' : '') +
        '):',
    );
    md.push('');
    md.push(
      table(
        [
          'variant',
          'config',
          '/metrics',
          'upstream reqs',
          'stdout lines',
          'stdout MiB',
          'spans exported',
          'OTLP exports',
          'spans/upstream req',
          'failed attempts',
          'upstream requests by model',
        ],
        variants.map((v) => [
          v.name,
          v.description,
          v.evidence.metricsEndpoint,
          v.evidence.upstreamRequests,
          v.evidence.stdoutLines,
          fmt(v.evidence.stdoutMiB),
          v.evidence.spansExported ?? '-',
          v.evidence.otlpExports ?? '-',
          v.evidence.spansPerUpstreamRequest !== undefined && VARIANT_SPECS[v.name].tracing
            ? fmt(v.evidence.spansPerUpstreamRequest)
            : '-',
          v.evidence.failedAttempts ?? '-',
          splitText(v.evidence.upstreamByModel),
        ]),
      ),
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
      [...VARIANTS, 'baseline'].filter((n) => memBefore[n]).map(memRow),
    ),
  );
  md.push('');
  md.push(
    '"after" = once that process has served all its traffic: its load runs, plus the streams for ' +
      '`switchyard` and `baseline`.',
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
