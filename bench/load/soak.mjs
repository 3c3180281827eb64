// Soak: the everything-on gateway (whatever this build accepts, as in overhead.mjs) under a steady
// request rate for SOAK_MINUTES, RSS recorded every minute. Exits non-zero when RSS at any later minute
// is more than SOAK_MAX_GROWTH (10%) above RSS at the end of minute SOAK_SETTLE_MINUTES (2): warm-up
// growth (JIT code, pools, caches filling) is allowed, growth after it is not. Bench only, never CI.
//
//   npm --prefix bench run bench:soak             # 10 minutes at 200 req/s
//   SOAK_MINUTES=4 SOAK_RATE=100 npm --prefix bench run bench:soak
import { rmSync } from 'node:fs';
import os from 'node:os';
import autocannon from 'autocannon';
import {
  ADMIN_KEY,
  body,
  check,
  cleanup,
  createKey,
  forkHelper,
  gatewayConfig,
  probeFeatures,
  rssMiB,
  startGateway,
  tmp,
} from './overhead.mjs';

const num = (name, def) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const MINUTES = num('SOAK_MINUTES', 10);
const RATE = num('SOAK_RATE', 200);
const SETTLE = num('SOAK_SETTLE_MINUTES', 2);
const MAX_GROWTH = num('SOAK_MAX_GROWTH', 0.1);
// A smaller L1 fills within the settle minutes, so growth after them is not the cache filling.
const CACHE_MAX_BYTES = process.env.SOAK_CACHE_MAX_BYTES;
const log = (s) => process.stderr.write(`${s}\n`);

async function main() {
  const up = await forkHelper('fake-upstream.mjs', []);
  const probe = await probeFeatures(up.url);
  let config = gatewayConfig(up.url, probe.on, {});
  if (CACHE_MAX_BYTES && probe.on.includes('cache'))
    config = config.replace(
      'cache: { enabled: true,',
      `cache: { enabled: true, max_bytes: ${Number(CACHE_MAX_BYTES)},`,
    );
  const g = await startGateway('soak', config);
  const headers = { 'content-type': 'application/json' };
  if (probe.on.includes('auth')) headers.authorization = `Bearer ${await createKey(g)}`;
  const t = { name: 'soak', url: g.url, model: 'bench', headers, features: probe.on };
  await check(t, probe.on);
  log(
    `soak: ${MINUTES} min at ${RATE} req/s against everything-on (${probe.on.join(', ') || 'defaults only'}), load avg ${os.loadavg()[0].toFixed(1)}`,
  );
  // The gateway's own heap figures, from /health with the admin key (when the config has one).
  const heapMiB = async () => {
    try {
      const r = await fetch(`${g.url}/health`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      const m = (await r.json()).memory;
      return m
        ? { heapUsed: +(m.heap_used / 2 ** 20).toFixed(1), heapTotal: +(m.heap_total / 2 ** 20).toFixed(1) }
        : {};
    } catch {
      return {};
    }
  };
  const samples = [{ minute: 0, rssMiB: rssMiB(g.pid), ...(await heapMiB()) }];
  const timer = setInterval(async () => {
    const s = { minute: samples.length, rssMiB: rssMiB(g.pid), load: os.loadavg()[0] };
    samples.push(s);
    Object.assign(s, await heapMiB());
    log(
      `soak: minute ${s.minute}: RSS ${s.rssMiB} MiB, heap used ${s.heapUsed ?? '?'} of ${s.heapTotal ?? '?'} MiB (load avg ${s.load.toFixed(1)})`,
    );
  }, 60_000);
  // Distinct bodies (a cache can only miss, so its memory is bounded by its own limits, not by the
  // bench), at a fixed overall rate spread over 10 connections.
  const result = await autocannon({
    url: `${g.url}/v1/chat/completions`,
    connections: 10,
    overallRate: RATE,
    duration: MINUTES * 60,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/v1/chat/completions',
        headers,
        setupRequest: (req) => ({ ...req, body: body('bench') }),
      },
    ],
  });
  clearInterval(timer);
  if (samples.length <= MINUTES) samples.push({ minute: samples.length, rssMiB: rssMiB(g.pid) });
  const base = samples.find((s) => s.minute === SETTLE)?.rssMiB;
  const later = samples.filter((s) => s.minute > SETTLE).map((s) => s.rssMiB);
  const worst = Math.max(...later);
  const growth = base ? worst / base - 1 : Number.NaN;
  const bad = result.non2xx + result.errors + result.timeouts;
  process.stdout.write(
    [
      `## Soak (${new Date().toISOString()})`,
      '',
      `${MINUTES} min at ${RATE} req/s (${(result.requests.total / result.duration).toFixed(0)} req/s achieved, ${bad} non-2xx/errors/timeouts); features: ${probe.on.join(', ') || 'defaults only'}; load avg ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
      '',
      `| minute | ${samples.map((s) => s.minute).join(' | ')} |`,
      `|:--|${samples.map(() => '--:').join('|')}|`,
      `| RSS MiB | ${samples.map((s) => s.rssMiB).join(' | ')} |`,
      '',
      `Growth after minute ${SETTLE}: ${Number.isFinite(growth) ? `${(growth * 100).toFixed(1)}%` : 'n/a (run longer)'} (limit ${(MAX_GROWTH * 100).toFixed(0)}%)`,
      '',
    ].join('\n'),
  );
  if (!Number.isFinite(growth) || growth > MAX_GROWTH || bad > 0) {
    log(
      `soak: FAIL: ${!Number.isFinite(growth) ? 'too short to judge' : growth > MAX_GROWTH ? 'RSS grew' : 'requests failed'}`,
    );
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (err) {
  log(`soak: ${err.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
  rmSync(tmp, { recursive: true, force: true });
}
