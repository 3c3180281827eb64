import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { killCliProcesses, spawnCli } from '../helpers/cli.js';

/** The real `switchyard` command as `npm start` runs it (the compiled dist/, built by `pretest`). */

afterEach(killCliProcesses);

const run = spawnCli;

// Each test starts a CLI process: seconds on a loaded two-core machine, so more than the default timeout.
describe('switchyard CLI', { timeout: 60_000 }, () => {
  it('starts in zero-config mode, serves the mock, and exits 0 on SIGTERM', async () => {
    const p = run(['start']);
    const url = (await p.listening).origin;
    const res = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { object: string }).object).toBe('chat.completion');
    expect(p.out()).toContain('"config":"zero-config","providers":"mock(mock)"');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('an invalid config file exits 1 with every error naming its path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-cli-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      'providers:\n  claude: { type: anthropic, base_url: nope, api_key: ${NOPE_KEY} }\n',
    );
    const p = run(['start', '--config', file]);
    expect(await p.exited).toBe(1);
    expect(p.err()).toBe(
      `invalid config (${file}):\n  providers.claude.api_key: environment variable NOPE_KEY is not set (write \${NOPE_KEY:-default} to allow that)\n`,
    );
  });

  it('SWITCHYARD_CONFIG names the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-cli-'));
    const file = join(dir, 'ok.yaml');
    await writeFile(
      file,
      'providers: { demo: { type: mock, reply: from-file } }\nmodels: { m: { targets: [ { provider: demo, model: x } ] } }\n',
    );
    const p = run(['start'], { SWITCHYARD_CONFIG: file });
    const url = (await p.listening).origin;
    const res = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(
      ((await res.body.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message
        .content,
    ).toBe('from-file');
  });

  it('an unknown command exits 2 with usage', async () => {
    const p = run(['frobnicate']);
    expect(await p.exited).toBe(2);
    expect(p.err()).toMatch(/^unknown command: frobnicate\n\nUsage: switchyard <command>/);
  });
});
