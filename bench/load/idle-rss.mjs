// Idle RSS of the gateway (defaults: one openai provider, metrics on) and of the thin forwarder, after
// start-up has settled and no traffic: what the modules and start-up work alone hold. Medians of RUNS (3).
//   node bench/load/idle-rss.mjs
// REQUESTS=n sends n chat requests first (they fail upstream, and are logged like any other), so what
// starts with the first request (the request log's worker thread, pools) is in the figure too; the
// defaults have the request log on, on a SQLite file. SWITCHYARD_CLI measures another build.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { forkHelper, rssMiB, settleRss } from './overhead.mjs';

const RUNS = Number(process.env.RUNS ?? 3);
const REQUESTS = Number(process.env.REQUESTS ?? 0);
const cli = process.env.SWITCHYARD_CLI ?? new URL('../../dist/cli.js', import.meta.url).pathname;
const dir = mkdtempSync(join(os.tmpdir(), 'sy-idle-'));
const config = join(dir, 'c.yaml');
writeFileSync(
  config,
  'logging: { level: warn }\nproviders:\n  up: { type: openai, base_url: http://127.0.0.1:9/v1, api_key: x }\nmodels:\n  bench: { targets: [ { provider: up, model: m } ] }\n',
);
const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const gw = [];
const fw = [];
for (let i = 0; i < RUNS; i++) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const p = spawn(process.execPath, [cli, 'start', '--config', config], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production' },
    stdio: 'ignore',
  });
  for (let t = 0; t < 300; t++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health/ready`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  for (let r = 0; r < REQUESTS; r++) {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.text();
  }
  // Past the request log's flush interval (200 ms), so its first batch has been written.
  if (REQUESTS > 0) await new Promise((r) => setTimeout(r, 1000));
  gw.push(await settleRss(p.pid));
  p.kill();
  const f = await forkHelper('baseline-forwarder.mjs', ['http://127.0.0.1:9']);
  fw.push(await settleRss(f.pid));
  f.proc.kill();
}
console.log(
  `idle RSS MiB: gateway ${med(gw)} (${gw.join(', ')}), forwarder ${med(fw)} (${fw.join(', ')}), rss now ${rssMiB(process.pid)}`,
);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
