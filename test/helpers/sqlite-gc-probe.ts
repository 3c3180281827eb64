/**
 * Run with `node --import tsx`: uses SQLite the way the gateway does (Kysely queries over `openDatabase`,
 * prepared statements and pragmas on `openSqlite` connections), drops every statement, then allocates
 * short-lived garbage (young-generation collections), then longer-lived garbage until V8 has run two full
 * collections of its own. Prints JSON on the last line. A better-sqlite3 build whose statement finalizer
 * aborts (Node >= 24.19 headers, see .ci/run) kills this process with SIGABRT instead.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { openDatabase } from '../../src/db/connect.js';
import { openSqlite } from '../../src/db/sqlite.js';

// Counted, not awaited: observing a statement (a FinalizationRegistry) would keep it out of the young
// generation's collections, which are where a dropped statement normally dies.
const gcs = { minor: 0, major: 0 };
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    // `detail` (Node 16+) is missing from @types/node 20's PerformanceEntry.
    const kind = (e as { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
  }
});
observer.observe({ entryTypes: ['gc'] });

const handle = await openDatabase({
  kind: 'sqlite',
  path: ':memory:',
  url: undefined,
  readUrl: undefined,
  schema: 'public',
  poolSize: 1,
  statementTimeoutMs: 5_000,
  migrate: true,
  credentialsRefreshMs: 0,
});
await handle.migrate();
let queries = 0;
for (let i = 0; i < 200; i++) {
  await handle.db.selectFrom('teams').select('id').where('id', '=', `t${i}`).execute();
  queries++;
}

const conn = openSqlite(':memory:');
conn.pragma('journal_mode = WAL');
conn.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
for (let i = 0; i < 200; i++) conn.prepare('INSERT INTO t (v) VALUES (?)').run(`v${i}`);
// Statements that lived long enough to reach the old generation, then outlived their connection.
const kept = Array.from({ length: 50 }, () => conn.prepare('SELECT v FROM t WHERE id = ?'));
await churn(() => gcs.major >= 1, true);
kept.length = 0;
conn.close();
await handle.close();

// Allocation until V8 has run collections of both kinds by itself: `gc()` (--expose-gc) does not
// reproduce the abort, only the collections V8 starts on allocation do.
const before = { ...gcs };
await churn(() => gcs.minor >= before.minor + 3, false);
await churn(() => gcs.major >= before.major + 2, true);
observer.disconnect();
// Collections after the last statement was dropped.
console.log(JSON.stringify({ queries, minor: gcs.minor - before.minor, major: gcs.major - before.major }));

/** Short-lived garbage fills the young generation; with `promote`, longer-lived garbage the old one. */
async function churn(done: () => boolean, promote: boolean): Promise<void> {
  const retained: unknown[][] = [];
  for (let round = 0; round < 300 && !done(); round++) {
    let junk: unknown[] = [];
    for (let i = 0; i < 20_000; i++) {
      // Dropped every thousand arrays, so most of it dies young unless it is kept below.
      if (!promote && i % 1_000 === 0) junk = [];
      junk.push(new Array(64).fill(round));
    }
    if (promote) retained.push(junk);
    if (retained.length > 6) retained.shift();
    // GC performance entries are delivered asynchronously.
    await new Promise((resolve) => setImmediate(resolve));
  }
}
