import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** docs/errors.md lists every error code the source can produce. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (p.endsWith('.ts')) out.push(await readFile(p, 'utf8'));
  }
  return out;
}

describe('docs/errors.md', () => {
  it('documents every code', async () => {
    const src = (await sources(join(ROOT, 'src'))).join('\n');
    const codes = new Set<string>();
    // The status may be a literal or a `cond ? 429 : 502` choice between literals.
    for (const m of src.matchAll(
      /GatewayError\(\s*(?:[\w.]+\s*\?\s*)?\d{3}(?:\s*:\s*\d{3})?,\s*'([a-z_]+)'/g,
    )) {
      codes.add(m[1]!);
    }
    // Helpers that take the code as their last argument, e.g. invalid(message, param, 'code').
    for (const m of src.matchAll(/invalid\([^;]*?,\s*'([a-z_]+)'\)/g)) codes.add(m[1]!);
    const classes = /export type UpstreamErrorClass =([^;]+);/.exec(src)![1]!;
    for (const m of classes.matchAll(/'([a-z_]+)'/g)) codes.add(`upstream_${m[1]}`);

    const doc = await readFile(join(ROOT, 'docs/errors.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!));
    expect(codes.size).toBeGreaterThan(20);
    expect([...codes].filter((c) => !documented.has(c)).sort()).toEqual([]);
    expect([...documented].filter((c) => !codes.has(c)).sort()).toEqual([]);
  });
});
