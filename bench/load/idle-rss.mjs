// Idle RSS of the gateway (defaults: one openai provider, metrics on) and of the thin forwarder, after
// start-up has settled and no traffic: what the modules and start-up work alone hold. Medians of RUNS (3).
//   node bench/load/idle-rss.mjs
// REQUESTS=n sends n chat requests first (they fail upstream, and are logged like any other), so what
// starts with the first request (the request log's worker thread, pools) is in the figure too; the
// defaults have the request log on, on a SQLite file. SWITCHYARD_CLI measures another build.
// LATER=45 also reads both again after 45 s more without traffic: by then V8's memory reducer has usually
// given back the young generation that start-up grew (see rss-breakdown.mjs), so that column is the
// steady idle figure, the first one the figure right after start. Each gateway runs in a fresh directory,
// so its default database (./data) starts empty, as on a new machine.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { forkHelper, rssMiB, settleRss } from './overhead.mjs';

const RUNS = Number(process.env.RUNS ?? 3);
const REQUESTS = Number(process.env.REQUESTS ?? 0);
const LATER = Number(process.env.LATER ?? 0);
const cli = process.env.SWITCHYARD_CLI ?? new URL('../../dist/cli.js', import.meta.url).pathname;
const dir = mkdtempSync(join(os.tmpdir(), 'sy-idle-'));
const config = join(dir, 'c.yaml');
writeFileSync(
  config,
  'logging: { level: warn }\nproviders:\n  up: { type: openai, base_url: http://127.0.0.1:9/v1, api_key: x }\nmodels:\n  bench: { targets: [ { provider: up, model: m } ] }\n',
);
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const gw = [];
const fw = [];
const gwLater = [];
const fwLater = [];
for (let i = 0; i < RUNS; i++) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const cwd = mkdtempSync(join(dir, 'run-'));
  const p = spawn(process.execPath, [cli, 'start', '--config', config], {
    cwd,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production' },
    stdio: 'ignore',
  });
  for (let t = 0; t < 300; t++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health/ready`)).ok) break;
    } catch {}
    await sleep(100);
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
  const f = await forkHelper('baseline-forwarder.mjs', ['http://127.0.0.1:9']);
  fw.push(await settleRss(f.pid));
  if (LATER > 0) {
    await sleep(LATER * 1000);
    gwLater.push(rssMiB(p.pid));
    fwLater.push(rssMiB(f.pid));
  }
  p.kill();
  f.proc.kill();
}
const later =
  LATER > 0
    ? `; ${LATER} s later: gateway ${med(gwLater)} (${gwLater.join(', ')}), forwarder ${med(fwLater)} (${fwLater.join(', ')})`
    : '';
console.log(
  `idle RSS MiB: gateway ${med(gw)} (${gw.join(', ')}), forwarder ${med(fw)} (${fw.join(', ')})${later}, load ${os.loadavg()[0].toFixed(1)}, rss now ${rssMiB(process.pid)}`,
);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
