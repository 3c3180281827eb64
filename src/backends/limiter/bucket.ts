/**
 * The leaky-bucket arithmetic, shared by the memory backend and mirrored line for line by the Redis
 * script (scripts.ts). Times are ms as doubles; levels are doubles that start and move by integers, so
 * with no time passing they are exact.
 */

/** Tolerance for float drift from drain arithmetic; far below one unit, so integer levels stay exact. */
export const EPSILON = 1e-9;

export function drained(level: number, ts: number, now: number, limit: number, windowMs: number): number {
  if (level <= 0) return 0;
  const elapsed = now > ts ? now - ts : 0;
  const l = level - (elapsed * limit) / windowMs;
  return Math.max(l, 0);
}

export function fits(level: number, cost: number, limit: number): boolean {
  return level + cost <= limit + EPSILON;
}

/** ms until `cost` fits on a bucket at `level`; -1 when it never can. */
export function waitMs(level: number, cost: number, limit: number, windowMs: number): number {
  if (cost > limit) return -1;
  const over = level + cost - limit;
  return over <= EPSILON ? 0 : Math.ceil((over * windowMs) / limit);
}

export function remaining(level: number, limit: number): number {
  const r = Math.floor(limit - level + EPSILON);
  return Math.max(r, 0);
}

export function resetMs(level: number, limit: number, windowMs: number): number {
  return level <= EPSILON ? 0 : Math.ceil((level * windowMs) / limit);
}
