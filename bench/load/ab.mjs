// A/B: the gateway's CPU per request for two builds, interleaved, for deciding whether a change helps
// on a busy machine. Both gateways (defaults config, or everything on with EVERYTHING=1) run at once on
// one fake upstream; BURSTS short bursts (default 8 x 3 s, c=CONNECTIONS, default 8) alternate between
// them (A B B A A B ...), and user+system CPU from /proc/<pid>/stat is summed over all bursts and
// divided by the requests. Interleaving spreads slow drift in machine load over both alike.
//
//   node bench/load/ab.mjs /tmp/base/dist/cli.js dist/cli.js
//
// One build, two configs: A_WITHOUT names features A runs without (B has them all), so
//   EVERYTHING=1 A_WITHOUT=limits node bench/load/ab.mjs dist/cli.js dist/cli.js
// gives what the rate limits cost per request with everything else on; REDIS=1 puts both on Redis.
// A_NODE_ARGS / B_NODE_ARGS: Node options for one side only (e.g. B_NODE_ARGS=--max-semi-space-size=4),
// for what a V8 flag costs in CPU. The RSS of both gateways after the last burst is printed too.
// CPU is the whole process (all threads) and, as "main", the main thread alone (/proc/<pid>/task/<pid>),
// which is what a worker thread takes work off. LATENCY=1 then runs LAT_BURSTS (default BURSTS) more
// bursts of SECONDS at 1 connection, interleaved the same way, and prints p50/p99/p99.9 in ms over every
// request of those bursts (timed by autocannon per response, sub-millisecond).

import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import {
  body,
  cleanup,
  createKey,
  forkHelper,
  gatewayConfig,
  probeFeatures,
  rssMiB,
  startGateway,
  tmp,
} from './overhead.mjs';

const [cliA, cliB] = process.argv.slice(2);
if (!cliA || !cliB) throw new Error('usage: ab.mjs <cli.js A> <cli.js B>');
const BURSTS = Number(process.env.BURSTS ?? 8);
const SECONDS = Number(process.env.SECONDS ?? 3);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 8);
// CACHE_HIT=1 (with EVERYTHING=1): one fixed body, every request after the first a cache hit. STREAM=1: SSE.
const CACHE_HIT = process.env.CACHE_HIT === '1';
const STREAM = process.env.STREAM === '1';
const A_WITHOUT = (process.env.A_WITHOUT ?? '').split(',').filter(Boolean);
const REDIS = process.env.REDIS === '1';

function cpuSeconds(pid, mainThread = false) {
  const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

try {
  const up = await forkHelper('fake-upstream.mjs', []);
  const features = process.env.EVERYTHING === '1' ? (await probeFeatures(up.url)).on : [];
  const gws = [];
  for (const [name, cli] of [
    ['A', cliA],
    ['B', cliB],
  ]) {
    const dir = `${tmp}/${name}`;
    mkdirSync(dir, { recursive: true });
    const own = name === 'A' ? features.filter((f) => !A_WITHOUT.includes(f)) : features;
    const nodeArgs = (process.env[`${name}_NODE_ARGS`] ?? '').split(' ').filter(Boolean);
    const g = await startGateway(name, gatewayConfig(up.url, own, { dir, redis: REDIS }), { cli, nodeArgs });
    const headers = { 'content-type': 'application/json' };
    if (own.includes('auth')) headers.authorization = `Bearer ${await createKey(g)}`;
    gws.push({ ...g, headers, cpu: 0, main: 0, reqs: 0, cli, lat: [] });
  }
  const burst = async (g, seconds, connections = CONNECTIONS, latencies = undefined) => {
    const c0 = cpuSeconds(g.pid);
    const m0 = cpuSeconds(g.pid, true);
    const run = autocannon({
      url: `${g.url}/v1/chat/completions`,
      connections,
      duration: seconds,
      requests: [
        {
          method: 'POST',
          path: '/v1/chat/completions',
          headers: g.headers,
          setupRequest: (req) => ({ ...req, body: body('bench', { stream: STREAM, fixed: CACHE_HIT }) }),
        },
      ],
    });
    if (latencies) run.on('response', (_c, _status, _b, ms) => latencies.push(ms));
    const r = await run;
    return {
      cpu: cpuSeconds(g.pid) - c0,
      main: cpuSeconds(g.pid, true) - m0,
      reqs: r.requests.total,
      bad: r.non2xx + r.errors,
    };
  };
  for (const g of gws) await burst(g, 2); // warm-up: JIT, pools
  for (let i = 0; i < BURSTS; i++) {
    const order = i % 2 === 0 ? gws : [...gws].reverse();
    for (const g of order) {
      const b = await burst(g, SECONDS);
      if (b.bad) throw new Error(`${g.name}: ${b.bad} failed requests`);
      g.cpu += b.cpu;
      g.main += b.main;
      g.reqs += b.reqs;
    }
    await sleep(10);
  }
  const [a, b] = gws.map((g) => (g.cpu * 1e6) / g.reqs);
  const [ma, mb] = gws.map((g) => (g.main * 1e6) / g.reqs);
  const rss = gws.map((g) => rssMiB(g.pid));
  let latency = '';
  if (process.env.LATENCY === '1') {
    const n = Number(process.env.LAT_BURSTS ?? BURSTS);
    for (const g of gws) await burst(g, 1, 1); // warm-up at c=1
    for (let i = 0; i < n; i++) {
      const order = i % 2 === 0 ? gws : [...gws].reverse();
      for (const g of order) {
        const r = await burst(g, SECONDS, 1, g.lat);
        if (r.bad) throw new Error(`${g.name}: ${r.bad} failed requests at c=1`);
      }
      await sleep(10);
    }
    const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
    latency = gws
      .map((g) => {
        g.lat.sort((x, y) => x - y);
        return `\n  c=1 ${g.name}: p50 ${pct(g.lat, 50).toFixed(3)} p99 ${pct(g.lat, 99).toFixed(3)} p99.9 ${pct(g.lat, 99.9).toFixed(3)} ms (${g.lat.length} req)`;
      })
      .join('');
  }
  console.log(
    `A ${a.toFixed(0)} µs/req (main ${ma.toFixed(0)}, ${gws[0].reqs} req)  B ${b.toFixed(0)} µs/req (main ${mb.toFixed(0)}, ${gws[1].reqs} req)  B/A ${(b / a).toFixed(3)} main ${(mb / ma).toFixed(3)}  RSS MiB A ${rss[0]} B ${rss[1]}  load ${os.loadavg()[0].toFixed(1)}${features.length ? `  features ${features.join(',')}` : ''}${A_WITHOUT.length ? `  (A without ${A_WITHOUT.join(',')})` : ''}${REDIS ? '  redis' : ''}${latency}`,
  );
} finally {
  await cleanup();
  rmSync(tmp, { recursive: true, force: true });
}
