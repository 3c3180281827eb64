import { timingSafeEqual } from 'node:crypto';
import { getHeapSpaceStatistics } from 'node:v8';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';
import type { ProviderStats } from '../observability/provider-stats.js';
import type { GatewayState } from '../services/gateway-state.js';
import { VERSION } from '../version.js';

export interface HealthRouteOptions {
  state: GatewayState;
  stats: ProviderStats;
}

export default async function healthRoutes(app: FastifyInstance, opts: HealthRouteOptions): Promise<void> {
  const { state, stats } = opts;

  /** The process is up. Nothing else is checked, so an orchestrator never restarts us for a provider outage. */
  app.get('/health/live', async () => ({ status: 'ok' }));

  /** Take traffic? No before startup completes and from the moment shutdown begins. */
  app.get('/health/ready', async (_request, reply) => {
    if (!state.ready || state.shuttingDown) {
      return reply.code(503).send({ status: state.shuttingDown ? 'shutting_down' : 'starting' });
    }
    return { status: 'ready' };
  });

  /**
   * Detail for operators. The summary is public; memory, dependencies and providers need the admin key
   * when one is set, else `health.expose_details`.
   */
  app.get('/health', async (request) => {
    const config = state.runtime.config;
    const summary = {
      status: state.shuttingDown ? 'shutting_down' : state.ready ? 'ok' : 'starting',
      version: VERSION,
      uptime_s: Math.round((Date.now() - state.startedAt) / 1000),
    };
    if (!detailsAllowed(request, config.adminKey, config.health.exposeDetails)) return summary;
    const mem = process.memoryUsage();
    const providers: Record<string, unknown> = {};
    for (const p of config.providers.values()) providers[p.id] = { type: p.type, ...stats.snapshot(p.id) };
    const targets: Record<string, unknown> = {};
    for (const c of state.breakers.snapshot()) {
      const load = state.targetStats.load(`${c.provider}/${c.model}`);
      targets[`${c.provider}/${c.model}`] = {
        circuit: c.state,
        opened_at: c.openedAt === null ? null : new Date(c.openedAt).toISOString(),
        requests: c.requests,
        failures: c.failures,
        error_rate: c.requests === 0 ? 0 : Math.round((c.failures / c.requests) * 1000) / 1000,
        in_flight: load.inFlight,
        latency_ms: load.latencyMs === undefined ? null : Math.round(load.latencyMs * 100) / 100,
        ttft_ms: load.ttftMs === undefined ? null : Math.round(load.ttftMs * 100) / 100,
      };
    }
    return {
      ...summary,
      started_at: new Date(state.startedAt).toISOString(),
      config: { source: config.source, models: config.models.size, providers: config.providers.size },
      memory: {
        rss: mem.rss,
        heap_used: mem.heapUsed,
        heap_total: mem.heapTotal,
        external: mem.external,
        // Per V8 space (new_space, old_space, code_space, large_object_space, ...): which part of the heap
        // holds RSS when it grows. A few microseconds, and only on this admin-gated route.
        heap_spaces: heapSpaces(),
      },
      // Redis when configured (Postgres joins when a feature needs it). Informational: a Redis outage
      // degrades shared state to per-instance, it does not stop the gateway, so readiness ignores it.
      dependencies: await state.checkDependencies(),
      providers,
      // Every target that has served traffic: circuit state over the breaker window, live latency averages.
      targets,
      // Models that served requests with no known price: their cost was recorded as 0.
      pricing: { unpriced_models: state.storage?.pricing.unpriced() ?? [] },
      request_log: state.storage?.requestLog
        ? { ...state.storage.requestLog.stats, buffered: state.storage.requestLog.buffered }
        : { enabled: false },
    };
  });
}

function heapSpaces(): Record<string, { size: number; used: number }> {
  const spaces: Record<string, { size: number; used: number }> = {};
  for (const s of getHeapSpaceStatistics())
    spaces[s.space_name] = { size: s.space_size, used: s.space_used_size };
  return spaces;
}

function detailsAllowed(request: FastifyRequest, adminKey: string | undefined, expose: boolean): boolean {
  if (!adminKey) return expose;
  const auth = request.headers.authorization;
  if (auth === undefined) return false;
  const given = Buffer.from(auth.startsWith('Bearer ') ? auth.slice(7) : auth);
  const want = Buffer.from(adminKey);
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    throw new GatewayError('invalid_admin_key', 'The admin key is not valid.');
  }
  return true;
}
