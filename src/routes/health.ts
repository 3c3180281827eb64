import type { FastifyInstance } from 'fastify';
import type { GatewayState } from '../services/gateway-state.js';

export default async function healthRoutes(
  app: FastifyInstance,
  opts: { state: GatewayState },
): Promise<void> {
  const { state } = opts;
  app.get('/health/live', async () => ({ status: 'ok' }));
  app.get('/health/ready', async (_request, reply) => {
    if (!state.ready || state.shuttingDown) {
      return reply.code(503).send({ status: state.shuttingDown ? 'shutting_down' : 'starting' });
    }
    return { status: 'ready' };
  });
}
