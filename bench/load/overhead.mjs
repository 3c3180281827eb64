// What users run, measured against the thin forwarder in one run (issue 14): direct to the fake
// upstream, the thin Fastify + undici forwarder, Switchyard with defaults, Switchyard with everything on
// (key auth with a virtual key, rate limits in memory, and in Redis in a second process, a cache lookup
// that misses, the request log written to the database, metrics, breakers), a cache hit, and streaming.
//
//   npm --prefix bench run bench:overhead          # about 6 minutes with the defaults
//
// Every process is started once and stays up; the targets are then measured in ROUNDS rounds, in a
// different (rotated) order each round, and each figure is the median over the rounds. Ratios are to the
// forwarder measured in the same round set, so slow drift in machine load hits every target alike.
//
// "Everything on" is whatever this build of the gateway accepts: each feature's config is probed by
// starting the gateway with it (a config it does not know fails validation at start), and the report
// names the features that were on and those the build does not have. No feature is faked.
//
// Env: ROUNDS (3), DURATION (5 s per measured run), WARMUP (1 s), CONNECTIONS (50), TTFB_N (100),
// REDIS_URL (redis://127.0.0.1:6379), SWITCHYARD_CLI (<repo>/dist/cli.js), FEATURES (comma list to force a
// subset of auth,request_log,limits,cache), SCENARIOS (comma list of targets to run; direct and the forwarder always run),
// LATER (0: seconds without traffic after the last run before RSS is read again, for the figure once V8's
// memory reducer has given back the load's garbage; 45 is usually enough).
import { execFileSync, fork, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
const rootRequire = createRequire(join(REPO, 'package.json'));
const { Client } = rootRequire('undici');

const int = (name, def, min = 0) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min}, got ${raw}`);
  return n;
};
const ROUNDS = int('ROUNDS', 3, 1);
const DURATION = int('DURATION', 5, 1);
const WARMUP = int('WARMUP', 1, 0);
const CONNECTIONS = int('CONNECTIONS', 50, 1);
const TTFB_N = int('TTFB_N', 100, 1);
const LATER = int('LATER', 0, 0);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CLI = process.env.SWITCHYARD_CLI ?? join(REPO, 'dist', 'cli.js');
const ADMIN_KEY = `bench-admin-${process.pid}-${Date.now()}`;
const log = (s) => process.stderr.write(`${s}\n`);

// ------------------------------------------------------------------------------------------ helpers
const children = new Set();
async function cleanup() {
  for (const c of children) {
    if (c.exitCode === null) c.kill('SIGTERM');
  }
  const deadline = Date.now() + 8000;
  while ([...children].some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline)
    await sleep(50);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => cleanup().finally(() => process.exit(130)));

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

function forkHelper(script, args, { execArgv } = {}) {
  const proc = fork(join(HERE, script), args, {
    env: { ...process.env, NODE_ENV: 'production' },
    ...(execArgv ? { execArgv } : {}),
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.add(proc);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within 30s`)), 30_000);
    proc.on('message', (m) => {
      if (m?.type !== 'listening') return;
      clearTimeout(timer);
      resolve({ proc, pid: proc.pid, url: `http://127.0.0.1:${m.port}` });
    });
  });
}

async function waitReady(url, proc, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) return false;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return true;
    } catch {}
    await sleep(100);
  }
  return false;
}

function rssMiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}
let clkTck = null;
function cpuSeconds(pid) {
  try {
    clkTck ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clkTck;
  } catch {
    return null;
  }
}
function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
async function settleRss(pid) {
  let prev = rssMiB(pid);
  for (let i = 0; i < 20 && prev !== null; i++) {
    await sleep(500);
    const cur = rssMiB(pid);
    if (cur === null || Math.abs(cur - prev) < 0.5) return cur ?? prev;
    prev = cur;
  }
  return prev;
}

// ---------------------------------------------------------------------------------- the workload
// A counter in the user message makes every request distinct (so a cache can only miss); it is zero
// padded so every body has the same size. Every non-hit target gets the same stream of bodies.
let seq = 0;
const body = (model, { stream = false, fixed = false } = {}) =>
  JSON.stringify({
    model,
    messages: [
      { role: 'system', content: 'You are a concise assistant. Answer in at most two sentences.' },
      {
        role: 'user',
        content: `In plain words, what does an AI gateway do, and why would a team run one? #${fixed ? 'fixed-000000' : String(seq++).padStart(12, '0')}`,
      },
    ],
    max_tokens: 128,
    // 0, not more: the cache bypasses sampled requests (temperature > 0), and the cache must be looked up.
    temperature: 0,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });

