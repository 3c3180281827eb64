// How fast could a cache hit be on this stack? The everything-on gateway's hit against the thin forwarder
// and against two floor servers (floor-server.mjs) that answer the gateway's own hit response, byte for
// byte, after doing only what no hit can skip: read and parse the body, hash it and the key. All in one
// run, in rotating order, autocannon at CONNECTIONS (50) for DURATION (5) s per run, ROUNDS (3) rounds;
// CPU per request from /proc/<pid>/stat. Medians.
//
//   node bench/load/floor.mjs                  (SWITCHYARD_CLI=... for another build)
//
// The gateway's one thread is the bottleneck at 50 connections, so throughput is about 1 / (CPU per
// request): the floor's CPU per request is the least a hit can cost here, and a hit at N× the forwarder's
// throughput must cost about 1/N of the forwarder's CPU per request.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import {
  body,
  cleanup,
  createKey,
  forkHelper,
  gatewayConfig,
  loadRun,
  median,
  probeFeatures,
  startGateway,
  tmp,
} from './overhead.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const DURATION = Number(process.env.DURATION ?? 5);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const log = (s) => process.stderr.write(`${s}\n`);

async function main() {
  const up = await forkHelper('fake-upstream.mjs', []);
  const fwd = await forkHelper('baseline-forwarder.mjs', [up.url]);
  const probe = await probeFeatures(up.url);
  const g = await startGateway('floor-hit', gatewayConfig(up.url, probe.on, { dir: tmp }));
  const headers = {};
  if (probe.on.includes('auth')) headers.authorization = `Bearer ${await createKey(g)}`;

  // The gateway's own hit: what the floor servers answer with (less what Node adds per response).
  const post = () =>
    fetch(`${g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: body('bench', { fixed: true }),
    });
  await (await post()).text();
  const hit = await post();
  const hitBody = await hit.text();
  if (hit.status !== 200 || hit.headers.get('x-cache') !== 'HIT')
    throw new Error(`no cache hit from the gateway: ${hit.status} ${hit.headers.get('x-cache')}`);
  const stored = { headers: {}, body: hitBody };
  for (const [k, v] of hit.headers) {
    if (!['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(k))
      stored.headers[k] = v;
  }
  const file = join(tmp, 'floor-response.json');
  writeFileSync(file, JSON.stringify(stored));
  const floorNode = await forkHelper('floor-server.mjs', ['node', file]);
  const floorFastify = await forkHelper('floor-server.mjs', ['fastify', file]);

  const targets = [
    { name: 'forwarder', url: fwd.url, pid: fwd.pid, model: 'gpt-4o-mini', headers: {} },
    {
      name: 'floor (node:http)',
      url: floorNode.url,
      pid: floorNode.pid,
      model: 'bench',
      headers,
      fixed: true,
    },
    {
      name: 'floor (fastify)',
      url: floorFastify.url,
      pid: floorFastify.pid,
      model: 'bench',
      headers,
      fixed: true,
    },
    { name: 'cache-hit (everything on)', url: g.url, pid: g.pid, model: 'bench', headers, fixed: true },
  ];
  log(
    `floor: ${ROUNDS} rounds x ${DURATION}s at c=${CONNECTIONS}; ${Object.keys(stored.headers).length} stored headers, ${Buffer.byteLength(hitBody)}-byte body; features ${probe.on.join(', ')}; load avg ${os.loadavg()[0].toFixed(2)}`,
  );
  for (const t of targets) await loadRun(t, CONNECTIONS, 1); // warm-up: JIT, pools
  const runs = new Map(targets.map((t) => [t.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    const order = targets.map((_, i) => targets[(i + r) % targets.length]);
    for (const t of order) {
      const res = await loadRun(t, CONNECTIONS, DURATION);
      if (res.bad > 0) log(`floor: ${t.name} had ${res.bad} failed requests in round ${r + 1}`);
      runs.get(t.name).push(res);
    }
  }
  const fwdRps = median(runs.get('forwarder').map((x) => x.rps));
  const fwdCpu = median(runs.get('forwarder').map((x) => x.cpuUs));
  console.log(
    `\n## The floor of a cache hit (node ${process.version}, c=${CONNECTIONS}, ${ROUNDS} x ${DURATION}s, load avg ${os.loadavg()[0].toFixed(2)})\n`,
  );
  console.log('| target | req/s | × forwarder | CPU µs/req | CPU × forwarder |');
  console.log('|:--|--:|--:|--:|--:|');
  for (const t of targets) {
    const rps = median(runs.get(t.name).map((x) => x.rps));
    const cpu = median(runs.get(t.name).map((x) => x.cpuUs));
    console.log(
      `| ${t.name} | ${Math.round(rps)} | ${(rps / fwdRps).toFixed(2)} | ${cpu.toFixed(0)} | ${(cpu / fwdCpu).toFixed(2)} |`,
    );
  }
  console.log(
    `\nA hit at 1.5× the forwarder's throughput must cost about ${(fwdCpu / 1.5).toFixed(0)} µs of CPU per request.`,
  );
}

try {
  await main();
} catch (err) {
  log(`floor: ${err.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
