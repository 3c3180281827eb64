import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { services } from '../helpers/services.js';

/**
 * Three gateway processes sharing the real Redis at 127.0.0.1:6379, each started from the same config
 * file (a unique key prefix per test). Requests are spread round-robin over the three.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REDIS_URL = 'redis://127.0.0.1:6379';
const runId = randomUUID();
let upstream: FakeUpstream;
let dir: string;
let redis: Redis;
const children: ChildProcess[] = [];
// Enough sockets for 1,000 requests in flight at once.
const agent = new Agent({ connections: 400, pipelining: 0 });

beforeAll(async () => {
  if (!services.redis) return;
  upstream = await startFakeUpstream(async (req, res) => {
    const body = req.json as { model?: string } | undefined;
    // Slow enough that every request of a burst is admitted or refused before any reconciles.
    if (body?.model === 'gpt-priced') await new Promise((r) => setTimeout(r, 1500));
    sendJson(res, 200, {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1,
      model: body?.model ?? 'x',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 8, completion_tokens: 100, total_tokens: 108 },
    });
  });
  dir = await mkdtemp(join(tmpdir(), 'sy-limits-'));
  redis = new Redis(REDIS_URL);
});

afterEach(async () => {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
});

afterAll(async () => {
  if (!services.redis) return;
  const keys = await redis.keys(`sytest:multi:${runId}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await upstream.close();
  await agent.close();
  await rm(dir, { recursive: true, force: true });
});

async function instances(limitsYaml: string, n = 3): Promise<{ urls: string[]; prefix: string }> {
  const prefix = `sytest:multi:${runId}:${randomUUID()}:`;
  const file = join(dir, `${randomUUID()}.yaml`);
  await writeFile(
    file,
    `
logging: { level: warn }
redis: { url: ${REDIS_URL}, key_prefix: "${prefix}" }
providers:
  up: { type: openai, base_url: ${upstream.url}/v1, api_key: k }
models:
  m: { targets: [{ provider: up, model: gpt-test }] }
  priced: { targets: [{ provider: up, model: gpt-priced }] }
${limitsYaml}
`,
  );
  const urls = await Promise.all(
    Array.from({ length: n }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/limits-instance.ts', file], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      return new Promise<string>((resolve, reject) => {
        let out = '';
        let err = '';
        child.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /LISTENING (\S+)/.exec(out);
          if (m) resolve(m[1] as string);
        });
        child.stderr?.on('data', (d: Buffer) => {
          err += d.toString();
        });
        child.once('exit', (code) => reject(new Error(`instance exited with ${code}: ${err}`)));
      });
    }),
  );
  return { urls, prefix };
}

async function chat(url: string, model = 'm'): Promise<{ status: number; headers: Record<string, unknown> }> {
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 300 }),
  });
  const text = await res.body.text();
  if (res.statusCode === 503) expect(text).toContain('"code":"limits_unavailable"');
  return { status: res.statusCode, headers: res.headers };
}

async function until(check: () => Promise<boolean>, limitMs = 5_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!services.redis)('three instances sharing Redis', () => {
  it('1,000 concurrent requests against a limit of 100 admit exactly 100', async () => {
    // Failing closed: on a machine loaded enough to stall an event loop past the 2 s Redis command
    // timeout, a timed-out decision answers 503 instead of falling back to local limits, so every
    // admission below is one Redis made. Load shedding off: it would answer 503 for the same stalls.
    const { urls, prefix } = await instances(
      'server: { load_shedding: { enabled: false } }\ntiers: { t: { rpd: 100 } }\nlimits: { anonymous_tier: t, redis_failure: closed }',
    );
    const res = await Promise.all(Array.from({ length: 1000 }, (_, i) => chat(urls[i % 3] as string)));
    const count = (status: number) => res.filter((r) => r.status === status).length;
    const [ok, limited, unavailable] = [count(200), count(429), count(503)];
    expect(ok + limited + unavailable).toBe(1000);
    // Redis counted exactly 100 admissions (the daily bucket drains 0.001 per second meanwhile)...
    const level = Number(await redis.hget(`${prefix}limits:rl:a:127.0.0.1:rpd`, 'l'));
    expect(level).toBeGreaterThan(99.9);
    expect(level).toBeLessThanOrEqual(100);
    // ... and each became a 200, or a 503 when its answer came after the command timeout.
    expect(ok).toBeLessThanOrEqual(100);
    expect(ok + unavailable).toBeGreaterThanOrEqual(100);
    if (unavailable === 0) expect(ok).toBe(100);
  }, 90_000);

  it('a token limit is never exceeded, and after reconciliation Redis holds exactly what was used', async () => {
    const { urls, prefix } = await instances('tiers: { t: { tpd: 10000 } }\nlimits: { anonymous_tier: t }');
    const key = `${prefix}limits:rl:a:127.0.0.1:tpd`;
    let admitted = 0;
    for (let round = 0; round < 30; round++) {
      const res = await Promise.all(Array.from({ length: 30 }, (_, i) => chat(urls[i % 3] as string)));
      const ok = res.filter((r) => r.status === 200).length;
      admitted += ok;
      // Each admitted request reserved 7 + 300 and used 8 + 100: what was used never passes the limit.
      expect(admitted * 108).toBeLessThanOrEqual(10_000);
      // Reconciliations land right after each response; Redis then holds exactly what was used (the
      // daily bucket drains about 0.1 token per second meanwhile).
      await until(async () => Math.abs(Number(await redis.hget(key, 'l')) - admitted * 108) < 2);
      if (ok === 0) break;
    }
    // It stopped because one more 307-token reservation no longer fits.
    expect(10_000 - admitted * 108).toBeLessThan(307);
    expect(admitted).toBe(90);
  }, 60_000);

  it('budget race: 50 concurrent first requests stay within the cap, then reconcile', async () => {
    const { urls, prefix } = await instances(
      'tiers: { t: { budget: { daily: 0.01 } } }\nlimits: { anonymous_tier: t }',
    );
    // Reservation: 7 input + 300 output tokens at $1 / $2 per million = 607 micro-dollars; cap 10,000.
    const res = await Promise.all(
      Array.from({ length: 50 }, (_, i) => chat(urls[i % 3] as string, 'priced')),
    );
    const ok = res.filter((r) => r.status === 200).length;
    expect(ok).toBe(16);
    expect(res.filter((r) => r.status === 429)).toHaveLength(34);
    const day = new Date().toISOString().slice(0, 10);
    const key = `${prefix}limits:b:t:none:d:${day}`;
    // Actual: 8 + 200 micro-dollars each.
    await until(async () => Number(await redis.get(key)) === ok * 208);
  }, 60_000);
});
