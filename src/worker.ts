import { type Logger, pino } from 'pino';
import type { CloseResult } from './backends/queue/types.js';
import { openDatabase } from './db/connect.js';
import { GatewayState } from './services/gateway-state.js';
import { createJobService } from './services/jobs/setup.js';
import type { GatewayConfig } from './types/config.js';
import { VERSION } from './version.js';

export interface RunningWorker {
  log: Logger;
  types: string[];
  /** Stops taking jobs, lets active ones finish until the deadline, returns the rest to the queue. */
  stop(timeoutMs: number): Promise<CloseResult>;
}

/**
 * `switchyard worker`: job workers without the HTTP server. Jobs that call models use the same runtime
 * snapshot, upstream pools and circuit breakers (shared through Redis) as a gateway would.
 */
export async function startWorker(
  config: GatewayConfig,
  opts: { types?: string[]; logStream?: NodeJS.WritableStream } = {},
): Promise<RunningWorker> {
  const log = pino(
    { level: config.logging.level, base: { pid: process.pid, role: 'worker' } },
    opts.logStream ?? pino.destination({ dest: 1, sync: false }),
  );
  const state = new GatewayState(config, {
    onListenerError: (event, err) => log.error({ err, event }, 'event subscriber failed'),
  });
  await state.initBreakers(log);
  // Files and batch records are in the storage database (shared with PostgreSQL): batch lines read them.
  const db = await openDatabase(config.database);
  if (config.database.migrate) await db.migrate();
  const setup = createJobService(state, log, db);
  const { jobs } = setup;
  await jobs.load();
  const known = jobs.registry.names();
  const types = opts.types ?? known;
  const unknown = types.filter((t) => !known.includes(t));
  if (unknown.length > 0)
    throw new Error(`unknown job types: ${unknown.join(', ')} (known: ${known.join(', ')})`);
  jobs.startWorkers({ types });
  log.info({ backend: config.jobs.backend, types, version: VERSION }, 'switchyard worker running');
  let stopping: Promise<CloseResult> | undefined;
  return {
    log,
    types,
    stop(timeoutMs) {
      stopping ??= (async () => {
        const r = await jobs.stop(timeoutMs);
        await setup.close();
        await db.close();
        await state.close();
        log.flush();
        return r;
      })();
      return stopping;
    },
  };
}
