import { mkdtemp, rename, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayState } from '../../src/services/gateway-state.js';
import type { GatewayEvents } from '../../src/types/events.js';
import { killCliProcesses, spawnCli } from '../helpers/cli.js';
import { type FileTestGateway, startGatewayFromFile } from '../helpers/gateway.js';
import { until } from '../helpers/poll.js';

type Reloaded = GatewayEvents['ai.config.reloaded'];

const open: FileTestGateway[] = [];
afterEach(async () => {
  killCliProcesses();
  await Promise.all(open.splice(0).map((g) => g.close()));
});

async function tempConfig(yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-reload-'));
  const file = join(dir, 'switchyard.yaml');
  await writeFile(file, yaml);
  return file;
}

/** Saves the way most editors do: write a sibling file, rename it over the original (a new inode). */
async function saveByRename(file: string, yaml: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, yaml);
  await rename(tmp, file);
}

/** The next 'ai.config.reloaded'; subscribe before touching the file. */
function nextReload(state: GatewayState): Promise<Reloaded> {
  return new Promise((resolve) => {
    const off = state.events.on('ai.config.reloaded', (e) => {
      off();
      resolve(e);
    });
  });
}

async function start(yaml: string): Promise<{ gw: FileTestGateway; file: string }> {
  const file = await tempConfig(yaml);
  const gw = await startGatewayFromFile(file);
  open.push(gw);
  return { gw, file };
}

async function chat(url: string, model: string): Promise<{ status: number; content: string | undefined }> {
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = (await res.body.json()) as { choices?: Array<{ message: { content: string } }> };
  return { status: res.statusCode, content: body.choices?.[0]?.message.content };
}

