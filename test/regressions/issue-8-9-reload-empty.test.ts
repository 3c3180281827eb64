import { mkdtemp, open as openFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayState } from '../../src/services/gateway-state.js';
import type { GatewayEvents } from '../../src/types/events.js';
import { type FileTestGateway, startGatewayFromFile } from '../helpers/gateway.js';

/**
 * Issue 8, item 9: hot reload accepted an empty file (or a half-written one caught mid-save), which
 * emptied the model table until the next save. An empty document is refused and the running config kept;
 * after a watch event the file must stop changing before it is read.
 */

type Reloaded = GatewayEvents['ai.config.reloaded'];

const running: FileTestGateway[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.close()));
});

const CONFIG = `
server: { load_shedding: { enabled: false } }
providers:
  m: { type: mock }
models:
  first: { targets: [ { provider: m, model: echo } ] }
  second: { targets: [ { provider: m, model: echo } ] }
`;

async function start(): Promise<{ gw: FileTestGateway; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-8-9-'));
  const file = join(dir, 'switchyard.yaml');
  await writeFile(file, CONFIG);
  const gw = await startGatewayFromFile(file);
  running.push(gw);
  return { gw, file };
}

function reloads(state: GatewayState): Reloaded[] {
  const seen: Reloaded[] = [];
  state.events.on('ai.config.reloaded', (e) => {
    seen.push(e);
  });
  return seen;
}

async function status(gw: FileTestGateway, model: string): Promise<number> {
  const res = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function until<T>(what: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = what();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('issue 8-9: reload never applies an empty or half-written file', () => {
  it.each([
    ['empty', ''],
    ['whitespace', '\n  \n'],
    ['only comments', '# models will be here\n'],
  ])(
    'an %s file is refused, by SIGHUP and by the watcher, and the running config keeps serving',
    async (_what, text) => {
      const { gw, file } = await start();
      const seen = reloads(gw.state);
      await writeFile(file, text);
      const manual = await gw.reload();
      expect(manual?.status).toBe('failed');
      const watched = await until(() => seen.find((e) => !e.ok && seen.length >= 2));
      expect(watched.errors[0]).toMatch(/config file is empty/);
      expect(await status(gw, 'first')).toBe(200);
      expect(seen.every((e) => !e.ok)).toBe(true);
    },
  );

  it('a save written in two parts with a pause between them is applied once, whole', async () => {
    const { gw, file } = await start();
    const seen = reloads(gw.state);
    const next = CONFIG.replace('second:', 'third:');
    // The first part alone is a valid config with only `first`: applying it would 404 `third`.
    const cut = next.indexOf('  third:');
    const fh = await openFile(file, 'w');
    await fh.write(next.slice(0, cut));
    await fh.sync();
    await new Promise((r) => setTimeout(r, 150)); // longer than the watcher's 100 ms debounce
    await fh.write(next.slice(cut));
    await fh.close();
    await until(() => seen.find((e) => e.ok));
    // Let any later event settle, then check that only the whole file was ever applied.
    await new Promise((r) => setTimeout(r, 600));
    expect(seen.filter((e) => e.ok).length).toBe(1);
    expect(await status(gw, 'third')).toBe(200);
    expect(await status(gw, 'first')).toBe(200);
    const applied = gw.logs.filter((l) => l.msg === 'config reloaded');
    expect(applied.map((l) => l.models)).toEqual([['first', 'third']]);
  });
});
