import type { FastifyReply } from 'fastify';
import type { RequestMeta } from '../services/request-meta.js';

/** Who answered: on successful responses. */
export function setRouteHeaders(m: RequestMeta, reply: FastifyReply): void {
  if (m.provider) reply.header('x-switchyard-provider', m.provider);
  if (m.upstreamModel) reply.header('x-switchyard-model', m.upstreamModel);
  if (m.upstreamRequestId) reply.header('x-upstream-request-id', m.upstreamRequestId);
  setResilienceHeaders(m, reply);
}

/** How hard the gateway tried: on every response, errors included. */
export function setResilienceHeaders(m: RequestMeta, reply: FastifyReply): void {
  if (m.attempts !== undefined) reply.header('x-switchyard-attempts', String(m.attempts));
  if (m.fallback) reply.header('x-switchyard-fallback', m.fallback);
  if (m.degraded) reply.header('x-switchyard-degraded', m.degraded);
}
