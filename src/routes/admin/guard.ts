import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';

/**
 * The admin API's guard: `Authorization: Bearer <admin key>` (SWITCHYARD_ADMIN_KEY). Without a
 * configured admin key the admin API is off, since anyone could otherwise purge or read it.
 */
export function requireAdmin(request: FastifyRequest, adminKey: string | undefined): void {
  if (!adminKey) {
    throw new GatewayError(
      'admin_disabled',
      'The admin API is off: set admin.key (SWITCHYARD_ADMIN_KEY) to use it.',
    );
  }
  const auth = request.headers.authorization;
  const given = Buffer.from(auth?.startsWith('Bearer ') ? auth.slice(7) : (auth ?? ''));
  const want = Buffer.from(adminKey);
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    throw new GatewayError('invalid_admin_key', 'The admin key is missing or not valid.');
  }
}
