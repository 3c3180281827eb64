import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../contract/queue-contract.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/** The gateway's drain stops its embedded workers too: unfinished jobs go back to the queue for the next one. */
describe('embedded workers at gateway shutdown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-jobs-stop-'));
  const yaml = (latency: number) => `
server: { shutdown_timeout: 400ms, load_shedding: { enabled: false } }
providers:
  mock: { type: mock, latency_ms: ${latency}, reply: "finished" }
models:
  m: { targets: [{ provider: mock, model: m }] }
jobs:
  database: ${join(dir, 'db.sqlite')}
`;
  const gateways: TestGateway[] = [];
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns a job still running at the deadline; the next gateway completes it', async () => {
    // The upstream would take 30 s: the drain must not wait for it.
    const first = await startGateway(yaml(30_000));
    gateways.push(first);
    const res = await fetch(`${first.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        type: 'chat.completion',
        input: { model: 'm', messages: [{ role: 'user', content: 'x' }] },
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const get = async (g: TestGateway) =>
      (await (await fetch(`${g.url}/v1/jobs/${id}`)).json()) as Record<string, unknown>;
    await until(async () => (await get(first)).status === 'active', 'active');
    const t0 = Date.now();
    await first.close();
    // 400 ms deadline; the margin covers a loaded machine (the mock's tokenizer warms up at startup).
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(
      first.logs.some(
        (l) => l.msg === 'jobs still running at the deadline went back to the queue' && l.returned === 1,
      ),
    ).toBe(true);

    const second = await startGateway(yaml(0));
    gateways.push(second);
    const done = await until(async () => {
      const j = await get(second);
      return j.status === 'completed' ? j : undefined;
    }, 'completed by the second gateway');
    // The interrupted attempt was given back, not counted.
    expect(done.attempts).toBe(1);
    expect(
      (done.result as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content,
    ).toBe('finished');
  });
});
