import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { jobJson } from '../../services/jobs/job-json.js';
import type { JobService } from '../../services/jobs/job-service.js';

/** The admin key guards every admin route; without one configured, the admin API is off. */
export function requireAdmin(request: FastifyRequest, adminKey: string | undefined): void {
  if (!adminKey) {
    throw new GatewayError('admin_disabled', 'The admin API needs an admin key (admin.key).');
  }
  const auth = request.headers.authorization ?? '';
  const given = Buffer.from(auth.startsWith('Bearer ') ? auth.slice(7) : auth);
  const want = Buffer.from(adminKey);
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    throw new GatewayError('invalid_admin_key', 'The admin key is not valid.');
  }
}

/** /admin/queues: sizes per queue, and the dead-letter list with retry and purge. */
export default async function adminQueueRoutes(
  app: FastifyInstance,
  opts: { jobs: JobService; adminKey: () => string | undefined },
): Promise<void> {
  const { jobs } = opts;
  app.addHook('onRequest', async (request) => requireAdmin(request, opts.adminKey()));

  app.get('/admin/queues', async () => ({
    backend: jobs.spec.backend,
    queues: await jobs.counts(),
  }));

  app.get(
    '/admin/queues/failed',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'string', pattern: '^[0-9]{1,3}$' } },
        },
      },
    },
    async (request) => {
      const limit = Math.min(Math.max(Number((request.query as { limit?: string }).limit ?? 50), 1), 500);
      return { object: 'list', data: (await jobs.deadLetters(limit)).map(jobJson) };
    },
  );

  app.post(
    '/admin/queues/failed/:id/retry',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } },
      },
    },
    async (request) => jobJson(await jobs.retryDeadLetter((request.params as { id: string }).id)),
  );

  // Any job by id, internal ones (webhook deliveries, batch lines) included, with its team and caller's key.
  app.get(
    '/admin/queues/jobs/:id',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } },
      },
    },
    async (request) => {
      const job = await jobs.getAny((request.params as { id: string }).id);
      return { ...jobJson(job), team: job.team, key_id: job.caller?.keyId ?? null, listed: job.listed };
    },
  );

  app.delete('/admin/queues/failed', async () => ({ purged: await jobs.purgeDeadLetters() }));
}
