import { randomBytes } from 'node:crypto';

/** Short random ids; base64url of random bytes is cheaper than a UUID and as unique for our purposes. */
export function randomId(prefix: string, bytes = 12): string {
  return `${prefix}${randomBytes(bytes).toString('base64url')}`;
}