async function loadRun(t, connections, duration) {
  const latencies = [];
  const headers = { 'content-type': 'application/json', ...t.headers };
  const instance = autocannon({
    url: `${t.url}/v1/chat/completions`,
    connections,
    duration,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/v1/chat/completions',
        headers,
        setupRequest: (req) => ({ ...req, body: body(t.model, { fixed: t.fixed }) }),
      },
    ],
  });
  instance.on('response', (_c, status, _b, ms) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const cpu0 = cpuSeconds(t.pid);
  const r = await instance;
  const cpu1 = cpuSeconds(t.pid);
  latencies.sort((a, b) => a - b);
  return {
    rps: r['2xx'] / r.duration,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    bad: r.non2xx + r.errors + r.timeouts,
    cpuUs:
      cpu0 !== null && cpu1 !== null && r.requests.total > 0
        ? ((cpu1 - cpu0) * 1e6) / r.requests.total
        : null,
  };
}

async function ttfbRun(t, n, warm = 10) {
  const client = new Client(t.url, { keepAliveTimeout: 30_000, pipelining: 1 });
  const ttfb = [];
  try {
    for (let i = 0; i < warm + n; i++) {
      const t0 = performance.now();
      const res = await client.request({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', ...t.headers },
        body: body(t.model, { stream: true }),
      });
      let first = 0;
      let text = '';
      for await (const chunk of res.body) {
        if (first === 0) first = performance.now();
        text += chunk;
      }
      if (res.statusCode !== 200 || !text.includes('data: [DONE]'))
        throw new Error(`${t.name}: bad stream (HTTP ${res.statusCode}): ${text.slice(0, 300)}`);
      if (i >= warm) ttfb.push(first - t0);
    }
  } finally {
    await client.close();
  }
  ttfb.sort((a, b) => a - b);
  return { p50: pct(ttfb, 50), p99: pct(ttfb, 99) };
}

/** The event-loop delay percentiles since the previous scrape (prom-client resets its histogram on
 *  every collect), in ms; null without /metrics. */
async function eventLoopLag(t) {
  if (!t.metrics) return null;
  try {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    const get = (name) =>
      Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1]) * 1000;
    return { p50: get('nodejs_eventloop_lag_p50_seconds'), p99: get('nodejs_eventloop_lag_p99_seconds') };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------- the gateways
const tmp = mkdtempSync(join(os.tmpdir(), 'sy-overhead-'));
// Limits far above the load, so every request pays for a full decision and reconciliation.
const FEATURE_CONFIG = {
  request_log: (dir) => [
    `database: { path: ${join(dir, 'switchyard.db')} }`,
    'request_log: { enabled: true }',
  ],
  auth: () => ['auth: { mode: keys }'],
  limits: () => [
    'tiers: { free: { rpm: 1000000000, tpm: 1000000000000, budget: { daily: 1000000 } }, bench: { rpm: 1000000000, tpm: 1000000000000, budget: { daily: 1000000 } } }',
    'limits: { anonymous_tier: bench, ip: { rpm: 1000000000 } }',
  ],
  cache: () => ['cache: { enabled: true, ttl: 1h }'],
};
const ALL_FEATURES = ['request_log', 'auth', 'limits', 'cache'];

function gatewayConfig(upUrl, features, { redis = false, dir = tmp } = {}) {
  const lines = ['server: { port: 0, shutdown_timeout: 5s }', 'logging: { level: warn }'];
  for (const f of features) lines.push(...FEATURE_CONFIG[f](dir));
  // auth keys need the database for the keys themselves.
  if (features.includes('auth') && !features.includes('request_log'))
    lines.push(`database: { path: ${join(dir, 'switchyard.db')} }`);
  // The admin API (to make the virtual key, to read the request log) needs the admin key in the file:
  // SWITCHYARD_ADMIN_KEY only applies in zero-config mode.
  if (features.includes('auth') || features.includes('request_log'))
    lines.push(`admin: { key: "${ADMIN_KEY}" }`);
  if (redis) lines.push(`redis: { url: ${REDIS_URL}, key_prefix: "bench:${process.pid}:" }`);
  lines.push(
    'providers:',
    `  up: { type: openai, base_url: ${upUrl}/v1, api_key: bench }`,
    'models:',
    '  bench:',
    '    retry: { attempts: 2 }',
    '    circuit_breaker: { enabled: true }',
    '    targets: [ { provider: up, model: gpt-4o-mini } ]',
    '',
  );
  return lines.join('\n');
}

