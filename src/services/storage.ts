import { type DbHandle, openDatabase } from '../db/connect.js';
import { RequestLogThread } from '../db/request-log-thread.js';
import { ResponseRows } from '../db/response-rows.js';
import { Store } from '../db/store.js';
import type { GatewayConfig } from '../types/config.js';
import { AdminGuard, Identifier } from './auth/identify.js';
import { CredentialService } from './credentials.js';
import { KeyService } from './keys.js';
import { Pricing } from './pricing.js';
import { RequestLogWriter } from './request-log.js';
import { DbResponseStore } from './response-store.js';
import { SecretBox } from './secret-box.js';
import { TeamService } from './teams.js';

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Everything built on the database, opened once per process and shared by the gateway and the CLI. */
export interface Storage {
  handle: DbHandle;
  store: Store;
  keys: KeyService;
  teams: TeamService;
  credentials: CredentialService;
  pricing: Pricing;
  identifier: Identifier;
  adminGuard: AdminGuard;
  /** Undefined when `request_log.enabled` is false, and in the CLI. */
  requestLog: RequestLogWriter | undefined;
  /** Stored Responses API responses; undefined in the CLI. */
  responses: DbResponseStore | undefined;
  close(): Promise<void>;
}

/** Longest a PostgreSQL-backed response waits for its stored row before it is answered anyway. */
const AWAIT_COMMIT_MS = 2_000;

export interface OpenStorageOptions {
  /** The live config's admin key (it changes on reload); default: the one in `config`. */
  adminKey?: () => string | undefined;
  log: Log;
  /** The gateway writes the request log and listens for key invalidations; the CLI does neither. */
  role: 'gateway' | 'cli';
  /** Run migrations (default: `database.migrate`). */
  migrate?: boolean;
}

export async function openStorage(config: GatewayConfig, opts: OpenStorageOptions): Promise<Storage> {
  const handle = await openDatabase(config.database);
  try {
    if (opts.migrate ?? config.database.migrate) {
      const applied = await handle.migrate();
      if (applied.length > 0) opts.log.info({ migrations: applied }, 'database migrated');
    }
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
  const writesRequestLog = opts.role === 'gateway' && config.requestLog.enabled;
  // On a SQLite file, the request log's inserts and the WAL checkpoints run on a worker thread with its
  // own connection (db/request-log-thread.ts); an in-memory database has no second connection to offer.
  const requestThread =
    writesRequestLog && handle.sqlite && config.database.path !== ':memory:'
      ? new RequestLogThread(handle.sqlite, {
          path: config.database.path,
          busyTimeoutMs: config.database.statementTimeoutMs,
          log: opts.log,
        })
      : undefined;
  const store = new Store(handle, requestThread ? { requestRows: requestThread } : {});
  const keys = new KeyService(store, config.auth, config.redis, opts.log);
  // The CLI still publishes invalidations (a revoke from the command line reaches running gateways).
  await keys.start();
  const requestLog = writesRequestLog ? new RequestLogWriter(store, config.requestLog, opts.log) : undefined;
  const responses =
    opts.role === 'gateway'
      ? new DbResponseStore(new ResponseRows(handle), {
          retentionMs: config.responses.retentionMs,
          maxBytes: config.responses.maxBytes,
          log: opts.log,
          // PostgreSQL is shared by instances behind one address: answer once the row is committed, so
          // the next turn finds it wherever it lands. SQLite is one process's: its queue serves it.
          awaitCommitMs: handle.kind === 'postgres' ? AWAIT_COMMIT_MS : 0,
        })
      : undefined;
  return {
    handle,
    store,
    keys,
    teams: new TeamService(store),
    credentials: new CredentialService(store, new SecretBox(config.secretKeys)),
    pricing: new Pricing(config.pricing),
    identifier: new Identifier(config.auth, keys),
    adminGuard: new AdminGuard(opts.adminKey ?? (() => config.adminKey), config.adminAllowIps, keys),
    requestLog,
    responses,
    async close() {
      await requestLog?.close();
      // After the writer: its last batches are answered before the worker is told to stop.
      await requestThread?.close();
      await responses?.close();
      await keys.close();
      await handle.close();
    },
  };
}
