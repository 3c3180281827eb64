// Micro-benchmark: what one limit decision costs, in memory and against Redis, as p50/p99 in µs.
// Uses the built gateway in ../../dist (run `npm run build` first) and the Redis at REDIS_URL
// (default redis://127.0.0.1:6379; skipped with a note when unreachable).
//
//   node bench/micro/limits.bench.mjs        (env N, default 20000 decisions per case; CONCURRENCY, default 16)
//
// "admit + reconcile (service)" is the whole of what limits add to one request: LimitsService.admit
// (charges from a config with a caller rpm + tpm, an IP rpm and a daily budget; the decision; headers)
// plus LimitsService.settle with the provider's usage (a second script call with Redis).
//
// Each case is a real decision as the admit stage makes it: a caller's rpm + tpm, the IP's rpm, and
// (in "with budget") a daily team budget, on keys spread over 1,000 callers so no single bucket fills.
// "sequential" times one decision at a time (latency); "concurrent" keeps CONCURRENCY in flight on one
// connection, as a busy gateway does, and reports each decision's latency plus decisions per second.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const dist = (p) => join(REPO, 'dist', p);
for (const f of ['backends/limiter/memory.js', 'backends/limiter/redis.js', 'backends/redis/client.js']) {
  if (!existsSync(dist(f))) {
    process.stderr.write(`dist/${f} is missing: run \`npm run build\` in the repository root first\n`);
    process.exit(1);
  }
}
const { MemoryLimiter } = await import(pathToFileURL(dist('backends/limiter/memory.js')).href);
const { RedisLimiter } = await import(pathToFileURL(dist('backends/limiter/redis.js')).href);
const { createRedisClient } = await import(pathToFileURL(dist('backends/redis/client.js')).href);
const { LimitsService } = await import(pathToFileURL(dist('services/limits/limits-service.js')).href);
const { parseConfig } = await import(pathToFileURL(dist('config/load.js')).href);

// What the admit stage and its settle hook add to one request: charges built from the config, the
// decision, headers, then the reconciliation with the provider's usage.
const SPEC = parseConfig(
  `tiers: { b: { rpm: 1000000000, tpm: 1000000000000, budget: { daily: 1000000 } } }
limits: { anonymous_tier: b, ip: { rpm: 1000000000 } }`,
  'bench',
  {},
).limits;
const PRICE = () => ({ inputMicrosPerMTok: 150_000, outputMicrosPerMTok: 600_000 });

async function measureService(service) {
  const one = async (i) => {
    const a = await service.admit(SPEC, {
      caller: { team: 'none' },
      ip: `10.0.${(i % 1000) >> 8}.${i % 256}`,
      route: '/v1/chat/completions',
      model: 'gpt-4o-mini',
      promptTokens: 900,
      maxTokens: 300,
    });
    await service.settle(a.ticket, { usage: { prompt_tokens: 850, completion_tokens: 120 } });
  };
  for (let i = 0; i < 2000; i++) await one(i);
  const lat = new Float64Array(N);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const s = performance.now();
    await one(i);
    lat[i] = (performance.now() - s) * 1000;
  }
  const secs = (performance.now() - t0) / 1000;
  const sorted = Array.from(lat).sort((a, b) => a - b);
  return { p50: pct(sorted, 50), p99: pct(sorted, 99), perSec: N / secs };
}

const N = Number(process.env.N ?? 20_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function charges(i, withBudget) {
  const caller = `a:10.0.${(i % 1000) >> 8}.${i % 256}`;
  const rates = [
    { key: `rl:${caller}:rpm`, limit: 1_000_000, windowMs: 60_000, cost: 1 },
    { key: `rl:${caller}:tpm`, limit: 100_000_000, windowMs: 60_000, cost: 1200 },
    { key: `rl:ip:${caller}:rpm`, limit: 1_000_000, windowMs: 60_000, cost: 1 },
  ];
  const budgets = withBudget
    ? [{ key: `b:t:team${i % 50}:d:2026-01-01`, capMicros: 1e15, amountMicros: 5000, ttlMs: 172_800_000 }]
    : [];
  return [rates, budgets];
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(backend, withBudget, concurrency) {
  // Warm-up: JIT, script load (EVALSHA cache), connection.
  for (let i = 0; i < 2000; i++) await backend.decide(...charges(i, withBudget));
  const lat = new Float64Array(N);
  let next = 0;
  const t0 = performance.now();
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= N) return;
      const c = charges(i, withBudget);
      const s = performance.now();
      const d = await backend.decide(...c);
      lat[i] = (performance.now() - s) * 1000;
      if (!d.ok) throw new Error('benchmark decision rejected');
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = (performance.now() - t0) / 1000;
  const sorted = Array.from(lat).sort((a, b) => a - b);
  return { p50: pct(sorted, 50), p99: pct(sorted, 99), perSec: N / secs };
}

const rows = [];
const mem = new MemoryLimiter();
for (const withBudget of [false, true]) {
  const r = await measure(mem, withBudget, 1);
  rows.push(['memory', withBudget ? '3 limits + budget' : '3 limits', 'sequential', r]);
}
{
  const svc = new LimitsService({ priceOf: PRICE });
  rows.push(['memory', 'admit + reconcile (service)', 'sequential', await measureService(svc)]);
  await svc.close();
}
const prefix = `bench:limits:${randomUUID()}:`;
const redis = createRedisClient({ url: REDIS_URL, keyPrefix: prefix }, 'bench');
redis.on('error', () => {});
let redisOk = true;
try {
  await redis.connect();
} catch (err) {
  redisOk = false;
  process.stderr.write(`Redis at ${REDIS_URL} unreachable (${err.message}); Redis rows skipped\n`);
}
if (redisOk) {
  const rl = new RedisLimiter(redis, prefix);
  for (const withBudget of [false, true]) {
    for (const c of [1, CONCURRENCY]) {
      const r = await measure(rl, withBudget, c);
      rows.push([
        'redis',
        withBudget ? '3 limits + budget' : '3 limits',
        c === 1 ? 'sequential' : `concurrent (${c})`,
        r,
      ]);
    }
  }
  const svc = new LimitsService({ priceOf: PRICE, redis: { url: REDIS_URL, keyPrefix: `${prefix}svc:` } });
  await svc.start();
  rows.push(['redis', 'admit + reconcile (service)', 'sequential', await measureService(svc)]);
  await svc.close();
  let cursor = '0';
  do {
    const [c, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = c;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

console.log(
  `\n## Limit decision cost (${N} decisions per row, node ${process.version}, load average ${loadavg()[0].toFixed(1)})\n`,
);
console.log('| backend | decision | mode | p50 µs | p99 µs | decisions/s |');
console.log('|:--|:--|:--|--:|--:|--:|');
for (const [b, what, mode, r] of rows) {
  console.log(
    `| ${b} | ${what} | ${mode} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${Math.round(r.perSec)} |`,
  );
}
