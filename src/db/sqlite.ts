import Database from 'better-sqlite3';

/**
 * Every embedded SQLite connection the process opens, closed when the process exits. On Node 24 a
 * connection still open at exit crashes the process (an assertion in better-sqlite3's statement
 * finalizer, run after its environment is gone), which turns a clean exit, or a test worker's end,
 * into an abort. Closing explicitly first makes the finalizers no-ops.
 */
const open = new Set<Database.Database>();
let hooked = false;

export function openSqlite(path: string, options?: Database.Options): Database.Database {
  const db = new Database(path, options);
  for (const d of open) if (!d.open) open.delete(d);
  open.add(db);
  if (!hooked) {
    hooked = true;
    process.once('exit', closeAllSqlite);
  }
  return db;
}

export function closeAllSqlite(): void {
  for (const db of open) {
    try {
      if (db.open) db.close();
    } catch {
      // Exiting anyway: a connection that cannot close now has nothing left to lose.
    }
  }
  open.clear();
}
