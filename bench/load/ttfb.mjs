// Streaming time to first byte, sequential requests over one keep-alive connection, for the forwarder
// and one or more gateway builds in the same run (interleaved in rounds, so machine load hits all alike).
// Per target: time to the response headers, to the first body byte (TTFB), to the last byte, and the
// same request without `stream` (whole answer), medians and p90 over all rounds.
//
//   node bench/load/ttfb.mjs <cli.js> [<cli.js> ...]
//
// Env: N (requests per target per round, 200), ROUNDS (5), EVERYTHING=1 (everything-on config).
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  body,
  cleanup,
  createKey,
  forkHelper,
  gatewayConfig,
  probeFeatures,
  startGateway,
  tmp,
} from './overhead.mjs';

const REPO = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const { Client } = createRequire(join(REPO, 'package.json'))('undici');
const clis = process.argv.slice(2);
if (clis.length === 0) throw new Error('usage: ttfb.mjs <cli.js> [<cli.js> ...]');
const N = Number(process.env.N ?? 200);
const ROUNDS = Number(process.env.ROUNDS ?? 5);

async function one(client, t, stream) {
  const t0 = performance.now();
  const res = await client.request({
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json', ...t.headers },
    body: body(t.model, { stream }),
  });
  const th = performance.now();
  let first = 0;
  let text = '';
  for await (const chunk of res.body) {
    if (first === 0) first = performance.now();
    text += chunk;
  }
  const tl = performance.now();
  if (res.statusCode !== 200 || (stream && !text.includes('data: [DONE]')))
    throw new Error(`${t.name}: bad answer (HTTP ${res.statusCode}): ${text.slice(0, 300)}`);
  return [th - t0, first - t0, tl - t0];
}

const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

try {
  const load0 = os.loadavg()[0];
  const up = await forkHelper('fake-upstream.mjs', []);
  const fwd = await forkHelper('baseline-forwarder.mjs', [up.url]);
  const features = process.env.EVERYTHING === '1' ? (await probeFeatures(up.url)).on : [];
  const targets = [{ name: 'forwarder', url: fwd.url, model: 'gpt-4o-mini', headers: {} }];
  for (let i = 0; i < clis.length; i++) {
    const name = `gw${i + 1}`;
    const g = await startGateway(name, gatewayConfig(up.url, features, { dir: `${tmp}/${name}` }), {
      cli: clis[i],
    });
    const headers = {};
    if (features.includes('auth')) headers.authorization = `Bearer ${await createKey(g)}`;
    targets.push({ name, url: g.url, model: 'bench', headers, cli: clis[i], g });
  }
  for (const t of targets) {
    t.client = new Client(t.url, { keepAliveTimeout: 30_000, pipelining: 1 });
    t.s = { h: [], f: [], l: [], json: [] };
    for (let i = 0; i < 50; i++) {
      await one(t.client, t, true);
      await one(t.client, t, false);
    }
  }
  for (let r = 0; r < ROUNDS; r++) {
    const order = targets.map((_, i) => targets[(i + r) % targets.length]);
    for (const t of order) {
      for (let i = 0; i < N; i++) {
        const [h, f, l] = await one(t.client, t, true);
        t.s.h.push(h);
        t.s.f.push(f);
        t.s.l.push(l);
        t.s.json.push((await one(t.client, t, false))[2]);
      }
    }
  }
  const fw = targets[0].s;
  console.log(
    `load ${load0.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}; ${ROUNDS} rounds x ${N}; features ${features.join(',') || 'defaults'}`,
  );
  console.log('target      headers p50  TTFB p50 (+fwd)  TTFB p90  last byte p50  json p50 (+fwd)');
  for (const t of targets) {
    const s = t.s;
    const d = (a, b) => `${q(a, 0.5) - q(b, 0.5) >= 0 ? '+' : ''}${(q(a, 0.5) - q(b, 0.5)).toFixed(3)}`;
    console.log(
      `${t.name.padEnd(10)}  ${q(s.h, 0.5).toFixed(3).padStart(11)}  ${q(s.f, 0.5).toFixed(3)} (${d(s.f, fw.f)})  ${q(s.f, 0.9).toFixed(3).padStart(8)}  ${q(s.l, 0.5).toFixed(3).padStart(13)}  ${q(s.json, 0.5).toFixed(3)} (${d(s.json, fw.json)})  ${t.cli ?? ''}`,
    );
  }
  for (const t of targets) await t.client.close();
  if (process.env.TRACE === '1') for (const t of targets) if (t.g) console.log(t.name, t.g.stderr());
} finally {
  await cleanup();
}
