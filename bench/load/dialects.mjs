// Cost per request of each ingress dialect, measured in one run against one gateway process:
// chat completions (the reference), the Responses API, and Anthropic Messages (translated to the
// OpenAI upstream, and passed through to an Anthropic upstream), JSON and streamed.
//
//   node bench/load/dialects.mjs            (N=2000 requests per path per round, C=16, ROUNDS=3)
//
// The gateway's own CPU time (utime+stime from /proc) per request is the measure: it is what a
// dialect adds, independent of the load generator and the fake upstream (both in other processes).
// Paths are interleaved round by round so drift on a shared machine hits them alike. Prints a
// Markdown table with each path's µs/request and its ratio to chat completions of the same kind.
import { execFileSync, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(join(root, 'package.json'));
const { Pool } = require('undici');

const N = Number(process.env.N ?? 2000);
const C = Number(process.env.C ?? 16);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const cli = process.env.SWITCHYARD_CLI ?? join(root, 'dist/cli.js');

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

const upstream = fork(fileURLToPath(new URL('./fake-dialect-upstream.mjs', import.meta.url)), [], {
  stdio: 'inherit',
});
const upPort = await new Promise((resolve) => upstream.once('message', (m) => resolve(m.port)));

const dir = mkdtempSync(join(tmpdir(), 'sy-bench-dialects-'));
const config = join(dir, 'switchyard.yaml');
writeFileSync(
  config,
  `server: { shutdown_timeout: 5s, load_shedding: { enabled: false } }
logging: { level: warn }
providers:
  up: { type: openai, base_url: http://127.0.0.1:${upPort}/v1, api_key: k }
  claude: { type: anthropic, base_url: http://127.0.0.1:${upPort}, api_key: k }
models:
  bench: { targets: [ { provider: up, model: gpt-4o-mini } ] }
  bench-claude: { targets: [ { provider: claude, model: claude-sonnet-4-5 } ] }
`,
);
const gwPort = 20000 + Math.floor(Math.random() * 20000);
const gw = spawn(process.execPath, [cli, 'start', '--config', config], {
  env: { ...process.env, PORT: String(gwPort), HOST: '127.0.0.1' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const base = `http://127.0.0.1:${gwPort}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/health/ready`)).ok) break;
  } catch {}
  if (i > 200) throw new Error('gateway did not start');
  await new Promise((r) => setTimeout(r, 50));
}

const prompt = 'Explain in one paragraph how a gateway routes requests between providers.';
const PATHS = [
  ['chat', '/v1/chat/completions', { model: 'bench', messages: [{ role: 'user', content: prompt }] }],
  ['responses', '/v1/responses', { model: 'bench', input: prompt, store: false }],
  [
    'messages (translated)',
    '/v1/messages',
    { model: 'bench', max_tokens: 256, messages: [{ role: 'user', content: prompt }] },
  ],
  [
    'messages (passthrough)',
    '/v1/messages',
    { model: 'bench-claude', max_tokens: 256, messages: [{ role: 'user', content: prompt }] },
  ],
];
const variants = [];
for (const [name, path, body] of PATHS) {
  variants.push({ name, stream: false, path, body: JSON.stringify(body) });
  variants.push({ name, stream: true, path, body: JSON.stringify({ ...body, stream: true }) });
}

const pool = new Pool(base, { connections: C, pipelining: 1 });
async function drive(v, n) {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await pool.request({
        method: 'POST',
        path: v.path,
        headers: { 'content-type': 'application/json' },
        body: v.body,
      });
      await res.body.text();
      if (res.statusCode !== 200) failed++;
    }
  };
  await Promise.all(Array.from({ length: C }, worker));
  if (failed > 0) throw new Error(`${v.name}${v.stream ? ' stream' : ''}: ${failed} non-200 answers`);
}

// Warm up every path (JIT, pools, tokenizer) before measuring.
for (const v of variants) await drive(v, 300);
const totals = new Map(variants.map((v) => [v, { cpu: 0, n: 0 }]));
for (let r = 0; r < ROUNDS; r++) {
  for (const v of variants) {
    const before = cpuSeconds(gw.pid);
    await drive(v, N);
    const t = totals.get(v);
    t.cpu += cpuSeconds(gw.pid) - before;
    t.n += N;
  }
}
await pool.close();

const us = (v) => (totals.get(v).cpu / totals.get(v).n) * 1e6;
const ref = (stream) => us(variants.find((v) => v.name === 'chat' && v.stream === stream));
const lines = ['| path | kind | gateway CPU µs/request | ratio to chat |', '|:--|:--|--:|--:|'];
for (const v of variants) {
  lines.push(
    `| ${v.name} | ${v.stream ? 'stream' : 'JSON'} | ${us(v).toFixed(0)} | ${(us(v) / ref(v.stream)).toFixed(2)} |`,
  );
}
process.stdout.write(
  `\n${N * ROUNDS} requests per row, ${C} connections, CLK_TCK ${CLK_TCK}\n\n${lines.join('\n')}\n`,
);
gw.kill('SIGTERM');
upstream.kill('SIGTERM');