async function modelIds(url: string): Promise<string[]> {
  const res = await request(`${url}/v1/models`);
  return ((await res.body.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
}

const mockConfig = (reply: string, models: string[], extra = '') =>
  `${extra}providers:\n  m: { type: mock, reply: ${reply} }\nmodels:\n${models
    .map((name) => `  ${name}: { targets: [ { provider: m, model: x } ] }\n`)
    .join('')}`;

describe('config hot reload', () => {
  it('applies a changed file, keeps serving the old config on an invalid one', async () => {
    const { gw, file } = await start(mockConfig('one', ['a']));
    expect(await chat(gw.url, 'a')).toEqual({ status: 200, content: 'one' });

    let reloaded = nextReload(gw.state);
    await saveByRename(file, mockConfig('two', ['a', 'b']));
    expect(await reloaded).toEqual({ source: file, ok: true, errors: [] });
    expect(await chat(gw.url, 'a')).toEqual({ status: 200, content: 'two' });
    expect(await modelIds(gw.url)).toEqual(['a', 'b']);
    expect(gw.logs.find((l) => l.msg === 'config reloaded')).toMatchObject({
      level: 30,
      source: file,
      trigger: 'watch',
      providers: ['m'],
      models: ['a', 'b'],
    });

    // An in-place write (truncate + write), as `echo > file` or some editors do.
    reloaded = nextReload(gw.state);
    await writeFile(file, `bogus: 1\n${mockConfig('three', ['a'])}`);
    expect(await reloaded).toEqual({ source: file, ok: false, errors: ['bogus: unknown key'] });
    expect(await chat(gw.url, 'a')).toEqual({ status: 200, content: 'two' });
    expect(await modelIds(gw.url)).toEqual(['a', 'b']);
    const failures = gw.logs.filter((l) => l.msg === 'config reload failed; keeping the running config');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      level: 50,
      source: file,
      trigger: 'watch',
      errors: ['bogus: unknown key'],
    });
  });

  it('keeps restart-only settings, names them in a warning, and applies the log level', async () => {
    const { gw, file } = await start(mockConfig('one', ['a']));
    const reloaded = nextReload(gw.state);
    await saveByRename(
      file,
      mockConfig(
        'two',
        ['a'],
        'server: { body_limit: 1kb, shutdown_timeout: 5s, cors: { origins: ["https://app.example"] } }\nmetrics: { enabled: false }\nlogging: { level: warn }\n',
      ),
    );
    expect(await reloaded).toEqual({ source: file, ok: true, errors: [] });

    const config = gw.state.runtime.config;
    expect(config.server.bodyLimitBytes).toBe(10 * 1024 * 1024);
    expect(config.server.corsOrigins).toEqual([]);
    expect(config.metrics.enabled).toBe(true);
    // Reloadable settings next to them did change.
    expect(config.server.shutdownTimeoutMs).toBe(5000);
    expect(config.logging.level).toBe('warn');
    expect(gw.logs.find((l) => l.level === 40 && Array.isArray(l.keys))).toMatchObject({
      source: file,
      keys: ['server.body_limit', 'server.cors.origins', 'metrics.enabled'],
      msg: 'config reload: changing server.body_limit, server.cors.origins, metrics.enabled needs a restart; keeping the running values',
    });

    // At level warn neither the reload's own info line nor per-request lines are written any more.
    const before = gw.logs.length;
    expect(await chat(gw.url, 'a')).toEqual({ status: 200, content: 'two' });
    expect(gw.logs.slice(before)).toEqual([]);
    expect(gw.logs.filter((l) => l.msg === 'config reloaded')).toEqual([]);
  });

  it('an in-flight stream finishes on the config it started with', async () => {
    const { gw, file } = await start(
      'providers:\n  slow: { type: mock, reply: alpha beta gamma delta, chunk_delay_ms: 300 }\n' +
        'models:\n  a: { targets: [ { provider: slow, model: x } ] }\n',
    );
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'a', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.statusCode).toBe(200);
    let received = '';
    let ended = false;
    const done = new Promise<void>((resolve, reject) => {
      res.body.on('data', (d: Buffer) => {
        received += d.toString();
      });
      res.body.on('end', () => {
        ended = true;
        resolve();
      });
      res.body.on('error', reject);
    });
    // The role chunk comes at once; the words follow every 300ms.
    await until(() => received.includes('data: '), 'the first chunk');
    expect(received).toContain('data: ');

    const reloaded = nextReload(gw.state);
    await saveByRename(file, mockConfig('other', ['c']));
    expect(await reloaded).toEqual({ source: file, ok: true, errors: [] });
    expect(ended).toBe(false);
    expect(await chat(gw.url, 'a')).toEqual({ status: 404, content: undefined });
    expect(await modelIds(gw.url)).toEqual(['c']);

    await done;
    const frames = received.split('\n\n').filter(Boolean);
    expect(frames.at(-1)).toBe('data: [DONE]');
    const text = frames
      .slice(0, -1)
      .map(
        (f) =>
          (JSON.parse(f.slice('data: '.length)) as { choices: Array<{ delta: { content?: string } }> })
            .choices[0]?.delta.content ?? '',
      )
      .join('');
    expect(text).toBe('alpha beta gamma delta');
  });

  it('a save that does not change the content does not reload; a manual reload (SIGHUP) always does', async () => {
    const { gw, file } = await start(mockConfig('one', ['a'], 'logging: { level: debug }\n'));
    const events: Reloaded[] = [];
    gw.state.events.on('ai.config.reloaded', (e) => {
      events.push(e);
    });
    // First a real change, so the reloader has seen the file's content.
    const reloaded = nextReload(gw.state);
    await saveByRename(file, mockConfig('two', ['a'], 'logging: { level: debug }\n'));
    await reloaded;

    await saveByRename(file, mockConfig('two', ['a'], 'logging: { level: debug }\n'));
    // No event marks a skipped reload, so poll (bounded) for its debug line.
    const skipped = 'config file saved without changes; not reloaded';
    await until(() => gw.logs.some((l) => l.msg === skipped), 'the skipped-reload line');
    expect(gw.logs.filter((l) => l.msg === skipped)).toMatchObject([{ level: 20, source: file }]);

    expect(await gw.reload()).toEqual({ status: 'applied', restartRequired: [] });
    await gw.state.events.flush();
    expect(events).toEqual([
      { source: file, ok: true, errors: [] },
      { source: file, ok: true, errors: [] },
    ]);
    expect(gw.logs.filter((l) => l.msg === 'config reloaded').map((l) => l.trigger)).toEqual([
      'watch',
      'manual',
    ]);
  });
});

describe('config reload in the CLI', () => {
  it('SIGHUP reloads the file', async () => {
    // The config path is a symlink whose target lives in another directory: rewriting the target makes no
    // event in the watched directory, so only SIGHUP can pick the change up.
    const real = await tempConfig(mockConfig('one', ['a']));
    const linkDir = await mkdtemp(join(tmpdir(), 'sy-reload-link-'));
    const link = join(linkDir, 'switchyard.yaml');
    await symlink(real, link);

    const p = spawnCli(['start', '--config', link]);
    const { child } = p;
    // Waits on the child's output as it arrives, with deadlines sized for a loaded two-core machine.
    const url = (await p.logLine('switchyard listening')).url as string;
    expect(await chat(url, 'a')).toEqual({ status: 200, content: 'one' });

    await writeFile(real, mockConfig('two', ['a']));
    const before = p.logs().length;
    child.kill('SIGHUP');
    expect(await p.logLine('config reloaded', { after: before })).toMatchObject({
      level: 30,
      source: link,
      trigger: 'SIGHUP',
      providers: ['m'],
      models: ['a'],
    });
    expect(await chat(url, 'a')).toEqual({ status: 200, content: 'two' });

    child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 90_000);
});