async function startGateway(
  name,
  configText,
  { quiet = false, cli = CLI, nodeArgs = [], stdout = 'ignore' } = {},
) {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, configText);
  const port = await freePort();
  const proc = spawn(process.execPath, [...nodeArgs, cli, 'start', '--config', configPath], {
    cwd: REPO,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      SWITCHYARD_ADMIN_KEY: ADMIN_KEY,
    },
    stdio: ['ignore', stdout, 'pipe'],
  });
  children.add(proc);
  let stderr = '';
  proc.stderr.on('data', (c) => {
    stderr = (stderr + c).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const ok = await waitReady(`${url}/health/ready`, proc, 30_000);
  if (!ok) {
    proc.kill('SIGKILL');
    children.delete(proc);
    if (!quiet) throw new Error(`${name} did not start:\n${stderr}`);
    return null;
  }
  return { name, proc, pid: proc.pid, url, stderr: () => stderr };
}

async function stopGateway(g) {
  g.proc.kill('SIGTERM');
  const deadline = Date.now() + 8000;
  while (g.proc.exitCode === null && g.proc.signalCode === null && Date.now() < deadline) await sleep(50);
  if (g.proc.exitCode === null && g.proc.signalCode === null) g.proc.kill('SIGKILL');
  children.delete(g.proc);
}

/** Which features this build accepts: all at once first, else one at a time on top of those accepted. */
async function probeFeatures(upUrl) {
  if (process.env.FEATURES !== undefined) {
    const forced = process.env.FEATURES.split(',').filter(Boolean);
    return { on: forced, missing: ALL_FEATURES.filter((f) => !forced.includes(f)) };
  }
  const tryStart = async (features) => {
    const dir = mkdtempSync(join(tmp, 'probe-'));
    const g = await startGateway(
      `probe-${features.join('+') || 'none'}`,
      gatewayConfig(upUrl, features, { dir }),
      {
        quiet: true,
      },
    );
    if (g) await stopGateway(g);
    return g !== null;
  };
  if (await tryStart(ALL_FEATURES)) return { on: [...ALL_FEATURES], missing: [] };
  const on = [];
  for (const f of ALL_FEATURES) if (await tryStart([...on, f])) on.push(f);
  return { on, missing: ALL_FEATURES.filter((f) => !on.includes(f)) };
}

/** A virtual key for an auth-on gateway, made through the admin API as an operator would. */
async function createKey(g) {
  const team = await fetch(`${g.url}/admin/teams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({ id: 'bench', name: 'bench' }),
  });
  await team.text();
  if (team.status !== 201 && team.status !== 409)
    throw new Error(`${g.name}: POST /admin/teams answered ${team.status}`);
  const res = await fetch(`${g.url}/admin/keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({ team: 'bench', name: 'bench' }),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`${g.name}: POST /admin/keys answered ${res.status}: ${text}`);
  const secret = JSON.parse(text).secret;
  if (!secret) throw new Error(`${g.name}: no secret in ${text}`);
  return secret;
}

/** One checked request of each kind before any load: a broken target cannot produce numbers. */
async function check(t, features) {
  const post = (b, headers = t.headers) =>
    fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: b,
    });
  const res = await post(body(t.model));
  const json = await res.json();
  if (res.status !== 200 || !json.choices?.[0]?.message?.content)
    throw new Error(`${t.name}: HTTP ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  const evidence = {};
  if (features?.includes('auth')) {
    const anon = await post(body(t.model), {});
    await anon.text();
    if (anon.status !== 401) throw new Error(`${t.name}: auth on but a keyless request got ${anon.status}`);
    evidence.keylessStatus = anon.status;
  }
  if (features?.includes('limits')) {
    const left = res.headers.get('x-ratelimit-remaining-requests');
    if (!left) throw new Error(`${t.name}: limits on but no x-ratelimit headers`);
    evidence.rateLimitRemaining = left;
    if (t.redis) {
      const m = await (await fetch(`${t.url}/metrics`)).text();
      if (/switchyard_limit_decisions_total\{[^}]*outcome="fail_open"/.test(m))
        throw new Error(`${t.name}: limits fell back to memory: is Redis at ${REDIS_URL} up?`);
    }
  }
  if (features?.includes('cache')) {
    evidence.cacheOnDistinct = res.headers.get('x-cache');
    const a = await post(body(t.model, { fixed: true }));
    await a.text();
    const b = await post(body(t.model, { fixed: true }));
    await b.text();
    evidence.cacheOnRepeat = b.headers.get('x-cache');
    if (evidence.cacheOnDistinct === 'HIT') throw new Error(`${t.name}: a distinct request was a cache HIT`);
    if (evidence.cacheOnRepeat !== 'HIT')
      throw new Error(`${t.name}: a repeated request was not a cache HIT`);
  }
  return evidence;
}

async function requestLogRows(g) {
  try {
    const res = await fetch(`${g.url}/admin/requests?limit=1`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    return res.status === 200 ? 'readable' : `HTTP ${res.status}`;
  } catch (err) {
    return err.message;
  }
}

// ---------------------------------------------------------------------------------------------- run
async function main() {
  const load0 = os.loadavg();
  log(
    `overhead: ${ROUNDS} rounds x ${DURATION}s (+${WARMUP}s warm-up), c=${CONNECTIONS} and 1, load avg ${load0[0].toFixed(2)}`,
  );
  const up = await forkHelper('fake-upstream.mjs', []);
  const fwd = await forkHelper('baseline-forwarder.mjs', [up.url]);
  fwd.name = 'forwarder';
  const probe = await probeFeatures(up.url);
  log(
    `overhead: features on: ${probe.on.join(', ') || 'none'}; not in this build: ${probe.missing.join(', ') || 'none'}`,
  );

  const targets = [
    { name: 'direct', url: up.url, pid: up.pid, model: 'gpt-4o-mini', headers: {}, proc: up.proc },
    { name: 'forwarder', url: fwd.url, pid: fwd.pid, model: 'gpt-4o-mini', headers: {}, proc: fwd.proc },
  ];
  const gateways = [];
  const addGateway = async (name, features, opts, extra = {}) => {
    const dir = join(tmp, name);
    mkdirSync(dir, { recursive: true });
    const config = gatewayConfig(up.url, features, { ...opts, dir });
    const g = await startGateway(name, config);
    const headers = {};
    if (features.includes('auth')) headers.authorization = `Bearer ${await createKey(g)}`;
    const t = {
      name,
      url: g.url,
      pid: g.pid,
      model: 'bench',
      headers,
      metrics: true,
      config,
      features,
      g,
      ...opts,
      ...extra,
    };
    gateways.push(t);
    targets.push(t);
    return t;
  };
  await addGateway('switchyard', [], {});
  const all = await addGateway('everything-on', probe.on, {});
  const wantRedis = probe.on.includes('limits');
  if (wantRedis) await addGateway('everything-on-redis', probe.on, { redis: true });
  if (probe.on.includes('cache')) targets.push({ ...all, name: 'cache-hit', fixed: true });

  const only = process.env.SCENARIOS?.split(',').filter(Boolean);
  // Direct and the forwarder always run: added latency is over direct, every goal against the forwarder.
  const measured = only
    ? targets.filter((t) => only.includes(t.name) || t.name === 'forwarder' || t.name === 'direct')
    : targets;
  const evidence = {};
  for (const t of measured) {
    if (t.name === 'cache-hit') continue;
    evidence[t.name] = await check(t, t.features);
  }
  // Idle RSS once start-up work is done, before any traffic.
  const procs = [fwd, ...gateways];
  const rss = {};
  for (const p of procs) rss[p.name] = { idle: await settleRss(p.pid), samples: [] };
  const t0 = Date.now();
  const sampler = setInterval(() => {
    for (const p of procs) rss[p.name].samples.push([Math.round((Date.now() - t0) / 1000), rssMiB(p.pid)]);
  }, 5000);

  const results = {}; // name -> { c50: [round...], c1: [...], ttfb: [...], lag: [...] }
  for (const t of measured) results[t.name] = { c: [], c1: [], ttfb: [], lag: [] };
  const streamTargets = measured.filter((t) =>
    ['direct', 'forwarder', 'switchyard', 'everything-on'].includes(t.name),
  );
  for (let r = 0; r < ROUNDS; r++) {
    const order = measured.map((_, i) => measured[(i + r) % measured.length]);
    log(
      `overhead: round ${r + 1}/${ROUNDS}: ${order.map((t) => t.name).join(', ')} (load avg ${os.loadavg()[0].toFixed(2)})`,
    );
    for (const t of order) {
      for (const c of [CONNECTIONS, 1]) {
        if (WARMUP > 0) await loadRun(t, c, WARMUP);
        const before = c === CONNECTIONS ? await eventLoopLag(t) : null;
        const m = await loadRun(t, c, DURATION);
        if (c === CONNECTIONS && before !== null) m.lag = await eventLoopLag(t);
        results[t.name][c === CONNECTIONS ? 'c' : 'c1'].push(m);
        log(
          `  ${t.name.padEnd(20)} c=${String(c).padEnd(3)} ${m.rps.toFixed(0).padStart(6)} req/s  p50 ${m.p50?.toFixed(2)} p99 ${m.p99?.toFixed(2)} ms  ${m.cpuUs?.toFixed(0)} µs CPU/req${m.bad ? `  (${m.bad} bad)` : ''}`,
        );
      }
    }
    for (const t of r % 2 ? [...streamTargets].reverse() : streamTargets) {
      const s = await ttfbRun(t, Math.ceil(TTFB_N / ROUNDS));
      results[t.name].ttfb.push(s);
    }
  }
  clearInterval(sampler);
  for (const p of procs) rss[p.name].afterLoad = await settleRss(p.pid);
  // "After load" is read while V8 still holds the load's garbage (old space up to its next mark-compact,
  // the young generation at its largest), which differs by tens of MiB between runs of one build; LATER
  // seconds without traffic let V8's memory reducer run, for the figure that stays.
  if (LATER > 0) {
    await sleep(LATER * 1000);
    for (const p of procs) rss[p.name].later = rssMiB(p.pid);
  }
  const requestLog = {};
  for (const g of gateways)
    if (g.features.includes('request_log')) requestLog[g.name] = await requestLogRows(g);

  // ------------------------------------------------------------------------------------ the report
  const med = (name, k, f) => median(results[name][k].map(f));
  const fw = (k, f) => med('forwarder', k, f);
  const dir = (k, f) => med('direct', k, f);
  const rows = [];
  for (const t of measured) {
    const n = t.name;
    const rps = med(n, 'c', (m) => m.rps);
    rows.push({
      target: n,
      rps50: rps,
      ratio: rps / fw('c', (m) => m.rps),
      addP50c1: med(n, 'c1', (m) => m.p50) - dir('c1', (m) => m.p50),
      addP99c1: med(n, 'c1', (m) => m.p99) - dir('c1', (m) => m.p99),
      addP50c50: med(n, 'c', (m) => m.p50) - dir('c', (m) => m.p50),
      addP99c50: med(n, 'c', (m) => m.p99) - dir('c', (m) => m.p99),
      cpu50: med(n, 'c', (m) => m.cpuUs),
      cpu1: med(n, 'c1', (m) => m.cpuUs),
      ttfb: results[n].ttfb.length ? med(n, 'ttfb', (s) => s.p50) : null,
      lagP99: results[n].c[0]?.lag ? med(n, 'c', (m) => m.lag?.p99) : null,
      bad: results[n].c.concat(results[n].c1).reduce((a, m) => a + m.bad, 0),
    });
  }
  const f = (x, d = 2) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(d));
  const s = (x, d = 2) => (x === null || !Number.isFinite(x) ? '-' : `${x >= 0 ? '+' : ''}${x.toFixed(d)}`);
  const fwRow = rows.find((r) => r.target === 'forwarder');
  const out = [];
  const load1 = os.loadavg();
  out.push(`## Overhead with everything on (${new Date().toISOString()})`);
  out.push('');
  out.push(
    `${os.cpus().length} cores; load average ${load0.map((x) => x.toFixed(1)).join(' ')} at the start, ${load1.map((x) => x.toFixed(1)).join(' ')} at the end. ` +
      `Medians of ${ROUNDS} rounds of ${DURATION} s per target and concurrency, targets in rotating order. ` +
      `Everything-on features: ${probe.on.join(', ') || 'none'}${probe.missing.length ? `; not in this build: ${probe.missing.join(', ')}` : ''}; plus metrics and breakers (always).`,
  );
  out.push('');
  out.push(
    '| target | req/s c=50 | × forwarder | +p50 c=1 | +p99 c=1 | +p50 c=50 | +p99 c=50 | stream TTFB p50 | CPU µs/req c=50 | CPU µs/req c=1 | loop delay p99 c=50 | errors |',
  );
  out.push('|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const r of rows)
    out.push(
      `| ${r.target} | ${f(r.rps50, 0)} | ${f(r.ratio)} | ${s(r.addP50c1)} | ${s(r.addP99c1)} | ${s(r.addP50c50)} | ${s(r.addP99c50)} | ${f(r.ttfb)} | ${f(r.cpu50, 0)} | ${f(r.cpu1, 0)} | ${f(r.lagP99)} | ${r.bad} |`,
    );
  out.push('');
  out.push('Added latency is over direct (ms). Against the forwarder (the goals of issue 14):');
  out.push('');
  out.push(
    `| target | × forwarder c=50 (≥ 0.8) | +p50 c=1 vs fwd (≤ 0.3) | +p99 c=1 vs fwd (≤ 1) | +TTFB vs fwd (≤ 1) | RSS after load × fwd (≤ 1.2) |${LATER > 0 ? ` ${LATER} s later × fwd |` : ''}`,
  );
  out.push(`|:--|--:|--:|--:|--:|--:|${LATER > 0 ? '--:|' : ''}`);
  for (const r of rows) {
    if (r.target === 'direct' || r.target === 'forwarder') continue;
    const mem = rss[r.target]?.afterLoad ?? null;
    out.push(
      `| ${r.target} | ${f(r.ratio)} | ${s(r.addP50c1 - fwRow.addP50c1)} | ${s(r.addP99c1 - fwRow.addP99c1)} | ${r.ttfb === null ? '-' : s(r.ttfb - fwRow.ttfb)} | ${mem ? f(mem / rss.forwarder.afterLoad) : '-'} |${LATER > 0 ? ` ${rss[r.target]?.later ? f(rss[r.target].later / rss.forwarder.later) : '-'} |` : ''}`,
    );
  }
  out.push('');
  out.push(
    `| process | RSS idle (MiB) | RSS after load |${LATER > 0 ? ` ${LATER} s later |` : ''} peak sampled | samples every 5 s |`,
  );
  out.push(`|:--|--:|--:|${LATER > 0 ? '--:|' : ''}--:|:--|`);
  for (const [name, m] of Object.entries(rss)) {
    const peak = Math.max(...m.samples.map((x) => x[1]).filter(Number.isFinite));
    out.push(
      `| ${name} | ${f(m.idle, 1)} | ${f(m.afterLoad, 1)} |${LATER > 0 ? ` ${f(m.later, 1)} |` : ''} ${f(peak, 1)} | ${m.samples.map((x) => Math.round(x[1])).join(' ')} |`,
    );
  }
  out.push('');
  out.push(
    `Checks: ${JSON.stringify(evidence)}${Object.keys(requestLog).length ? `; request log via /admin/requests: ${JSON.stringify(requestLog)}` : ''}`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
  const resultsDir = join(REPO, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, 'overhead-latest.json'),
    JSON.stringify(
      {
        load0,
        load1,
        features: probe,
        rows,
        rss,
        results,
        evidence,
        configs: Object.fromEntries(gateways.map((g) => [g.name, g.config])),
      },
      null,
      2,
    ),
  );
}

// Run only as a script: soak.mjs imports the gateway setup from here.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await main();
  } catch (err) {
    log(`overhead: ${err.stack ?? err}`);
    process.exitCode = 1;
  } finally {
    await cleanup();
    rmSync(tmp, { recursive: true, force: true });
  }
}

export {
  ADMIN_KEY,
  body,
  check,
  cleanup,
  createKey,
  forkHelper,
  gatewayConfig,
  loadRun,
  median,
  probeFeatures,
  rssMiB,
  settleRss,
  startGateway,
  tmp,
};
