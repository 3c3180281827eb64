// What the resident memory of the gateway and of the thin forwarder is made of, at idle and after load:
// V8's young generation, old space (in use / committed), code, the rest of the V8 heap, glibc malloc
// (the main heap and the per-thread arenas), file-backed pages (the node binary, native addons), from
// /proc/<pid>/smaps and the process's own V8 statistics (mem-probe.mjs, preloaded, answers SIGUSR2).
//
//   npm run build && node bench/load/rss-breakdown.mjs
//
// Phases: "start" (ready, RSS settled as in idle-rss.mjs), "after load" (c=CONNECTIONS for DURATION s of
// distinct chat completions per target, then settled), "later" (LATER s after that with no traffic: by
// then V8's memory reducer has usually run its full GCs, which give back the young generation and the
// old-space garbage; the figure an operator sees on an idle gateway).
// Env: DURATION (10), CONNECTIONS (50), LATER (45), TARGETS (forwarder,switchyard,everything-on),
// NODE_ENV_EXTRA (e.g. "MALLOC_ARENA_MAX=2": set for every measured process), SWITCHYARD_CLI.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import {
  body,
  cleanup,
  createKey,
  forkHelper,
  gatewayConfig,
  probeFeatures,
  settleRss,
  startGateway,
} from './overhead.mjs';

const DURATION = Number(process.env.DURATION ?? 10);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const LATER = Number(process.env.LATER ?? 45);
const TARGETS = (process.env.TARGETS ?? 'forwarder,switchyard,everything-on').split(',');
const probeDir = mkdtempSync(join(os.tmpdir(), 'sy-memprobe-'));
const PROBE = fileURLToPath(new URL('./mem-probe.mjs', import.meta.url));
for (const kv of (process.env.NODE_ENV_EXTRA ?? '').split(/\s+/).filter(Boolean)) {
  const [k, ...v] = kv.split('=');
  process.env[k] = v.join('=');
}
// Every child inherits these: the probe is preloaded into the forwarder and the gateways alike.
process.env.MEM_PROBE_DIR = probeDir;
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${PROBE}`.trim();

const MiB = (kb) => kb / 1024;
/** Resident KiB by kind of mapping. V8 heap pages are 256 KiB anonymous mappings; glibc's per-thread
 *  arenas are the rw part of 64 MiB reservations; [heap] is the main arena. */
function smaps(pid) {
  const out = { v8pages: 0, arenas: 0, brk: 0, anonOther: 0, file: 0, node: 0 };
  let cur = null;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      cur = { size: (Number.parseInt(m[2], 16) - Number.parseInt(m[1], 16)) / 1024, name: m[4] };
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (!r || !cur) continue;
    const kb = Number(r[1]);
    if (cur.name === '[heap]') out.brk += kb;
    else if (cur.name.startsWith('/')) {
      if (/\/node$/.test(cur.name)) out.node += kb;
      else out.file += kb;
    } else if (cur.name === '') {
      if (cur.size >= 256 && cur.size % 256 === 0 && cur.size <= 1024) out.v8pages += kb;
      else if (cur.size >= 1024 && cur.size < 65536) out.arenas += kb;
      else out.anonOther += kb;
    } else out.anonOther += kb;
  }
  return out;
}

async function probe(pid) {
  const file = join(probeDir, `${pid}.json`);
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    try {
      const j = JSON.parse(readFileSync(file, 'utf8'));
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
      return { ...j, rss: kb('VmRSS'), anon: kb('RssAnon'), fileKb: kb('RssFile'), smaps: smaps(pid) };
    } catch {}
  }
  throw new Error(`no probe answer from ${pid}`);
}

function row(name, phase, p) {
  const m = (b) => (b / 1048576).toFixed(1);
  const s = p.spaces;
  const young = s.new_space.committed + (s.new_large_object_space?.committed ?? 0);
  const old = s.old_space;
  const codeC = s.code_space.committed + (s.code_large_object_space?.committed ?? 0);
  // Resident pages, not reservations: the young generation commits both semi-spaces but touches less.
  const other = p.heapPhysical - young - old.committed - codeC;
  return `| ${name} | ${phase} | ${MiB(p.rss).toFixed(1)} | ${m(young)} | ${m(old.used)} / ${m(old.committed)} | ${m(codeC)} | ${m(other)} | ${MiB(p.smaps.brk).toFixed(1)} + ${MiB(p.smaps.arenas).toFixed(1)} | ${MiB(p.smaps.node + p.smaps.file).toFixed(1)} | ${m(p.mu.external)} | ${p.threads} |`;
}

async function loadRun(t) {
  const r = await autocannon({
    url: `${t.url}/v1/chat/completions`,
    connections: CONNECTIONS,
    duration: DURATION,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', ...t.headers },
        setupRequest: (req) => ({ ...req, body: body(t.model) }),
      },
    ],
  });
  return { requests: r.requests.total, bad: r.non2xx + r.errors + r.timeouts };
}

async function main() {
  const load0 = os.loadavg();
  const up = await forkHelper('fake-upstream.mjs', []);
  const targets = [];
  if (TARGETS.includes('forwarder')) {
    const f = await forkHelper('baseline-forwarder.mjs', [up.url]);
    targets.push({ name: 'forwarder', url: f.url, pid: f.pid, model: 'gpt-4o-mini', headers: {} });
  }
  if (TARGETS.includes('switchyard')) {
    const g = await startGateway('switchyard', gatewayConfig(up.url, []));
    targets.push({ name: 'switchyard', url: g.url, pid: g.pid, model: 'bench', headers: {} });
  }
  if (TARGETS.includes('everything-on')) {
    const features = (await probeFeatures(up.url)).on;
    const g = await startGateway('everything-on', gatewayConfig(up.url, features));
    const headers = features.includes('auth') ? { authorization: `Bearer ${await createKey(g)}` } : {};
    targets.push({ name: 'everything-on', url: g.url, pid: g.pid, model: 'bench', headers });
  }
  const rows = [];
  for (const t of targets) {
    await settleRss(t.pid);
    t.start = await probe(t.pid);
  }
  for (const t of targets) {
    const r = await loadRun(t);
    if (r.bad > 0) console.error(`${t.name}: ${r.bad} bad responses of ${r.requests}`);
    t.requests = r.requests;
  }
  for (const t of targets) {
    await settleRss(t.pid);
    t.after = await probe(t.pid);
  }
  await sleep(LATER * 1000);
  for (const t of targets) t.later = await probe(t.pid);
  for (const t of targets)
    rows.push(
      row(t.name, 'start', t.start),
      row(t.name, 'after load', t.after),
      row(t.name, `+${LATER} s idle`, t.later),
    );
  const load1 = os.loadavg();
  console.log(
    `RSS breakdown (MiB), ${new Date().toISOString()}, load ${load0[0].toFixed(1)} -> ${load1[0].toFixed(1)}, c=${CONNECTIONS} for ${DURATION} s per target${process.env.NODE_ENV_EXTRA ? `, ${process.env.NODE_ENV_EXTRA}` : ''}; requests: ${targets.map((t) => `${t.name} ${t.requests}`).join(', ')}\n`,
  );
  console.log(
    '| process | phase | RSS | young gen. | old space used / committed | code | other V8 | malloc main + arenas | file-backed | external | threads |',
  );
  console.log('|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  console.log(rows.join('\n'));
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    rmSync(probeDir, { recursive: true, force: true });
    process.exit();
  });
