import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Issue 7: imports point one way (types/errors -> core -> config -> providers/... -> services/pipeline ->
 * plugins/routes -> app/server/cli), with no cycles, enforced by dependency-cruiser in `npm run lint`.
 * Plugins imported routes, and config/load.ts and config/resolve.ts imported each other (types only).
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPCRUISE = join(ROOT, 'node_modules/.bin/depcruise');
const run = promisify(execFile);

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

async function cruise(cwd: string): Promise<Violation[]> {
  const out = await run(
    DEPCRUISE,
    ['src', '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json'],
    { cwd, maxBuffer: 64 * 1024 * 1024 },
  ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const result = JSON.parse(out.stdout) as { summary: { violations: Violation[] } };
  return result.summary.violations.map((v) => ({ rule: { name: v.rule.name }, from: v.from, to: v.to }));
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A scratch project with the repo's tsconfig and the given files under src/. */
async function project(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-layers-'));
  dirs.push(dir);
  await copyFile(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

describe('import layers', () => {
  it('src/ has no violations', async () => {
    expect(await cruise(ROOT)).toEqual([]);
  }, 60_000);

  it('catches an upward import, plugins <-> routes imports and a type-only cycle', async () => {
    const dir = await project({
      'src/core/low.ts': "import { svc } from '../services/high.js';\nexport const low = svc;\n",
      'src/services/high.ts': 'export const svc = 1;\n',
      'src/plugins/p.ts': "import { r } from '../routes/r.js';\nexport const p = r;\n",
      'src/routes/r.ts': 'export const r = 1;\n',
      'src/routes/r2.ts': "import { q } from '../plugins/q.js';\nexport const r2 = q;\n",
      'src/plugins/q.ts': 'export const q = 1;\n',
      'src/config/load.ts': "import type { B } from './resolve.js';\nexport type A = { b?: B };\n",
      'src/config/resolve.ts': "import type { A } from './load.js';\nexport type B = { a?: A };\n",
    });
    const found = (await cruise(dir)).map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
    expect(found).toEqual([
      'layer-1-imports-upward: src/core/low.ts -> src/services/high.ts',
      'no-circular: src/config/load.ts -> src/config/resolve.ts',
      'plugins-import-routes: src/plugins/p.ts -> src/routes/r.ts',
      'routes-import-plugins: src/routes/r2.ts -> src/plugins/q.ts',
    ]);
  }, 60_000);
});
