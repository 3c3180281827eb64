import Database from 'better-sqlite3';

/**
 * Every embedded SQLite connection the process opens, closed when the process exits: the last close of a
 * database checkpoints its WAL into the file and removes the -wal and -shm files, so the file left behind
 * is complete on its own. (This does not help with Node 24's abort in better-sqlite3's statement
 * finalizer: that depends on the headers the addon was compiled against, see .ci/run.)
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
