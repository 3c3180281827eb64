// Cache-hit throughput: how fast Switchyard answers from its response cache, next to the direct upstream,
// the thin forwarder (baseline-forwarder.mjs) and Switchyard's own miss path, all in the same run on the
// same machine. The goal (issue 11): a hit is served at >= 1.5x the forwarder's throughput.
//
//   npm --prefix bench install && npm run build && node bench/load/cache-hit.mjs
//
// Env knobs: CONNECTIONS (50), DURATION (10 s), WARMUP (2 s), SWITCHYARD_CLI (default <repo>/dist/cli.js),
// STREAM (1: measure streamed requests instead of whole ones).
// Every process is a child of this one and is stopped on exit. Results (markdown) on stdout.
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const DURATION = Number(process.env.DURATION ?? 10);
const WARMUP = Number(process.env.WARMUP ?? 2);
const STREAM = process.env.STREAM === '1';
const CLI = process.env.SWITCHYARD_CLI || join(REPO, 'dist', 'cli.js');
const log = (s) => process.stderr.write(`${s}\n`);

const children = new Set();
const tmp = mkdtempSync(join(os.tmpdir(), 'switchyard-cache-bench-'));
function stopAll() {
  for (const p of children) p.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', () => {
  for (const p of children) p.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    stopAll();
    process.exit(130);
  });
}
setTimeout(
  () => {
    log('bench: took too long; aborted');
    stopAll();
    process.exit(1);
  },
  (4 * (WARMUP + DURATION) + 90) * 1000,
).unref();

function forkHelper(script, args) {
  const proc = fork(join(HERE, script), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.add(proc);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${script} did not start`)), 15_000);
    proc.on('message', (m) => {
      if (m?.type !== 'listening') return;
      clearTimeout(t);
      resolve({ proc, url: `http://127.0.0.1:${m.port}` });
    });
  });
}

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(url, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`${url} not ready`);
}

function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

const body = (model) =>
  JSON.stringify({
    model,
    messages: [{ role: 'user', content: 'What does Switchyard do with a request?' }],
    ...(STREAM ? { stream: true } : {}),
  });

async function run(name, url, model, pid) {
  const opts = {
    url: `${url}/v1/chat/completions`,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
    body: body(model),
    connections: CONNECTIONS,
    pipelining: 1,
    timeout: 10,
  };
  if (WARMUP > 0) await autocannon({ ...opts, duration: WARMUP });
  log(`bench: ${name} c=${CONNECTIONS} ${DURATION}s (load avg ${os.loadavg()[0].toFixed(2)})`);
  const c0 = pid ? cpuSeconds(pid) : null;
  const r = await autocannon({ ...opts, duration: DURATION });
  const c1 = pid ? cpuSeconds(pid) : null;
  const ok = r['2xx'];
  return {
    name,
    rps: Math.round((ok / r.duration) * 10) / 10,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    cpuUsPerReq:
      c0 !== null && c1 !== null && ok > 0 ? Math.round(((c1 - c0) * 1e6) / r.requests.total) : null,
  };
}

async function main() {
  const upstream = await forkHelper('fake-upstream.mjs', []);
  const forwarder = await forkHelper('baseline-forwarder.mjs', [upstream.url]);
  const config = join(tmp, 'cache.yaml');
  writeFileSync(
    config,
    [
      'server: { port: 0, shutdown_timeout: 5s }',
      'logging: { level: warn }',
      'cache: { enabled: true, ttl: 1h }',
      'providers:',
      `  up: { type: openai, base_url: ${upstream.url}/v1, api_key: bench }`,
      'models:',
      '  bench: { targets: [ { provider: up, model: gpt-4o-mini } ] }',
      '  bench-nocache: { targets: [ { provider: up, model: gpt-4o-mini } ], cache: { enabled: false } }',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const gw = spawn(process.execPath, [CLI, 'start', '--config', config], {
    cwd: REPO,
    env: { ...process.env, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(gw);
  const gwUrl = `http://127.0.0.1:${port}`;
  await waitReady(`${gwUrl}/health/ready`, 30_000);

  // Fill the entry, and check that the measured requests really are hits.
  const post = () =>
    fetch(`${gwUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body('bench'),
    });
  await (await post()).text();
  const check = await post();
  await check.text();
  if (check.headers.get('x-cache') !== 'HIT')
    throw new Error(`expected a HIT, got ${check.headers.get('x-cache')}`);

  const results = [];
  results.push(await run('direct (fake upstream)', upstream.url, 'gpt-4o-mini', upstream.proc.pid));
  results.push(await run('thin forwarder', forwarder.url, 'gpt-4o-mini', forwarder.proc.pid));
  results.push(await run('switchyard cache hit', gwUrl, 'bench', gw.pid));
  results.push(await run('switchyard cache off (upstream call)', gwUrl, 'bench-nocache', gw.pid));
  const fwd = results[1].rps;
  const lines = [
    `## Cache-hit throughput (${STREAM ? 'streamed' : 'whole'} responses, c=${CONNECTIONS}, ${DURATION}s, ${os.cpus().length} cores, load avg ${os.loadavg()[0].toFixed(2)})`,
    '',
    '| target | req/s | x forwarder | p50 ms | p99 ms | CPU µs/req (target process) | non-2xx | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.rps} | ${(r.rps / fwd).toFixed(2)} | ${r.p50} | ${r.p99} | ${r.cpuUsPerReq ?? '-'} | ${r.non2xx} | ${r.errors} |`,
    ),
    '',
    `Cache hit vs thin forwarder: ${(results[2].rps / fwd).toFixed(2)}x (goal >= 1.5x).`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  stopAll();
  process.exit(0);
}

main().catch((err) => {
  log(err?.stack ?? String(err));
  stopAll();
  process.exit(1);
});
