// CPU profile of the gateway under load: where the time per request goes.
//
//   node bench/load/profile.mjs [config.yaml]
//
// Starts the fake upstream, then `node --cpu-prof dist/cli.js start` with the given config (default: the
// `switchyard` variant's: one openai target on the fake upstream, metrics on, log level warn), drives it
// with autocannon (CONNECTIONS, default 50, for DURATION seconds, default 10; STREAM=1 for streaming),
// stops it with SIGTERM so the profile is written, and prints the functions with the most self time,
// grouped by function and file, as µs of CPU per request. The raw profile stays in bench/results/.
// Only samples taken during the measured run count (start-up, module loading and the WARMUP seconds of
// unmeasured load before it, default 3, are left out): the profile's clock and process.hrtime are both
// the monotonic clock. EVERYTHING=1 profiles the everything-on gateway of overhead.mjs (every feature
// this build accepts, a virtual key, distinct request bodies so a cache misses; CACHE_HIT=1 sends one
// fixed body instead, so every request after the first is a cache hit). FORWARDER=1 profiles the
// thin forwarder instead, for a side-by-side of where the gateway's extra time goes.
import { fork, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const DURATION = Number(process.env.DURATION ?? 10);
const STREAM = process.env.STREAM === '1';
const TOP = Number(process.env.TOP ?? 25);
const WARMUP = Number(process.env.WARMUP ?? 3);
const EVERYTHING = process.env.EVERYTHING === '1';
const overhead = EVERYTHING ? await import('./overhead.mjs') : null;
const outDir = join(root, 'bench', 'results', `profile-${Date.now()}`);
mkdirSync(outDir, { recursive: true });

const upstream = fork(join(here, 'fake-upstream.mjs'), [], { stdio: 'inherit' });
const upPort = await new Promise((resolve) =>
  upstream.on('message', (m) => m.type === 'listening' && resolve(m.port)),
);

const configPath = process.argv[2] ?? join(outDir, 'switchyard.yaml');
let features = [];
if (EVERYTHING) {
  features = (await overhead.probeFeatures(`http://127.0.0.1:${upPort}`)).on;
  writeFileSync(configPath, overhead.gatewayConfig(`http://127.0.0.1:${upPort}`, features, { dir: outDir }));
  console.log(`everything on: ${features.join(', ') || 'no optional feature in this build'}`);
} else if (!process.argv[2]) {
  writeFileSync(
    configPath,
    `server: { shutdown_timeout: 5s }
logging: { level: warn }
providers:
  up: { type: openai, base_url: http://127.0.0.1:${upPort}/v1, api_key: sk-bench }
models:
  bench: { targets: [ { provider: up, model: gpt-4o-mini } ] }
`,
  );
}
const port = 18000 + Math.floor(Math.random() * 1000);
const gw = spawn(
  process.execPath,
  process.env.FORWARDER === '1'
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${outDir}`,
        join(here, 'baseline-forwarder.mjs'),
        `http://127.0.0.1:${upPort}`,
      ]
    : [
        '--cpu-prof',
        `--cpu-prof-dir=${outDir}`,
        process.env.SWITCHYARD_CLI ?? join(root, 'dist', 'cli.js'),
        'start',
        '--config',
        configPath,
      ],
  {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      UPSTREAM_ORIGIN: `http://127.0.0.1:${upPort}`,
      NODE_ENV: 'production',
      SWITCHYARD_ADMIN_KEY: process.env.SWITCHYARD_ADMIN_KEY ?? 'bench-admin-key',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
const url = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${url}/health/ready`)).ok) break;
  } catch {}
  if (i > 200) throw new Error('gateway did not start');
  await new Promise((r) => setTimeout(r, 50));
}
const headers = { 'content-type': 'application/json' };
if (features.includes('auth'))
  headers.authorization = `Bearer ${await overhead.createKey({ url, name: 'gateway' })}`;
// CACHE_HIT=1 (with EVERYTHING=1): one fixed body, so every request after the first is a cache hit.
const CACHE_HIT = process.env.CACHE_HIT === '1';
const makeBody = EVERYTHING
  ? () => overhead.body('bench', { stream: STREAM, fixed: CACHE_HIT })
  : (() => {
      const fixed = JSON.stringify({
        model: 'bench',
        stream: STREAM,
        messages: [
          { role: 'system', content: 'You are terse.' },
          { role: 'user', content: 'Say hello.' },
        ],
      });
      return () => fixed;
    })();
const load = (duration) =>
  autocannon({
    url: `${url}/v1/chat/completions`,
    connections: CONNECTIONS,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/v1/chat/completions',
        headers,
        setupRequest: (r) => ({ ...r, body: makeBody() }),
      },
    ],
  });
if (WARMUP > 0) await load(WARMUP);
const windowStart = process.hrtime.bigint() / 1000n;
const result = await load(DURATION);
const windowEnd = process.hrtime.bigint() / 1000n;
if (result.non2xx > 0) console.log(`warning: ${result.non2xx} non-2xx responses`);
const requests = result.requests.total;
gw.kill('SIGTERM');
await new Promise((r) => gw.on('exit', r));
upstream.kill();

const file = readdirSync(outDir).find((f) => f.endsWith('.cpuprofile'));
const profile = JSON.parse(readFileSync(join(outDir, file), 'utf8'));
const self = new Map();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const dt = new Map();
let at = BigInt(profile.startTime);
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  at += BigInt(profile.timeDeltas[i] ?? 0);
  if (at < windowStart || at > windowEnd) continue;
  dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
let total = 0;
const byPackage = new Map();
for (const [id, us] of dt) {
  const n = byId.get(id);
  const f = n.callFrame;
  if (f.functionName === '(idle)' || f.functionName === '(program)') continue;
  const where = !f.url
    ? ''
    : f.url.startsWith('file:')
      ? relative(root, fileURLToPath(f.url)).replace(/^node_modules\//, '')
      : f.url;
  const key = `${f.functionName || '(anonymous)'} ${where}${where ? `:${f.lineNumber + 1}` : ''}`;
  self.set(key, (self.get(key) ?? 0) + us);
  // The same time by package (node_modules), by our own module (dist/...), or by Node internal module.
  const pkg =
    /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where)?.[1] ??
    (where.startsWith('dist/') ? where : where.replace(/^node:internal\//, 'node:') || f.functionName);
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
  total += us;
}
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP);
console.log(
  `${requests} requests (${(requests / DURATION).toFixed(0)} req/s, ${CONNECTIONS} connections${STREAM ? ', streaming' : ''}); ${(total / requests).toFixed(1)} µs CPU per request on the gateway's main thread`,
);
console.log('| self µs/req | share | function |');
console.log('|---:|---:|:--|');
for (const [k, us] of rows)
  console.log(`| ${(us / requests).toFixed(2)} | ${((100 * us) / total).toFixed(1)}% | ${k} |`);
console.log('\n| self µs/req | share | package or module |');
console.log('|---:|---:|:--|');
for (const [k, us] of [...byPackage.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP))
  console.log(`| ${(us / requests).toFixed(2)} | ${((100 * us) / total).toFixed(1)}% | ${k} |`);
console.log(`\nprofile: ${relative(root, join(outDir, file))}`);
