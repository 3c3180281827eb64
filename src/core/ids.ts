import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 8192;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * Random lowercase hex of `chars` length (even) from a pooled buffer: one getrandom syscall per 8 KiB
 * instead of one per id, for the trace and span ids every request needs.
 */
export function randomHex(chars: number): string {
  const bytes = chars >>> 1;
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}
