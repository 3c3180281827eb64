import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ResponseCache } from '../../services/cache/response-cache.js';
import type { GatewayState } from '../../services/gateway-state.js';
import { requireAdmin } from './guard.js';

const Name = T.String({ minLength: 1, maxLength: 256 });
const PurgeBody = T.Object(
  {
    key: T.Optional(T.String({ pattern: '^[0-9a-f]{64}$' })),
    namespace: T.Optional(Name),
    team: T.Optional(Name),
    model: T.Optional(Name),
    /** Required to purge everything, so an empty body never wipes the cache by accident. */
    all: T.Optional(T.Literal(true)),
  },
  { additionalProperties: false },
);

/**
 * `/admin/cache`: stats per layer, and purge by exact key, namespace, team or model (combined with AND).
 * Admin key only. docs/cache.md.
 */
export default async function cacheAdminRoutes(
  app: FastifyInstance,
  opts: { state: GatewayState; cache: ResponseCache },
): Promise<void> {
  const { state, cache } = opts;
  app.addHook('onRequest', async (request) => {
    requireAdmin(request, state.runtime.config.adminKey);
  });

  app.get('/cache', async () => {
    const s = cache.stats();
    return {
      max_bytes: cache.store.l1.maxBytes,
      ...s.layers,
      merges: s.merges,
      in_flight: s.in_flight,
      waiting: s.waiting,
    };
  });

  app.post('/cache/purge', { schema: { body: PurgeBody } }, async (request) => {
    const b = request.body as { key?: string; namespace?: string; team?: string; model?: string; all?: true };
    const filter = {
      ...(b.key === undefined ? {} : { key: b.key }),
      ...(b.namespace === undefined ? {} : { namespace: b.namespace }),
      ...(b.team === undefined ? {} : { team: b.team }),
      ...(b.model === undefined ? {} : { model: b.model }),
    };
    if (Object.keys(filter).length === 0 && b.all !== true) {
      throw new GatewayError(
        'invalid_request',
        'Name what to purge (key, namespace, team, model), or send {"all": true}.',
      );
    }
    const removed = await cache.purge(
      filter,
      b.all === true ? 'admin: all' : `admin: ${JSON.stringify(filter)}`,
    );
    return { purged: removed };
  });
}
