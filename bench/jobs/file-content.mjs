// File content through the FileStore: write and read N MiB on the embedded store (local disk) and on
// PostgreSQL (bytea chunks), reporting MiB/s and the process's peak RSS growth. After `npm run build`:
//   node bench/jobs/file-content.mjs [mib=64] [postgres-url]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase } from '../../dist/db/connect.js';
import { createFileStore } from '../../dist/db/file-store.js';

const mib = Number(process.argv[2] ?? 64);
const url = process.argv[3] ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const piece = randomBytes(64 * 1024);

async function* source() {
  for (let i = 0; i < mib * 16; i++) yield piece;
}

let peak = 0;
const sample = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 5);

async function run(name, spec, dir) {
  const handle = await openDatabase(spec);
  await handle.migrate();
  const store = createFileStore(handle, dir);
  const base = process.memoryUsage().rss;
  peak = base;
  let t = performance.now();
  await store.writeContent('file-bench', source());
  const writeS = (performance.now() - t) / 1000;
  const writePeak = peak - base;
  peak = process.memoryUsage().rss;
  const base2 = peak;
  t = performance.now();
  let n = 0;
  for await (const c of store.readContent('file-bench')) n += c.length;
  const readS = (performance.now() - t) / 1000;
  if (n !== mib * 1024 * 1024) throw new Error(`read ${n} bytes`);
  console.log(
    `${name}: write ${(mib / writeS).toFixed(0)} MiB/s (peak RSS +${(writePeak / 2 ** 20).toFixed(0)} MiB), ` +
      `read ${(mib / readS).toFixed(0)} MiB/s (peak RSS +${((peak - base2) / 2 ** 20).toFixed(0)} MiB), ${mib} MiB`,
  );
  await store.deleteContent(['file-bench']);
  await handle.close();
}

const dir = mkdtempSync(join(tmpdir(), 'sy-bench-files-'));
const base = { readUrl: undefined, poolSize: 4, statementTimeoutMs: 60_000, migrate: true };
await run(
  'embedded (disk)',
  { ...base, kind: 'sqlite', path: join(dir, 'db.sqlite'), url: undefined, schema: 'public' },
  join(dir, 'files'),
);
const schema = `sy_bench_${Date.now()}`;
await run('postgres (bytea)', { ...base, kind: 'postgres', path: '', url, schema }, dir);
clearInterval(sample);
const c = new pg.Client({ connectionString: url });
await c.connect();
await c.query(`drop schema if exists "${schema}" cascade`);
await c.end();
rmSync(dir, { recursive: true, force: true });
